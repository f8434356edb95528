"""A small typed client for the Toxiproxy HTTP API (Shopify toxiproxy v2.12.0).

Why not toxiproxy-python: it sends every request without a timeout, silently returns on 403/500, has no toxic
update and implements populate client-side (see docs in the shared dependency notes). This client uses one
``httpx.Client`` with a timeout on every call and turns every non-2xx answer or transport failure into a
:class:`ToxiproxyError`.

    with ToxiproxyClient("http://127.0.0.1:18474") as tp:
        tp.populate([ProxySpec("commerce__redis", "127.0.0.1:21001", "127.0.0.1:16379")])
        with tp.toxic("commerce__redis", type="latency", attributes={"latency": 300}):
            ...
        with tp.down("commerce__redis"):
            ...
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Final, Self
from urllib.parse import quote

import httpx

__all__ = [
    "DEFAULT_URL",
    "STREAMS",
    "TOXIC_TYPES",
    "ProxySpec",
    "ProxyState",
    "Toxic",
    "ToxiproxyClient",
    "ToxiproxyError",
]

DEFAULT_URL: Final = "http://127.0.0.1:8474"
USER_AGENT: Final = "aarya-chaos-toxiproxy/0.1"  # the server answers 403 to any "Mozilla/..." agent

#: Toxic types of the Shopify server (toxics/*.go) and their attributes, for reference.
TOXIC_TYPES: Final[Mapping[str, tuple[str, ...]]] = {
    "latency": ("latency", "jitter"),  # ms
    "bandwidth": ("rate",),  # KB/s
    "slow_close": ("delay",),  # ms
    "timeout": ("timeout",),  # ms; 0 = black-hole forever
    "reset_peer": ("timeout",),  # ms before the RST; 0 = at once
    "slicer": ("average_size", "size_variation", "delay"),  # bytes, bytes, MICROseconds
    "limit_data": ("bytes",),
}
#: upstream = client -> server, downstream = server -> client.
STREAMS: Final = frozenset({"upstream", "downstream"})

_BODY_LIMIT = 500


class ToxiproxyError(Exception):
    """A non-2xx answer, a transport failure, or an unreadable answer from the Toxiproxy API."""

    def __init__(self, method: str, url: str, status: int | None, body: str, detail: str = "") -> None:
        self.method = method
        self.url = url
        self.status = status
        self.body = body
        self.detail = detail
        status_text = "no response" if status is None else f"HTTP {status}"
        text = f"{method} {url} -> {status_text}: {body[:_BODY_LIMIT]}"
        super().__init__(f"{detail}: {text}" if detail else text)


@dataclass(frozen=True)
class ProxySpec:
    """A proxy to create: ``listen`` and ``upstream`` are ``host:port``."""

    name: str
    listen: str
    upstream: str
    enabled: bool = True

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "listen": self.listen, "upstream": self.upstream, "enabled": self.enabled}


@dataclass(frozen=True)
class Toxic:
    name: str
    type: str
    stream: str
    toxicity: float
    attributes: dict[str, int | float]


@dataclass(frozen=True)
class ProxyState:
    name: str
    listen: str
    upstream: str
    enabled: bool
    toxics: tuple[Toxic, ...]

    def toxic(self, name: str) -> Toxic | None:
        """The toxic called ``name``, or None."""
        return next((t for t in self.toxics if t.name == name), None)


class ToxiproxyClient:
    """Typed client over the Toxiproxy HTTP API; every call has a timeout (``timeout_s``, default 5 s)."""

    def __init__(
        self,
        url: str = DEFAULT_URL,
        *,
        timeout_s: float = 5.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if timeout_s <= 0:
            raise ValueError(f"timeout_s must be > 0, got {timeout_s!r}")
        self.url = url.rstrip("/")
        self.timeout_s = timeout_s
        self._http = httpx.Client(
            base_url=self.url,
            timeout=httpx.Timeout(timeout_s),
            headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
            transport=transport,
            follow_redirects=False,
            trust_env=False,  # a proxy from the environment must never sit between us and a loopback server
        )

    # -- lifecycle -------------------------------------------------------------------------------------------

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"ToxiproxyClient({self.url!r}, timeout_s={self.timeout_s})"

    # -- server ----------------------------------------------------------------------------------------------

    def version(self) -> str:
        data = self._json("GET", "/version")
        if isinstance(data, dict) and isinstance(data.get("version"), str):
            return str(data["version"])
        raise self._bad_answer("GET", "/version", data, "expected {'version': str}")

    def is_up(self) -> bool:
        """True when the server answers ``GET /version``; False on any transport error or non-2xx answer."""
        try:
            self.version()
        except ToxiproxyError:
            return False
        return True

    def reset(self) -> None:
        """``POST /reset``: re-enable every proxy and remove every toxic (proxies stay)."""
        self._request("POST", "/reset")

    # -- proxies ---------------------------------------------------------------------------------------------

    def populate(self, proxies: Sequence[ProxySpec]) -> list[ProxyState]:
        """Create or replace proxies with ``POST /populate``; calling it twice with the same specs is a no-op.

        The server replaces an existing proxy only when its listen/upstream differ, and ignores ``enabled`` for a
        proxy that already exists; so afterwards each proxy whose ``enabled`` differs from its spec is PATCHed,
        making the result match the specs. Returns the states in the order of ``proxies``.
        """
        names = [p.name for p in proxies]
        for spec in proxies:
            _check_name(spec.name, "proxy name")
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"duplicate proxy names in populate: {dupes}")
        data = self._json("POST", "/populate", [p.to_json() for p in proxies])
        items = data.get("proxies") if isinstance(data, dict) else None
        if not isinstance(items, list):
            raise self._bad_answer("POST", "/populate", data, "expected {'proxies': [...]}")
        url = f"{self.url}/populate"
        states = {s.name: s for s in (_parse_proxy(item, "POST", url) for item in items)}
        result: list[ProxyState] = []
        for spec in proxies:
            state = states.get(spec.name) or self.proxy(spec.name)
            if state.enabled != spec.enabled:
                state = self._patch_proxy(spec.name, {"enabled": spec.enabled})
            result.append(state)
        return result

    def proxies(self) -> dict[str, ProxyState]:
        data = self._json("GET", "/proxies")
        if not isinstance(data, dict):
            raise self._bad_answer("GET", "/proxies", data, "expected an object")
        url = f"{self.url}/proxies"
        return {name: _parse_proxy(item, "GET", url) for name, item in data.items()}

    def proxy(self, name: str) -> ProxyState:
        """The proxy called ``name``; :class:`ToxiproxyError` naming it if it does not exist."""
        path = _proxy_path(name)
        return _parse_proxy(self._json("GET", path, proxy=name), "GET", self.url + path)

    def set_enabled(self, name: str, enabled: bool) -> None:
        """Enable or disable a proxy (disabled = listener closed and every open connection closed)."""
        self._patch_proxy(name, {"enabled": enabled})

    def _patch_proxy(self, name: str, body: dict[str, Any]) -> ProxyState:
        path = _proxy_path(name)
        return _parse_proxy(self._json("PATCH", path, body, proxy=name), "PATCH", self.url + path)

    # -- toxics ----------------------------------------------------------------------------------------------

    def add_toxic(
        self,
        proxy: str,
        *,
        type: str,
        name: str | None = None,
        stream: str = "downstream",
        toxicity: float = 1.0,
        attributes: Mapping[str, int | float] | None = None,
    ) -> Toxic:
        """Add a toxic; ``name`` defaults to ``<type>_<stream>`` (the server's default)."""
        if type not in TOXIC_TYPES:
            raise ValueError(f"unknown toxic type {type!r}; known types: {', '.join(sorted(TOXIC_TYPES))}")
        if stream not in STREAMS:
            raise ValueError(f"toxic stream must be 'upstream' or 'downstream', got {stream!r}")
        _check_toxicity(toxicity)
        attrs = _check_attributes(attributes or {})
        toxic_name = f"{type}_{stream}" if name is None else name
        _check_name(toxic_name, "toxic name")
        body = {"name": toxic_name, "type": type, "stream": stream, "toxicity": toxicity, "attributes": attrs}
        path = f"{_proxy_path(proxy)}/toxics"
        return _parse_toxic(self._json("POST", path, body, proxy=proxy), "POST", self.url + path)

    def update_toxic(
        self,
        proxy: str,
        name: str,
        *,
        attributes: Mapping[str, int | float] | None = None,
        toxicity: float | None = None,
    ) -> Toxic:
        """``PATCH`` a toxic's attributes and/or toxicity; attributes left out keep their values."""
        if attributes is None and toxicity is None:
            raise ValueError("update_toxic needs attributes and/or toxicity")
        body: dict[str, Any] = {}
        if attributes is not None:
            body["attributes"] = _check_attributes(attributes)
        if toxicity is not None:
            _check_toxicity(toxicity)
            body["toxicity"] = toxicity
        path = _toxic_path(proxy, name)
        return _parse_toxic(self._json("PATCH", path, body, proxy=proxy), "PATCH", self.url + path)

    def remove_toxic(self, proxy: str, name: str) -> None:
        """Remove a toxic; a 404 (toxic or proxy already gone) is fine, so healing is idempotent."""
        self._request("DELETE", _toxic_path(proxy, name), allow_404=True)

    # -- context managers ------------------------------------------------------------------------------------

    @contextmanager
    def toxic(
        self,
        proxy: str,
        *,
        type: str,
        name: str | None = None,
        stream: str = "downstream",
        toxicity: float = 1.0,
        attributes: Mapping[str, int | float] | None = None,
    ) -> Iterator[Toxic]:
        """Add a toxic, yield it, and remove it on exit whatever happened in the body."""
        added = self.add_toxic(
            proxy, type=type, name=name, stream=stream, toxicity=toxicity, attributes=attributes
        )
        try:
            yield added
        finally:
            self.remove_toxic(proxy, added.name)

    @contextmanager
    def down(self, proxy: str) -> Iterator[None]:
        """Disable a proxy (connects refused, open connections closed), yield, re-enable it on exit."""
        self.set_enabled(proxy, False)
        try:
            yield
        finally:
            self.set_enabled(proxy, True)

    # -- plumbing --------------------------------------------------------------------------------------------

    def _request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        proxy: str | None = None,
        allow_404: bool = False,
    ) -> httpx.Response | None:
        url = f"{self.url}{path}"
        try:
            response = self._http.request(method, path, json=body)
        except httpx.HTTPError as exc:  # connect/read/write/pool timeouts, refused, reset, protocol errors
            raise ToxiproxyError(
                method, url, None, f"{exc.__class__.__name__}: {exc}", f"Toxiproxy at {self.url} unreachable"
            ) from exc
        if response.is_success:
            return response
        if response.status_code == 404 and allow_404:
            return None
        detail = ""
        if response.status_code == 404 and proxy is not None:
            detail = f"Toxiproxy proxy {proxy!r}: {_error_text(response)}"
        elif response.status_code == 403:
            detail = "Toxiproxy refused the request (403; it rejects browser User-Agents)"
        raise ToxiproxyError(method, url, response.status_code, response.text, detail)

    def _json(self, method: str, path: str, body: Any = None, *, proxy: str | None = None) -> Any:
        response = self._request(method, path, body, proxy=proxy)
        assert response is not None  # allow_404 is False
        try:
            return response.json()
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ToxiproxyError(
                method, f"{self.url}{path}", response.status_code, response.text, "answer is not JSON"
            ) from exc

    def _bad_answer(self, method: str, path: str, data: Any, what: str) -> ToxiproxyError:
        return _bad_answer(method, f"{self.url}{path}", data, what)


