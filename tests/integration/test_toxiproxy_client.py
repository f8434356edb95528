"""stack.toxiproxy.ToxiproxyClient against the real Toxiproxy v2.12.0 server on loopback.

Ports (all in the suite's 28570-28599 test range):
28574 Toxiproxy API, 28575 echo upstream, 28576 the proxy, 28577 a closed port, 28578 a black-hole listener,
28579 a second proxy (created disabled).
"""

from __future__ import annotations

import os
import socket
import socketserver
import statistics
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from stack.binaries import find_binaries
from stack.config import load_config

from stack.toxiproxy import ProxySpec, ToxiproxyClient, ToxiproxyError

pytestmark = pytest.mark.integration

HOST = "127.0.0.1"
API_PORT = 28574
UPSTREAM_PORT = 28575
PROXY_PORT = 28576
CLOSED_PORT = 28577
BLACKHOLE_PORT = 28578
PROXY2_PORT = 28579
API_URL = f"http://{HOST}:{API_PORT}"
PROXY = "echo"
SPECS = [
    ProxySpec(PROXY, f"{HOST}:{PROXY_PORT}", f"{HOST}:{UPSTREAM_PORT}"),
    ProxySpec("echo_off", f"{HOST}:{PROXY2_PORT}", f"{HOST}:{UPSTREAM_PORT}", enabled=False),
]


# -- fixtures ------------------------------------------------------------------------------------------------


class _EchoHandler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        sock: socket.socket = self.request
        try:
            while data := sock.recv(65536):
                sock.sendall(data)
        except OSError:  # resets from proxies being cut are expected
            pass


