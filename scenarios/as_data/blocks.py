"""The named building blocks a scenario file may use, each a small function over the run.

A block is called with the run, the values named earlier in the file (`as:`), and the parameters written
in the file; its keyword parameters and their types are what the file may give (checked before anything
is injected). Kinds: `fault` (returns a Fault), `signal` (a detection signal), `step` (an action: prepare,
after the detection, the recovery), `claim` (a Check about the run), `condition` (for `expect`),
`companion` (a context manager kept open around the fault or during it).

Add a block: write the function here with `@block(<kind>)`; `aarya-chaos new-scenario --blocks` lists them.
A block that needs a power a driver may not give declares it, `@block("step", needs=(Capability.RELEASES,))`:
a file using it is skipped with the driver's reason before anything starts (as `@pytest.mark.needs`).
"""

from __future__ import annotations

import signal as signals
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urljoin

import httpx

from checks.verdict import Check
from checks.windows import in_window
from fixtures.detect.database import queries_wait_on_locks as _queries_wait_on_locks
from fixtures.detect.probes import http_health_fails, new_log_lines
from fixtures.detect.probes import pg_isready_fails as _pg_isready_fails
from fixtures.detect.probes import redis_ping_fails as _redis_ping_fails
from fixtures.faults.database import RowLockBlocker
from fixtures.faults.network import LinkDown, LinkToxic
from fixtures.faults.process import ProcessKill, ProcessPause
from fixtures.recover.database import terminate_blockers as _terminate_blockers
from fixtures.scenario import ScenarioRun
from scenarios import common
from scenarios.parts import lock_cascade, redis_breaker, request_probe
from stack.drivers.base import Capability

REF = "ref"
Ref = Annotated[Any, REF]  # a parameter written `$name` in the file: the block gets the value `as: name` made
Refs = dict[str, Any]
KINDS = ("fault", "signal", "step", "claim", "condition", "companion")
HTTP_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class Block:
    name: str
    kind: str
    make: Callable[..., Any]
    needs: tuple[Capability, ...] = ()  # the powers it uses that a driver may not give (stack.drivers.base)

    @property
    def doc(self) -> str:
        """The first paragraph of the block's docstring, on one line."""
        return " ".join((self.make.__doc__ or "").strip().split("\n\n")[0].split())


BLOCKS: dict[str, dict[str, Block]] = {kind: {} for kind in KINDS}


def block(kind: str, *, needs: tuple[Capability, ...] = ()) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def register(make: Callable[..., Any]) -> Callable[..., Any]:
        BLOCKS[kind][make.__name__] = Block(make.__name__, kind, make, needs)
        return make

    return register


class CommandFailed(Exception):
    """A runbook command run through the driver exited non-zero."""


def _health_url(run: ScenarioRun, component: str, path: str | None) -> str:
    """The component's health URL: the target profile's (`path` replaces its path), else the reference's."""
    if run.target is not None:
        url = run.target.components[component].health or ""
        return url if path is None else urljoin(url, path)
    return f"{run.stack.config.url(run.stack.config.services[component].port)}{path or '/health'}"


# -- faults -------------------------------------------------------------------------------------------------


@block("fault")
def process_kill(run: ScenarioRun, refs: Refs, *, component: str, signal: str = "SIGKILL") -> ProcessKill:
    """Kill a component's main process (SIGKILL: a crash)."""
    return ProcessKill(run.stack, component, signals.Signals[signal])


@block("fault")
def process_pause(run: ScenarioRun, refs: Refs, *, component: str) -> ProcessPause:
    """Freeze a component (SIGSTOP / docker pause): it holds its port and answers nothing."""
    return ProcessPause(run.stack, component)


@block("fault")
def link_down(run: ScenarioRun, refs: Refs, *, edge: str) -> LinkDown:
    """Refuse connections on a dependency edge (`<client>__<dependency>`, a Toxiproxy proxy)."""
    return LinkDown(run.stack, edge)


