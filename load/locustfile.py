"""Locust journeys of an Aarya Clothing shopper, recorded op by op in the history.

Run only by locust (it imports locust, which monkey-patches gevent): `load/runner.py` starts it as a
subprocess. Host = the gateway base URL including `/api/v1`, e.g. `--host http://127.0.0.1:8000/api/v1`.

Two kinds of user: `Shopper` (browse, search, cart, checkout, with think times) and `LedgerWriter` (a
steady stream of checkouts with unique keys, `load/writer.py`, whose every answer the ledger reconciles
with PostgreSQL after the scenario).

Environment:
    AARYA_HISTORY_DIR   where each locust process writes `load-<pid>.jsonl` (default ./history)
    AARYA_WAIT_MIN_S / AARYA_WAIT_MAX_S   a shopper's think time between tasks (default 0.2 / 1.0)
    AARYA_WRITERS       ledger writers (default 0: none; `-u` must count them too)
    AARYA_WRITER_PACING_S   each writer takes one step of an intent this often (default 0.4)

Every request is one invoke record (with what a write asks for: its key, its items) and exactly one
completion (ok/fail/info by `load.outcomes.classify`), with process label `<pid>:<user number>` (writers
`<pid>:w<user number>`); it is also reported to locust's own statistics.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from locust import FastHttpUser, between, constant_pacing, events, task
from locust.contrib.fasthttp import LocustBadStatusCode
from locust.env import Environment
from locust.html import get_html_report
from locust.runners import WorkerRunner

from load import outcomes as rules
from load import writer as ledger
from load.history import HistoryWriter, Outcome


def _env_float(name: str, default: float) -> float:
    try:
        return float(os.environ.get(name, default))
    except ValueError:
        return default


WAIT_MIN_S = _env_float("AARYA_WAIT_MIN_S", 0.2)
WAIT_MAX_S = max(WAIT_MIN_S, _env_float("AARYA_WAIT_MAX_S", 1.0))
WRITERS = max(0, int(_env_float("AARYA_WRITERS", 0)))
WRITER_PACING_S = max(0.05, _env_float("AARYA_WRITER_PACING_S", ledger.WRITER_PACING_S))

_writer: HistoryWriter | None = None
_user_numbers = itertools.count(1)


def history() -> HistoryWriter:
    """This process's history writer, opened on first use (a master that runs no users writes no file)."""
    global _writer
    if _writer is None:
        directory = Path(os.environ.get("AARYA_HISTORY_DIR", "history"))
        _writer = HistoryWriter(directory / f"load-{os.getpid()}.jsonl", process=str(os.getpid()))
    return _writer


def close_history(**_kwargs: Any) -> None:
    """On test_stop (every user has stopped) and on quit. A later test run reopens the file."""
    global _writer
    if _writer is not None:
        _writer.close()
        _writer = None


_PROCESS_STARTED = time.time()


def write_html_on_sigterm(environment: Environment, **_kwargs: Any) -> None:
    """Locust writes --html only when its run ends by itself; on SIGTERM (LoadRun.stop) it skips it.
    `quitting` fires on both paths, after the HTML on the normal one: write it if this run has not."""
    options = environment.parsed_options
    html_file = getattr(options, "html_file", None)
    if not html_file or isinstance(environment.runner, WorkerRunner):
        return
    path = Path(html_file)
    if path.exists() and path.stat().st_mtime >= _PROCESS_STARTED:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    report = get_html_report(environment, show_download_link=False)  # type: ignore[no-untyped-call]
    path.write_text(report, encoding="utf-8")


events.test_stop.add_listener(close_history)  # type: ignore[no-untyped-call]
events.quit.add_listener(close_history)  # type: ignore[no-untyped-call]
events.quitting.add_listener(write_html_on_sigterm)  # type: ignore[no-untyped-call]


@dataclass(frozen=True)
class Answer:
    outcome: Outcome
    status: int | None
    body: Mapping[str, Any] | None


