"""Build every image of the docker stack locally, with a cache keyed by the content of the build inputs.

No image registry is reachable here, so nothing is pulled:

1. `aarya-chaos/base:bookworm`: `debootstrap --variant=minbase bookworm DIR` (Debian's packages), then
   `tar -C DIR -c . | docker import - aarya-chaos/base:bookworm`. It has a `policy-rc.d` that forbids
   starting daemons, because the image builds run on the host's network.
2. FROM it, with Debian packages (and pip for Python), one image each (stack/docker/*.Dockerfile):
   `aarya-chaos/python` (all six services), `aarya-chaos/postgres` (PostgreSQL 15),
   `aarya-chaos/redis` (redis-server), `aarya-chaos/nginx` (nginx-light) and `aarya-chaos/toxiproxy`
   (the server and CLI built on the host with `go install ...@v2.12.0`, then COPY'd in).

Each image is tagged `<repository>:<inputs hash>` and `:latest` and labelled `io.aarya-chaos.inputs=<hash>`.
The hash covers the Dockerfile, every file staged into the build context and the base image's id, so a
second run finds the image and skips the build; a change to any input builds it again (Docker's layer
cache still spares the unchanged steps). Only one build runs at a time (the machine has 2 cores).

    with docker_client() as client:
        built = build_images(client)   # {"python": "aarya-chaos/python:1f2e...", ...}
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docker
from docker.errors import APIError, BuildError, ImageNotFound

from aarya_chaos.errors import StackError

log = logging.getLogger("aarya.docker.images")

STACK_DIR = Path(__file__).resolve().parents[2]
DOCKER_DIR = STACK_DIR / "docker"
CACHE_DIR = Path(os.environ.get("AARYA_DOCKER_CACHE", Path.home() / ".cache" / "aarya-chaos" / "docker"))

INPUTS_LABEL = "io.aarya-chaos.inputs"
IMAGE_LABEL = "io.aarya-chaos.image"
BASE_IMAGE = "aarya-chaos/base:bookworm"
DEBIAN_MIRROR = os.environ.get("AARYA_DEBIAN_MIRROR", "http://deb.debian.org/debian")
DEBIAN_SUITE = "bookworm"
TOXIPROXY_VERSION = "v2.12.0"
TOXIPROXY_PACKAGES = {"toxiproxy-server": "github.com/Shopify/toxiproxy/v2/cmd/server",
                      "toxiproxy-cli": "github.com/Shopify/toxiproxy/v2/cmd/cli"}
#: Extra CA certificates of the host (a TLS-intercepting egress proxy, a company CA): pip in the image build
#: must trust the same authorities as the host.
HOST_CA_DIR = Path("/usr/local/share/ca-certificates")
DEBOOTSTRAP_TIMEOUT_S = 900
BUILD_TIMEOUT_S = 1800

# The recipe of the base image; change it (or the mirror) and the base is bootstrapped again.
_BASE_SOURCES = (f"deb {DEBIAN_MIRROR} {DEBIAN_SUITE} main", f"deb {DEBIAN_MIRROR} {DEBIAN_SUITE}-updates main",
                 f"deb http://deb.debian.org/debian-security {DEBIAN_SUITE}-security main")
_BASE_RECIPE = {"suite": DEBIAN_SUITE, "variant": "minbase", "mirror": DEBIAN_MIRROR, "revision": 1,
                "sources": list(_BASE_SOURCES)}


@dataclass(frozen=True)
class ImageSpec:
    """One image: its Dockerfile in stack/docker and the files staged into its build context."""

    name: str
    #: (path in the build context, source path) pairs; a source directory is copied whole (no __pycache__).
    files: tuple[tuple[str, Path], ...] = ()
    #: staged by a function (built binaries, host certificates): path in context -> source path
    extra: Callable[[], Mapping[str, Path]] | None = None

    @property
    def repository(self) -> str:
        return f"aarya-chaos/{self.name}"

    @property
    def dockerfile(self) -> Path:
        return DOCKER_DIR / f"{self.name}.Dockerfile"


@dataclass
class BuildReport:
    """What build_images did for one image: `built` or `cached`, how long it took."""

    name: str
    tag: str
    action: str
    seconds: float


@dataclass
class BuildResult:
    tags: dict[str, str] = field(default_factory=dict)
    reports: list[BuildReport] = field(default_factory=list)

    def summary(self) -> str:
        return ", ".join(f"{r.name} {r.action} in {r.seconds:.1f}s" for r in self.reports)


def _host_ca_certificates() -> dict[str, Path]:
    if not HOST_CA_DIR.is_dir():
        return {}
    return {f"ca-certificates/{p.name}": p for p in sorted(HOST_CA_DIR.glob("*.crt")) if p.is_file()}


def _toxiproxy_binaries() -> dict[str, Path]:
    return toxiproxy_binaries()


SPECS: tuple[ImageSpec, ...] = (
    ImageSpec("python", files=(("requirements-services.txt", DOCKER_DIR / "requirements-services.txt"),
                               ("stack/__init__.py", STACK_DIR / "__init__.py"),
                               ("stack/services", STACK_DIR / "services")),
              extra=_host_ca_certificates),
    ImageSpec("postgres", files=(("postgres-entrypoint.sh", DOCKER_DIR / "postgres-entrypoint.sh"),)),
    ImageSpec("redis"),
    ImageSpec("nginx"),
    ImageSpec("toxiproxy", extra=_toxiproxy_binaries),
)


# -- helpers ---------------------------------------------------------------------------------------


def _walk(source: Path) -> Iterator[tuple[str, Path]]:
    """(relative path, file) under a directory, sorted, without caches."""
    if source.is_file():
        yield "", source
        return
    for path in sorted(source.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
            yield path.relative_to(source).as_posix(), path


def staged_files(spec: ImageSpec) -> dict[str, Path]:
    """Every file of the build context (besides the Dockerfile): context path -> source path."""
    staged: dict[str, Path] = {}
    pairs: list[tuple[str, Path]] = list(spec.files)
    if spec.extra is not None:
        pairs += list(spec.extra().items())
    for target, source in pairs:
        if not source.exists():
            raise StackError(f"build input {source} of image {spec.name} does not exist")
        for relative, path in _walk(source):
            staged[f"{target}/{relative}" if relative else target] = path
    return staged


def inputs_hash(spec: ImageSpec, base_id: str, files: Mapping[str, Path] | None = None) -> str:
    """The content hash of everything that goes into the image."""
    digest = hashlib.sha256()
    digest.update(f"image {spec.name}\nbase {base_id}\n".encode())
    digest.update(b"Dockerfile\0" + spec.dockerfile.read_bytes() + b"\0")
    for name, path in sorted((files if files is not None else staged_files(spec)).items()):
        mode = "x" if os.access(path, os.X_OK) else "-"
        digest.update(f"{name}\0{mode}\0".encode() + path.read_bytes() + b"\0")
    return digest.hexdigest()


def base_inputs_hash() -> str:
    return hashlib.sha256(json.dumps(_BASE_RECIPE, sort_keys=True).encode()).hexdigest()


def _image(client: docker.DockerClient, tag: str) -> Any | None:
    try:
        return client.images.get(tag)
    except ImageNotFound:
        return None


def cached_image(client: docker.DockerClient, tag: str, digest: str) -> Any | None:
    """The image under `tag` when its inputs label is `digest` (a hit of the build cache), else None."""
    image = _image(client, tag)
    if image is None:
        return None
    labels = (image.attrs.get("Config") or {}).get("Labels") or {}
    return image if labels.get(INPUTS_LABEL) == digest else None


# -- the base image --------------------------------------------------------------------------------


def ensure_base_image(client: docker.DockerClient) -> tuple[str, BuildReport]:
    """The base image's id, bootstrapping it with debootstrap + docker import when it is missing or stale."""
    started = time.monotonic()
    digest = base_inputs_hash()
    image = cached_image(client, BASE_IMAGE, digest)
    if image is not None:
        return str(image.id), BuildReport("base", BASE_IMAGE, "cached", time.monotonic() - started)
    if shutil.which("debootstrap") is None:
        raise StackError("debootstrap is not installed (apt-get install debootstrap); it builds the base image")
    if os.geteuid() != 0:
        raise StackError("building the base image needs root (debootstrap creates device nodes)")
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="aarya-base-", dir="/var/tmp") as tmp:
        root = Path(tmp) / "rootfs"
        log.info("debootstrap --variant=minbase %s into %s", DEBIAN_SUITE, root)
        _run(["debootstrap", "--variant=minbase", DEBIAN_SUITE, str(root), DEBIAN_MIRROR],
             log_name="debootstrap", timeout_s=DEBOOTSTRAP_TIMEOUT_S)
        _finish_rootfs(root)
        changes = [f"LABEL {INPUTS_LABEL}={digest}", f"LABEL {IMAGE_LABEL}=base", 'CMD ["/bin/bash"]',
                   "ENV LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive"]
        command = ["docker", "import"] + [arg for c in changes for arg in ("--change", c)] + ["-", BASE_IMAGE]
        with subprocess.Popen(["tar", "--numeric-owner", "-C", str(root), "-c", "."],
                              stdout=subprocess.PIPE) as tar:
            result = subprocess.run(command, stdin=tar.stdout, capture_output=True, text=True,
                                    timeout=DEBOOTSTRAP_TIMEOUT_S)
            if tar.stdout is not None:
                tar.stdout.close()
        if result.returncode != 0 or tar.returncode not in (0, None):
            raise StackError(f"docker import of the base image failed: {result.stderr.strip()[-800:]}")
    image = cached_image(client, BASE_IMAGE, digest)
    if image is None:
        raise StackError(f"{BASE_IMAGE} is missing right after docker import")
    return str(image.id), BuildReport("base", BASE_IMAGE, "built", time.monotonic() - started)


