"""The by-hand trial behind README.md's fault table: the four data-file scenarios' faults on pretix.

NOT the engine: a standalone script (httpx + psycopg2 from pretix's venv) that mirrors what
scenarios/data/{1.1,2.2,3.2,7.1}*.yaml do (inject, detect by the same kind of signal, recover by the
runbook's step, judge a write after recovery, reconcile a ledger) against a pretix started by hand as
in README.md ("Trial by hand"), with its PostgreSQL and Redis edges through a Toxiproxy.

    python trial_by_hand.py <fault> [--control]
    fault: pg_crash | redis_down | service_down | slow_db

--control skips the recovery step (the scenarios' `without_restart` / `blocker_stays` controls): the
judge must then fail. Everything it needs is in environment variables, defaults = the scratch trial:
TRIAL_DIR, PRETIX_BASE, AARYA_API_TOKEN, PG_BINDIR, PG_PORT (direct, not proxied), REDIS_PORT (direct),
TOXIPROXY_API, TRIAL_START_PRETIX (a command that starts gunicorn daemonized).
Prints one JSON record.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import string
import subprocess
import threading
import time

import httpx
import psycopg2

D = os.environ.get("TRIAL_DIR", "/work/scratch-platform")
BASE = os.environ.get("PRETIX_BASE", "http://127.0.0.1:26080")
TOKEN = os.environ["AARYA_API_TOKEN"]
PG_BIN = os.environ.get("PG_BINDIR", "/usr/lib/postgresql/15/bin")
PG_PORT = int(os.environ.get("PG_PORT", "26032"))
REDIS_PORT = int(os.environ.get("REDIS_PORT", "26079"))
TOXI = os.environ.get("TOXIPROXY_API", "http://127.0.0.1:26474")
START_PRETIX = os.environ.get("TRIAL_START_PRETIX", f"{D}/start_gunicorn.sh")
ORG, EVENT, ITEM = "aarya", "chaos", 1
TARGETS = {  # the scenario files' targets
    "pg_crash": {"mttd_s": 30, "rto_s": 120},
    "redis_down": {"mttd_s": 15, "rto_s": 60},
    "service_down": {"mttd_s": 15, "rto_s": 60},
    "slow_db": {"mttd_s": 15, "rto_s": 30},
}
CLIENT_TIMEOUT_S = 10.0
T0 = time.monotonic()


def t() -> float:
    return round(time.monotonic() - T0, 2)


def sh(cmd: str, timeout: float = 30) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, shell=True, capture_output=True, text=True, timeout=timeout)


def pg_direct():
    return psycopg2.connect(host="127.0.0.1", port=PG_PORT, user="postgres", dbname="pretix",
                            connect_timeout=2)


# ---------------------------------------------------------------- load and probes

class Load:
    """Two shoppers creating orders with client-chosen codes (the ledger key) and idempotency keys."""

    def __init__(self, tag: str, workers: int = 2):
        self.tag, self.n, self.lock = tag, 0, threading.Lock()
        self.events: list[dict] = []  # start, end, code, outcome
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._run, daemon=True) for _ in range(workers)]

    def _code(self) -> str:
        with self.lock:
            self.n += 1
            return f"{self.tag}{self.n:07d}"

    def _run(self) -> None:
        c = httpx.Client(base_url=BASE, timeout=CLIENT_TIMEOUT_S,
                         headers={"Authorization": f"Token {TOKEN}"})
        while not self.stop.is_set():
            code = self._code()
            body = {"code": code, "email": f"{code.lower()}@example.org", "locale": "en",
                    "sales_channel": "web", "payment_provider": "manual", "send_email": False,
                    "positions": [{"item": ITEM, "price": "10.00"}]}
            s = t()
            try:
                r = c.post(f"/api/v1/organizers/{ORG}/events/{EVENT}/orders/", json=body,
                           headers={"X-Idempotency-Key": f"order-{code}"})
                out = r.status_code
            except httpx.HTTPError as e:
                out = type(e).__name__
            with self.lock:
                self.events.append({"start": s, "end": t(), "code": code, "out": out})
            if out != 201:
                time.sleep(0.2)

    def start(self):
        for th in self.threads:
            th.start()

    def finish(self):
        self.stop.set()
        for th in self.threads:
            th.join(CLIENT_TIMEOUT_S + 5)


class Sampler:
    """Samples a callable every `every` seconds: (t, value)."""

    def __init__(self, fn, every=0.5):
        self.fn, self.every, self.samples, self.stop = fn, every, [], threading.Event()
        self.th = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self.stop.is_set():
            s = t()
            try:
                v = self.fn()
            except Exception as e:  # noqa: BLE001 - a probe's failure is its value
                v = type(e).__name__
            self.samples.append((s, round(t() - s, 3), v))
            time.sleep(self.every)

    def start(self):
        self.th.start()

    def finish(self):
        self.stop.set()
        self.th.join(10)


def health() -> object:
    return httpx.get(f"{BASE}/healthcheck/", timeout=3).status_code


def pg_isready() -> bool:
    return sh(f"{PG_BIN}/pg_isready -h 127.0.0.1 -p {PG_PORT} -t 1").returncode == 0


def redis_ping() -> bool:
    return sh(f"redis-cli -p {REDIS_PORT} ping").stdout.strip() == "PONG"


def lock_waiters() -> int:
    with pg_direct() as c, c.cursor() as cur:
        cur.execute("select count(*) from pg_stat_activity where datname = 'pretix' "
                    "and wait_event_type = 'Lock' and cardinality(pg_blocking_pids(pid)) > 0")
        return cur.fetchone()[0]


# ---------------------------------------------------------------- faults

def pids_of(pidfile: str) -> list[int]:
    with open(pidfile) as f:
        return [int(f.readline().strip())]


def pg_start():
    r = sh(f"runuser -u postgres -- {PG_BIN}/pg_ctl -D {D}/pg -w -t 60 "
           f"-o '-p {PG_PORT} -k /tmp -c listen_addresses=127.0.0.1' -l {D}/pg/pg.log start", 90)
    return r.returncode


def redis_start():
    return sh(f"redis-server --port {REDIS_PORT} --bind 127.0.0.1 --daemonize yes --pidfile {D}/redis.pid "
              f"--logfile {D}/redis.log --dir {D} --save ''").returncode


def gunicorn_kill():
    master = pids_of(f"{D}/gunicorn.pid")[0]
    kids = [int(p) for p in sh(f"pgrep -P {master}").stdout.split()]
    for p in [master] + kids:
        os.kill(p, 9)


class SlowDb:
    """A batch job holding pretixbase_order in EXCLUSIVE mode (reads pass, inserts wait) plus 100 ms of
    latency on pretix's PostgreSQL edge (toxic `latency` on the Toxiproxy proxy pretix__postgres)."""

    def inject(self):
        self.conn = pg_direct()
        self.cur = self.conn.cursor()
        self.cur.execute("LOCK TABLE pretixbase_order IN EXCLUSIVE MODE")  # open transaction, held
        httpx.post(f"{TOXI}/proxies/pretix__postgres/toxics",
                   json={"name": "latency", "type": "latency", "stream": "downstream",
                         "attributes": {"latency": 100}}).raise_for_status()

    def recover(self):
        with pg_direct() as c, c.cursor() as cur:
            cur.execute("select pg_terminate_backend(b) from pg_stat_activity, "
                        "unnest(pg_blocking_pids(pid)) b where datname = 'pretix'")
        httpx.delete(f"{TOXI}/proxies/pretix__postgres/toxics/latency")

    def cleanup(self):
        try:
            self.conn.close()
        except Exception:  # noqa: BLE001
            pass
        httpx.delete(f"{TOXI}/proxies/pretix__postgres/toxics/latency")
        with pg_direct() as c, c.cursor() as cur:
            cur.execute("select pg_terminate_backend(b) from pg_stat_activity, "
                        "unnest(pg_blocking_pids(pid)) b where datname = 'pretix'")


