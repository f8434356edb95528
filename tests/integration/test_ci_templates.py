"""The CI templates in ci-templates/ (issue 12): they must not rot.

- Both GitHub Actions workflows pass the pinned actionlint (stack/observability_tools.py) with no finding,
  and a copy with a broken expression fails it (so the lint cannot pass vacuously). With shellcheck on
  PATH, actionlint also checks every `run:` script with it.
- The GitLab CI file parses as YAML and its structure is checked against GitLab's keywords (below: no
  official linter runs offline; GitLab's own `ci lint` is an API call to a GitLab instance). When
  check-jsonschema (PyPI, not a dependency) is installed, both platforms' official JSON schemas, which it
  ships, are checked too.
- Every `make` target and every `aarya-chaos` subcommand and flag the templates use exists: the Makefile's
  targets are parsed, and `aarya-chaos [SUB] --help` is asked, so a renamed flag breaks this test and not a
  team's nightly.

Needs no stack. The actionlint tests skip (with the build command) when actionlint is not built in the tools
dir; nothing is built here.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from aarya_chaos.errors import MissingBinary
from stack.config import load_config
from stack.observability_tools import TOOLS, find_observability_tools, how_to_build, locate

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
TEMPLATES = REPO / "ci-templates"
NIGHTLY = TEMPLATES / "github" / "nightly.yml"
PRE_RELEASE = TEMPLATES / "github" / "pre-release.yml"
WORKFLOWS = (NIGHTLY, PRE_RELEASE)
GITLAB = TEMPLATES / "gitlab" / ".gitlab-ci.yml"
AARYA_CHAOS = Path(sys.executable).parent / "aarya-chaos"
ACTIONLINT_TIMEOUT_S = 60


# -- actionlint ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def actionlint() -> Path:
    """The pinned actionlint. find_observability_tools wants Prometheus and promtool built too; when only
    actionlint is (a 22 s build, against minutes for Prometheus: docs/observability-tools.md), it is used."""
    tools_dir = load_config().tools_dir
    try:
        return find_observability_tools(tools_dir, install=False).actionlint
    except MissingBinary:
        tool = next(t for t in TOOLS if t.name == "actionlint")
        try:
            found = locate(tool, tools_dir)
        except MissingBinary as exc:
            pytest.skip(f"actionlint: {exc}")
        if found is None:
            pytest.skip(f"actionlint is not built in {tools_dir}. Build it with:\n{how_to_build([tool], tools_dir)}")
        return found


def lint(actionlint: Path, *paths: Path, shellcheck: str = "") -> subprocess.CompletedProcess[str]:
    """actionlint on `paths`; `-shellcheck=` (empty) turns shellcheck off, `-pyflakes=` always."""
    return subprocess.run([str(actionlint), f"-shellcheck={shellcheck}", "-pyflakes=", *map(str, paths)],
                          capture_output=True, text=True, timeout=ACTIONLINT_TIMEOUT_S, check=False, cwd=REPO)


def test_github_workflows_pass_actionlint(actionlint: Path) -> None:
    started = time.monotonic()
    result = lint(actionlint, *WORKFLOWS)
    elapsed = time.monotonic() - started
    print(f"actionlint on {len(WORKFLOWS)} workflows: exit {result.returncode} in {elapsed:.3f} s")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout == "" and result.stderr == "", result.stdout + result.stderr


def test_github_workflows_pass_shellcheck_through_actionlint(actionlint: Path) -> None:
    shellcheck = shutil.which("shellcheck")
    if shellcheck is None:
        pytest.skip("shellcheck is not on PATH (apt-get install shellcheck); actionlint's own checks ran above")
    result = lint(actionlint, *WORKFLOWS, shellcheck=shellcheck)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(("workflow", "good", "broken", "finding"), [
    (NIGHTLY, "${{ steps.chaos.outcome }}", "${{ steps.chaos.outcom }}", 'property "outcom" is not defined'),
    (PRE_RELEASE, "${{ matrix.stack }}", "${{ matrix.stak }}", 'property "stak" is not defined'),
], ids=["nightly", "pre-release"])
def test_actionlint_fails_a_copy_with_a_broken_expression(actionlint: Path, tmp_path: Path, workflow: Path,
                                                          good: str, broken: str, finding: str) -> None:
    text = workflow.read_text()
    assert good in text, f"{workflow.name} no longer has {good}: pick another expression to break"
    copy = tmp_path / ".github" / "workflows" / workflow.name
    copy.parent.mkdir(parents=True)
    copy.write_text(text.replace(good, broken, 1))
    result = lint(actionlint, copy)
    assert result.returncode == 1, result.stdout + result.stderr
    assert finding in result.stdout, result.stdout


# -- the GitHub workflows' shape -------------------------------------------------------------------


def load_yaml(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text())
    assert isinstance(data, dict), f"{path} is not a YAML mapping"
    return data


def github_on(workflow: dict[Any, Any]) -> dict[str, Any]:
    # YAML 1.1 reads the key `on` as the boolean True.
    trigger = workflow.get("on", workflow.get(True))
    assert isinstance(trigger, dict)
    return trigger


def steps_of(workflow: dict[str, Any], job: str) -> list[dict[str, Any]]:
    steps = workflow["jobs"][job]["steps"]
    assert isinstance(steps, list)
    return steps


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.stem)
def test_github_workflows_are_pinned_read_only_and_upload_always(path: Path) -> None:
    workflow = load_yaml(path)
    assert workflow["permissions"] == {"contents": "read"}
    pinned = {"actions/checkout": "v4", "actions/cache": "v4", "actions/cache/restore": "v4",
              "actions/cache/save": "v4", "actions/upload-artifact": "v4", "actions/download-artifact": "v4",
              "actions/setup-go": "v5", "actions/setup-python": "v5"}
    for job in workflow["jobs"]:
        for step in steps_of(workflow, job):
            if "uses" in step:
                action, _, version = step["uses"].partition("@")
                assert pinned.get(action) == version, f"{path.name} {job}: {step['uses']} is not a pinned action"
                if action == "actions/upload-artifact":
                    assert step.get("if") == "always()", f"{path.name} {job}: an upload must run always()"
    assert workflow["jobs"]["chaos"]["strategy"]["matrix"]["stack"] == ["local", "docker"]
    assert workflow["jobs"]["gate"]["needs"] == "chaos" and workflow["jobs"]["gate"]["if"] == "always()"
    gate = next(s for s in steps_of(workflow, "gate") if s.get("id") == "gate")
    assert "continue-on-error" not in gate and "set -o pipefail" in gate["run"], "the gate must fail the job"


def test_github_triggers() -> None:
    nightly, pre_release = github_on(load_yaml(NIGHTLY)), github_on(load_yaml(PRE_RELEASE))
    assert set(nightly) == {"schedule", "workflow_dispatch"} and nightly["schedule"][0]["cron"]
    assert pre_release == {"push": {"tags": ["v*"]}}
    assert "--gate nightly" in NIGHTLY.read_text() and "--record-history" in NIGHTLY.read_text()
    assert "--gate pre-release" in PRE_RELEASE.read_text() and "--record-history" not in PRE_RELEASE.read_text()


# -- the GitLab file -------------------------------------------------------------------------------
#
# No official linter runs offline: GitLab validates a .gitlab-ci.yml on the server (the pipeline editor, or
# POST /projects/:id/ci/lint), and its JSON schema (gitlab-org/gitlab, app/assets/javascripts/editor/schema/
# ci.json) needs a JSON-schema validator, which is not a dependency of this project (the optional test below
# uses check-jsonschema's copy when it is installed; that schema does not resolve `extends`). So the keywords
# below are taken from that schema (definitions job_template, cache_item, artifacts, rules, needs) and the
# keyword reference https://docs.gitlab.com/ci/yaml/, and checked explicitly, with the rules GitLab applies
# on the server that bit us (a job-level `when` together with `rules` is an error; at most 4 caches a job;
# cache:key:files takes 1 or 2 files; a cache key has no `/`).

GLOBAL_KEYWORDS = {"default", "include", "stages", "variables", "workflow", "spec", "image", "services",
                   "cache", "before_script", "after_script", "pages"}
JOB_KEYWORDS = {"after_script", "allow_failure", "artifacts", "before_script", "cache", "coverage",
                "dast_configuration", "dependencies", "environment", "except", "extends", "hooks", "id_tokens",
                "identity", "image", "inherit", "inputs", "interruptible", "manual_confirmation", "needs", "only",
                "pages", "parallel", "publish", "release", "resource_group", "retry", "rules", "run", "script",
                "secrets", "services", "stage", "start_in", "tags", "timeout", "trigger", "variables", "when"}
WHEN = {"on_success", "on_failure", "always", "never", "manual", "delayed"}
RULE_KEYWORDS = {"if", "changes", "exists", "allow_failure", "variables", "when", "start_in", "needs",
                 "interruptible"}
WORKFLOW_KEYWORDS = {"name", "rules", "auto_cancel"}
WORKFLOW_RULE_KEYWORDS = {"if", "changes", "exists", "variables", "when", "auto_cancel"}
CACHE_KEYWORDS = {"key", "paths", "policy", "unprotect", "untracked", "when", "fallback_keys"}
CACHE_KEY_KEYWORDS = {"files", "files_commits", "prefix"}
CACHE_POLICY = {"pull", "push", "pull-push"}
CACHE_WHEN = {"on_success", "on_failure", "always"}
ARTIFACTS_KEYWORDS = {"paths", "exclude", "expose_as", "name", "untracked", "when", "access", "expire_in",
                      "reports"}
ARTIFACTS_WHEN = {"on_success", "on_failure", "always"}
NEEDS_KEYWORDS = {"job", "artifacts", "optional", "pipeline", "project", "ref", "parallel"}
MAX_CACHES = 4


def merged(base: Any, override: Any) -> Any:
    """GitLab's `extends`: mappings are merged key by key, anything else is replaced."""
    if isinstance(base, dict) and isinstance(override, dict):
        return {**base, **{k: merged(base.get(k), v) for k, v in override.items()}}
    return override


