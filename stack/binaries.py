"""Find the stack's server binaries, installing what is missing when we can (root + Debian + Go).

PostgreSQL 15, redis-server and nginx come from Debian packages; the Toxiproxy server is built with the
machine's Go (`go install github.com/Shopify/toxiproxy/v2/cmd/server@v2.12.0`), because no package ships
it and Debian's Go is too old for its go.mod. When installing is impossible, MissingBinary says exactly
what is missing and the commands that would provide it.
"""

from __future__ import annotations

import logging
import os
import shlex
import shutil
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from aarya_chaos.errors import MissingBinary

log = logging.getLogger("aarya.binaries")

TOXIPROXY_MODULE = "github.com/Shopify/toxiproxy/v2/cmd/server"
TOXIPROXY_VERSION = "v2.12.0"
PG_VERSIONS = ("15", "16", "17")
DEBIAN_PACKAGES = {"postgres": "postgresql-15", "redis": "redis-server", "nginx": "nginx-light"}
INSTALL_TIMEOUT_S = 900


@dataclass(frozen=True)
class Binaries:
    pg_bindir: Path
    redis_server: Path
    redis_cli: Path
    nginx: Path
    toxiproxy: Path

    def pg(self, tool: str) -> Path:
        return self.pg_bindir / tool


def _find_pg_bindir() -> Path | None:
    override = os.environ.get("AARYA_PG_BINDIR")
    candidates = [Path(override)] if override else []
    candidates += [Path(f"/usr/lib/postgresql/{v}/bin") for v in PG_VERSIONS]
    return next((c for c in candidates if (c / "postgres").is_file() and (c / "initdb").is_file()), None)


def _which(name: str, *extra: Path) -> Path | None:
    found = shutil.which(name)
    if found:
        return Path(found)
    return next((p for p in extra if p.is_file()), None)


def _find_toxiproxy(tools_dir: Path) -> Path | None:
    override = os.environ.get("AARYA_TOXIPROXY")
    if override and Path(override).is_file():
        return Path(override)
    return _which("toxiproxy-server", tools_dir / "toxiproxy-server")


def _locate(tools_dir: Path) -> dict[str, Path | None]:
    return {
        "postgres": _find_pg_bindir(),
        "redis": _which("redis-server", Path("/usr/bin/redis-server")),
        "redis-cli": _which("redis-cli", Path("/usr/bin/redis-cli")),
        "nginx": _which("nginx", Path("/usr/sbin/nginx")),
        "toxiproxy": _find_toxiproxy(tools_dir),
    }


def how_to_install(missing: list[str], tools_dir: Path) -> str:
    packages = sorted({DEBIAN_PACKAGES[m] for m in missing if m in DEBIAN_PACKAGES})
    packages += ["redis-tools"] if "redis-cli" in missing and "redis-server" not in packages else []
    steps = []
    if packages:
        steps.append(f"  sudo apt-get update && sudo apt-get install -y {' '.join(packages)}")
    if "toxiproxy" in missing:
        steps.append(
            f"  GOBIN={tools_dir} go install {TOXIPROXY_MODULE}@{TOXIPROXY_VERSION} && "
            f"mv {tools_dir}/server {tools_dir}/toxiproxy-server   (needs Go >= 1.23)"
        )
    return "\n".join(steps)


def find_binaries(tools_dir: Path, *, install: bool = True) -> Binaries:
    """Locate every binary; install missing ones if allowed and possible; else raise MissingBinary."""
    found = _locate(tools_dir)
    missing = [name for name, path in found.items() if path is None]
    if missing and install:
        _install(missing, tools_dir)
        found = _locate(tools_dir)
        missing = [name for name, path in found.items() if path is None]
    if missing:
        raise MissingBinary(
            f"missing: {', '.join(missing)}. Install with:\n{how_to_install(missing, tools_dir)}\n"
            "(or run `make setup`, which does this as root)"
        )
    return Binaries(
        pg_bindir=_require(found["postgres"]),
        redis_server=_require(found["redis"]),
        redis_cli=_require(found["redis-cli"]),
        nginx=_require(found["nginx"]),
        toxiproxy=_require(found["toxiproxy"]),
    )


def _require(path: Path | None) -> Path:
    assert path is not None
    return path


