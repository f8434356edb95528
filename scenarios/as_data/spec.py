"""A scenario file checked and compiled into a `ScenarioSpec`: every block known, every parameter known and
of its type, every `$name` made before it is used. All problems are reported together, each with its line,
before anything is injected. The format: docs/scenario-files.md; a commented skeleton:
`aarya-chaos new-scenario`."""

from __future__ import annotations

import difflib
import inspect
import types
import typing
from collections.abc import Collection
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from fixtures.scenario import SKIP_RECOVERY, Targets
from scenarios.as_data.blocks import BLOCKS, Block, Ref
from scenarios.as_data.source import Located, LocatedList, ScenarioFileError, read_scenario_file
from stack.drivers.base import Capability

TOP_KEYS = {"id", "name", "marker", "twin", "targets", "prepare", "around", "inject", "during", "detect",
            "after_detect", "expect", "recover", "judge_recovery", "verify", "notes", "controls"}
REQUIRED = ("id", "name", "targets", "inject", "detect", "recover")
MARKERS = ("database", "cache", "service", "events", "infrastructure", "security", "cascade", "rollback")
TARGET_KEYS = {"mttd_s", "rto_s", "rpo_s", "lost_acknowledged_writes", "failed_requests", "min_writes_judged",
               "baseline_min_ops", "detect_timeout_s", "success_threshold", "hold_s"}
CONTROL_KEYS = {"name", "label", "skip_recovery", "restore_timeout_s", "deploy", "hold_fault_s", "must_fail"}
CONTROL_WAIT_S = 15.0


@dataclass(frozen=True)
class Call:
    """One use of a block: its parameters as written, and the name its value gets (`as:`)."""

    block: Block
    params: dict[str, Any]
    ref: str | None
    line: int


@dataclass(frozen=True)
class Expectation:
    name: str
    condition: Call
    within_s: float
    target: str


@dataclass(frozen=True)
class Control:
    name: str
    label: str
    skip_recovery: bool = False
    restore_timeout_s: float | None = None
    deploy: tuple[str, str] | None = None
    must_fail: tuple[str, ...] = ()
    hold_fault_s: float | None = None   # the responder acts this late: the file's hold_fault steps take it

    @property
    def needs(self) -> tuple[Capability, ...]:
        """A control on another release needs the driver to deploy one."""
        return (Capability.RELEASES,) if self.deploy else ()


@dataclass(frozen=True)
class ScenarioSpec:
    path: Path
    id: str
    name: str
    marker: str | None
    twin: str | None
    targets: Targets
    inject: list[Call]                 # one fault, or several injected together
    detect_name: str
    detect: list[Call]                 # several: all of them must show the fault
    detect_timeout_s: float | None
    recover_procedure: str
    recover: list[Call]
    removes_fault: bool
    prepare: list[Call] = field(default_factory=list)
    around: list[Call] = field(default_factory=list)
    during: list[Call] = field(default_factory=list)
    after_detect: list[Call] = field(default_factory=list)
    expect: list[Expectation] = field(default_factory=list)
    judge_recovery: list[Call] = field(default_factory=list)
    verify: list[Call] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    controls: list[Control] = field(default_factory=list)

    @property
    def slug(self) -> str:
        return self.path.stem

    @property
    def needs(self) -> tuple[Capability, ...]:
        """The powers its blocks declare (Block.needs), each once, in the order they come."""
        return tuple(dict.fromkeys(c for call in all_calls(self) for c in call.block.needs))


class _Problems:
    def __init__(self) -> None:
        self.found: list[tuple[int, str]] = []
        self.refs: set[str] = set()

    def add(self, line: int, text: str) -> None:
        self.found.append((line, text))


