"""Where the host:port sits in an address value of a team's compose file, so it can be pointed elsewhere.

Two forms are understood: a URL (`postgresql://app:secret@db:5432/app`, `redis://cache:6379/1`,
`http://payment:8020`) and a bare `host:port`. Everything around the host:port (scheme, credentials, path,
query) is kept as the team wrote it, character for character, including compose interpolations such as
`${PG_PASSWORD}` in the password. Anything else (several hosts, a host held in a variable, no port and an
unknown scheme) is refused with the reason, never guessed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

# A URL without a port means its scheme's default port; the proxy needs a port to forward to.
DEFAULT_PORTS: Mapping[str, int] = {
    "postgresql": 5432, "postgres": 5432, "redis": 6379, "rediss": 6379, "http": 80, "https": 443,
    "amqp": 5672, "mysql": 3306, "mongodb": 27017, "nats": 4222,
}

_URL = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://(?P<authority>[^/?#]*)(?P<rest>.*)$", re.DOTALL)
_HOST_PORT = re.compile(r"^(?P<host>[A-Za-z0-9_.-]+|\[[0-9A-Fa-f:.]+\])(?::(?P<port>\d{1,5}))?$")


class UnparseableAddress(ValueError):
    """The value holds no single host:port this module can find; the message says why."""


@dataclass(frozen=True)
class Address:
    """An address value split around its host:port: `prefix` + host:port + `suffix` is the original."""

    prefix: str
    host: str
    port: int
    suffix: str
    port_written: bool = True  # False: a URL relying on its scheme's default port

    @property
    def host_port(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def original(self) -> str:
        written = self.host_port if self.port_written else self.host
        return f"{self.prefix}{written}{self.suffix}"

    def pointed_at(self, host: str, port: int) -> str:
        """The same value with its host:port replaced: credentials, path and query untouched."""
        return f"{self.prefix}{host}:{port}{self.suffix}"


def parse_address(value: str) -> Address:
    """`value` split around its host:port; raises UnparseableAddress saying why it cannot be."""
    text = value.strip()
    url = _URL.match(text)
    if url is not None:
        return _url_address(url)
    found = _HOST_PORT.match(text)
    if found is None or found.group("port") is None:
        raise UnparseableAddress(_why_not(text, "is neither a URL (scheme://host:port/...) nor host:port"))
    return Address("", found.group("host"), _port(found.group("port")), "")


def _url_address(url: re.Match[str]) -> Address:
    scheme, authority = url.group("scheme"), url.group("authority")
    userinfo, at, host_port = authority.rpartition("@")
    found = _HOST_PORT.match(host_port)
    if found is None:
        raise UnparseableAddress(_why_not(host_port, f"has no single host:port in its authority {authority!r}"))
    prefix = f"{scheme}://{userinfo}{at}"
    if found.group("port") is not None:
        return Address(prefix, found.group("host"), _port(found.group("port")), url.group("rest"))
    default = DEFAULT_PORTS.get(scheme.lower())
    if default is None:
        raise UnparseableAddress(f"names no port, and {scheme}:// has no default port known here")
    return Address(prefix, found.group("host"), default, url.group("rest"), port_written=False)


def _port(digits: str) -> int:
    port = int(digits)
    if not 1 <= port <= 65535:
        raise UnparseableAddress(f"port {port} is out of range (1-65535)")
    return port


def _why_not(text: str, otherwise: str) -> str:
    if "$" in text:
        return "the host or port comes from a compose variable, which is not resolved here"
    if "," in text:
        return "it names several hosts; only one host:port can be put behind a proxy"
    return otherwise