def _finish_rootfs(root: Path) -> None:
    """Sources with updates and security, no daemons started by package scripts, no recommends, no caches."""
    (root / "etc/apt/sources.list").write_text("\n".join(_BASE_SOURCES) + "\n")
    policy = root / "usr/sbin/policy-rc.d"
    policy.write_text("#!/bin/sh\n# aarya-chaos: never start a daemon while building an image\nexit 101\n")
    policy.chmod(0o755)
    (root / "etc/apt/apt.conf.d/90aarya").write_text(
        'APT::Install-Recommends "false";\nAPT::Install-Suggests "false";\n'
        'Acquire::Retries "3";\nDPkg::Options { "--force-confdef"; "--force-confold"; };\n')
    for cache in (root / "var/cache/apt/archives", root / "var/lib/apt/lists"):
        for path in cache.glob("*"):
            if path.is_file():
                path.unlink()


# -- toxiproxy, built on the host ------------------------------------------------------------------


def toxiproxy_binaries(out_dir: Path | None = None) -> dict[str, Path]:
    """The Toxiproxy server and CLI (static, CGO off), built once with the machine's Go."""
    out_dir = out_dir or CACHE_DIR / f"toxiproxy-{TOXIPROXY_VERSION}"
    targets = {name: out_dir / name for name in TOXIPROXY_PACKAGES}
    if all(p.is_file() for p in targets.values()):
        return targets
    go = shutil.which("go") or next((p for p in ("/usr/local/go/bin/go",) if Path(p).is_file()), None)
    if go is None:
        raise StackError("no Go toolchain to build Toxiproxy (go >= 1.23 is needed for its go.mod)")
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="aarya-toxiproxy-") as gobin:
        env = {**os.environ, "GOBIN": gobin, "CGO_ENABLED": "0", "GOFLAGS": "-trimpath"}
        packages = [f"{module}@{TOXIPROXY_VERSION}" for module in TOXIPROXY_PACKAGES.values()]
        _run([go, "install", "-ldflags=-s -w", *packages], log_name="go-install-toxiproxy", env=env,
             timeout_s=BUILD_TIMEOUT_S)
        for name, module in TOXIPROXY_PACKAGES.items():
            shutil.copy2(Path(gobin) / module.rsplit("/", 1)[1], targets[name])
    return targets


