"""A free TCP port for a helper process (a locust master, an extra service instance, a runbook check's
stand-in server). Standard library only: the load generator imports it too."""

from __future__ import annotations

import socket


def free_port(host: str = "127.0.0.1") -> int:
    """A port nobody listens on right now at `host` (the kernel's pick; another process may take it
    before ours binds, so callers that can should let their server pick its own port)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port
