"""A runner to be killed: it starts a stack, puts load on it, takes one fault to a phase, says so, and waits.

    python -m tests.crash_drill --config TOML --driver local --fault pause --phase fault --out DIR

Phases: `steady` (load running, nothing injected), `fault` (the fault injected and landed), `recovery` (the
fault injected, then its recovery started: the word `ready` is written just before the recovery's first
step, so a SIGKILL sent on it lands while the recovery is under way). tests/integration/test_crash_safety.py
SIGKILLs this process at that moment and checks that `aarya-chaos heal` and `aarya-chaos down` leave nothing
of the run, and that PostgreSQL still holds every order acknowledged before the kill (the history in
`<out>/history`, written line by line by the load's own processes).

The faults are the suite's own (fixtures/faults), entered and never left: this process is killed inside them.
"""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

import httpx

from fixtures.faults.base import applied
from fixtures.faults.disk import WalDiskFull, wal_on_small_disk
from fixtures.faults.memory import MemoryLimitOOM
from fixtures.faults.network import LinkDown, LinkToxic
from fixtures.faults.process import ProcessKill, ProcessPause
from fixtures.faults.release import BadRelease
from fixtures.recover.attack import add_deny, remove_denies
from fixtures.recover.restore import recover, take_backup
from load.history import pair_ops, read_records
from load.runner import LoadProfile, LoadRun
from stack import runs
from stack.config import load_config
from stack.drivers.registry import make_driver
from stack.drivers.base import StackDriver
from stack.shoppers import register_shopper
from stack.waits import wait_until

ACKNOWLEDGED_BEFORE_INJECTING = 10
OUTSIDE = "127.0.0.66"
MiB = 1 << 20

Step = Callable[[StackDriver, ExitStack], None]


def acknowledged_checkouts(history: Path) -> int:
    files = sorted(history.glob("*.jsonl"))
    return sum(1 for op in pair_ops(read_records(files)) if op.f == "checkout" and op.outcome == "ok")


# -- each fault: how it is brought to "active", and the first step of its recovery -----------------------------


def kill_inject(stack: StackDriver, faults: ExitStack) -> None:
    faults.enter_context(applied(ProcessKill(stack, "commerce")))


def kill_recover(stack: StackDriver, faults: ExitStack) -> None:
    stack.restart("commerce")


def oom_inject(stack: StackDriver, faults: ExitStack) -> None:
    stack.restart("core_platform")  # a fresh process grows under the limit (see scenarios/test_core_platform_oom.py)
    with httpx.Client(base_url=f"{stack.config.gateway_url}/api/v1", timeout=10) as client:
        shopper = register_shopper(client, "drill", "drill password")

    def logins() -> None:
        with httpx.Client(base_url=f"{stack.config.gateway_url}/api/v1", timeout=10) as client:
            for _ in range(5):
                for _ in range(16):
                    try:
                        client.post("/auth/login", json={"email": shopper.email, "password": shopper.password})
                    except httpx.HTTPError:
                        return

    faults.enter_context(applied(MemoryLimitOOM(stack, "core_platform", 8 * MiB, pressure=logins)))


def oom_recover(stack: StackDriver, faults: ExitStack) -> None:
    stack.limit_memory("core_platform", 512 * MiB)
    stack.restart("core_platform")


def tmpfs_inject(stack: StackDriver, faults: ExitStack) -> None:
    files = stack.postgres_files()
    setup = faults.enter_context(wal_on_small_disk(stack, files.pgdata, 64 * MiB, owner=(files.uid, files.gid)))
    faults.enter_context(applied(WalDiskFull(stack, setup.pg_wal, files.wal_archive,
                                             allowed_roots=setup.allowed_roots)))


def tmpfs_recover(stack: StackDriver, faults: ExitStack) -> None:
    faults.close()  # the runbook's: free space on the WAL's disk, then PostgreSQL restarts


def toxics_inject(stack: StackDriver, faults: ExitStack) -> None:
    faults.enter_context(applied(LinkToxic(stack, "commerce__postgres", "latency", {"latency": 800})))
    faults.enter_context(applied(LinkDown(stack, "gateway__search_recommendation")))


def toxics_recover(stack: StackDriver, faults: ExitStack) -> None:
    faults.close()