# -- helpers -------------------------------------------------------------------------------------------------


def _proxy_path(name: str) -> str:
    _check_name(name, "proxy name")
    return f"/proxies/{quote(name, safe='')}"


def _toxic_path(proxy: str, name: str) -> str:
    _check_name(name, "toxic name")
    return f"{_proxy_path(proxy)}/toxics/{quote(name, safe='')}"


def _check_name(name: str, what: str) -> None:
    if not isinstance(name, str) or not name:
        raise ValueError(f"{what} must be a non-empty string, got {name!r}")


def _check_toxicity(toxicity: float) -> None:
    if isinstance(toxicity, bool) or not isinstance(toxicity, int | float) or not 0.0 <= toxicity <= 1.0:
        raise ValueError(f"toxicity must be a number in [0, 1], got {toxicity!r}")


def _check_attributes(attributes: Mapping[str, int | float]) -> dict[str, int | float]:
    out: dict[str, int | float] = {}
    for key, value in attributes.items():
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"toxic attribute {key!r} must be a number, got {value!r}")
        out[key] = value
    return out


def _error_text(response: httpx.Response) -> str:
    try:
        data = response.json()
    except ValueError:
        return response.text.strip()
    if isinstance(data, dict) and isinstance(data.get("error"), str):
        return str(data["error"])
    return response.text.strip()


