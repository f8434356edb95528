"""stack/drivers/attach/driver.py, kind.py and engine_listing.py without an engine: the driver's shape, what it
refuses and why, the files it writes, and the removal it asks the engine for (only the run's label).
The live test is tests/integration/test_attach_driver.py."""

from __future__ import annotations

import stat
from dataclasses import dataclass, field
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from aarya_chaos.errors import ConfigError
from stack.config import StackConfig
from stack.drivers.attach.driver import UNSUPPORTED, AttachDriver, AttachUnsupported, _write
from stack.drivers.attach.engine_listing import listing, remove_run_objects
from stack.drivers.attach.kind import KIND
from stack.drivers.attach.labels import RUN_LABEL
from stack.drivers.attach.override import AttachError
from stack.drivers.base import Capability
from stack.target.load import load_profile
from stack.target.profile import TargetProfile

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "second-platform"


def _profile(tmp_path: Path, *, host_variable: bool = False) -> TargetProfile:
    text = (EXAMPLE / "pretix.toml").read_text()
    if host_variable:  # pretix's own PRETIX_DATABASE_HOST: a host without its port
        text = text.replace("PG_ADDRESS", "PRETIX_DATABASE_HOST")
    text = text.replace('locustfile = "locustfile.py"', f'locustfile = "{EXAMPLE / "locustfile.py"}"')
    text = text.replace('file = "docker-compose.yml"', f'file = "{EXAMPLE / "docker-compose.yml"}"')
    (tmp_path / "p.toml").write_text(text)
    return load_profile(tmp_path / "p.toml")


def _driver(tmp_path: Path, **options: Any) -> AttachDriver:
    return AttachDriver(_profile(tmp_path), tmp_path / "run", api_port=26174, environ={}, **options)


def test_the_registry_kind_needs_a_profile(tmp_path: Path) -> None:
    assert KIND.name == "attach"
    with pytest.raises(ConfigError, match="target profile"):
        KIND.create(StackConfig(run_dir=tmp_path))
    driver = KIND.create(StackConfig(run_dir=tmp_path), profile=_profile(tmp_path), environ={})
    assert isinstance(driver, AttachDriver)


def test_components_are_the_profiles_and_the_proxy(tmp_path: Path) -> None:
    driver = _driver(tmp_path)
    assert driver.component_names() == ["pretix", "postgres", "redis", "toxiproxy"]
    assert driver.services["toxiproxy"] == "aarya-toxiproxy"
    assert driver.project == "aarya-second-platform"
    assert driver.config.toxiproxy.port == 26174
    assert _driver(tmp_path, project="mine").project == "mine"
    with pytest.raises(ConfigError, match="unknown component"):
        driver.kill("nginx")


def test_what_the_platform_does_not_give_is_refused_with_its_reason(tmp_path: Path) -> None:
    driver = _driver(tmp_path)
    assert driver.unsupported(Capability.MEMORY_LIMITS) == UNSUPPORTED["memory"]
    refused: dict[str, list[Callable[[], object]]] = {
        "memory": [lambda: driver.limit_memory("pretix", 1 << 26), lambda: driver.release_memory_limit("pretix")],
        "postgres_files": [driver.postgres_files],
        "gateway": [driver.gateway_files, driver.reload_gateway, driver.outside_client],
        "releases": [lambda: driver.deploy("pretix", "v2"), lambda: driver.release_of("pretix")],
        "instances": [lambda: driver.start_instance("pretix", "b", {}), lambda: driver.stop_instance("b")],
    }
    for why, calls in refused.items():
        for call in calls:
            with pytest.raises(AttachUnsupported) as caught:
                call()
            assert str(caught.value) == UNSUPPORTED[why]
    assert "not available" in driver.scaling_note()


def test_the_override_reroutes_pretixs_two_variables(tmp_path: Path) -> None:
    override = _driver(tmp_path).build()
    assert override.rewired_services() == ("pretix",)
    assert {(e.variable, e.rewritten, e.upstream) for e in override.routed} == {
        ("PG_ADDRESS", "aarya-toxiproxy:21000", "postgres:5432"),
        ("PRETIX_REDIS_LOCATION", "redis://aarya-toxiproxy:21001/0", "redis:6379")}
    assert "127.0.0.1:26174:8474" in override.yaml_text()