def pause_inject(stack: StackDriver, faults: ExitStack) -> None:
    faults.enter_context(applied(ProcessPause(stack, "commerce")))


def pause_recover(stack: StackDriver, faults: ExitStack) -> None:
    faults.close()


def deny_inject(stack: StackDriver, faults: ExitStack) -> None:
    add_deny(stack, OUTSIDE)


def deny_recover(stack: StackDriver, faults: ExitStack) -> None:
    remove_denies(stack, [OUTSIDE])


def instance_inject(stack: StackDriver, faults: ExitStack) -> None:
    stack.start_instance("content_services", "drill", {"CONSUMER_NAME": "cs-drill"})


def instance_recover(stack: StackDriver, faults: ExitStack) -> None:
    stack.stop_instance("drill")


def release_inject(stack: StackDriver, faults: ExitStack) -> None:
    faults.enter_context(applied(BadRelease(stack, "commerce")))


def release_recover(stack: StackDriver, faults: ExitStack) -> None:
    stack.deploy("commerce", "v1")


def restore_inject(stack: StackDriver, faults: ExitStack) -> None:
    take_backup(stack)


def restore_recover(stack: StackDriver, faults: ExitStack) -> None:
    recover(stack)  # the latest base backup and every archived WAL segment after it


def all_inject(stack: StackDriver, faults: ExitStack) -> None:
    """Every kind at once, each on its own target (the docker matrix's one "fault active" case): a backup
    taken first (the disk fault takes PostgreSQL down), the WAL disk filled last."""
    restore_inject(stack, faults)
    release_inject(stack, faults)  # commerce on the bad release
    faults.enter_context(applied(ProcessKill(stack, "payment")))
    faults.enter_context(applied(ProcessPause(stack, "event_compactor")))
    oom_inject(stack, faults)
    toxics_inject(stack, faults)
    deny_inject(stack, faults)
    instance_inject(stack, faults)
    tmpfs_inject(stack, faults)


def all_recover(stack: StackDriver, faults: ExitStack) -> None:
    faults.close()


FAULTS: dict[str, tuple[Step, Step]] = {
    "kill": (kill_inject, kill_recover),
    "oom": (oom_inject, oom_recover),
    "tmpfs": (tmpfs_inject, tmpfs_recover),
    "toxics": (toxics_inject, toxics_recover),
    "pause": (pause_inject, pause_recover),
    "deny": (deny_inject, deny_recover),
    "instance": (instance_inject, instance_recover),
    "release": (release_inject, release_recover),
    "restore": (restore_inject, restore_recover),
}
PHASES = ("steady", "fault", "recovery")


def say(ready: Path, word: str) -> None:
    ready.write_text(word)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="crash_drill")
    parser.add_argument("--config", type=Path, required=True)
    parser.add_argument("--driver", choices=("local", "docker"), default="local")
    parser.add_argument("--fault", choices=sorted([*FAULTS, "all"]), default="kill")
    parser.add_argument("--phase", choices=PHASES, default="steady")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    runs.set_kind("crash-drill")
    config = load_config(args.config)
    ready = args.out / "ready"
    stack = make_driver(config, args.driver, fresh=True)
    stack.start()
    load = LoadRun(f"{config.gateway_url}/api/v1", args.out / "history",
                   LoadProfile(users=2, writers=2, writer_pacing_s=0.2, wait_min_s=0.1, wait_max_s=0.3,
                               max_duration_s=600), output_dir=args.out / "load")
    load.start()
    wait_until("load", str(args.out / "history"),
               lambda: acknowledged_checkouts(args.out / "history") >= ACKNOWLEDGED_BEFORE_INJECTING, timeout_s=60)
    inject, recover_step = (all_inject, all_recover) if args.fault == "all" else FAULTS[args.fault]
    with ExitStack() as faults:
        if args.phase != "steady":
            inject(stack, faults)
        if args.phase == "recovery":
            say(ready, "ready")
            recover_step(stack, faults)
            say(ready, "recovered")  # the kill came too late if the test ever reads this
        else:
            say(ready, "ready")
        signal.pause()  # the test SIGKILLs us here (or during the recovery above)
    return 0


if __name__ == "__main__":
    sys.exit(main())
