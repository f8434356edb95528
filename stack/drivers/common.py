"""What both drivers do the same way: the ports check before a start, run.json (the run's state, with the
process that owns it), and the context manager that starts and always stops."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import psutil

from aarya_chaos.errors import PortInUse
from stack.config import StackConfig

OWNER_CREATE_TIME_SLACK_S = 1.0  # a pid is the recorded owner only if it was created when the record says

Self = TypeVar("Self", bound="StackContext")


class StackContext:
    """`with Driver(config) as stack:` starts the stack and stops it on the way out, whatever happened."""

    def start(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self: Self) -> Self:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


def check_ports_free(config: StackConfig) -> None:
    """PortInUse naming the port, its owner in the config and, when it can be found, the listening process."""
    for owner, port in config.listen_ports().items():
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((config.host, port))
            except OSError:
                raise PortInUse(f"port {port} on {config.host} (for {owner}) is already in use{who_listens(port)}; "
                                "stop that process or change the port in aarya-chaos.toml") from None


def who_listens(port: int) -> str:
    """' by pid N (command line)' for the process listening on the TCP port, or '' when unknown."""
    try:
        for conn in psutil.net_connections("tcp"):
            if conn.laddr and conn.laddr.port == port and conn.status == psutil.CONN_LISTEN and conn.pid:
                proc = psutil.Process(conn.pid)
                return f" by pid {conn.pid} ({' '.join(proc.cmdline())[:120]})"
    except psutil.Error:
        pass
    return ""


def live_owner(state: Mapping[str, Any] | None) -> int | None:
    """The pid of the process recorded as the run's owner in run.json, if it is still that process."""
    owner = (state or {}).get("owner") or {}
    pid, created = owner.get("pid"), owner.get("create_time")
    if pid is None:
        return None
    try:
        proc = psutil.Process(int(pid))
        if created is not None and abs(proc.create_time() - float(created)) >= OWNER_CREATE_TIME_SLACK_S:
            return None
    except psutil.Error:
        return None
    return int(pid)


def write_run_state(path: Path, state: Mapping[str, Any]) -> None:
    """run.json, atomically (a temporary file renamed over it): `state` plus this process as its owner and
    the time, so `status`/`down`/`heal` from another process find the run and know whether it lives."""
    me = psutil.Process()
    record = {**state, "owner": {"pid": me.pid, "create_time": me.create_time()}, "updated": time.time()}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(record, indent=2))
    tmp.replace(path)


def read_run_state(path: Path) -> dict[str, Any] | None:
    """run.json as written by write_run_state, or None when there is none (or it is unreadable)."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None