def resolved_jobs(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every job (not a hidden key, not a global keyword) with its `extends` applied."""

    def resolve(name: str, seen: tuple[str, ...] = ()) -> dict[str, Any]:
        assert name not in seen, f"extends loop: {' -> '.join((*seen, name))}"
        assert name in config and isinstance(config[name], dict), f"extends names {name!r}, which is not a job"
        job = dict(config[name])
        parents = job.pop("extends", [])
        base: dict[str, Any] = {}
        for parent in [parents] if isinstance(parents, str) else parents:
            base = merged(base, resolve(parent, (*seen, name)))
        result: dict[str, Any] = merged(base, job)
        return result

    return {name: resolve(name) for name in config if name not in GLOBAL_KEYWORDS and not name.startswith(".")}


def flat_script(lines: Any) -> list[str]:
    """A script keyword's lines, nested lists (YAML anchors) flattened as GitLab does."""
    if isinstance(lines, str):
        return [lines]
    assert isinstance(lines, list), lines
    return [line for item in lines for line in flat_script(item)]


def check_rules(where: str, rules: Any, allowed: set[str]) -> list[str]:
    problems = []
    if not isinstance(rules, list) or not rules:
        return [f"{where}: rules must be a non-empty list"]
    for rule in rules:
        if not isinstance(rule, dict):
            problems.append(f"{where}: a rule is not a mapping: {rule!r}")
            continue
        problems += [f"{where}: unknown rules keyword {k!r}" for k in set(rule) - allowed]
        if "when" in rule and rule["when"] not in WHEN:
            problems.append(f"{where}: rules:when {rule['when']!r}")
    return problems


def check_cache(where: str, cache: Any) -> list[str]:
    items = cache if isinstance(cache, list) else [cache]
    problems = [f"{where}: {len(items)} caches, GitLab takes at most {MAX_CACHES}"] if len(items) > MAX_CACHES else []
    for item in items:
        problems += [f"{where}: unknown cache keyword {k!r}" for k in set(item) - CACHE_KEYWORDS]
        key = item.get("key")
        if isinstance(key, str):
            if "/" in key or key.strip(".") == "":
                problems.append(f"{where}: cache key {key!r} (no '/', not only dots)")
        elif isinstance(key, dict):
            problems += [f"{where}: unknown cache:key keyword {k!r}" for k in set(key) - CACHE_KEY_KEYWORDS]
            files = key.get("files", [])
            if not 1 <= len(files) <= 2:
                problems.append(f"{where}: cache:key:files takes 1 or 2 files, got {files}")
            problems += [f"{where}: cache:key:files names {f}, which does not exist" for f in files
                         if not (REPO / f).is_file()]
        if not item.get("paths"):
            problems.append(f"{where}: a cache without paths caches nothing")
        if item.get("policy", "pull-push") not in CACHE_POLICY:
            problems.append(f"{where}: cache:policy {item['policy']!r}")
        if item.get("when", "on_success") not in CACHE_WHEN:
            problems.append(f"{where}: cache:when {item['when']!r}")
    return problems


def gitlab_problems(config: dict[str, Any]) -> list[str]:
    """What GitLab would reject (or silently mis-read) in this configuration."""
    problems = [f"{k}: not a GitLab keyword, not a job" for k in config
                if k not in GLOBAL_KEYWORDS and not k.startswith(".") and not isinstance(config[k], dict)]
    problems += [f"workflow: unknown keyword {k!r}" for k in set(config.get("workflow", {})) - WORKFLOW_KEYWORDS]
    if "workflow" in config:
        problems += check_rules("workflow", config["workflow"].get("rules"), WORKFLOW_RULE_KEYWORDS)
    stages = config.get("stages", ["build", "test", "deploy"])
    jobs = resolved_jobs(config)
    for name, job in jobs.items():
        problems += [f"{name}: unknown job keyword {k!r}" for k in set(job) - JOB_KEYWORDS]
        if not job.get("script") and "trigger" not in job and "run" not in job:
            problems.append(f"{name}: a job needs script (or trigger or run)")
        if job.get("stage", "test") not in stages:
            problems.append(f"{name}: stage {job.get('stage')!r} is not in stages {stages}")
        if "rules" in job:
            problems += check_rules(name, job["rules"], RULE_KEYWORDS)
            if "when" in job:
                problems.append(f"{name}: a job-level `when` may not be used with `rules`")
        elif job.get("when", "on_success") not in WHEN:
            problems.append(f"{name}: when {job['when']!r}")
        if "cache" in job:
            problems += check_cache(name, job["cache"])
        artifacts = job.get("artifacts")
        if artifacts is not None:
            problems += [f"{name}: unknown artifacts keyword {k!r}" for k in set(artifacts) - ARTIFACTS_KEYWORDS]
            if artifacts.get("when", "on_success") not in ARTIFACTS_WHEN:
                problems.append(f"{name}: artifacts:when {artifacts['when']!r}")
        for need in job.get("needs", []):
            need_name = need if isinstance(need, str) else need.get("job")
            if isinstance(need, dict):
                problems += [f"{name}: unknown needs keyword {k!r}" for k in set(need) - NEEDS_KEYWORDS]
            if need_name not in jobs:
                problems.append(f"{name}: needs {need_name!r}, which is not a job")
        matrix = job.get("parallel")
        if isinstance(matrix, dict) and (set(matrix) != {"matrix"} or not isinstance(matrix["matrix"], list)):
            problems.append(f"{name}: parallel must be a number or {{matrix: [...]}}")
        for keyword in ("before_script", "script", "after_script"):
            if keyword in job and not all(isinstance(line, str) for line in flat_script(job[keyword])):
                problems.append(f"{name}: {keyword} has a line that is not a string")
    return problems


@pytest.fixture(scope="module")
def gitlab() -> dict[str, Any]:
    return load_yaml(GITLAB)


def test_gitlab_ci_uses_only_gitlab_keywords(gitlab: dict[str, Any]) -> None:
    assert gitlab_problems(gitlab) == []


def check_jsonschema() -> Path:
    """check-jsonschema (PyPI), which ships GitLab's and GitHub's schemas (vendor.gitlab-ci,
    vendor.github-workflows); not a dependency of this project: skip without it."""
    found = shutil.which("check-jsonschema") or shutil.which("check-jsonschema", path=str(AARYA_CHAOS.parent))
    if found is None:
        pytest.skip("check-jsonschema is not installed (pip install check-jsonschema): the official schemas "
                    "are not checked; the explicit keyword check and actionlint ran")
    return Path(found)


@pytest.mark.parametrize(("schema", "paths"), [("vendor.gitlab-ci", (GITLAB,)),
                                               ("vendor.github-workflows", WORKFLOWS)], ids=["gitlab", "github"])
def test_templates_pass_the_official_schemas_when_check_jsonschema_is_installed(schema: str,
                                                                                paths: tuple[Path, ...]) -> None:
    """GitLab's ci.json validates each job's own keys only: it neither resolves `extends` nor looks into
    hidden templates (`.chaos`), hence the explicit check above as well."""
    result = subprocess.run([str(check_jsonschema()), "--builtin-schema", schema, *map(str, paths)],
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_gitlab_check_catches_what_gitlab_rejects(gitlab: dict[str, Any]) -> None:
    """The check above is not vacuous: each of these edits is reported."""
    job = resolved_jobs(gitlab)["gate-nightly"]
    edits: dict[str, dict[str, Any]] = {
        "unknown job keyword 'artefacts'": {"gate-nightly": {**job, "artefacts": {}}},
        "may not be used with `rules`": {"gate-nightly": {**job, "when": "always"}},
        "artifacts:when 'allways'": {"gate-nightly": {**job, "artifacts": {"when": "allways", "paths": ["x"]}}},
        "is not in stages": {"gate-nightly": {**job, "stage": "gates"}},
        "needs 'chaos-nigthly'": {"gate-nightly": {**job, "needs": [{"job": "chaos-nigthly"}]}},
        "takes at most 4": {"gate-nightly": {**job, "cache": [{"key": f"k{i}", "paths": ["x"]} for i in range(5)]}},
    }
    for expected, edit in edits.items():
        problems = gitlab_problems({**gitlab, **edit})
        assert any(expected in p for p in problems), (expected, problems)


def test_gitlab_pipelines(gitlab: dict[str, Any]) -> None:
    jobs = resolved_jobs(gitlab)
    schedule, tag = '$CI_PIPELINE_SOURCE == "schedule"', "$CI_COMMIT_TAG =~ /^v/"
    for name, trigger, gate in (("nightly", schedule, "nightly"), ("pre-release", tag, "pre-release")):
        chaos, judge = jobs[f"chaos-{name}"], jobs[f"gate-{name}"]
        assert trigger in [rule["if"] for rule in chaos["rules"]]
        assert trigger in [rule["if"] for rule in judge["rules"]]
        assert all(rule.get("when") == "always" for rule in judge["rules"]), "the gate runs after a failed run"
        assert chaos["parallel"] == {"matrix": [{"STACK": ["local", "docker"]}]}
        assert chaos["artifacts"]["when"] == "always" and judge["artifacts"]["when"] == "always"
        assert judge["needs"] == [{"job": f"chaos-{name}", "artifacts": True}]
        script = flat_script(judge["script"])
        assert script[0] == "set -o pipefail", "the gate's exit status must survive `| tee`"
        assert any(f"aarya-chaos gate --gate {gate}" in line for line in script)
        assert not judge.get("allow_failure"), "the gate must fail the pipeline"
    caches = {str(c["key"]) for c in jobs["chaos-nightly"]["cache"]}
    assert any("venv" in c for c in caches) and any("aarya-bin" in c for c in caches)
    assert "go-caches" in caches and "docker-images-$STACK" in caches
    history = {c["key"]: c for c in jobs["gate-nightly"]["cache"] if isinstance(c["key"], str)}["aarya-chaos-history"]
    assert history["policy"] == "pull-push" and history["when"] == "always"
    assert {c["key"]: c for c in jobs["gate-pre-release"]["cache"]
            if isinstance(c["key"], str)}["aarya-chaos-history"]["policy"] == "pull"


# -- the make targets and aarya-chaos flags the templates use --------------------------------------


def github_commands(path: Path) -> Iterator[str]:
    workflow = load_yaml(path)
    for job in workflow["jobs"]:
        for step in steps_of(workflow, job):
            if "run" in step:
                yield step["run"].replace("\\\n", " ")


def gitlab_commands(path: Path) -> Iterator[str]:
    config = load_yaml(path)
    for job in [*resolved_jobs(config).values(), *(v for k, v in config.items() if k.startswith("."))]:
        if isinstance(job, list):  # an anchor holding script lines
            yield from flat_script(job)
            continue
        for keyword in ("before_script", "script", "after_script"):
            yield from flat_script(job.get(keyword, []))


def all_commands() -> list[str]:
    commands = [*github_commands(NIGHTLY), *github_commands(PRE_RELEASE), *gitlab_commands(GITLAB)]
    assert commands
    return commands


def makefile_targets() -> set[str]:
    text = (REPO / "Makefile").read_text()
    return {m.group(1) for m in re.finditer(r"^([A-Za-z0-9_-]+)\s*:(?!=)", text, re.MULTILINE)}


def makefile_variables() -> set[str]:
    text = (REPO / "Makefile").read_text()
    return {m.group(1) for m in re.finditer(r"^([A-Z_]+)\s*[?:+]?=", text, re.MULTILINE)}


def test_every_make_target_the_templates_use_exists() -> None:
    targets, variables = makefile_targets(), makefile_variables()
    used: dict[str, set[str]] = {}
    for command in all_commands():
        for match in re.finditer(r"(?:^|[\s;&|])make((?:\s+[^\s;&|]+)+)", command):
            words = [w.strip("\"'") for w in match.group(1).split()]
            for word in words:
                if "=" in word:
                    used.setdefault("variables", set()).add(word.split("=", 1)[0])
                elif not word.startswith("-"):
                    used.setdefault("targets", set()).add(word)
    assert used["targets"] == {"setup", "chaos"}, used  # what the templates need; a new one: check it here
    assert used["targets"] <= targets, f"missing make targets: {used['targets'] - targets}"
    assert used["variables"] <= variables, f"the Makefile has no {used['variables'] - variables}"


SHELL_END = re.compile(r"\s(?:\d?>|\||&&|\|\||;)")


def aarya_chaos_invocations() -> list[list[str]]:
    """The words of every `aarya-chaos ...` command line in the templates, up to a pipe, redirection or ;."""
    calls = []
    for command in all_commands():
        for line in command.splitlines():
            # the command (.venv/bin/aarya-chaos or on PATH), not a path such as ~/.cache/aarya-chaos
            for match in re.finditer(r"(?:\.venv/bin/|(?<![\w./~-]))aarya-chaos\s+(.*)", line):
                words = SHELL_END.split(" " + match.group(1), maxsplit=1)[0].split()
                if words:  # else the path itself (`test -x .venv/bin/aarya-chaos || ...`), not a call
                    calls.append(words)
    return calls


def cli_help(*subcommand: str) -> str:
    result = subprocess.run([str(AARYA_CHAOS), *subcommand, "--help"], capture_output=True, text=True,
                            timeout=60, check=False, env={**os.environ, "COLUMNS": "200"})
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


GLOBAL_FLAGS_WITH_VALUE = {"--config", "--stack", "--target"}


def test_every_aarya_chaos_subcommand_and_flag_the_templates_use_exists() -> None:
    calls = aarya_chaos_invocations()
    top = cli_help()
    helps: dict[str, str] = {}
    used: set[tuple[str, str]] = set()
    for words in calls:
        i = 0
        while i < len(words) and words[i].startswith("-"):  # global options before the subcommand
            flag = words[i].split("=", 1)[0]
            assert re.search(rf"(?<![\w-]){re.escape(flag)}(?![\w-])", top), f"aarya-chaos has no global {flag}"
            i += 2 if flag in GLOBAL_FLAGS_WITH_VALUE and "=" not in words[i] else 1
        if i == len(words) and "--help" in words:
            continue  # `aarya-chaos --help`: a check that the venv works
        assert i < len(words), f"no subcommand in aarya-chaos {' '.join(words)}"
        sub = words[i]
        assert re.search(rf"\{{[^}}]*\b{re.escape(sub)}\b[^}}]*\}}", top), f"aarya-chaos has no subcommand {sub}"
        text = helps.setdefault(sub, cli_help(sub))
        for j, word in enumerate(words[i + 1:], start=i + 1):
            # a flag, or one inside a shell expansion: ${PUSHGATEWAY_URL:+--pushgateway "$PUSHGATEWAY_URL"}
            for flag in re.findall(r"(?<![\w-])--[a-z][a-z-]*", word):
                used.add((sub, flag))
                assert re.search(rf"(?<![\w-]){re.escape(flag)}(?![\w-])", text), f"aarya-chaos {sub} has no {flag}"
            if word == "--gate" or word.startswith("--gate="):
                value = word.split("=", 1)[1] if "=" in word else words[j + 1]
                choices = re.search(r"--gate \{([^}]*)\}", text)
                assert choices and value in choices.group(1).split(","), f"--gate {value}: not one of {choices}"
    # What the templates rely on (so this test notices when a template stops using the gate at all).
    assert {("gate", f) for f in ("--gate", "--summary", "--history", "--record-history", "--trend",
                                  "--pushgateway")} <= used, used
    assert any(w[0] == "down" for w in calls)
