"""stack.observability_tools: finding the pinned Prometheus, promtool and actionlint, and the commands that
build them. No build here (tests/integration/test_observability_tools.py runs the built binaries)."""

from __future__ import annotations

from pathlib import Path

import pytest

from aarya_chaos.errors import MissingBinary
from stack import binaries, observability_tools
from stack.observability_tools import ObservabilityTools, find_observability_tools

ENV_VARS = ("AARYA_PROMETHEUS", "AARYA_PROMTOOL", "AARYA_ACTIONLINT")


@pytest.fixture(autouse=True)
def no_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ENV_VARS:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def no_build(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Any call to go_install fails the test (and is recorded)."""
    calls: list[str] = []

    def refuse(module: str, *args: object, **kwargs: object) -> Path:
        calls.append(module)
        raise AssertionError(f"unit tests do not build ({module})")

    monkeypatch.setattr(observability_tools, "go_install", refuse)
    return calls


def executable(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\nexit 0\n")
    path.chmod(0o755)
    return path


def test_all_three_are_found_in_the_tools_dir(tmp_path: Path, no_build: list[str]) -> None:
    for name in ("prometheus", "promtool", "actionlint"):
        executable(tmp_path / name)
    assert find_observability_tools(tmp_path, install=True) == ObservabilityTools(
        prometheus=tmp_path / "prometheus", promtool=tmp_path / "promtool", actionlint=tmp_path / "actionlint")
    assert no_build == []


def test_an_environment_override_wins_over_the_tools_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                         no_build: list[str]) -> None:
    tools = tmp_path / "bin"
    for name in ("prometheus", "promtool", "actionlint"):
        executable(tools / name)
    elsewhere = executable(tmp_path / "elsewhere" / "prom-3")
    monkeypatch.setenv("AARYA_PROMETHEUS", str(elsewhere))
    found = find_observability_tools(tools, install=False)
    assert found.prometheus == elsewhere
    assert found.promtool == tools / "promtool"


def test_overrides_alone_are_enough(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_build: list[str]) -> None:
    for name, var in zip(("prometheus", "promtool", "actionlint"), ENV_VARS, strict=True):
        monkeypatch.setenv(var, str(executable(tmp_path / "custom" / name)))
    found = find_observability_tools(tmp_path / "empty", install=False)
    assert found.actionlint == tmp_path / "custom" / "actionlint"


def test_an_override_naming_nothing_is_an_error_not_a_silent_fallback(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_build: list[str]) -> None:
    executable(tmp_path / "promtool")
    monkeypatch.setenv("AARYA_PROMTOOL", str(tmp_path / "nope" / "promtool"))
    with pytest.raises(MissingBinary, match=r"AARYA_PROMTOOL=.*nope/promtool is not an executable file"):
        find_observability_tools(tmp_path, install=True)


def test_a_file_that_is_not_executable_is_not_found(tmp_path: Path, no_build: list[str]) -> None:
    for name in ("prometheus", "promtool", "actionlint"):
        executable(tmp_path / name)
    (tmp_path / "actionlint").chmod(0o644)
    with pytest.raises(MissingBinary, match="missing: actionlint"):
        find_observability_tools(tmp_path, install=False)


def test_missing_tools_are_named_with_the_exact_commands_that_build_them(tmp_path: Path,
                                                                         no_build: list[str]) -> None:
    executable(tmp_path / "promtool")
    with pytest.raises(MissingBinary) as error:
        find_observability_tools(tmp_path, install=False)
    message = str(error.value)
    assert f"missing: prometheus, actionlint (in {tmp_path})" in message
    assert (f"GOBIN={tmp_path} CGO_ENABLED=0 go install -trimpath "
            "'-ldflags=-s -w -X github.com/prometheus/common/version.Version=3.16.0' -tags=remove_all_sd "
            "github.com/prometheus/prometheus/cmd/prometheus@v0.316.0") in message
    assert (f"GOBIN={tmp_path} CGO_ENABLED=0 go install -trimpath '-ldflags=-s -w' "
            "github.com/rhysd/actionlint/cmd/actionlint@v1.7.12") in message
    assert "cmd/promtool" not in message  # it is there
    assert no_build == []


def test_install_builds_only_what_is_missing_with_the_pinned_versions(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    executable(tmp_path / "prometheus")
    built: list[tuple[str, str, str, tuple[str, ...]]] = []

    def fake_go_install(module: str, version: str, tools_dir: Path, binary_name: str, *,
                        build_flags: tuple[str, ...] = (), **kwargs: object) -> Path:
        built.append((module, version, binary_name, build_flags))
        return executable(tools_dir / binary_name)

    monkeypatch.setattr(observability_tools, "go_install", fake_go_install)
    found = find_observability_tools(tmp_path, install=True)
    assert [(m, v, n) for m, v, n, _ in built] == [
        ("github.com/prometheus/prometheus/cmd/promtool", "v0.316.0", "promtool"),
        ("github.com/rhysd/actionlint/cmd/actionlint", "v1.7.12", "actionlint"),
    ]
    assert "-tags=remove_all_sd" in built[0][3]
    assert found.promtool == tmp_path / "promtool"


def test_without_go_install_says_what_to_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(binaries, "find_go", lambda: None)
    with pytest.raises(MissingBinary) as error:
        find_observability_tools(tmp_path, install=True)
    message = str(error.value)
    assert "missing prometheus and no Go toolchain to build it. Install Go >= 1.26.7, then run:" in message
    for module in ("cmd/prometheus@v0.316.0", "cmd/promtool@v0.316.0", "cmd/actionlint@v1.7.12"):
        assert module in message


def test_the_generic_go_install_line() -> None:
    line = binaries.go_install_command("example.com/x/cmd/tool", "v1.2.3", Path("/opt/my tools"),
                                       build_flags=("-trimpath",), env={"CGO_ENABLED": "0"})
    assert line == "GOBIN='/opt/my tools' CGO_ENABLED=0 go install -trimpath example.com/x/cmd/tool@v1.2.3"


def test_toxiproxy_without_go_still_says_what_it_said(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """stack.binaries' Toxiproxy build goes through the shared go_install; its message is unchanged."""
    monkeypatch.setattr(binaries, "find_go", lambda: None)
    with pytest.raises(MissingBinary) as error:
        binaries._go_install_toxiproxy(tmp_path)
    assert str(error.value) == (
        "missing toxiproxy-server and no Go toolchain to build it. Install Go >= 1.23, then run:\n"
        f"  GOBIN={tmp_path} go install github.com/Shopify/toxiproxy/v2/cmd/server@v2.12.0 && "
        f"mv {tmp_path}/server {tmp_path}/toxiproxy-server   (needs Go >= 1.23)")


def test_the_release_stamped_into_prometheus_is_the_pinned_module_version() -> None:
    """Prometheus v3.X.Y is the Go module version v0.3XX.Y: bumping one without the other is caught here."""
    major, minor, patch = observability_tools.PROMETHEUS_RELEASE.split(".")
    assert observability_tools.PROMETHEUS_VERSION == f"v0.{major}{int(minor):02d}.{patch}"


def test_one_tool_alone_is_found_built_or_named_with_its_command(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_build: list[str]) -> None:
    from stack.observability_tools import find_tool

    with pytest.raises(MissingBinary, match="missing: actionlint") as missing:
        find_tool("actionlint", tmp_path, install=False)
    assert "github.com/rhysd/actionlint/cmd/actionlint@v1.7.12" in str(missing.value)
    assert "prometheus" not in str(missing.value)  # only the one asked for
    executable(tmp_path / "actionlint")
    assert find_tool("actionlint", tmp_path, install=True) == tmp_path / "actionlint" and no_build == []
    built: list[str] = []
    monkeypatch.setattr(observability_tools, "go_install",
                        lambda module, version, tools_dir, name, **kw: built.append(module) or executable(tools_dir / name))
    assert find_tool("promtool", tmp_path, install=True) == tmp_path / "promtool"
    assert built == ["github.com/prometheus/prometheus/cmd/promtool"]