def _suggest(word: str, choices: typing.Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


def _conforms(value: Any, hint: Any) -> bool:
    """Does a YAML value fit a block parameter's type (str, int, float, bool, Ref, list[...], dict[...], X | None)?"""
    origin = typing.get_origin(hint)
    if hint is Any:
        return True
    if origin in (typing.Union, types.UnionType):
        return any(_conforms(value, arg) for arg in typing.get_args(hint))
    if hint is type(None):
        return value is None
    if hint == Ref:
        return isinstance(value, str) and value.startswith("$")
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if origin is list:
        (item,) = typing.get_args(hint)
        return isinstance(value, list) and all(_conforms(v, item) for v in value)
    if origin is dict:
        _, item = typing.get_args(hint)
        return isinstance(value, dict) and all(isinstance(k, str) and _conforms(v, item) for k, v in value.items())
    return isinstance(value, hint)


def _type_name(hint: Any) -> str:
    return "a $name of an earlier `as:`" if hint == Ref else str(hint).replace("typing.", "").replace("<class '", "") \
        .replace("'>", "")


def block_parameters(block: Block) -> dict[str, tuple[Any, bool]]:
    """A block's keyword parameters: name -> (type, required)."""
    hints = typing.get_type_hints(block.make, include_extras=True)
    return {name: (hints[name], p.default is inspect.Parameter.empty)
            for name, p in inspect.signature(block.make).parameters.items() if p.kind is p.KEYWORD_ONLY}


def _call(node: Any, kind: str, line: int, problems: _Problems, *, allow_ref: bool = True) -> Call | None:
    """`{block_name: {param: value, ..., as: name}}` (or just `block_name` for one without parameters)."""
    if isinstance(node, str):
        node = Located({node: None})
        node.line, node.key_lines = line, {}
    if not isinstance(node, dict) or len(node) != 1:
        problems.add(line, f"a {kind} is one block name with its parameters, e.g. `- {next(iter(BLOCKS[kind]))}: "
                           "{...}`")
        return None
    name, raw = next(iter(node.items()))
    line = node.line_of(name) if isinstance(node, Located) else line
    known = BLOCKS[kind]
    if name not in known:
        problems.add(line, f"unknown {kind} {name!r} (known: {', '.join(sorted(known))}){_suggest(name, known)}")
        return None
    params = dict(raw or {}) if isinstance(raw, dict) or raw is None else None
    if params is None:
        problems.add(line, f"{kind} {name!r}: its parameters are a mapping, not {type(raw).__name__}")
        return None
    ref = params.pop("as", None)
    if ref is not None and (not allow_ref or not isinstance(ref, str) or not ref.isidentifier()):
        problems.add(line, f"{kind} {name!r}: `as:` names the value with an identifier, not {ref!r}")
        ref = None
    block = known[name]
    _check_params(block, params, raw if isinstance(raw, Located) else None, line, problems)
    if ref:
        problems.refs.add(ref)
    return Call(block, params, ref, line)


def _check_params(block: Block, params: dict[str, Any], raw: Located | None, line: int, problems: _Problems) -> None:
    expected = block_parameters(block)
    for key, value in params.items():
        at = raw.line_of(key) if raw is not None else line
        if key not in expected:
            problems.add(at, f"{block.kind} {block.name!r}: unknown parameter {key!r} "
                             f"(it takes: {', '.join(expected) or 'none'}){_suggest(key, expected)}")
        elif not _conforms(value, expected[key][0]):
            problems.add(at, f"{block.kind} {block.name!r}: {key} must be {_type_name(expected[key][0])}, "
                             f"not {value!r}")
        elif expected[key][0] == Ref and value[1:] not in problems.refs:
            problems.add(at, f"{block.kind} {block.name!r}: {key} names {value!r}, which no earlier block made "
                             "(`as:`)")
    for key, (_, required) in expected.items():
        if required and key not in params:
            problems.add(line, f"{block.kind} {block.name!r}: missing parameter {key!r}")


def _calls(doc: Located, key: str, kind: str, problems: _Problems) -> list[Call]:
    if key not in doc:
        return []
    node = doc[key]
    if not isinstance(node, LocatedList):
        problems.add(doc.line_of(key), f"{key}: a list of {kind}s")
        return []
    calls = [_call(item, kind, node.line_of(i), problems) for i, item in enumerate(node)]
    return [c for c in calls if c is not None]


def _one_or_together(doc: Located, key: str, kind: str, together: str, problems: _Problems) -> list[Call]:
    node = doc[key]
    if isinstance(node, Located) and set(node) == {together}:
        inner = Located({together: node[together]})
        inner.line, inner.key_lines = node.line, dict(node.key_lines)
        return _calls(inner, together, kind, problems)
    call = _call(node, kind, doc.line_of(key), problems)
    return [call] if call else []


def _text(doc: Located, key: str, problems: _Problems, default: str | None = None) -> str:
    value = doc.get(key, default)
    if not isinstance(value, (str, int, float)) or isinstance(value, bool) or str(value) == "":
        problems.add(doc.line_of(key), f"{key}: text is needed" + ("" if key in doc else " (missing)"))
        return ""
    return str(value)


def _targets(doc: Located, problems: _Problems) -> Targets:
    node = doc.get("targets")
    if not isinstance(node, Located):
        problems.add(doc.line_of("targets"), "targets: a mapping such as {mttd_s: 15, rto_s: 60, rpo_s: 0}")
        return Targets()
    values: dict[str, Any] = {}
    for key, value in node.items():
        if key not in TARGET_KEYS:
            problems.add(node.line_of(key), f"targets: unknown key {key!r}{_suggest(key, TARGET_KEYS)}")
        elif value is not None and (isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0):
            problems.add(node.line_of(key), f"targets: {key} must be a number >= 0 or null, not {value!r}")
        else:
            values[key] = value
    return Targets(**values)


def _expectations(doc: Located, problems: _Problems) -> list[Expectation]:
    node = doc.get("expect", LocatedList())
    found: list[Expectation] = []
    for i, item in enumerate(node if isinstance(node, list) else []):
        line = node.line_of(i)
        if not isinstance(item, Located) or not {"name", "condition", "within_s"} <= set(item):
            problems.add(line, "expect: each item has name:, condition: and within_s: (and target:)")
            continue
        for key in set(item) - {"name", "condition", "within_s", "target"}:
            problems.add(item.line_of(key), f"expect: unknown key {key!r}")
        condition = _call(item["condition"], "condition", item.line_of("condition"), problems)
        within = item["within_s"]
        if isinstance(within, bool) or not isinstance(within, (int, float)) or within <= 0:
            problems.add(item.line_of("within_s"), f"expect: within_s must be a number > 0, not {within!r}")
        elif condition is not None:
            found.append(Expectation(str(item["name"]), condition, float(within), str(item.get("target", "holds"))))
    return found


def _controls(doc: Located, problems: _Problems) -> list[Control]:
    node = doc.get("controls", LocatedList())
    found: list[Control] = []
    for i, item in enumerate(node if isinstance(node, list) else []):
        line = node.line_of(i)
        if not isinstance(item, Located) or "name" not in item or "must_fail" not in item:
            problems.add(line, "controls: each control has name: and must_fail: (the checks it must fail)")
            continue
        for key in set(item) - CONTROL_KEYS:
            problems.add(item.line_of(key), f"controls: unknown key {key!r}{_suggest(key, CONTROL_KEYS)}")
        skip = item.get("skip_recovery") is True
        deploy = item.get("deploy")
        if deploy is not None and not (isinstance(deploy, dict) and set(deploy) == {"component", "release"}):
            problems.add(item.line_of("deploy"), "controls: deploy is {component: <name>, release: <release>}")
            deploy = None
        hold = item.get("hold_fault_s")
        if hold is not None and (isinstance(hold, bool) or not isinstance(hold, (int, float)) or hold <= 0):
            problems.add(item.line_of("hold_fault_s"), f"controls: hold_fault_s must be a number > 0, not {hold!r}")
            hold = None
        if not skip and deploy is None and hold is None:
            problems.add(line, f"control {item['name']!r}: breaks nothing "
                               "(give skip_recovery: true, deploy: or hold_fault_s:)")
        label = SKIP_RECOVERY if skip and "label" not in item else str(item.get("label", ""))
        if not label:
            problems.add(line, f"control {item['name']!r}: label: says what is broken (it names the record)")
        must_fail = item["must_fail"]
        if not isinstance(must_fail, list) or not must_fail or not all(isinstance(c, str) for c in must_fail):
            problems.add(item.line_of("must_fail"), "controls: must_fail is a non-empty list of check names")
            must_fail = []
        wait = item.get("restore_timeout_s", CONTROL_WAIT_S if skip else None)
        found.append(Control(str(item["name"]), label, skip, None if wait is None else float(wait),
                             (str(deploy["component"]), str(deploy["release"])) if deploy else None,
                             tuple(must_fail), None if hold is None else float(hold)))
    return found


def compile_scenario(path: Path) -> ScenarioSpec:
    """Read and check a scenario file; a ScenarioFileError lists every problem with its line."""
    doc = read_scenario_file(path)
    problems = _Problems()
    for key in doc:
        if key not in TOP_KEYS:
            problems.add(doc.line_of(key), f"unknown key {key!r}{_suggest(key, TOP_KEYS)}")
    for key in REQUIRED:
        if key not in doc:
            problems.add(1, f"missing key {key!r}")
    if problems.found:
        raise ScenarioFileError(path, problems.found)
    marker = doc.get("marker")
    if marker is not None and marker not in MARKERS:
        problems.add(doc.line_of("marker"), f"marker: one of {', '.join(MARKERS)}, not {marker!r}")
    targets = _targets(doc, problems)
    prepare = _calls(doc, "prepare", "step", problems)
    around = _calls(doc, "around", "companion", problems)
    inject = _one_or_together(doc, "inject", "fault", "together", problems)
    during = _calls(doc, "during", "companion", problems)
    detect_doc = doc["detect"]
    if not isinstance(detect_doc, Located) or not {"name", "signal"} <= set(detect_doc):
        problems.add(doc.line_of("detect"), "detect: has name: (what the runbook says to check) and signal:")
        detect_name, detect, detect_timeout = "", [], None
    else:
        detect_name = _text(detect_doc, "name", problems)
        detect = _one_or_together(detect_doc, "signal", "signal", "all_of", problems)
        timeout = detect_doc.get("timeout_s")
        detect_timeout = float(timeout) if isinstance(timeout, (int, float)) else None
    after_detect = _calls(doc, "after_detect", "step", problems)
    expect = _expectations(doc, problems)
    recover_doc = doc["recover"]
    if not isinstance(recover_doc, Located) or not {"procedure", "steps"} <= set(recover_doc):
        problems.add(doc.line_of("recover"), "recover: has procedure: (the runbook's words) and steps:")
        procedure, recover, removes_fault = "", [], False
    else:
        procedure = _text(recover_doc, "procedure", problems)
        recover = _calls(recover_doc, "steps", "step", problems)
        removes_fault = recover_doc.get("removes_fault") is True
    judge = _calls(doc, "judge_recovery", "claim", problems)
    verify = _calls(doc, "verify", "claim", problems)
    notes = doc.get("notes", [])
    if not isinstance(notes, list) or not all(isinstance(n, str) for n in notes):
        problems.add(doc.line_of("notes"), "notes: a list of text")
        notes = []
    controls = _controls(doc, problems)
    if any(c.hold_fault_s is not None for c in controls) and not any(
            call.block.name == "hold_fault" for call in after_detect):
        problems.add(doc.line_of("controls"), "controls: hold_fault_s needs a hold_fault step in after_detect")
    if problems.found:
        raise ScenarioFileError(path, problems.found)
    return ScenarioSpec(path, str(doc["id"]), _text(doc, "name", problems), marker,
                        None if doc.get("twin") is None else str(doc["twin"]), targets, inject, detect_name, detect,
                        detect_timeout, procedure, recover, removes_fault, prepare, around, during, after_detect,
                        expect, judge, verify, list(notes), controls)


def held_for(spec: ScenarioSpec, control: Control | None) -> ScenarioSpec:
    """The spec as the control plays it: its hold_fault steps hold `control.hold_fault_s` instead."""
    if control is None or control.hold_fault_s is None:
        return spec
    seconds = control.hold_fault_s
    return replace(spec, after_detect=[replace(call, params={**call.params, "seconds": seconds})
                                       if call.block.name == "hold_fault" else call for call in spec.after_detect])


def all_calls(spec: ScenarioSpec) -> list[Call]:
    return [*spec.prepare, *spec.around, *spec.inject, *spec.during, *spec.detect, *spec.after_detect,
            *(e.condition for e in spec.expect), *spec.recover, *spec.judge_recovery, *spec.verify]


def check_against_stack(spec: ScenarioSpec, components: Collection[str], edges: Collection[str]) -> None:
    """Every component and edge the file names exists on the stack it is about to run on (before the
    injection); a ScenarioFileError otherwise, with the lines."""
    problems: list[tuple[int, str]] = []
    for call in all_calls(spec):
        component, edge = call.params.get("component"), call.params.get("edge")
        if component is not None and component not in components:
            problems.append((call.line, f"{call.block.name}: no component {component!r} on this stack "
                                        f"(components: {', '.join(sorted(components))})"))
        if edge is not None and edge not in edges:
            problems.append((call.line, f"{call.block.name}: no edge {edge!r} on this stack{_suggest(edge, edges)}"))
    for control in spec.controls:
        if control.deploy and control.deploy[0] not in components:
            problems.append((0, f"control {control.name}: no component {control.deploy[0]!r} to deploy"))
    if problems:
        raise ScenarioFileError(spec.path, problems)