def fault_ops(fault: str):
    """(inject, detected(probe-sample) -> bool, detect probe fn, recover, heal-after-control)"""
    if fault == "pg_crash":
        def inject():
            os.kill(pids_of(f"{D}/pg/postmaster.pid")[0], 9)
        return inject, pg_isready, (lambda ok: ok is False), pg_start, pg_start
    if fault == "redis_down":
        def inject():
            os.kill(pids_of(f"{D}/redis.pid")[0], 9)
        return inject, redis_ping, (lambda ok: ok is False), redis_start, redis_start
    if fault == "service_down":
        def start():
            return sh(START_PRETIX).returncode
        return gunicorn_kill, health, (lambda v: v != 200), start, start
    if fault == "slow_db":
        s = SlowDb()
        return s.inject, lock_waiters, (lambda v: isinstance(v, int) and v > 0), s.recover, s.cleanup
    raise SystemExit(f"unknown fault {fault}")


# ---------------------------------------------------------------- ledger

def ledger(tag: str) -> set[str]:
    """The read-only ledger query on pretix's own tables: every order of this run (by code prefix)."""
    with pg_direct() as c, c.cursor() as cur:
        cur.execute(
            "select o.code from pretixbase_order o "
            "join pretixbase_event e on e.id = o.event_id "
            "join pretixbase_organizer g on g.id = e.organizer_id "
            "where g.slug = %s and e.slug = %s and o.code like %s",
            (ORG, EVENT, tag + "%"))
        return {r[0] for r in cur.fetchall()}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("fault", choices=sorted(TARGETS))
    ap.add_argument("--control", action="store_true")
    ap.add_argument("--warmup", type=float, default=5)
    ap.add_argument("--shoppers", type=int, default=2, help="concurrent order-creating clients")
    ap.add_argument("--hold", type=float, default=5, help="seconds between detection and recovery")
    ap.add_argument("--after", type=float, default=60, help="max seconds to wait for a write after recovery")
    a = ap.parse_args()
    tag = "".join(random.choice(string.ascii_uppercase.replace("I", "").replace("O", "")) for _ in range(3))
    inject, probe, is_detected, recover, heal = fault_ops(a.fault)

    load = Load(tag, a.shoppers)
    hs = Sampler(health)
    det = Sampler(probe)
    load.start()
    hs.start()
    det.start()
    time.sleep(a.warmup)

    t_inject = t()
    inject()
    t_detect = None
    while t() - t_inject < 60:
        hits = [s for s in det.samples if s[0] >= t_inject and is_detected(s[2])]
        if hits:
            t_detect = hits[0][0] + hits[0][1]
            break
        time.sleep(0.1)
    time.sleep(a.hold)
    t_recover = t()
    rc = None
    if not a.control:
        rc = recover()
    t_recovered = t()
    # judge: a write that started after the recovery step and succeeded
    t_ok = None
    while t() - t_recover < a.after:
        ok = [e for e in list(load.events) if e["start"] >= t_recovered and e["out"] == 201]
        if ok:
            t_ok = ok[0]["end"]
            break
        time.sleep(0.2)
    time.sleep(3)
    load.finish()
    hs.finish()
    det.finish()
    if a.control:
        heal()
        time.sleep(3)

    acked = {e["code"] for e in load.events if e["out"] == 201}
    in_db = ledger(tag)
    # every order request that overlapped the fault window [inject, end of the recovery step)
    during = [e for e in load.events if e["end"] >= t_inject and e["start"] < t_recovered]
    out_during: dict = {}
    for e in during:
        out_during[str(e["out"])] = out_during.get(str(e["out"]), 0) + 1
    health_during: dict = {}
    for s in hs.samples:
        if t_inject <= s[0] < t_recovered:
            health_during[str(s[2])] = health_during.get(str(s[2]), 0) + 1
    h_fail = [s for s in hs.samples if s[0] >= t_inject and s[2] != 200]
    h_back = [s for s in hs.samples if s[0] >= t_recovered and s[2] == 200]
    rto = round(t_ok - t_inject, 2) if t_ok else None
    mttd = round(t_detect - t_inject, 2) if t_detect else None
    tg = TARGETS[a.fault]
    rec = {
        "fault": a.fault, "control": a.control, "tag": tag, "recover_rc": rc,
        "mttd_s": mttd, "rto_s": rto,
        "write_after_recovery_s": round(t_ok - t_recovered, 2) if t_ok else None,
        "recovery_step_s": round(t_recovered - t_recover, 2),
        "health_first_non200_s": round(h_fail[0][0] - t_inject, 2) if h_fail else None,
        "health_200_again_after_recovery_s": round(h_back[0][0] - t_recovered, 2) if h_back else None,
        "health_during_fault": health_during,
        "orders_during_fault": out_during,
        "max_latency_during_fault_s": round(max([e["end"] - e["start"] for e in during], default=0), 2),
        "shoppers": a.shoppers,
        "orders_total": len(load.events), "acked": len(acked), "in_db": len(in_db),
        "lost_acknowledged_writes": sorted(acked - in_db),
        # committed, but the client never saw a 201: code -> what it saw instead
        "committed_unacknowledged": {e["code"]: e["out"] for e in load.events if e["code"] in in_db - acked},
        "checks": {
            "detected_within_mttd_target": mttd is not None and mttd <= tg["mttd_s"],
            "restored_within_rto_target": rto is not None and rto <= tg["rto_s"],
            "write_works_after_recovery": t_ok is not None,
            "no_lost_acknowledged_writes": not (acked - in_db),
        },
    }
    print(json.dumps(rec))


if __name__ == "__main__":
    main()
