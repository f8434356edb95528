"""Prometheus, promtool and actionlint: pinned, and built with the machine's Go like Toxiproxy (issue 12).

Prometheus scrapes the stack and evaluates the alerting rules kept in the repo; promtool checks those rules
(`promtool check rules`); actionlint lints the CI workflow files. None of them comes from a Debian package
at a usable version, so each is built with `go install module@version` into the tools dir
(~/.cache/aarya-chaos/bin by default) through stack.binaries.go_install, which uses Go's own module and
build caches: a second build is warm.

Prometheus v3 is tagged v3.x.y on GitHub but v0.3xx.y as a Go module (v3.16.0 is v0.316.0). It is built
with `-tags remove_all_sd` (only static, file and http service discovery: the cloud and Kubernetes
discoveries are most of its build time and size) and without the web UI's embedded assets (the
`builtinassets` tag is off): the HTTP API (/api/v1/query, /-/ready) works, the UI pages do not.
docs/observability-tools.md has the measured build times.

An environment variable (AARYA_PROMETHEUS, AARYA_PROMTOOL, AARYA_ACTIONLINT) names a binary to use
instead; it must exist. Nothing is looked up on PATH: the rules are checked by the pinned promtool.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from aarya_chaos.errors import MissingBinary
from stack.binaries import go_install, go_install_command

PROMETHEUS_MODULE = "github.com/prometheus/prometheus/cmd/prometheus"
PROMTOOL_MODULE = "github.com/prometheus/prometheus/cmd/promtool"
PROMETHEUS_VERSION = "v0.316.0"  # Prometheus v3.16.0
PROMETHEUS_RELEASE = "3.16.0"  # what `prometheus --version` and /api/v1/status/buildinfo say (set with -X)
ACTIONLINT_MODULE = "github.com/rhysd/actionlint/cmd/actionlint"
ACTIONLINT_VERSION = "v1.7.12"
GO_NEEDED = " >= 1.26.7"  # go.mod of prometheus v0.316.0 says `go 1.26.7`, actionlint v1.7.12 `go 1.25.0`

# Static, reproducible, stripped; the same environment as the docker driver's Toxiproxy build, so the
# build cache is shared.
STATIC_ENV = {"CGO_ENABLED": "0"}
_COMMON_FLAGS = ("-trimpath", "-ldflags=-s -w")
PROMETHEUS_FLAGS = ("-trimpath", f"-ldflags=-s -w -X github.com/prometheus/common/version.Version={PROMETHEUS_RELEASE}",
                    "-tags=remove_all_sd")
BUILD_TIMEOUT_S = 1800.0


@dataclass(frozen=True)
class Tool:
    name: str  # the binary's name in tools_dir, and the last element of the module path
    module: str
    version: str
    env_var: str
    build_flags: tuple[str, ...]

    def command(self, tools_dir: Path) -> str:
        return go_install_command(self.module, self.version, tools_dir, build_flags=self.build_flags,
                                  env=STATIC_ENV)


TOOLS = (
    Tool("prometheus", PROMETHEUS_MODULE, PROMETHEUS_VERSION, "AARYA_PROMETHEUS", PROMETHEUS_FLAGS),
    Tool("promtool", PROMTOOL_MODULE, PROMETHEUS_VERSION, "AARYA_PROMTOOL", PROMETHEUS_FLAGS),
    Tool("actionlint", ACTIONLINT_MODULE, ACTIONLINT_VERSION, "AARYA_ACTIONLINT", _COMMON_FLAGS),
)


@dataclass(frozen=True)
class ObservabilityTools:
    prometheus: Path
    promtool: Path
    actionlint: Path


def _usable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def locate(tool: Tool, tools_dir: Path) -> Path | None:
    """The tool's binary: the environment override if set (MissingBinary if it is not an executable file),
    else tools_dir/<name> if there, else None."""
    override = os.environ.get(tool.env_var)
    if override:
        if not _usable(Path(override)):
            raise MissingBinary(f"{tool.env_var}={override} is not an executable file. Point it at one, or "
                                f"unset it to use {tools_dir / tool.name}, built with:\n  {tool.command(tools_dir)}")
        return Path(override)
    candidate = tools_dir / tool.name
    return candidate if _usable(candidate) else None


def how_to_build(missing: list[Tool], tools_dir: Path) -> str:
    """The commands that build the `missing` tools into tools_dir, one a line."""
    return "\n".join(f"  {tool.command(tools_dir)}" for tool in missing)


def find_observability_tools(tools_dir: Path, install: bool) -> ObservabilityTools:
    """Prometheus, promtool and actionlint; the missing ones built with Go if `install`, else MissingBinary."""
    found = {tool.name: locate(tool, tools_dir) for tool in TOOLS}
    missing = [tool for tool in TOOLS if found[tool.name] is None]
    if missing and install:
        for tool in missing:
            found[tool.name] = go_install(tool.module, tool.version, tools_dir, tool.name,
                                          build_flags=tool.build_flags, env=STATIC_ENV, go_needed=GO_NEEDED,
                                          how=how_to_build(missing, tools_dir), timeout_s=BUILD_TIMEOUT_S)
        missing = []
    if missing:
        raise MissingBinary(
            f"missing: {', '.join(tool.name for tool in missing)} (in {tools_dir}). Build with Go{GO_NEEDED}:\n"
            f"{how_to_build(missing, tools_dir)}"
        )
    return ObservabilityTools(prometheus=_found(found, "prometheus"), promtool=_found(found, "promtool"),
                              actionlint=_found(found, "actionlint"))


def find_tool(name: str, tools_dir: Path, install: bool) -> Path:
    """One of TOOLS by name (actionlint alone builds in ~22 s cold, Prometheus in ~5 min): built with Go if
    missing and `install`, else MissingBinary with the command."""
    tool = next(t for t in TOOLS if t.name == name)
    found = locate(tool, tools_dir)
    if found is not None:
        return found
    if not install:
        raise MissingBinary(f"missing: {name} (in {tools_dir}). Build with Go{GO_NEEDED}:\n"
                            f"{how_to_build([tool], tools_dir)}")
    return go_install(tool.module, tool.version, tools_dir, tool.name, build_flags=tool.build_flags,
                      env=STATIC_ENV, go_needed=GO_NEEDED, how=how_to_build([tool], tools_dir),
                      timeout_s=BUILD_TIMEOUT_S)


def _found(found: dict[str, Path | None], name: str) -> Path:
    path = found[name]
    assert path is not None
    return path