def _bad_answer(method: str, url: str, data: Any, what: str) -> ToxiproxyError:
    return ToxiproxyError(method, url, None, json.dumps(data)[:_BODY_LIMIT], f"unexpected answer ({what})")


def _parse_toxic(data: Any, method: str, url: str) -> Toxic:
    if not isinstance(data, dict):
        raise _bad_answer(method, url, data, "expected a toxic object")
    try:
        raw_attrs = data.get("attributes") or {}
        attributes = {
            str(k): v for k, v in raw_attrs.items() if isinstance(v, int | float) and not isinstance(v, bool)
        }
        return Toxic(
            name=str(data["name"]),
            type=str(data["type"]),
            stream=str(data["stream"]),
            toxicity=float(data["toxicity"]),
            attributes=attributes,
        )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise _bad_answer(method, url, data, f"bad toxic: {exc!r}") from exc


def _parse_proxy(data: Any, method: str, url: str) -> ProxyState:
    if not isinstance(data, dict):
        raise _bad_answer(method, url, data, "expected a proxy object")
    try:
        toxics = tuple(_parse_toxic(t, method, url) for t in data.get("toxics") or [])
        return ProxyState(
            name=str(data["name"]),
            listen=str(data["listen"]),
            upstream=str(data["upstream"]),
            enabled=bool(data["enabled"]),
            toxics=toxics,
        )
    except (KeyError, TypeError) as exc:
        raise _bad_answer(method, url, data, f"bad proxy: {exc!r}") from exc
