"""The reference stack judged through its target profile (stack/target/profiles/aarya.toml), as a team's
platform would be: the profile's health endpoints for the steady state, its journeys for the load, and its
write ledger (a read-only query by key, checks/write_ledger.py) instead of the reference's own. Runbook 3.2
from its scenario file.

Control: the profile's ledger query finds no row (a query that no longer matches the team's schema): every
acknowledged checkout is then lost, and the ledger checks must say so.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from fixtures.plugin import expect_scenario_failure
from scenarios.as_data.play import play
from scenarios.as_data.spec import compile_scenario
from stack.target.load import load_profile
from stack.target.preflight import errors, run_preflight
from stack.target.profile import TargetProfile

REFERENCE = Path(__file__).parents[1] / "stack" / "target" / "profiles" / "aarya.toml"
COMMERCE_DOWN = Path(__file__).parent / "data" / "3.2-commerce-unavailable.yaml"
NAME = "Commerce service unavailable (reference target profile)"
FINDS_NOTHING = "SELECT o.idempotency_key, o.id::text AS id FROM orders o WHERE o.idempotency_key = ANY(%(keys)s) AND false"


@pytest.fixture
def reference_profile(chaos, monkeypatch: pytest.MonkeyPatch) -> TargetProfile:
    """The profile, its secret given as a team gives theirs: in the environment (the suite's own stack's)."""
    monkeypatch.setenv("AARYA_PG_APP_PASSWORD", chaos.stack.config.postgres.app_password)
    return load_profile(REFERENCE)


@pytest.mark.service
def test_reference_stack_through_its_target_profile(chaos, reference_profile: TargetProfile) -> None:
    # the preflight a team's run starts with: stores connect, the ledger query runs read-only, health answers
    # (the suite runs this platform itself, so there are no containers of the team's to look up)
    assert not errors(run_preflight(reference_profile, containers=False))
    chaos.target = reference_profile
    spec = compile_scenario(COMMERCE_DOWN)
    run = chaos.start(spec.id, NAME, spec.targets)
    assert set(run.prober.endpoints) == {"gateway", *(c.name for c in reference_profile.services())}
    play(spec, run)
    assert run.ledger is not None and run.ledger.judged >= (spec.targets.min_writes_judged or 1)


@pytest.mark.service
@pytest.mark.control
def test_reference_stack_through_its_target_profile_control_ledger_finds_nothing(
        chaos, reference_profile: TargetProfile) -> None:
    chaos.target = replace(reference_profile, ledger=replace(reference_profile.ledger, query=FINDS_NOTHING))
    spec = compile_scenario(COMMERCE_DOWN)
    run = chaos.start(spec.id, NAME, spec.targets, control="ledger query finds nothing")
    with expect_scenario_failure() as failure:
        play(spec, run)
    assert {"no_lost_acknowledged_orders", "rpo_within_target"} <= {c.name for c in failure.value.failed}