def _compact(value: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if not value:
        return None
    kept = {k: v for k, v in value.items() if v is not None}
    return kept or None


class Client(FastHttpUser):
    """What shoppers and ledger writers share: one recorded request, and an account's session."""

    abstract = True
    host = os.environ.get("AARYA_LOAD_HOST", "http://127.0.0.1:8000/api/v1")
    network_timeout = rules.ANSWER_TIMEOUT_S
    connection_timeout = rules.CONNECT_TIMEOUT_S
    state: rules.Account
    label: str
    label_prefix = ""

    def new_state(self) -> rules.Account:
        raise NotImplementedError

    def on_start(self) -> None:
        self.label = f"{os.getpid()}:{self.label_prefix}{next(_user_numbers)}"
        self.rng = random.Random()
        self.state = self.new_state()
        self.ensure_session()

    # -- one request, recorded -------------------------------------------------------------------------

    def call(self, f: str, method: str, path: str, *, name: str, query: Mapping[str, Any] | None = None,
             payload: Mapping[str, Any] | None = None, auth: bool = False,
             headers: Mapping[str, str] | None = None, parse: bool = False,
             value_of: Callable[[Mapping[str, Any] | None], Mapping[str, Any]] | None = None,
             asks: Mapping[str, Any] | None = None) -> Answer:
        """Send one request: an invoke (with `asks`, what a write asks for) before, exactly one completion
        after (even if the greenlet is killed)."""
        write = rules.is_write(f)
        writer = history()
        op_id = writer.invoke(f, process=self.label, value=_compact(asks))
        outcome: Outcome = "info" if write else "fail"
        status: int | None = None
        error: str | None = "interrupted"
        body: Mapping[str, Any] | None = None
        try:
            request_headers = dict(headers or {})
            if auth and self.state.token:
                request_headers["Authorization"] = f"Bearer {self.state.token}"
            url = f"{path}?{urlencode(query)}" if query else path
            with self.client.request(method, url, name=name, json=payload, headers=request_headers,
                                     catch_response=True) as response:
                status = response.status_code or None
                failure: BaseException | None = getattr(response, "error", None)
                if isinstance(failure, LocustBadStatusCode):
                    failure = None  # an HTTP answer, classified by its status below
                text: str | None = None
                if failure is None:
                    try:
                        text = response.text
                        if (parse or write) and text:
                            decoded = json.loads(text)
                            body = decoded if isinstance(decoded, dict) else None
                    except Exception as exc:  # an unreadable body: only a 2xx one leaves the outcome open
                        if status is not None and 200 <= status < 300:
                            failure = exc
                outcome = rules.classify(write=write, status=status,
                                         transport_error=None if failure is None else str(failure) or "error")
                error = rules.short_error(status, text if outcome != "ok" else None, failure)
                if outcome == "ok":
                    response.success()
                else:
                    response.failure(error or "failed")
        except BaseException as exc:  # GreenletExit at stop, or a bug: the completion is still written
            error = rules.short_error(None, None, exc)
            raise
        finally:
            value = value_of(body) if value_of is not None else None
            writer.complete(op_id, f, outcome, status=status, error=error, value=_compact(value),
                            process=self.label)
        return Answer(outcome, status, body)

    # -- session ----------------------------------------------------------------------------------------

    def register(self) -> Answer:
        state = self.state
        answer = self.call("register", "POST", "/auth/register", name="/auth/register",
                           payload={"email": state.email, "password": state.password},
                           value_of=rules.register_value)
        state.on_register(answer.outcome, answer.status, rules.register_value(answer.body))
        return answer

    def login(self) -> Answer:
        state = self.state
        answer = self.call("login", "POST", "/auth/login", name="/auth/login",
                           payload={"email": state.email, "password": state.password},
                           value_of=rules.login_value)
        token = (answer.body or {}).get("token")
        state.on_login(answer.outcome, answer.status, token if isinstance(token, str) else None,
                       rules.login_value(answer.body))
        return answer

    def ensure_session(self) -> bool:
        """Register (once it is known to have landed, never again) and log in, if there is no session."""
        if self.state.token:
            return True
        if not self.state.registered and self.register().outcome == "fail" and not self.state.registered:
            return False
        self.login()
        return self.state.token is not None

    def after_auth_call(self, answer: Answer) -> None:
        if answer.status == 401:
            self.state.on_unauthorized()
            self.login()


class Shopper(Client):
    wait_time = between(WAIT_MIN_S, WAIT_MAX_S)
    state: rules.ShopperState

    def new_state(self) -> rules.ShopperState:
        return rules.ShopperState()

    # -- tasks ------------------------------------------------------------------------------------------

    @task(4)
    def browse(self) -> None:
        self.call("browse", "GET", "/products", name="/products", query=rules.browse_params(self.rng))

    @task(3)
    def product(self) -> None:
        self.call("product", "GET", f"/products/{rules.product_id(self.rng)}", name="/products/[id]")

    @task(2)
    def search(self) -> None:
        self.call("search", "GET", "/search", name="/search", query={"q": rules.search_word(self.rng)})

    @task(2)
    def view_cart(self) -> None:
        if not self.ensure_session():
            return
        answer = self.call("view_cart", "GET", "/cart", name="/cart", auth=True, parse=True)
        if answer.outcome == "ok":
            self.state.on_cart(rules.cart_size(answer.body))
        self.after_auth_call(answer)

    @task(2)
    def add_to_cart(self) -> None:
        if not self.ensure_session():
            return
        product_id, quantity = rules.product_id(self.rng), self.rng.randint(1, 3)
        user_id = self.state.user_id
        answer = self.call("add_to_cart", "POST", "/cart/items", name="/cart/items", auth=True,
                           payload={"product_id": product_id, "quantity": quantity},
                           value_of=lambda _body: rules.add_to_cart_value(user_id, product_id, quantity))
        if answer.outcome == "ok":
            self.state.on_cart(rules.cart_size(answer.body))
        self.after_auth_call(answer)

    @task(1)
    def checkout(self) -> None:
        plan = self.state.next_checkout()
        if plan is None:
            return
        if not self.ensure_session():
            if plan.retry:
                self.state.pending_checkout_key = plan.key
            return
        user_id = self.state.user_id
        answer = self.call("checkout", "POST", "/checkout", name="/checkout", auth=True,
                           headers={"Idempotency-Key": plan.key},
                           value_of=lambda body: rules.checkout_value(body, user_id, plan.key),
                           asks={"idempotency_key": plan.key, "user_id": user_id})
        self.state.on_checkout(plan, answer.outcome, answer.status)
        self.after_auth_call(answer)


class LedgerWriter(Client):
    """Checkouts with unique keys at a steady pace, each intent seen through to a definite answer."""

    fixed_count = WRITERS
    weight = 1 if WRITERS else 0  # no writers asked for: locust drops a class with neither
    wait_time = constant_pacing(WRITER_PACING_S)
    state: ledger.WriterState
    label_prefix = "w"

    def new_state(self) -> ledger.WriterState:
        return ledger.WriterState()

    @task
    def write(self) -> None:
        if not self.ensure_session():
            return
        intent = self.state.current_intent(self.rng)
        if not intent.in_cart and not self.put_in_cart(intent):
            return
        user_id, key = self.state.user_id, intent.key
        answer = self.call("checkout", "POST", "/checkout", name="/checkout [ledger]", auth=True,
                           headers={"Idempotency-Key": key},
                           value_of=lambda body: rules.checkout_value(body, user_id, key),
                           asks={"idempotency_key": key, "user_id": user_id, "intent": intent.id,
                                 "items": intent.items()})
        self.state.on_checkout(answer.outcome, answer.status)
        self.after_auth_call(answer)

    def put_in_cart(self, intent: ledger.Intent) -> bool:
        """The intent's product in the cart, and nothing else; True once the cart holds exactly that."""
        user_id = self.state.user_id
        answer = self.call("add_to_cart", "POST", "/cart/items", name="/cart/items [ledger]", auth=True,
                           payload={"product_id": intent.product_id, "quantity": intent.quantity}, parse=True,
                           value_of=lambda _b: rules.add_to_cart_value(user_id, intent.product_id, intent.quantity),
                           asks={"intent": intent.id})
        fix = self.state.on_add(answer.outcome, ledger.cart_products(answer.body))
        for product_id in fix.remove:  # a line an earlier order left: it must not be bought twice
            self.call("remove_from_cart", "DELETE", f"/cart/items/{product_id}", name="/cart/items/[id] [ledger]",
                      auth=True, asks={"intent": intent.id, "product_id": product_id})
        self.after_auth_call(answer)
        return intent.in_cart