class _EchoServer(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True
    block_on_close = False


@pytest.fixture(scope="module")
def echo_upstream() -> Iterator[tuple[str, int]]:
    server = _EchoServer((HOST, UPSTREAM_PORT), _EchoHandler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield (HOST, UPSTREAM_PORT)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
        assert not thread.is_alive()


@pytest.fixture(scope="module")
def toxiproxy_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    server_bin = find_binaries(load_config().tools_dir, install=False).toxiproxy  # MissingBinary says how
    log_path = tmp_path_factory.mktemp("toxiproxy") / "server.log"
    with open(log_path, "wb") as log, ToxiproxyClient(API_URL, timeout_s=0.5) as probe:
        proc = subprocess.Popen(
            [str(server_bin), "-host", HOST, "-port", str(API_PORT)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "LOG_LEVEL": "info"},
        )
        try:
            deadline = time.monotonic() + 15.0
            while not probe.is_up():
                if proc.poll() is not None:
                    pytest.fail(f"toxiproxy server exited with {proc.returncode}:\n{log_path.read_text()}")
                if time.monotonic() > deadline:
                    pytest.fail(f"toxiproxy server not up within 15 s:\n{log_path.read_text()}")
                time.sleep(0.02)
            yield API_URL
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
            assert proc.poll() is not None, "toxiproxy server did not exit"


@pytest.fixture
def tp(toxiproxy_server: str, echo_upstream: tuple[str, int]) -> Iterator[ToxiproxyClient]:
    with ToxiproxyClient(toxiproxy_server, timeout_s=5.0) as client:
        client.populate(SPECS)
        client.reset()  # enables every proxy and removes every toxic
        client.set_enabled("echo_off", False)
        yield client
        client.reset()


# -- helpers -------------------------------------------------------------------------------------------------


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError(f"closed after {len(buf)} of {n} bytes")
        buf += chunk
    return buf


def roundtrip(port: int = PROXY_PORT, payload: bytes = b"ping\n", timeout: float = 5.0) -> float:
    """Seconds for one echo round trip on a fresh connection (connect excluded)."""
    with socket.create_connection((HOST, port), timeout=timeout) as sock:
        start = time.perf_counter()
        sock.sendall(payload)
        assert _recv_exact(sock, len(payload)) == payload
        return time.perf_counter() - start


def median_rtt(port: int, n: int = 200) -> float:
    """Median round trip of n small messages on one connection."""
    samples = []
    with socket.create_connection((HOST, port), timeout=5.0) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for _ in range(n):
            start = time.perf_counter()
            sock.sendall(b"x" * 16)
            _recv_exact(sock, 16)
            samples.append(time.perf_counter() - start)
    return statistics.median(samples)


# -- tests ---------------------------------------------------------------------------------------------------


def test_version_and_is_up(tp: ToxiproxyClient) -> None:
    assert tp.is_up()
    assert tp.version() == "git"  # a plain `go install` leaves version.go's "git"


def test_populate_twice_is_idempotent(tp: ToxiproxyClient) -> None:
    tp.add_toxic(PROXY, type="latency", attributes={"latency": 10})
    with socket.create_connection((HOST, PROXY_PORT), timeout=5.0) as open_conn:
        first = tp.populate(SPECS)
        second = tp.populate(SPECS)
        # not replaced: the toxic survives and an open connection still works
        open_conn.sendall(b"still here")
        assert _recv_exact(open_conn, 10) == b"still here"
    assert [s.name for s in first] == [s.name for s in second] == [PROXY, "echo_off"]
    assert first == second
    state = tp.proxy(PROXY)
    assert state.listen == f"{HOST}:{PROXY_PORT}"
    assert state.upstream == f"{HOST}:{UPSTREAM_PORT}"
    assert state.enabled
    assert [t.name for t in state.toxics] == ["latency_downstream"]
    assert set(tp.proxies()) >= {PROXY, "echo_off"}


def test_populate_applies_enabled_to_existing_proxies(tp: ToxiproxyClient) -> None:
    # the server ignores `enabled` for a proxy that already exists; populate() reconciles it
    assert not tp.proxy("echo_off").enabled
    states = tp.populate([ProxySpec("echo_off", f"{HOST}:{PROXY2_PORT}", f"{HOST}:{UPSTREAM_PORT}", enabled=True)])
    assert states[0].enabled and tp.proxy("echo_off").enabled
    assert roundtrip(PROXY2_PORT) < 1.0
    states = tp.populate(SPECS)
    assert [s.enabled for s in states] == [True, False]
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((HOST, PROXY2_PORT), timeout=2.0).close()


def test_traffic_passes(tp: ToxiproxyClient) -> None:
    payload = os.urandom(256 * 1024)
    with socket.create_connection((HOST, PROXY_PORT), timeout=5.0) as sock:
        sender = threading.Thread(target=sock.sendall, args=(payload,))
        sender.start()
        received = _recv_exact(sock, len(payload))
        sender.join(timeout=5)
    assert received == payload


def test_proxy_overhead_without_toxics_is_small(tp: ToxiproxyClient) -> None:
    direct = median_rtt(UPSTREAM_PORT)
    proxied = median_rtt(PROXY_PORT)
    print(f"median echo RTT: direct {direct * 1e6:.0f} us, via proxy {proxied * 1e6:.0f} us")
    assert proxied - direct < 0.010


def test_down_refuses_connects_and_traffic_resumes(tp: ToxiproxyClient) -> None:
    assert roundtrip() < 1.0
    with socket.create_connection((HOST, PROXY_PORT), timeout=5.0) as open_conn:
        open_conn.sendall(b"hi")
        assert _recv_exact(open_conn, 2) == b"hi"
        with tp.down(PROXY):
            assert not tp.proxy(PROXY).enabled
            with pytest.raises((ConnectionRefusedError, ConnectionResetError)):
                roundtrip(timeout=2.0)
            # the open connection was closed by the server: EOF or reset, never an answer (nor a timeout)
            open_conn.settimeout(2.0)
            try:
                open_conn.sendall(b"again")
                assert open_conn.recv(5) == b""
            except (ConnectionResetError, BrokenPipeError):
                pass
    assert tp.proxy(PROXY).enabled
    assert roundtrip() < 1.0


def test_down_re_enables_even_when_body_raises(tp: ToxiproxyClient) -> None:
    with pytest.raises(RuntimeError, match="boom"):
        with tp.down(PROXY):
            raise RuntimeError("boom")
    assert tp.proxy(PROXY).enabled
    assert roundtrip() < 1.0


def test_latency_toxic_adds_latency_and_is_removed_on_error(tp: ToxiproxyClient) -> None:
    baseline = roundtrip()
    with pytest.raises(RuntimeError, match="inside"):
        with tp.toxic(PROXY, type="latency", attributes={"latency": 300}) as toxic:
            assert toxic.name == "latency_downstream"
            assert toxic.type == "latency" and toxic.stream == "downstream" and toxic.toxicity == 1.0
            assert toxic.attributes["latency"] == 300
            assert [t.name for t in tp.proxy(PROXY).toxics] == ["latency_downstream"]
            slow = roundtrip()
            assert slow >= 0.300, slow
            raise RuntimeError("inside")
    assert tp.proxy(PROXY).toxics == ()
    after = roundtrip()
    assert after < 0.150, (baseline, slow, after)


def test_upstream_latency_toxic_with_name(tp: ToxiproxyClient) -> None:
    with tp.toxic(PROXY, type="latency", name="slow_up", stream="upstream", attributes={"latency": 200}) as t:
        assert (t.name, t.stream) == ("slow_up", "upstream")
        assert roundtrip() >= 0.200
    assert tp.proxy(PROXY).toxics == ()


def test_timeout_zero_black_holes(tp: ToxiproxyClient) -> None:
    with tp.toxic(PROXY, type="timeout", attributes={"timeout": 0}):
        with socket.create_connection((HOST, PROXY_PORT), timeout=1.0) as sock:
            sock.sendall(b"anyone there?")
            start = time.monotonic()
            with pytest.raises(TimeoutError):
                sock.recv(100)
            assert time.monotonic() - start >= 0.9
    assert roundtrip() < 1.0


def test_update_toxic_changes_latency(tp: ToxiproxyClient) -> None:
    tp.add_toxic(PROXY, type="latency", name="lat", attributes={"latency": 50})
    assert 0.050 <= roundtrip() < 0.300
    updated = tp.update_toxic(PROXY, "lat", attributes={"latency": 400})
    assert updated.attributes["latency"] == 400
    assert updated.toxicity == 1.0  # untouched by an attributes-only PATCH
    assert roundtrip() >= 0.400
    updated = tp.update_toxic(PROXY, "lat", toxicity=0.5)
    assert updated.toxicity == 0.5 and updated.attributes["latency"] == 400
    state = tp.proxy(PROXY).toxic("lat")
    assert state is not None and state.toxicity == 0.5


def test_remove_missing_toxic_is_fine(tp: ToxiproxyClient) -> None:
    tp.remove_toxic(PROXY, "never_added")
    tp.add_toxic(PROXY, type="bandwidth", attributes={"rate": 100})
    tp.remove_toxic(PROXY, "bandwidth_downstream")
    tp.remove_toxic(PROXY, "bandwidth_downstream")  # twice: still fine
    tp.remove_toxic("no_such_proxy", "x")  # proxy gone too: nothing to heal
    assert tp.proxy(PROXY).toxics == ()


def test_reset_clears_everything(tp: ToxiproxyClient) -> None:
    tp.add_toxic(PROXY, type="latency", attributes={"latency": 500})
    tp.add_toxic(PROXY, type="limit_data", stream="upstream", attributes={"bytes": 10})
    tp.add_toxic("echo_off", type="reset_peer", attributes={"timeout": 0})
    tp.set_enabled(PROXY, False)
    tp.reset()
    states = tp.proxies()
    assert all(s.enabled and s.toxics == () for s in states.values()), states
    assert roundtrip() < 0.150


def test_unknown_proxy_error_names_it(tp: ToxiproxyClient) -> None:
    with pytest.raises(ToxiproxyError, match="no_such_proxy") as info:
        tp.proxy("no_such_proxy")
    assert info.value.status == 404
    assert "proxy not found" in str(info.value)
    with pytest.raises(ToxiproxyError, match="no_such_proxy"):
        tp.set_enabled("no_such_proxy", False)
    with pytest.raises(ToxiproxyError, match="no_such_proxy"):
        tp.add_toxic("no_such_proxy", type="latency", attributes={"latency": 1})


def test_duplicate_toxic_is_an_error(tp: ToxiproxyClient) -> None:
    tp.add_toxic(PROXY, type="slow_close", attributes={"delay": 10})
    with pytest.raises(ToxiproxyError) as info:
        tp.add_toxic(PROXY, type="slow_close", attributes={"delay": 10})
    assert info.value.status == 409


def test_bad_toxic_type_is_value_error(tp: ToxiproxyClient) -> None:
    with pytest.raises(ValueError, match="packet_loss"):
        tp.add_toxic(PROXY, type="packet_loss")
    with pytest.raises(ValueError, match="stream"):
        tp.add_toxic(PROXY, type="latency", stream="sideways")
    with pytest.raises(ValueError, match="packet_loss"):
        with tp.toxic(PROXY, type="packet_loss"):
            pass  # pragma: no cover
    assert tp.proxy(PROXY).toxics == ()


def test_every_known_toxic_type_is_accepted_by_the_server(tp: ToxiproxyClient) -> None:
    from stack.toxiproxy import TOXIC_TYPES

    for toxic_type, attrs in TOXIC_TYPES.items():
        toxic = tp.add_toxic(PROXY, type=toxic_type, attributes={a: 1 for a in attrs})
        assert toxic.type == toxic_type
        assert set(attrs) <= set(toxic.attributes), (toxic_type, toxic.attributes)
    assert len(tp.proxy(PROXY).toxics) == len(TOXIC_TYPES)


def test_closed_port_fails_fast() -> None:
    with ToxiproxyClient(f"http://{HOST}:{CLOSED_PORT}", timeout_s=1.0) as client:
        assert not client.is_up()
        start = time.monotonic()
        with pytest.raises(ToxiproxyError, match=str(CLOSED_PORT)) as info:
            client.version()
        assert time.monotonic() - start < 1.5
        assert info.value.status is None


def test_silent_server_times_out_instead_of_hanging() -> None:
    # a listener that never accept()s or answers: the kernel completes the handshake, then nothing
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((HOST, BLACKHOLE_PORT))
        listener.listen(16)
        with ToxiproxyClient(f"http://{HOST}:{BLACKHOLE_PORT}", timeout_s=0.5) as client:
            start = time.monotonic()
            with pytest.raises(ToxiproxyError, match="Timeout"):
                client.proxies()
            elapsed = time.monotonic() - start
            assert 0.4 <= elapsed < 2.0, elapsed
            assert not client.is_up()
