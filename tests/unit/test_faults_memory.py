"""MemoryLimitOOM on a fake driver: lands only on an OOM kill (status 137 and the counter), always heals."""

from __future__ import annotations

import pytest

from aarya_chaos.errors import FaultError
from fixtures.detect.memory import oom_event_seen
from fixtures.faults.base import applied
from fixtures.faults.memory import MemoryLimitOOM
from fixtures.heal import HealRegistry
from stack.drivers.fake import FakeDriver


class FakeCgroup:
    def __init__(self, limit: int) -> None:
        self.limit, self.kills = limit, 0

    def usage_bytes(self) -> int:
        return 0

    def limit_bytes(self) -> int | None:
        return self.limit

    def oom_kills(self) -> int:
        return self.kills


class LimitingDriver(FakeDriver):
    def __init__(self) -> None:
        super().__init__(("redis", "core_platform"))
        self.cgroups: dict[str, FakeCgroup] = {}

    def limit_memory(self, name: str, limit_bytes: int) -> FakeCgroup:
        self.calls.append(("limit_memory", name))
        self.cgroups[name] = FakeCgroup(limit_bytes)
        return self.cgroups[name]

    def release_memory_limit(self, name: str) -> None:
        self.calls.append(("release_memory_limit", name))
        self.cgroups.pop(name, None)

    def oom_kill(self, name: str) -> None:
        """What the kernel and the driver's monitor do: count the kill, SIGKILL, report exit and OOM."""
        self.cgroups[name].kills += 1
        self.running[name] = False
        self._event(name, "exited", 137, "killed by SIGKILL")
        self._event(name, "oom_killed", detail=f"oom_kill {self.cgroups[name].kills}")


def test_an_oom_kill_lands_with_status_137_and_the_counter_and_heals() -> None:
    stack = LimitingDriver()
    fault = MemoryLimitOOM(stack, "core_platform", 8 << 20, pressure=lambda: stack.oom_kill("core_platform"))
    with applied(fault, registry=HealRegistry()) as evidence:
        assert evidence.facts["exit_status"] == 137
        assert (evidence.facts["oom_kills_before"], evidence.facts["oom_kills_after"]) == (0, 1)
        assert "OOM-killed" in evidence.summary
        assert oom_event_seen(fault)() is not None
    assert stack.running["core_platform"]
    assert stack.calls == [("limit_memory", "core_platform"), ("release_memory_limit", "core_platform"),
                           ("restart", "core_platform")]


def test_a_kill_that_is_not_the_oom_killer_does_not_land() -> None:
    stack = LimitingDriver()
    fault = MemoryLimitOOM(stack, "core_platform", 8 << 20, pressure=lambda: stack.kill("core_platform", 9))
    with pytest.raises(FaultError, match="did not land"):
        with applied(fault, registry=HealRegistry(), landed_timeout_s=0.3):
            pytest.fail("an exit without the OOM counter moving is not an OOM kill")
    assert ("release_memory_limit", "core_platform") in stack.calls
    assert stack.running["core_platform"]


def test_a_limit_the_service_fits_does_not_land_and_is_released() -> None:
    stack = LimitingDriver()
    with pytest.raises(FaultError, match="did not land"):
        with applied(MemoryLimitOOM(stack, "core_platform", 512 << 20), registry=HealRegistry(),
                     landed_timeout_s=0.3):
            pass
    assert stack.cgroups == {}


def test_heal_after_the_recovery_raised_the_limit_releases_it_and_does_not_restart_twice() -> None:
    stack = LimitingDriver()
    fault = MemoryLimitOOM(stack, "core_platform", 8 << 20, pressure=lambda: stack.oom_kill("core_platform"))
    with applied(fault, registry=HealRegistry()):
        stack.restart("core_platform")                  # the runbook's restart...
        stack.limit_memory("core_platform", 512 << 20)  # ...under a limit it fits
    assert stack.cgroups == {}
    assert stack.calls.count(("restart", "core_platform")) == 1
