"""Runbook 2.2's parts, shared by its Python scenario and its data file (scenarios/data/): the Redis circuit
breaker as commerce reports it, the canary persisted the way Redis does, and the claims about them."""

from __future__ import annotations

import httpx

from checks.verdict import Check
from fixtures.scenario import ScenarioRun
from scenarios.common import Canary, gateway
from stack.waits import wait_until


def breaker_state(run: ScenarioRun, service: str = "commerce") -> str | None:
    url = f"{run.stack.config.url(run.stack.config.services[service].port)}/health/ready"
    try:
        state = httpx.get(url, timeout=2).json()["checks"]["redis"].get("breaker")
    except (httpx.HTTPError, KeyError, ValueError):
        return None
    return None if state is None else str(state)


def persist_redis(run: ScenarioRun) -> None:
    """Make the canaries durable the way Redis does: an AOF rewrite, waited for (no fixed sleep)."""
    run.stack.redis_cli("BGREWRITEAOF")

    def rewritten() -> bool:
        info = run.stack.redis().info("persistence")
        return bool(info["aof_rewrite_in_progress"] == 0 and info["aof_rewrite_scheduled"] == 0
                    and info["aof_last_bgrewrite_status"] == "ok")

    wait_until("redis", "AOF rewrite", rewritten, timeout_s=30)


def canary_came_back(canary: Canary, run: ScenarioRun) -> Check:
    with gateway(run) as client:
        me = client.get("/auth/me", headers=canary.auth)
        cart = client.get("/cart", headers=canary.auth)
    items = cart.json().get("items", []) if cart.status_code == 200 else []
    kept = me.status_code == 200 and any(i["product_id"] == canary.product_id for i in items)
    return Check("persisted_session_and_cart_came_back", kept, {"session": me.status_code, "cart": items},
                 "session valid and cart intact")


def breaker_closed(run: ScenarioRun) -> Check:
    state = breaker_state(run)
    return Check("breaker_closed_after_recovery", state == "closed", state, "closed")