@block("fault")
def link_toxic(run: ScenarioRun, refs: Refs, *, edge: str, type: str, attributes: dict[str, float],
               stream: str = "downstream") -> LinkToxic:
    """A Toxiproxy toxic on an edge: latency, timeout (a black hole with 0), bandwidth..."""
    return LinkToxic(run.stack, edge, type, attributes, stream)


@block("fault")
def row_lock_blocker(run: ScenarioRun, refs: Refs, *, table: str) -> RowLockBlocker:
    """A transaction holding every row of `table` FOR UPDATE (a batch job stuck mid-transaction)."""
    return RowLockBlocker(run.stack, table)


# -- detection signals ----------------------------------------------------------------------------------------


@block("signal")
def pg_isready_fails(run: ScenarioRun, refs: Refs) -> Callable[[], str | None]:
    """`pg_isready -U postgres` exits non-zero."""
    return _pg_isready_fails(run.stack)


@block("signal")
def redis_ping_fails(run: ScenarioRun, refs: Refs) -> Callable[[], str | None]:
    """`redis-cli ping` does not answer PONG."""
    return _redis_ping_fails(run.stack)


@block("signal")
def health_fails(run: ScenarioRun, refs: Refs, *, component: str, path: str | None = None) -> Callable[[], str | None]:
    """`curl -f <the component's health URL>` fails (`path` replaces the URL's path)."""
    return http_health_fails(_health_url(run, component, path))


@block("signal")
def queries_wait_on_locks(run: ScenarioRun, refs: Refs) -> Callable[[], str | None]:
    """pg_stat_activity shows statements waiting on a lock (wait_event_type = 'Lock', pg_blocking_pids)."""
    return _queries_wait_on_locks(run.stack)


@block("signal")
def log_lines(run: ScenarioRun, refs: Refs, *, component: str, grep: str, lines: int = 500) -> Callable[[], str | None]:
    """New lines of a component's log match `grep -iE <grep>` (lines already there when the file's signals
    are made, just before the injection, do not count)."""
    return new_log_lines(run.stack, component, grep, lines)


@block("signal")
def command_fails(run: ScenarioRun, refs: Refs, *, component: str, command: list[str]) -> Callable[[], str | None]:
    """A runbook command, run where the component runs (its container; the host for a local process),
    exits non-zero."""

    def signal() -> str | None:
        code, output = run.stack.exec(component, command)
        return f"{' '.join(command)} exit {code}: {output.strip()[:200]}" if code != 0 else None

    return signal


# -- steps ------------------------------------------------------------------------------------------------------


@block("step")
def canary(run: ScenarioRun, refs: Refs, *, product_id: int = 42) -> common.Canary:
    """A shopper of the scenario's own, with `product_id` in the cart."""
    return common.make_canary(run, product_id=product_id)


@block("step")
def canaries(run: ScenarioRun, refs: Refs, *, count: int, first_product_id: int) -> list[common.Canary]:
    """`count` canaries, with products first_product_id, first_product_id + 1, ..."""
    return [common.make_canary(run, product_id=first_product_id + i) for i in range(count)]


@block("step")
def persist_redis(run: ScenarioRun, refs: Refs) -> None:
    """An AOF rewrite, waited for: what Redis holds now survives a crash."""
    redis_breaker.persist_redis(run)


@block("step")
def remember_pid(run: ScenarioRun, refs: Refs, *, component: str) -> int | None:
    """The component's main pid now (to show later that it was not restarted)."""
    return next((s.pid for s in run.stack.status() if s.name == component), None)


@block("step")
def sample_probe(run: ScenarioRun, refs: Refs, *, probe: str) -> None:
    """Probe a store condition now (`postgres`, `redis`), so its record has an outage shorter than a probe
    interval."""
    run.prober.sample(probe)


@block("step")
def hold_fault(run: ScenarioRun, refs: Refs, *, seconds: float) -> None:
    """Leave the fault in place `seconds` from its landing: a responder reads the detection, then acts."""
    until = (run.timeline.landed or time.monotonic()) + seconds
    while time.monotonic() < until:
        time.sleep(0.25)


