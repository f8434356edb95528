"""Small helpers the scenario files share: canary shoppers and checks about live answers."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import httpx

from aarya_chaos.errors import ChaosError
from checks.timing import never_hung
from checks.verdict import Check
from checks.windows import Window, in_window
from fixtures.scenario import ScenarioRun
from stack.shoppers import Shopper, register_shopper

CONTROL_WAIT_S = 15.0  # a control skips the recovery: nothing comes back, so waiting longer proves nothing more


@dataclass(frozen=True)
class Canary(Shopper):
    """A shopper the scenario owns: a session and a cart it can look for after the recovery."""

    product_id: int = 42


def gateway(run: ScenarioRun) -> httpx.Client:
    return httpx.Client(base_url=f"{run.stack.config.gateway_url}/api/v1", timeout=5)


def make_canary(run: ScenarioRun, product_id: int = 42) -> Canary:
    with gateway(run) as client:
        shopper = register_shopper(client, "canary", "canary password")
        canary = Canary(shopper.email, shopper.password, shopper.user_id, shopper.token, product_id)
        client.post("/cart/items", json={"product_id": product_id, "quantity": 1}, headers=canary.auth).raise_for_status()
    return canary


def checkout_works(run: ScenarioRun, product_id: int, accept: tuple[int, ...] = (201,)) -> Check:
    """A new shopper registers, puts `product_id` in the cart and checks out (a claim about the recovery:
    judge it with `run.judge_recovery`, before the fault's heal)."""
    name = "checkout_works_after_recovery"
    try:
        canary = make_canary(run, product_id=product_id)
        with gateway(run) as client:
            response = client.post("/checkout", headers={**canary.auth, "Idempotency-Key": str(uuid.uuid4())})
    except (httpx.HTTPError, ChaosError) as exc:
        return Check(name, False, type(exc).__name__, accept[0], str(exc).splitlines()[0][:200] if str(exc) else "")
    return Check(name, response.status_code in accept, response.status_code, accept[0] if len(accept) == 1
                 else list(accept), response.text[:200])


def fault_window(run: ScenarioRun) -> Window:
    tl = run.timeline
    assert tl.injected is not None
    return Window("fault", tl.injected, tl.restored or tl.recovery_started or tl.injected)


def answers_stayed_fast(run: ScenarioRun, max_latency_ms: float, checkout_ms: float | None = None) -> Check:
    """During the fault no request hung: every load op completed, within max_latency_ms (a checkout, which
    also waits on payment, within `checkout_ms` when given)."""
    ops, window = run.ops(), fault_window(run)
    if checkout_ms is None:
        slow = never_hung(ops, window, max_latency_ms)
    else:
        others = {op.f for op in ops if op.f != "checkout" and not op.f.startswith(("health:", "probe:"))}
        slow = never_hung(ops, window, max_latency_ms, fs=others) + never_hung(ops, window, checkout_ms,
                                                                                 fs={"checkout"})
    detail = ", ".join(f"{op.f}: {op.latency_ms} ms" if op.end else f"{op.f}: never completed" for op in slow[:5])
    bound = f"{max_latency_ms:g} ms" + (f" (checkout {checkout_ms:g} ms)" if checkout_ms is not None else "")
    return Check("no_request_hung_during_the_fault", not slow, len(slow), 0, f"bound {bound}; {detail or 'none'}")


def failures_were_defined(run: ScenarioRun, allowed: set[int], *, no_answer_allowed: bool = False) -> Check:
    """Every load op that failed during the fault got a defined HTTP answer (a status in `allowed`; with
    `no_answer_allowed`, a refused connection too: a platform without a gateway answers nothing when down)."""
    failed = [op for op in in_window(run.ops(), fault_window(run).start, fault_window(run).end) if op.outcome != "ok"]
    undefined = [op for op in failed if op.status not in allowed and not (no_answer_allowed and op.status is None)]
    detail = f"{len(failed)} failed; not a defined answer: " + ", ".join(
        f"{op.f} -> {op.status or op.error}" for op in undefined[:5])
    return Check("failures_were_defined_answers", not undefined, len(undefined), 0, detail)