def _install(missing: list[str], tools_dir: Path) -> None:
    debian = [m for m in missing if m in DEBIAN_PACKAGES or m == "redis-cli"]
    if debian:
        _apt_install(debian, tools_dir)
    if "toxiproxy" in missing:
        _go_install_toxiproxy(tools_dir)


def _apt_install(missing: list[str], tools_dir: Path) -> None:
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise MissingBinary(
            f"missing {', '.join(missing)}, and installing needs root and apt-get. Run:\n"
            f"{how_to_install(missing, tools_dir)}"
        )
    packages = sorted({DEBIAN_PACKAGES.get(m, "redis-tools") for m in missing})
    log.warning("installing Debian packages: %s", " ".join(packages))
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    with _no_service_autostart():
        _run(["apt-get", "update", "-q"], env)
        _run(["apt-get", "install", "-y", "-q", "--no-install-recommends", *packages], env)


class _no_service_autostart:
    """Debian's postinst scripts start the daemons they install; we want only our own, on our ports."""

    path = Path("/usr/sbin/policy-rc.d")

    def __enter__(self) -> None:
        self.created = not self.path.exists()
        if self.created:
            self.path.write_text("#!/bin/sh\nexit 101\n")
            self.path.chmod(0o755)

    def __exit__(self, *exc: object) -> None:
        if self.created:
            self.path.unlink(missing_ok=True)


def _go_install_toxiproxy(tools_dir: Path) -> None:
    go_install(TOXIPROXY_MODULE, TOXIPROXY_VERSION, tools_dir, "toxiproxy-server", go_needed=" >= 1.23",
               how=how_to_install(["toxiproxy"], tools_dir))


def find_go() -> Path | None:
    """The machine's Go toolchain: `go` on PATH, else /usr/local/go/bin/go."""
    return _which("go", Path("/usr/local/go/bin/go"))


def go_install_command(module: str, version: str, tools_dir: Path, *, build_flags: Sequence[str] = (),
                       env: Mapping[str, str] | None = None) -> str:
    """The shell line that builds `module@version` into tools_dir (as go_install does, minus the rename)."""
    variables = [f"GOBIN={shlex.quote(str(tools_dir))}"] + [f"{k}={shlex.quote(v)}" for k, v in (env or {}).items()]
    return " ".join(variables) + " " + shlex.join(["go", "install", *build_flags, f"{module}@{version}"])


def go_install(module: str, version: str, tools_dir: Path, binary_name: str, *,
               build_flags: Sequence[str] = (), env: Mapping[str, str] | None = None,
               go_needed: str = "", how: str | None = None, timeout_s: float = INSTALL_TIMEOUT_S) -> Path:
    """Build `module@version` with the machine's Go and put it at tools_dir/binary_name; return that path.

    GOBIN is a temporary directory (the binary is then moved), so a half-built binary never lands in
    tools_dir. Go's own GOMODCACHE and GOCACHE are used (from the environment or `go env`), so a second
    build of the same or a related module is warm. `env` adds variables (CGO_ENABLED=0, say); `build_flags`
    go between `go install` and the package. Without Go, MissingBinary says what to run (`how`, by default
    the plain `GOBIN=<tools_dir> go install ...` line).
    """
    go = find_go()
    if go is None:
        command = how or "  " + go_install_command(module, version, tools_dir, build_flags=build_flags, env=env)
        raise MissingBinary(
            f"missing {binary_name} and no Go toolchain to build it. Install Go{go_needed}, then run:\n{command}"
        )
    tools_dir.mkdir(parents=True, exist_ok=True)
    log.warning("building %s@%s with %s", module, version, go)
    with tempfile.TemporaryDirectory() as gobin:
        _run([str(go), "install", *build_flags, f"{module}@{version}"], {**os.environ, **(env or {}), "GOBIN": gobin},
             timeout_s=timeout_s)
        shutil.move(str(Path(gobin) / module.rstrip("/").rsplit("/", 1)[1]), tools_dir / binary_name)
    return tools_dir / binary_name


def _run(command: list[str], env: dict[str, str], *, timeout_s: float = INSTALL_TIMEOUT_S) -> None:
    try:
        result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired as exc:
        raise MissingBinary(f"`{' '.join(command)}` did not finish in {timeout_s:.0f}s") from exc
    if result.returncode != 0:
        raise MissingBinary(
            f"`{' '.join(command)}` failed with exit {result.returncode}:\n{result.stderr[-3000:]}"
        )
