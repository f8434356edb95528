"""Capabilities (stack/drivers/base.py): every driver answers every one; the attach driver's refusals and its
`unsupported()` come from one table and agree; the fake refuses what it is told to, in both ways; a scenario
file's blocks and controls say what they need (issue 11)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from aarya_chaos.errors import CapabilityUnsupported, DriverUnavailable
from stack.config import load_config
from stack.drivers.attach.driver import UNSUPPORTED, AttachDriver, AttachUnsupported
from stack.drivers.base import Capability, StackDriver
from stack.drivers.fake import FakeDriver
from stack.drivers.registry import make_driver
from stack.target.load import load_profile

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "second-platform"


def _attach(tmp_path: Path) -> AttachDriver:
    text = (EXAMPLE / "pretix.toml").read_text()
    text = text.replace('locustfile = "locustfile.py"', f'locustfile = "{EXAMPLE / "locustfile.py"}"')
    text = text.replace('file = "docker-compose.yml"', f'file = "{EXAMPLE / "docker-compose.yml"}"')
    (tmp_path / "p.toml").write_text(text)
    return AttachDriver(load_profile(tmp_path / "p.toml"), tmp_path / "run", api_port=26174, environ={})


def _refusing_calls(driver: StackDriver) -> dict[Capability, list[Callable[[], object]]]:
    """Each capability's methods that use the power (the ones a driver without it refuses)."""
    return {
        Capability.MEMORY_LIMITS: [lambda: driver.limit_memory("postgres", 1 << 26)],
        Capability.POSTGRES_FILES: [driver.postgres_files],
        Capability.GATEWAY: [driver.gateway_files, driver.reload_gateway, driver.outside_client],
        Capability.RELEASES: [lambda: driver.deploy("postgres", "v2"), lambda: driver.release_of("postgres")],
        Capability.INSTANCES: [lambda: driver.start_instance("postgres", "b", {})],
    }


def test_every_capability_has_a_short_name_and_words() -> None:
    assert [c.value for c in Capability] == ["memory", "postgres_files", "gateway", "releases", "instances"]
    assert Capability.POSTGRES_FILES.label == "postgres files"
    assert issubclass(CapabilityUnsupported, DriverUnavailable) and issubclass(AttachUnsupported, CapabilityUnsupported)


def test_the_attach_table_covers_every_capability_with_one_line(tmp_path: Path) -> None:
    driver = _attach(tmp_path)
    assert set(UNSUPPORTED) == {c.value for c in Capability}
    for capability in Capability:
        reason = driver.unsupported(capability)
        assert reason == UNSUPPORTED[capability.value]
        assert reason.strip() and "\n" not in reason, capability


def test_the_attach_drivers_refusals_say_what_unsupported_says(tmp_path: Path) -> None:
    driver = _attach(tmp_path)
    calls = _refusing_calls(driver)
    assert set(calls) == set(Capability)
    calls[Capability.MEMORY_LIMITS].append(lambda: driver.release_memory_limit("pretix"))
    calls[Capability.INSTANCES].append(lambda: driver.stop_instance("b"))
    for capability, refused in calls.items():
        for call in refused:
            with pytest.raises(CapabilityUnsupported) as caught:
                call()
            assert isinstance(caught.value, AttachUnsupported)
            assert str(caught.value) == driver.unsupported(capability), capability


@pytest.mark.parametrize("name", ["local", "docker"])
def test_the_reference_drivers_answer_every_capability(tmp_path: Path, name: str) -> None:
    driver = make_driver(load_config(run_dir=tmp_path / "run"), name, install=False)
    for capability in Capability:
        reason = driver.unsupported(capability)
        assert reason is None or (reason.strip() and "\n" not in reason), (name, capability)
    for capability in (Capability.POSTGRES_FILES, Capability.RELEASES, Capability.INSTANCES):
        assert driver.unsupported(capability) is None, (name, capability)


def test_the_fake_gives_everything_unless_told_to_refuse() -> None:
    assert all(FakeDriver().unsupported(c) is None for c in Capability)
    for capability in Capability:
        driver = FakeDriver(refused={capability: "the fake was told so"})
        assert driver.unsupported(capability) == "the fake was told so"
        assert all(driver.unsupported(c) is None for c in Capability if c is not capability)
        calls = _refusing_calls(driver)
        for call in calls[capability]:
            with pytest.raises(CapabilityUnsupported, match="the fake was told so"):
                call()
        for other, given in calls.items():
            if other is not capability:
                for call in given:
                    call()  # the other powers still work


def test_a_scenario_file_needs_what_its_blocks_and_controls_declare(tmp_path: Path) -> None:
    from scenarios.as_data.blocks import BLOCKS, Block
    from scenarios.as_data.spec import Call, compile_scenario

    data = Path(__file__).resolve().parents[2] / "scenarios" / "data"
    spec = compile_scenario(data / "2.2-redis-connection-failure.yaml")
    assert spec.needs == ()  # no shipped block needs a power a driver may lack
    deployed = [c for c in spec.controls if c.deploy is not None]
    assert deployed and all(c.needs == (Capability.RELEASES,) for c in deployed)
    assert all(c.needs == () for c in spec.controls if c.deploy is None)

    gated = Block("needs_gateway", "step", lambda run, refs: None, (Capability.GATEWAY,))
    spec.prepare.extend([Call(gated, {}, None, 1), Call(gated, {}, None, 2),
                         Call(BLOCKS["step"]["restart"], {"component": "commerce"}, None, 3)])
    assert spec.needs == (Capability.GATEWAY,)


def test_the_scenario_file_cases_carry_needs_markers() -> None:
    from scenarios.test_scenario_files import DATA, _cases

    for case in _cases(DATA):
        spec, control = case.values
        needs = [c for mark in case.marks if mark.name == "needs" for c in mark.args]
        assert needs == [*spec.needs, *(control.needs if control is not None else ())], case.id
    assert any(mark.args == (Capability.RELEASES,) for case in _cases(DATA) for mark in case.marks
               if mark.name == "needs")