@block("step")
def restart(run: ScenarioRun, refs: Refs, *, component: str) -> None:
    """Restart a component (`docker restart <container>`, `docker-compose restart <service>`)."""
    run.stack.restart(component)


@block("step")
def command(run: ScenarioRun, refs: Refs, *, component: str, command: list[str]) -> str:
    """A runbook command run where the component runs; a non-zero exit fails the step."""
    code, output = run.stack.exec(component, command)
    if code != 0:
        raise CommandFailed(f"{' '.join(command)} exit {code}: {output.strip()[:200]}")
    return output


@block("step")
def terminate_blockers(run: ScenarioRun, refs: Refs) -> list[int]:
    """pg_terminate_backend(<pid>) for each pid pg_blocking_pids() names."""
    pids = _terminate_blockers(run.stack)
    run.notes.append(f"recovery terminated blocking pids {pids}" if pids else
                     "recovery found no blocking pid (no lock waiter appeared)")
    return pids


@block("step")
def remove_toxic(run: ScenarioRun, refs: Refs, *, fault: Ref) -> None:
    """Remove the toxic a `link_toxic` fault (named with `as:`) added: fault removal, not a repair."""
    toxic: LinkToxic = fault
    with run.stack.toxiproxy() as toxiproxy:
        toxiproxy.remove_toxic(toxic.edge, toxic.toxic_name)


# -- conditions (expect) -----------------------------------------------------------------------------------------


@block("condition")
def breaker_is(run: ScenarioRun, refs: Refs, *, state: str, component: str = "commerce") -> Callable[[], bool]:
    """The component's Redis circuit breaker (its /health/ready) is in `state`."""
    return lambda: redis_breaker.breaker_state(run, component) == state


# -- companions ------------------------------------------------------------------------------------------------


@block("companion")
def checkout_probe(run: ScenarioRun, refs: Refs, *, shoppers: Ref) -> lock_cascade.CheckoutProbe:
    """Synthetic shoppers checking out every second (`health:checkout`): steady includes checkout."""
    return lock_cascade.CheckoutProbe(run, shoppers)


@block("companion")
def write_probe(run: ScenarioRun, refs: Refs, *, name: str, method: str, path: str, accept: list[int],
                json: dict[str, Any] | None = None, headers_env: dict[str, str] | None = None,
                every_s: float = 1.0, slo_s: float = 2.5) -> request_probe.RequestProbe:
    """A synthetic write every `every_s` (as request_succeeds), recorded as the health probe `health:<name>`:
    steady includes the write."""
    return request_probe.RequestProbe(run, name=name, method=method, path=path, accept=accept, json=json,
                                      headers_env=headers_env, interval_s=every_s, slo_s=slo_s)


@block("companion")
def lock_queue_sampler(run: ScenarioRun, refs: Refs) -> lock_cascade.QueueSampler:
    """Samples the statements waiting on a lock (pg_stat_activity) while the fault lasts."""
    return lock_cascade.QueueSampler(run)


# -- claims ------------------------------------------------------------------------------------------------------


@block("claim")
def checkout_works(run: ScenarioRun, refs: Refs, *, product_id: int) -> Check:
    """A new shopper registers, puts `product_id` in the cart and checks out (201)."""
    return common.checkout_works(run, product_id=product_id)


@block("claim")
def canary_checks_out(run: ScenarioRun, refs: Refs, *, canary: Ref) -> Check:
    """The canary (its cart already filled) checks out (201 or 202)."""
    return lock_cascade.try_checkout(run, canary)


@block("claim")
def health_answers(run: ScenarioRun, refs: Refs, *, component: str, path: str | None = None) -> Check:
    """The component's health URL answers 2xx (after the recovery: judge it in judge_recovery)."""
    url = _health_url(run, component, path)
    try:
        status: int | str = httpx.get(url, timeout=HTTP_TIMEOUT_S).status_code
    except httpx.HTTPError as exc:
        status = type(exc).__name__
    return Check(f"{component}_healthy_after_recovery", isinstance(status, int) and 200 <= status < 300, status,
                 "2xx", url)


