"""Checking `curl ...`: GET/HEAD to the stack's ports (mapped through the config), never elsewhere."""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from aarya_chaos.runbook_check.context import Context
from aarya_chaos.runbook_check.report import CommandCheck
from aarya_chaos.runbook_check.shell import shorten

if TYPE_CHECKING:
    from stack.config import StackConfig

HTTP_TIMEOUT_S = 5.0


@dataclass
class CurlCall:
    url: str | None
    method: str
    fail: bool
    data: list[str]


def parse_curl(argv: Sequence[str]) -> CurlCall:
    value_opts = {"-X", "--request", "-H", "--header", "-d", "--data", "--data-raw", "--data-binary",
                  "--data-urlencode", "-o", "--output", "-u", "--user", "-w", "--write-out", "-m", "--max-time",
                  "--connect-timeout", "-A", "--user-agent", "-e", "--referer", "-b", "--cookie", "-c",
                  "--cookie-jar", "-F", "--form", "-T", "--upload-file", "--url", "-x", "--proxy", "--retry",
                  "--resolve", "--cacert", "--cert", "--key", "-K", "--config"}
    url: str | None = None
    method: str | None = None
    fail = False
    data: list[str] = []
    head = False
    i = 1
    while i < len(argv):
        arg = argv[i]
        i += 1
        value = ""
        if arg.startswith("--") and "=" in arg:
            arg, _, value = arg.partition("=")
        elif arg in value_opts and i < len(argv):
            value, i = argv[i], i + 1
        elif re.fullmatch(r"-[A-Za-z]+", arg) and arg[-1] in "XHdowmuAebcFTxK" and len(arg) > 2:
            flags, last = arg[1:-1], arg[-1]
            fail = fail or "f" in flags
            head = head or "I" in flags
            arg = "-" + last
            if i < len(argv):
                value, i = argv[i], i + 1
        if arg in ("-X", "--request"):
            method = value.upper()
        elif arg in ("-d", "--data", "--data-raw", "--data-binary", "--data-urlencode", "-F", "--form"):
            data.append(value)
        elif arg in ("-T", "--upload-file"):
            method = method or "PUT"
        elif arg == "--url":
            url = value
        elif arg in ("-f", "--fail", "--fail-with-body") or (re.fullmatch(r"-[A-Za-z]+", arg) and "f" in arg
                                                             and arg not in value_opts):
            fail = True
            head = head or "I" in arg
        elif arg in ("-I", "--head"):
            head = True
        elif not arg.startswith("-") and url is None:
            url = arg
    return CurlCall(url, method or ("POST" if data else "HEAD" if head else "GET"), fail, data)


def check_curl(check: CommandCheck, argv: list[str], ctx: Context) -> None:
    from urllib.parse import urlsplit, urlunsplit

    call = parse_curl(argv)
    if not call.url:
        check.add("fails", "curl without a URL")
        return
    variables = sorted(set(re.findall(r"\$\{?([A-Za-z_]\w*)", " ".join([call.url, *call.data]))))
    if call.url.startswith("$"):
        check.add("not runnable", f"the URL comes from ${variables[0] if variables else '?'}; never sent from here"
                  + (f"; the body needs {', '.join('$' + v for v in variables[1:])}" if len(variables) > 1 else ""))
        return
    url = call.url if "://" in call.url else "http://" + call.url
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if host not in ("localhost", "127.0.0.1", "::1", "0.0.0.0", ctx.config.host):
        why = f"{host} is not this machine: never contacted"
        if ctx.live is not None and call.method in ("GET", "HEAD") and parts.path.startswith(("/health", "/api/")):
            why += "; " + http_probe(ctx.config.gateway_url + parts.path, call, ctx, "the same path on the local gateway")
        check.add("not runnable", why)
        return
    port = parts.port or (443 if parts.scheme == "https" else 80)
    mapped, owner = map_port(port, ctx.config)
    if mapped is None:
        check.add("fails", f"nothing of the stack listens on port {port} (the runbook's ports: gateway "
                           f"{default_config().gateway.port}, commerce {default_config().services['commerce'].port}, ...)")
        return
    target = urlunsplit((parts.scheme, f"{ctx.config.host}:{mapped}", parts.path, parts.query, ""))
    mapping = f"{owner} at :{mapped}" + (f" (the runbook's :{port})" if mapped != port else "")
    if call.method not in ("GET", "HEAD"):
        check.add("dry-run", f"{call.method} to {mapping}: never sent (only GET/HEAD run)")
        return
    if ctx.live is None:
        ctx.missed("curl requests to the local stack not sent")
        check.add("dry-run", f"GET {target} ({mapping}); not sent ({ctx.static_reason()})")
        return
    text = http_probe(target, call, ctx, mapping)
    failed = text.startswith("!")
    check.add("fails" if failed else "ok", text.lstrip("!"))


def http_probe(url: str, call: CurlCall, ctx: Context, label: str) -> str:
    import httpx

    try:
        started = time.monotonic()
        response = httpx.request(call.method, url, timeout=HTTP_TIMEOUT_S)
        ms = (time.monotonic() - started) * 1000
    except httpx.HTTPError as exc:
        return f"!{label}: {type(exc).__name__}: {exc}"
    body = shorten(response.text.strip(), 60)
    text = f"{label}: HTTP {response.status_code} in {ms:.0f} ms {body}".rstrip()
    if response.status_code >= 400 and call.fail:
        return f"!{text} (curl -f exits 22)"
    return text


def default_config() -> StackConfig:
    from stack.config import StackConfig

    return StackConfig()


def map_port(port: int, config: StackConfig) -> tuple[int | None, str]:
    """A port as the runbook writes it (the platform's defaults) -> the configured port and its owner."""
    default = {p: owner for owner, p in default_config().listen_ports().items()}
    current = config.listen_ports()
    owner = default.get(port)
    if owner is not None and owner in current:
        return int(current[owner]), owner
    for name, p in current.items():
        if p == port:
            return int(p), name
    return None, ""
