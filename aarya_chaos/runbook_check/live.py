"""The live stack, through the driver that started it (local, docker, or attach on a team's platform, which
adopts the run recorded in the run dir with the profile its run.json names): PostgreSQL, Redis, logs, a
scratch Redis."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

from aarya_chaos.errors import CapabilityUnsupported, ChaosError
from aarya_chaos.runbook_check.redis_grammar import RSpec, args_from_docs, reply_as_map
from aarya_chaos.runbook_check.scratch import RedisLink, ScratchRedis

if TYPE_CHECKING:
    from stack.config import StackConfig
    from stack.target.profile import TargetProfile
    from stack.drivers.base import StackDriver

ACCESS_LOG_BYTES = 4_000_000
# Lines a driver adds to a log that are not the component's: the local driver's `=== <time> starting X`
# at each start, and the note either driver returns in place of a log it cannot read.
DRIVER_NOTE = re.compile(r"^(=== |\(no logs?\b)")


class LiveStack:
    """The stack started by `aarya-chaos up`, adopted through its driver's attach()."""

    def __init__(self, driver: StackDriver) -> None:
        self.driver = driver
        self.config = driver.config
        self._redis: RedisLink | None = None
        self._specs: dict[str, tuple[RSpec | None, int]] = {}
        self.scratch: ScratchRedis | None = None
        self._mirrored = False
        self.running = {s.name: s.running for s in driver.status()}

    def close(self) -> None:
        if self._redis is not None:
            self._redis.close()
        if self.scratch is not None:
            self.scratch.stop()

    # -- PostgreSQL ----------------------------------------------------------------------------

    def pg_conninfo(self, database: str | None) -> str:
        return self.driver.admin_conninfo(database)

    # -- Redis ---------------------------------------------------------------------------------

    def redis(self) -> RedisLink:
        if self._redis is None:
            self._redis = RedisLink.of_client(self.driver.redis())
        return self._redis

    def redis_spec(self, words: Sequence[str]) -> tuple[RSpec | None, int]:
        """The spec of the command at the start of `words` (and how many words name it), from the server."""
        name = words[0].lower()
        key = name + ("|" + words[1].lower() if len(words) > 1 else "")
        if key in self._specs:
            return self._specs[key]
        info = self.redis().call("COMMAND", "INFO", name)
        entry = info[0] if isinstance(info, list) and info else None
        if entry is None:
            self._specs[key] = (None, 1)
            return None, 1
        subcommands = entry[9] if len(entry) > 9 else []
        full, used = name, 1
        if subcommands:
            if len(words) < 2:
                spec = RSpec(name.upper(), int(entry[1]), frozenset(entry[2]), None, container=True)
                self._specs[key] = (spec, 1)
                return spec, 1
            full, used = f"{name}|{words[1].lower()}", 2
            sub = self.redis().call("COMMAND", "INFO", full)
            entry = sub[0] if isinstance(sub, list) and sub else None
            if entry is None:
                self._specs[key] = (None, 2)
                return None, 2
        docs = reply_as_map(self.redis().call("COMMAND", "DOCS", full)).get(full)
        doc = reply_as_map(docs) if docs is not None else {}
        args = args_from_docs(doc.get("arguments")) if doc else None
        spec = RSpec(full.replace("|", " ").upper(), int(entry[1]), frozenset(entry[2]), args,
                     frozenset(entry[6]) if len(entry) > 6 else frozenset())
        self._specs[key] = (spec, used)
        return spec, used

    def scratch_redis(self) -> ScratchRedis:
        """Started on first use; the live streams and their consumer groups are mirrored (empty)."""
        if self.scratch is None:
            self.scratch = ScratchRedis(scratch_redis_binary(self.config))
        if not self._mirrored:
            self._mirrored = True
            try:
                for stream in self.streams()[:100]:
                    for group in self.redis().call("XINFO", "GROUPS", stream):
                        name = reply_as_map(group).get("name")
                        if name:
                            self.scratch.link.call("XGROUP", "CREATE", stream, str(name), "0", "MKSTREAM")
            except Exception:
                pass  # a mirror is a convenience: without it the scratch run reports NOGROUP
        return self.scratch

    def streams(self) -> list[str]:
        cursor, found = "0", []
        for _ in range(100):
            cursor, keys = self.redis().call("SCAN", cursor, "TYPE", "stream", "COUNT", "1000")
            found += keys
            if cursor == "0":
                break
        return sorted(set(found))

    # -- logs ----------------------------------------------------------------------------------

    def log_sample(self, component: str, lines: int) -> list[str]:
        """The last lines of a component's log; the gateway's is its access log."""
        if component == "api_gateway":
            text = self._access_log(lines)
        else:
            text = self.driver.logs(component, lines)
        return [line for line in text.splitlines() if not DRIVER_NOTE.match(line)]

    def _access_log(self, lines: int) -> str:
        from stack.logtail import tail

        try:
            path = self.driver.gateway_files().access_log
        except CapabilityUnsupported:  # a team's gateway (attach): no access log the driver knows
            return ""
        return tail(path, lines, max_bytes=ACCESS_LOG_BYTES) if path.exists() else ""


def scratch_redis_binary(config: StackConfig) -> str:
    """This machine's redis-server (the docker stack's runs in a container: the scratch one needs our own)."""
    from stack.binaries import find_binaries

    return str(find_binaries(config.tools_dir, install=False).redis_server)


def attach_live(config: StackConfig, driver_name: str | None = None,
                profile: TargetProfile | None = None) -> tuple[LiveStack | None, str]:
    """The running stack of `config` on the driver named (None: the one recorded in the run dir), or (None, why
    not). With a target `profile`, only a run attached with that profile."""
    from stack.drivers.registry import DEFAULT_DRIVER, TARGET_DRIVERS, make_driver, recorded_driver

    recorded = recorded_driver(config)
    name = driver_name or recorded or DEFAULT_DRIVER
    if name in TARGET_DRIVERS and recorded != name:  # it is made from the run it adopts: there is none
        return None, f"no {name} run recorded in {config.run_dir} (attach with `aarya-chaos --target PROFILE up`)"
    try:
        driver = make_driver(config, name, profile=profile, install=False)
    except ChaosError as exc:
        return None, f"cannot drive the {name} stack: {exc}"
    try:
        if driver.attach() is None:
            return None, f"no stack recorded in {config.run_dir} (start one with `aarya-chaos up`)"
    except ChaosError as exc:  # a run recorded for another target profile
        return None, str(exc)
    live = LiveStack(driver)
    if not any(live.running.values()):
        return None, f"the stack recorded in {config.run_dir} is not running (crashed run? `aarya-chaos down`)"
    return live, ""


def container_map(config: StackConfig) -> dict[str, str]:
    """Container name (as the runbook writes it) -> component of the stack."""
    mapping = {config.postgres.container: "postgres", config.redis.container: "redis",
               config.gateway.container: "api_gateway", config.toxiproxy.container: "toxiproxy"}
    for name, service in config.services.items():
        mapping[service.container or f"aarya_{name}"] = name
    return mapping