@block("claim")
def request_succeeds(run: ScenarioRun, refs: Refs, *, name: str, method: str, path: str, accept: list[int],
                     json: dict[str, Any] | None = None, headers_env: dict[str, str] | None = None) -> Check:
    """One request to the journeys' host (the target profile's, else the gateway's API) answers a status in
    `accept`: a write that works after the recovery. `headers_env` maps a header to the environment variable
    holding its value (a token is never written in the file); `{unique}` in the JSON becomes a fresh id."""
    try:
        response = request_probe.send_write(request_probe.journeys_host(run), method, path, json=json,
                                            headers_env=headers_env or {}, timeout_s=HTTP_TIMEOUT_S)
    except httpx.HTTPError as exc:
        return Check(name, False, type(exc).__name__, accept, str(exc)[:200])
    return Check(name, response.status_code in accept, response.status_code, accept, response.text[:200])


@block("claim")
def breaker_closed(run: ScenarioRun, refs: Refs) -> Check:
    """Commerce's Redis breaker is closed."""
    return redis_breaker.breaker_closed(run)


@block("claim")
def canary_came_back(run: ScenarioRun, refs: Refs, *, canary: Ref) -> Check:
    """The canary's persisted session and cart are there."""
    return redis_breaker.canary_came_back(canary, run)


@block("claim")
def answers_stayed_fast(run: ScenarioRun, refs: Refs, *, max_latency_ms: float,
                        checkout_ms: float | None = None) -> Check:
    """During the fault every load op completed within max_latency_ms."""
    return common.answers_stayed_fast(run, max_latency_ms, checkout_ms)


@block("claim")
def failures_were_defined(run: ScenarioRun, refs: Refs, *, statuses: list[int], no_answer_allowed: bool = False) -> Check:
    """Every load op that failed during the fault got one of `statuses` (or, with no_answer_allowed, no
    answer at all: a refused connection)."""
    return common.failures_were_defined(run, set(statuses), no_answer_allowed=no_answer_allowed)


@block("claim")
def writes_failed_during_the_fault(run: ScenarioRun, refs: Refs, *, ops: list[str]) -> Check:
    """The fault bit: some ops named in `ops` did not succeed in the fault window (a fault nobody felt
    proves nothing about the recovery)."""
    window = common.fault_window(run)
    sent = in_window(run.ops(), window.start, window.end, tuple(ops))
    failed = [op for op in sent if op.outcome != "ok"]
    return Check("writes_failed_during_the_fault", bool(failed), len(failed), "> 0",
                 f"{len(failed)} of {len(sent)} {', '.join(ops)} in the fault window did not succeed")


@block("claim")
def no_blocker_left(run: ScenarioRun, refs: Refs) -> Check:
    """No backend of the row-lock blocker is left."""
    return lock_cascade.no_blocker_left(run)


@block("claim")
def not_restarted(run: ScenarioRun, refs: Refs, *, component: str, pid: Ref) -> Check:
    """The component's pid is the one remembered (remember_pid) before the fault: the recovery did not
    restart it (`<component>_not_restarted`)."""
    now = next((s.pid for s in run.stack.status() if s.name == component), None)
    return Check(f"{component}_not_restarted", now is not None and now == pid, now, pid)


@block("claim")
def lock_bit_checkout(run: ScenarioRun, refs: Refs) -> Check:
    """Checkouts failed during the fault (the lock bit)."""
    return lock_cascade.lock_bit_checkout(run)


@block("claim")
def unlocked_endpoints_stayed_up(run: ScenarioRun, refs: Refs) -> Check:
    """The endpoints the lock does not touch stayed >= 95% successful during the fault."""
    return lock_cascade.unlocked_endpoints_stayed_up(run)


@block("claim")
def lock_waits_at_most_one_per_checkout(run: ScenarioRun, refs: Refs, *, sampler: Ref,
                                        write: str = "checkout") -> Check:
    """The statements seen waiting on the lock number at most the writes named `write` sent, the load's and
    the probe's `health:<write>` (no retry storm)."""
    return lock_cascade.statements_not_multiplied(run, sampler, write)