def test_the_profiles_host_only_variable_cannot_be_rerouted(tmp_path: Path) -> None:
    driver = AttachDriver(_profile(tmp_path, host_variable=True), tmp_path / "run", environ={})
    with pytest.raises(AttachError, match="PRETIX_DATABASE_HOST"):
        driver.build()


def test_files_are_created_with_their_mode(tmp_path: Path) -> None:
    path = tmp_path / "override.yml"
    path.write_text("old")
    path.chmod(0o644)
    _write(path, "secret: 1\n", 0o600)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and path.read_text() == "secret: 1\n"


# -- the engine's objects, faked ------------------------------------------------------------------------


@dataclass
class _Obj:
    name: str
    labels: dict[str, str] = field(default_factory=dict)
    mounts: list[dict[str, str]] = field(default_factory=list)
    removed: bool = False

    @property
    def attrs(self) -> dict[str, Any]:
        return {"Mounts": self.mounts, "Labels": self.labels}

    def remove(self, force: bool = False) -> None:
        self.removed = True


class _Collection:
    def __init__(self, objs: list[_Obj]) -> None:
        self.objs = objs

    def list(self, all: bool = False, filters: dict[str, str] | None = None) -> list[_Obj]:
        wanted = (filters or {}).get("label")
        if wanted is None:
            return list(self.objs)
        key, _, value = wanted.partition("=")
        return [o for o in self.objs if o.labels.get(key) == value]

    def get(self, name: str) -> _Obj:
        return next(o for o in self.objs if o.name == name)


class _Client:
    def __init__(self, containers: list[_Obj], networks: list[_Obj], volumes: list[_Obj]) -> None:
        self.containers, self.networks, self.volumes = (_Collection(containers), _Collection(networks),
                                                        _Collection(volumes))


def test_only_what_carries_the_runs_label_is_removed() -> None:
    ours = {RUN_LABEL: "run-1"}
    proxy = _Obj("shop-aarya-toxiproxy-1", ours)
    db = _Obj("shop-db-1", {"com.docker.compose.project": "shop"}, [{"Type": "volume", "Name": "shop_pgdata"}])
    other_run = _Obj("x-aarya-toxiproxy-1", {RUN_LABEL: "run-2"})
    team_volume = _Obj("shop_pgdata", {"com.docker.compose.project": "shop"})
    unused_team_volume = _Obj("aarya-chaos-looks-like-ours", {})
    client = _Client([proxy, db, other_run], [], [team_volume, unused_team_volume])
    seen = listing(client, "run-1")
    assert next(v for v in seen.volumes if v.name == "shop_pgdata").used_by == frozenset({"shop-db-1"})
    removal = remove_run_objects(client, "run-1")
    assert removal.lines() == ["container shop-aarya-toxiproxy-1"]
    assert proxy.removed and not db.removed and not other_run.removed
    assert not team_volume.removed and not unused_team_volume.removed


def test_a_run_attached_with_another_profile_is_refused_not_adopted(tmp_path: Path) -> None:
    """`--target B down` while A is attached would detach B's project, which no run touched."""
    from stack.drivers.common import write_run_state

    driver = _driver(tmp_path)
    (tmp_path / "run").mkdir()
    write_run_state(tmp_path / "run" / "run.json", {"driver": "attach", "profile": str(driver.profile.path.resolve())})
    assert driver.attach() is not None
    other = tmp_path / "other.toml"
    write_run_state(tmp_path / "run" / "run.json", {"driver": "attach", "profile": str(other)})
    with pytest.raises(ConfigError, match=f"attached with the profile {other}, not {driver.profile.path.resolve()}"):
        driver.attach()
    write_run_state(tmp_path / "run" / "run.json", {"driver": "local"})
    assert driver.attach() is None


def test_make_driver_passes_start_platform_to_the_target_driver_only_when_asked(tmp_path: Path) -> None:
    from stack.drivers.registry import make_driver

    config = StackConfig(run_dir=tmp_path / "run")
    started = make_driver(config, "attach", profile=_profile(tmp_path), start_platform=True, environ={})
    attached = make_driver(config, "attach", profile=_profile(tmp_path), environ={})
    assert isinstance(started, AttachDriver) and isinstance(attached, AttachDriver)
    assert (started.suite_starts_platform, attached.suite_starts_platform) == (True, False)
