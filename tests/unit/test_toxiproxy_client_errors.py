"""Error mapping of stack.toxiproxy.ToxiproxyClient, with httpx.MockTransport (no server)."""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
import pytest

from stack.toxiproxy import ToxiproxyClient, ToxiproxyError

BASE = "http://toxiproxy.test:8474"
PROXY_JSON = {"name": "p", "listen": "127.0.0.1:1", "upstream": "127.0.0.1:2", "enabled": True, "toxics": []}


def make_client(
    handler: Callable[[httpx.Request], httpx.Response], timeout_s: float = 5.0
) -> tuple[ToxiproxyClient, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return handler(request)

    return ToxiproxyClient(BASE, timeout_s=timeout_s, transport=httpx.MockTransport(record)), seen


def test_403_is_an_error_with_method_url_status_and_body() -> None:
    client, _ = make_client(lambda r: httpx.Response(403, text="User agent not allowed"))
    with client, pytest.raises(ToxiproxyError) as info:
        client.proxies()
    err = info.value
    assert (err.method, err.url, err.status) == ("GET", f"{BASE}/proxies", 403)
    assert err.body == "User agent not allowed"
    for part in ("GET", f"{BASE}/proxies", "403", "User agent not allowed"):
        assert part in str(err)


def test_500_is_an_error() -> None:
    client, _ = make_client(lambda r: httpx.Response(500, json={"error": "internal", "status": 500}))
    with client, pytest.raises(ToxiproxyError, match="500") as info:
        client.add_toxic("p", type="latency", attributes={"latency": 10})
    assert info.value.method == "POST"
    assert info.value.url == f"{BASE}/proxies/p/toxics"
    assert "internal" in str(info.value)


@pytest.mark.parametrize(
    "call",
    [
        lambda c: c.reset(),
        lambda c: c.set_enabled("p", False),
        lambda c: c.update_toxic("p", "t", attributes={"latency": 1}),
        lambda c: c.remove_toxic("p", "t"),
        lambda c: c.version(),
    ],
)
def test_every_call_maps_500(call: Callable[[ToxiproxyClient], object]) -> None:
    client, _ = make_client(lambda r: httpx.Response(500, text="boom"))
    with client, pytest.raises(ToxiproxyError, match="boom"):
        call(client)


def test_is_up_is_false_on_403_and_transport_errors() -> None:
    client, _ = make_client(lambda r: httpx.Response(403, text="User agent not allowed"))
    with client:
        assert not client.is_up()

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    client, _ = make_client(refuse)
    with client:
        assert not client.is_up()
        with pytest.raises(ToxiproxyError, match="connection refused") as info:
            client.version()
        assert info.value.status is None
        assert isinstance(info.value.__cause__, httpx.ConnectError)


def test_read_timeout_becomes_toxiproxy_error() -> None:
    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    client, _ = make_client(slow)
    with client, pytest.raises(ToxiproxyError, match="ReadTimeout"):
        client.proxy("p")


def test_404_names_the_proxy_and_remove_tolerates_404() -> None:
    client, seen = make_client(lambda r: httpx.Response(404, json={"error": "proxy not found", "status": 404}))
    with client:
        with pytest.raises(ToxiproxyError, match="'db_edge'.*proxy not found") as info:
            client.proxy("db_edge")
        assert info.value.status == 404
        client.remove_toxic("db_edge", "latency_downstream")  # no exception
    assert [r.method for r in seen] == ["GET", "DELETE"]


def test_not_json_is_an_error() -> None:
    client, _ = make_client(lambda r: httpx.Response(200, text="<html>"))
    with client, pytest.raises(ToxiproxyError, match="not JSON"):
        client.version()


def test_unexpected_shape_is_an_error() -> None:
    client, _ = make_client(lambda r: httpx.Response(200, json={"name": "p"}))
    with client, pytest.raises(ToxiproxyError, match="unexpected answer"):
        client.proxy("p")


def test_headers_timeout_and_method() -> None:
    client, seen = make_client(lambda r: httpx.Response(200, json=PROXY_JSON), timeout_s=1.5)
    with client:
        client.set_enabled("p", False)
    (request,) = seen
    assert request.method == "PATCH"
    assert str(request.url) == f"{BASE}/proxies/p"
    assert json.loads(request.content) == {"enabled": False}
    assert not request.headers["user-agent"].startswith("Mozilla/")
    assert request.extensions["timeout"] == {"connect": 1.5, "read": 1.5, "write": 1.5, "pool": 1.5}


def test_names_are_url_quoted() -> None:
    client, seen = make_client(lambda r: httpx.Response(204))
    with client:
        client.remove_toxic("a/b", "c d")
    assert seen[0].url.raw_path == b"/proxies/a%2Fb/toxics/c%20d"


def test_validation_happens_before_any_request() -> None:
    client, seen = make_client(lambda r: httpx.Response(200, json={}))
    with client:
        with pytest.raises(ValueError, match="unknown toxic type 'packet_loss'"):
            client.add_toxic("p", type="packet_loss")
        with pytest.raises(ValueError, match="stream"):
            client.add_toxic("p", type="latency", stream="both")
        with pytest.raises(ValueError, match="toxicity"):
            client.add_toxic("p", type="latency", toxicity=1.5)
        with pytest.raises(ValueError, match="must be a number"):
            client.add_toxic("p", type="latency", attributes={"latency": "300"})  # type: ignore[dict-item]
        with pytest.raises(ValueError, match="attributes and/or toxicity"):
            client.update_toxic("p", "t")
        with pytest.raises(ValueError, match="proxy name"):
            client.proxy("")
    assert seen == []


def test_toxic_context_removes_even_when_body_raises() -> None:
    toxic_json = {"name": "latency_downstream", "type": "latency", "stream": "downstream", "toxicity": 1,
                  "attributes": {"latency": 300, "jitter": 0}}
    client, seen = make_client(
        lambda r: httpx.Response(200, json=toxic_json) if r.method == "POST" else httpx.Response(204)
    )
    with client, pytest.raises(RuntimeError):
        with client.toxic("p", type="latency", attributes={"latency": 300}) as toxic:
            assert toxic.attributes == {"latency": 300, "jitter": 0}
            raise RuntimeError
    assert [(r.method, r.url.path) for r in seen] == [
        ("POST", "/proxies/p/toxics"),
        ("DELETE", "/proxies/p/toxics/latency_downstream"),
    ]
