"""The Toxiproxy client's round trips (stack.toxiproxy.ToxiproxyClient) against a real Toxiproxy server.

The server is the stack's own binary (stack.binaries.find_binaries, never installed from here), started on a
free loopback port with the stack's eight proxies; without the binary these benchmarks skip with the reason.
Each round trip is one client call over one kept-alive HTTP connection, as a fault uses it.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

from aarya_chaos.errors import MissingBinary
from stack.binaries import find_binaries
from stack.config import load_config
from stack.ports import free_port
from stack.toxiproxy import ProxySpec, ToxiproxyClient
from stack.waits import wait_until

HOST = "127.0.0.1"
# The stack's proxies (stack/config.py: one per dependency of each service); only their number matters here.
PROXIES = [ProxySpec(f"bench__{name}", f"{HOST}:0", f"{HOST}:9") for name in
           ("postgres", "redis", "commerce", "payment", "core", "gateway", "search", "events")]


@pytest.fixture(scope="module")
def toxiproxy() -> Iterator[ToxiproxyClient]:
    try:
        binary = find_binaries(load_config().tools_dir, install=False).toxiproxy
    except MissingBinary as exc:
        pytest.skip(f"no Toxiproxy server to measure against: {exc}")
    port = free_port(HOST)
    server = subprocess.Popen([str(binary), "-host", HOST, "-port", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        with ToxiproxyClient(f"http://{HOST}:{port}") as client:
            wait_until("toxiproxy-server", f"{HOST}:{port}", client.is_up, timeout_s=10.0, interval_s=0.05)
            client.populate(PROXIES)
            yield client
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_version(benchmark: Any, toxiproxy: ToxiproxyClient) -> None:
    benchmark.group = "toxiproxy round trip"
    assert benchmark(toxiproxy.version)  # "git" for a `go install` build


def test_list_proxies(benchmark: Any, toxiproxy: ToxiproxyClient) -> None:
    benchmark.group = "toxiproxy round trip"
    assert len(benchmark(toxiproxy.proxies)) == len(PROXIES)


def test_populate_existing(benchmark: Any, toxiproxy: ToxiproxyClient) -> None:
    """What the stack does at each start: the same proxies again (a no-op on the server)."""
    benchmark.group = "toxiproxy round trip"
    assert len(benchmark(lambda: toxiproxy.populate(PROXIES))) == len(PROXIES)


def test_create_proxy(benchmark: Any, toxiproxy: ToxiproxyClient) -> None:
    """A new proxy (its listener bound) per round; the previous one is deleted in the untimed setup."""
    benchmark.group = "toxiproxy round trip"
    made: list[str] = []

    def setup() -> tuple[tuple[ProxySpec], dict[str, Any]]:
        if made:
            toxiproxy._http.delete(f"/proxies/{made[-1]}")
        made.append(f"bench__new_{len(made)}")
        return (ProxySpec(made[-1], f"{HOST}:0", f"{HOST}:9"),), {}

    benchmark.pedantic(lambda spec: toxiproxy.populate([spec]), setup=setup, rounds=200)
    assert made[-1] in toxiproxy.proxies()


def test_add_and_remove_toxic(benchmark: Any, toxiproxy: ToxiproxyClient) -> None:
    """Two round trips: a latency toxic added and removed (a fault's `with client.toxic(...)`)."""
    benchmark.group = "toxiproxy round trip"
    proxy = PROXIES[0].name

    def add_and_remove() -> None:
        with toxiproxy.toxic(proxy, type="latency", attributes={"latency": 300}):
            pass

    benchmark(add_and_remove)
    assert not toxiproxy.proxy(proxy).toxics


def test_disable_and_enable(benchmark: Any, toxiproxy: ToxiproxyClient) -> None:
    """Two round trips: a proxy taken down and back (a fault's `with client.down(...)`)."""
    benchmark.group = "toxiproxy round trip"
    proxy = PROXIES[1].name

    def down_and_up() -> None:
        with toxiproxy.down(proxy):
            pass

    benchmark(down_and_up)
    assert toxiproxy.proxy(proxy).enabled