# -- building --------------------------------------------------------------------------------------


def _run(command: list[str], *, log_name: str, timeout_s: float, env: Mapping[str, str] | None = None) -> None:
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    log_path = CACHE_DIR / f"{log_name}.log"
    with log_path.open("w") as out:
        try:
            result = subprocess.run(command, stdout=out, stderr=subprocess.STDOUT, timeout=timeout_s,
                                    env=dict(env) if env is not None else None)
        except subprocess.TimeoutExpired:
            raise StackError(f"`{' '.join(command[:3])} ...` timed out after {timeout_s:.0f}s; see {log_path}") from None
    if result.returncode != 0:
        tail = "\n".join(log_path.read_text(errors="replace").splitlines()[-20:])
        raise StackError(f"`{' '.join(command[:3])} ...` failed (exit {result.returncode}); {log_path}:\n{tail}")


def _stage(spec: ImageSpec, files: Mapping[str, Path], context: Path) -> None:
    shutil.copy2(spec.dockerfile, context / "Dockerfile")
    (context / "ca-certificates").mkdir()
    (context / "ca-certificates" / ".keep").write_text("")
    for name, source in files.items():
        target = context / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)


def build_image(client: docker.DockerClient, spec: ImageSpec, base_id: str) -> BuildReport:
    """Build one image FROM the base, unless an image with the same inputs hash exists."""
    started = time.monotonic()
    files = staged_files(spec)
    digest = inputs_hash(spec, base_id, files)
    tag = f"{spec.repository}:{digest[:16]}"
    if cached_image(client, tag, digest) is not None:
        client.images.get(tag).tag(spec.repository, "latest")
        return BuildReport(spec.name, tag, "cached", time.monotonic() - started)
    log_path = CACHE_DIR / f"build-{spec.name}.log"
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    log.info("building %s (log: %s)", tag, log_path)
    with tempfile.TemporaryDirectory(prefix=f"aarya-build-{spec.name}-") as tmp, log_path.open("w") as out:
        context = Path(tmp)
        _stage(spec, files, context)
        try:
            for chunk in client.api.build(
                path=str(context), tag=tag, rm=True, forcerm=True, pull=False, decode=True,
                network_mode="host", buildargs={"BASE_IMAGE": BASE_IMAGE}, timeout=BUILD_TIMEOUT_S,
                labels={INPUTS_LABEL: digest, IMAGE_LABEL: spec.name},
            ):
                if "stream" in chunk:
                    out.write(str(chunk["stream"]))
                if "error" in chunk:
                    out.write(f"ERROR: {chunk['error']}\n")
                    out.flush()
                    tail = "\n".join(log_path.read_text(errors="replace").splitlines()[-20:])
                    raise StackError(f"building {tag} failed; {log_path}:\n{tail}")
        except (APIError, BuildError) as exc:
            raise StackError(f"building {tag} failed: {exc}; see {log_path}") from exc
    image = cached_image(client, tag, digest)
    if image is None:
        raise StackError(f"{tag} is missing after its build; see {log_path}")
    image.tag(spec.repository, "latest")
    return BuildReport(spec.name, tag, "built", time.monotonic() - started)


def build_images(client: docker.DockerClient, names: Iterable[str] | None = None) -> BuildResult:
    """The base image, then each image (all by default), one after the other; cached ones are reused."""
    wanted = set(names) if names is not None else {s.name for s in SPECS}
    result = BuildResult()
    base_id, report = ensure_base_image(client)
    result.reports.append(report)
    result.tags["base"] = BASE_IMAGE
    for spec in SPECS:
        if spec.name in wanted:
            report = build_image(client, spec, base_id)
            result.reports.append(report)
            result.tags[spec.name] = report.tag
    log.info("images: %s", result.summary())
    return result


def image_tags(client: docker.DockerClient) -> dict[str, str]:
    """The tag each image would have now, without building (for `docker compose` by hand)."""
    base = _image(client, BASE_IMAGE)
    if base is None:
        raise StackError(f"{BASE_IMAGE} does not exist yet; build the images first")
    return {spec.name: f"{spec.repository}:{inputs_hash(spec, str(base.id))[:16]}" for spec in SPECS}
