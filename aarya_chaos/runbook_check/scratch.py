"""A raw Redis connection, and a throwaway redis-server to try writes on."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from aarya_chaos.errors import ChaosError
from aarya_chaos.runbook_check.redis_grammar import decode_reply
from stack.ports import free_port


class RedisLink:
    """A raw Redis connection: replies exactly as the server sends them, no client-side parsing."""

    def __init__(self, connection: Any) -> None:
        self._conn = connection
        self._conn.connect()

    @classmethod
    def to(cls, host: str, port: int, timeout_s: float = 3.0) -> RedisLink:
        import redis

        connection: Any = redis.Connection  # untyped in redis-py
        return cls(connection(host=host, port=port, socket_timeout=timeout_s, socket_connect_timeout=timeout_s))

    @classmethod
    def of_client(cls, client: Any) -> RedisLink:
        """A connection of its own made like the client's (address, password, timeouts), read without its parsers."""
        return cls(client.connection_pool.make_connection())

    def call(self, *words: str) -> Any:
        self._conn.send_command(*words)
        return decode_reply(self._conn.read_response())

    def close(self) -> None:
        self._conn.disconnect()


class ScratchRedis:
    """A throwaway redis-server on a free loopback port (no persistence), for running writes safely."""

    def __init__(self, binary: str) -> None:
        self.binary = binary
        self.dir = Path(tempfile.mkdtemp(prefix="aarya-runbook-scratch-"))
        self.port = free_port()
        self.process = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.dir), "--daemonize", "no", "--logfile", str(self.dir / "redis.log")],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while True:
            try:
                self.link = RedisLink.to("127.0.0.1", self.port)
                if self.link.call("PING") == "PONG":
                    break
            except Exception:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    self.stop()
                    raise ChaosError(f"the scratch redis-server on port {self.port} did not start") from None
                time.sleep(0.05)

    def stop(self) -> None:
        link = getattr(self, "link", None)
        if link is not None:
            link.close()
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.dir, ignore_errors=True)
