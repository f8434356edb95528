"""The one exception tree of aarya-chaos. Catch `ChaosError` to catch anything the suite raises on purpose.

    ChaosError
    ├── ConfigError            bad or unreadable configuration, unknown scenario or service
    ├── MissingBinary          a server binary is absent and could not be installed (says how to get it)
    ├── StackError
    │   ├── PortInUse          a port the stack needs is taken (names the port and, if known, the process)
    │   ├── StackAlreadyRunning  another live run owns the run directory
    │   ├── DriverUnavailable  the driver cannot run on this machine (no usable Docker engine, say)
    │   │   └── CapabilityUnsupported  the driver does not give a power a fault needs (the reason says why)
    │   └── NotReady           a component missed its readiness deadline (names the endpoint, carries its log)
    └── FaultError             a fault could not be injected, or did not land, or could not be healed
"""

from __future__ import annotations


class ChaosError(Exception):
    """Base of every error aarya-chaos raises on purpose."""


class ConfigError(ChaosError):
    pass


class MissingBinary(ChaosError):
    pass


class StackError(ChaosError):
    pass


class PortInUse(StackError):
    pass


class StackAlreadyRunning(StackError):
    pass


class DriverUnavailable(StackError):
    pass


class CapabilityUnsupported(DriverUnavailable):
    """A driver refused a power it does not give (`unsupported(Capability.X)` says the same reason): a
    scenario that meets it before its injection is skipped with the reason (fixtures/plugin.py)."""


class NotReady(StackError):
    def __init__(self, component: str, endpoint: str, waited_s: float, last_error: str, log_tail: str = "") -> None:
        message = f"{component} was not ready at {endpoint} after {waited_s:.1f}s (last error: {last_error})"
        if log_tail:
            message += f"\n--- last lines of {component}'s log ---\n{log_tail}"
        super().__init__(message)
        self.component = component
        self.endpoint = endpoint
        self.log_tail = log_tail


class FaultError(ChaosError):
    pass
