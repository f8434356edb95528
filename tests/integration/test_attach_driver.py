"""The attach driver live, on pretix (examples/second-platform): a team's compose project the test starts under
a project name of its own, attached to, faulted through its proxies, and detached from.

Images: the project's base, postgres, redis and toxiproxy images (stack/drivers/docker/images.py, cached by
their inputs), and pretix from examples/second-platform/Dockerfile FROM the same base, through the same
builder (cached the same way). Ports: 127.0.0.1:26100-26199 only. Skips with the reason when no Docker engine
can be started. The project is the test's own, so it is removed whole at the end (`down -v` of THAT
project); what the driver itself removes is only what carries the run's label, which the last test checks.

Timings are written to <run dir>/timings.json and printed (run with -s to see them).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from stack.drivers.base import Capability
from stack.target.load import load_profile
from stack.waits import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.docker, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "second-platform"
PORTS = {"PRETIX_PORT_POSTGRES": 26132, "PRETIX_PORT_REDIS": 26179, "PRETIX_PORT_WEB": 26180}
API_PORT = 26174
PROFILE_PORTS = {"26032": "26132", "26079": "26179", "26080": "26180"}
UP_TIMEOUT_S = 600
READY_S = 180.0
TIMINGS: dict[str, float] = {}


def _pretix_image(client: Any) -> str:
    """pretix's image FROM the base, by the project's builder (cached by the hash of its inputs)."""
    from stack.drivers.docker import images

    @dataclass(frozen=True)
    class ExampleImage(images.ImageSpec):
        source: Path = EXAMPLE / "Dockerfile"

        @property
        def dockerfile(self) -> Path:
            return self.source

    spec = ExampleImage("pretix", files=(("pretix.cfg.template", EXAMPLE / "pretix.cfg.template"),
                                         ("setup_pretix.py", EXAMPLE / "setup_pretix.py")),
                        extra=images._host_ca_certificates)
    started = time.monotonic()
    built = images.build_images(client, ["postgres", "redis", "toxiproxy"])
    TIMINGS["images_base_postgres_redis_toxiproxy_s"] = time.monotonic() - started
    base = client.images.get(images.BASE_IMAGE)
    report = images.build_image(client, spec, str(base.id))
    TIMINGS[f"image_pretix_{report.action}_s"] = report.seconds
    assert built.tags
    return report.tag


def _profile(tmp: Path) -> Path:
    """pretix.toml on the test's ports, its locustfile and compose file by absolute path."""
    text = (EXAMPLE / "pretix.toml").read_text()
    for old, new in [*PROFILE_PORTS.items(),
                     ('locustfile = "locustfile.py"', f'locustfile = "{EXAMPLE / "locustfile.py"}"'),
                     ('file = "docker-compose.yml"', f'file = "{EXAMPLE / "docker-compose.yml"}"')]:
        text = text.replace(old, new)
    path = tmp / "pretix-test.toml"
    path.write_text(text)
    return path


@dataclass
class Attached:
    driver: Any
    project: str
    env: dict[str, str]
    client: Any


@pytest.fixture(scope="module")
def attached(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Attached]:
    from stack.drivers.attach.driver import AttachDriver
    from stack.drivers.docker.engine import docker_client, ensure_all

    reason = ensure_all()
    if reason is not None:
        pytest.skip(f"no usable Docker engine: {reason}")
    client = docker_client(timeout_s=1900)
    tmp = tmp_path_factory.mktemp("attach")
    image = _pretix_image(client)
    project = f"aarya-attach-test-{uuid.uuid4().hex[:8]}"
    compose_env = {**os.environ, **{k: str(v) for k, v in PORTS.items()}, "PRETIX_IMAGE": image,
                   "AARYA_API_TOKEN": uuid.uuid4().hex * 2, "AARYA_RESTART": "no", "PRETIX_PROJECT": project}
    team = ["docker", "compose", "-f", str(EXAMPLE / "docker-compose.yml"), "-p", project]
    try:
        started = time.monotonic()
        subprocess.run([*team, "up", "-d", "--wait"], env=compose_env, check=True, capture_output=True, text=True,
                       timeout=UP_TIMEOUT_S)
        TIMINGS["team_project_up_s"] = time.monotonic() - started
        environ = {**compose_env, "PRETIX_PG_DSN": f"postgresql://pretix:pretix@127.0.0.1:{PORTS['PRETIX_PORT_POSTGRES']}/pretix"}
        driver = AttachDriver(load_profile(_profile(tmp)), tmp / "run", project=project, api_port=API_PORT,
                              environ=environ, ready_timeout_s=READY_S)
        started = time.monotonic()
        driver.start()
        TIMINGS["attach_s"] = time.monotonic() - started
        try:
            yield Attached(driver, project, compose_env, client)
        finally:
            driver.stop()
    except subprocess.CalledProcessError as exc:
        pytest.fail(f"the team's project did not come up: {exc.stderr[-3000:]}")
    finally:
        subprocess.run([*team, "down", "-v", "--remove-orphans"], env=compose_env, check=False, capture_output=True,
                       timeout=300)
        (tmp / "timings.json").write_text(json.dumps(TIMINGS, indent=2))
        print("attach driver timings:", json.dumps({k: round(v, 1) for k, v in TIMINGS.items()}))
        client.close()


def _health(url: str = f"http://127.0.0.1:{PORTS['PRETIX_PORT_WEB']}/healthcheck/") -> int:
    try:
        return httpx.get(url, timeout=10).status_code
    except httpx.HTTPError:
        return 0


def _env_of(attached: Attached, service: str) -> dict[str, str]:
    container = attached.driver._container(service)
    return dict(item.split("=", 1) for item in container.attrs["Config"]["Env"])


def test_the_proxies_carry_pretixs_edges(attached: Attached) -> None:
    from fixtures.faults.network import LinkDown

    driver = attached.driver
    with driver.toxiproxy() as proxy:
        proxies = proxy.proxies()
    assert {name: p.upstream for name, p in proxies.items()} == {"pretix__postgres": "postgres:5432",
                                                                 "pretix__redis": "redis:6379"}
    env = _env_of(attached, "pretix")
    assert env["PG_ADDRESS"] == "aarya-toxiproxy:21000"
    assert env["PRETIX_REDIS_LOCATION"] == "redis://aarya-toxiproxy:21001/0"
    assert _health() == 200

    fault = LinkDown(driver, "pretix__postgres")
    fault.inject()
    try:
        assert fault.landed() is not None
        started = time.monotonic()
        wait_until("pretix", "/healthcheck/ failing", lambda: _health() not in (0, 200), timeout_s=30)
        TIMINGS["link_down_to_health_failing_s"] = time.monotonic() - started
    finally:
        fault.heal()
    started = time.monotonic()
    wait_until("pretix", "/healthcheck/ passing", lambda: _health() == 200, timeout_s=60)
    TIMINGS["heal_to_health_passing_s"] = time.monotonic() - started


def test_kill_and_restart_of_pretix_through_the_driver(attached: Attached) -> None:
    driver = attached.driver
    since = len(driver.events())
    before = driver._container("pretix").id
    started = time.monotonic()
    driver.kill("pretix", signal.SIGKILL)
    wait_until("pretix", "exit after SIGKILL", lambda: not {s.name: s.running for s in driver.status()}["pretix"],
               timeout_s=30)
    wait_until("pretix", "an exit event", lambda: any(
        e.component == "pretix" and e.kind == "exited" and e.exit_code == 137 for e in driver.events()[since:]),
        timeout_s=30)
    TIMINGS["kill_to_exited_s"] = time.monotonic() - started
    started = time.monotonic()
    driver.restart("pretix")
    TIMINGS["restart_to_ready_s"] = time.monotonic() - started
    assert driver._container("pretix").id == before  # the team's own container, started again, not recreated
    assert _health() == 200


def test_stores_logs_and_exec(attached: Attached) -> None:
    driver = attached.driver
    assert driver.sql("SELECT count(*) FROM pretixbase_organizer")[0][0] >= 1
    assert driver.redis().ping()
    assert driver.pg_isready()[0] == 0
    code, out = driver.redis_cli("PING")
    assert code == 0 and "PONG" in out
    assert driver.exec("pretix", ["true"])[0] == 0 and driver.exec("pretix", ["false"])[0] != 0
    assert driver.grep_logs("pretix", r"GET /healthcheck/")
    statuses = {s.name: s for s in driver.status(probe=True)}
    assert set(statuses) == {"pretix", "postgres", "redis", "toxiproxy"}
    assert all(s.running and s.ready for s in statuses.values()), statuses


def test_what_the_team_does_not_give_is_refused_with_the_reason(attached: Attached) -> None:
    from stack.drivers.attach.driver import AttachUnsupported

    driver = attached.driver
    reason = driver.unsupported(Capability.MEMORY_LIMITS)
    assert reason and "memory" in reason
    for call in (lambda: driver.limit_memory("pretix", 64 << 20), driver.postgres_files, driver.gateway_files,
                 lambda: driver.deploy("pretix", "v2"), lambda: driver.start_instance("pretix", "b", {})):
        with pytest.raises(AttachUnsupported):
            call()
    assert driver.scaling_note().strip()


def test_down_keeps_the_teams_volume_and_leaves_nothing_labelled(attached: Attached) -> None:
    driver = attached.driver
    driver.sql("CREATE TABLE IF NOT EXISTS team_marker (v text); INSERT INTO team_marker VALUES ('kept')")
    volumes_before = {v.name for v in attached.client.volumes.list(
        filters={"label": f"com.docker.compose.project={attached.project}"})}
    assert f"{attached.project}_pretix_pgdata" in volumes_before
    started = time.monotonic()
    driver.down(volumes=True)
    TIMINGS["detach_s"] = time.monotonic() - started
    assert driver.leftovers() == []
    assert attached.client.containers.list(all=True, filters={"label": f"io.aarya-chaos.run={driver.run_id}"}) == []
    volumes_after = {v.name for v in attached.client.volumes.list(
        filters={"label": f"com.docker.compose.project={attached.project}"})}
    assert volumes_after == volumes_before
    env = _env_of(attached, "pretix")
    assert env["PG_ADDRESS"] == "postgres:5432" and env["PRETIX_REDIS_LOCATION"] == "redis://redis:6379/0"
    dsn = f"postgresql://pretix:pretix@127.0.0.1:{PORTS['PRETIX_PORT_POSTGRES']}/pretix"
    with psycopg.connect(dsn) as conn:
        assert conn.execute("SELECT v FROM team_marker").fetchall() == [("kept",)]
    wait_until("pretix", "/healthcheck/ passing without the proxy", lambda: _health() == 200, timeout_s=READY_S)
    assert {c.labels.get("com.docker.compose.service") for c in attached.client.containers.list(
        filters={"label": f"com.docker.compose.project={attached.project}"})} == {"pretix", "postgres", "redis"}


# -- the command line: aarya-chaos --target PROFILE up / status / heal / runs / down (after the driver's own
# detach above, on the same project: pretix is up again without the proxy) --------------------------------

CLI_API_PORT = 26175


def _cli_env(attached: Attached, tmp: Path) -> dict[str, str]:
    """The team file's variables (ports, image, project: the attach commands interpolate it as the team
    does), the store's DSN, and a run dir, config and registry of the test's own."""
    config = tmp / "aarya-chaos.toml"
    config.write_text(f'run_dir = "{tmp / "run"}"\n\n[toxiproxy]\nport = {CLI_API_PORT}\n')
    env = {**attached.env, "AARYA_CONFIG": str(config), "AARYA_RUNS_DIR": str(tmp / "runs"),
           "PRETIX_PG_DSN": f"postgresql://pretix:pretix@127.0.0.1:{PORTS['PRETIX_PORT_POSTGRES']}/pretix"}
    env.pop("AARYA_RUN_DIR", None)
    env.pop("AARYA_CHAOS_OWNER", None)
    return env


def _cli(env: dict[str, str], tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "aarya_chaos.cli", *args], env=env, cwd=tmp, capture_output=True,
                          text=True, timeout=300, check=False)


def _cli_up(env: dict[str, str], tmp: Path, profile: Path, *extra: str) -> subprocess.Popen[str]:
    """`aarya-chaos --target PROFILE up` in the background, once it says the stack is ready (attached: the
    proxy up, the rewired clients recreated and ready)."""
    log = tmp / "up.log"
    with log.open("w") as out:
        up = subprocess.Popen([sys.executable, "-m", "aarya_chaos.cli", "--target", str(profile), "up", *extra], env=env,
                              cwd=tmp, stdout=out, stderr=subprocess.STDOUT, text=True)
    wait_until("aarya-chaos up --target", "stack ready",
               lambda: up.poll() is not None or "stack ready" in log.read_text(), timeout_s=READY_S)
    assert up.poll() is None, log.read_text()[-3000:]
    return up


def _detached(attached: Attached, run_id: str) -> None:
    env = _env_of(attached, "pretix")
    assert env["PG_ADDRESS"] == "postgres:5432" and env["PRETIX_REDIS_LOCATION"] == "redis://redis:6379/0"
    assert attached.client.containers.list(all=True, filters={"label": f"io.aarya-chaos.run={run_id}"}) == []
    assert {c.labels.get("com.docker.compose.service") for c in attached.client.containers.list(
        all=True, filters={"label": f"com.docker.compose.project={attached.project}"})} == {"pretix", "postgres", "redis"}


def test_the_command_line_attaches_reports_and_detaches(attached: Attached, tmp_path: Path) -> None:
    from stack.runs import run_id_for

    profile = tmp_path / "pretix-cli.toml"  # the test's project and its containers' names
    profile.write_text(_profile(tmp_path).read_text().replace("aarya-second-platform", attached.project))
    env, run_id = _cli_env(attached, tmp_path), run_id_for(tmp_path / "run")
    wait_until("pretix", "/healthcheck/ passing", lambda: _health() == 200, timeout_s=READY_S)
    started = time.monotonic()
    up = _cli_up(env, tmp_path, profile)
    TIMINGS["cli_up_to_ready_s"] = time.monotonic() - started
    try:
        assert _env_of(attached, "pretix")["PG_ADDRESS"] == "aarya-toxiproxy:21000"
        status = _cli(env, tmp_path, "--target", str(profile), "status")
        assert status.returncode == 0 and "toxiproxy" in status.stdout and "pretix" in status.stdout, status.stdout
        # --run: only this run (without it, heal also clears cgroups and mounts no run of ITS registry owns)
        heal = _cli(env, tmp_path, "--target", str(profile), "heal", "--run", str(tmp_path / "run"))
        assert heal.returncode == 0 and "attach: every proxy enabled, every toxic removed" in heal.stdout, heal.stdout
        listed = _cli(env, tmp_path, "runs").stdout
        assert any(line.startswith("running") and " attach " in line and str(tmp_path / "run") in line
                   for line in listed.splitlines()), listed
        started = time.monotonic()
        down = _cli(env, tmp_path, "--target", str(profile), "down")
        TIMINGS["cli_down_s"] = time.monotonic() - started
        assert down.returncode == 0 and f"stopped the stack in {tmp_path / 'run'}" in down.stdout, down.stdout
        assert up.wait(timeout=30) == 0
    finally:
        if up.poll() is None:
            up.terminate()
            up.wait(timeout=60)
    _detached(attached, run_id)
    assert _cli(env, tmp_path, "runs").stdout.startswith("no runs recorded")


def test_a_crashed_command_line_run_is_found_and_detached_by_down(attached: Attached, tmp_path: Path) -> None:
    """`up --target` killed with SIGKILL: `runs` lists it dead, `down` without --target detaches it (the
    driver from the profile its run.json names), and nothing of the team's is removed."""
    from stack.runs import run_id_for

    profile = tmp_path / "pretix-cli.toml"
    profile.write_text(_profile(tmp_path).read_text().replace("aarya-second-platform", attached.project))
    env, run_id = _cli_env(attached, tmp_path), run_id_for(tmp_path / "run")
    wait_until("pretix", "/healthcheck/ passing", lambda: _health() == 200, timeout_s=READY_S)
    up = _cli_up(env, tmp_path, profile)
    up.kill()
    up.wait(timeout=30)
    listed = _cli(env, tmp_path, "runs").stdout
    assert any(line.startswith("dead") and " attach " in line for line in listed.splitlines()), listed
    started = time.monotonic()
    down = _cli(env, tmp_path, "down")
    TIMINGS["cli_down_after_crash_s"] = time.monotonic() - started
    assert down.returncode == 0 and f"attach: detached run {run_id} from project {attached.project}" in down.stdout, \
        down.stdout + down.stderr
    _detached(attached, run_id)
    assert _cli(env, tmp_path, "runs").stdout.startswith("no runs recorded")
    wait_until("pretix", "/healthcheck/ passing without the proxy", lambda: _health() == 200, timeout_s=READY_S)


def test_up_start_platform_starts_the_teams_project_and_down_only_stops_it(attached: Attached, tmp_path: Path) -> None:
    """`up --start-platform` on a stopped project: the suite starts it (the proxy in its path), and `down`
    stops it again: its containers and volume stay, nothing labelled is left."""
    from stack.runs import run_id_for

    profile = tmp_path / "pretix-cli.toml"
    profile.write_text(_profile(tmp_path).read_text().replace("aarya-second-platform", attached.project))
    env, run_id = _cli_env(attached, tmp_path), run_id_for(tmp_path / "run")
    team = ["docker", "compose", "-f", str(EXAMPLE / "docker-compose.yml"), "-p", attached.project]
    subprocess.run([*team, "stop"], env=attached.env, check=True, capture_output=True, text=True, timeout=120)
    assert _health() == 0
    refused = _cli(env, tmp_path, "--target", str(profile), "up")  # not told to start it: nothing runs
    assert refused.returncode == 2 and "does not match the platform" in refused.stderr, refused.stdout + refused.stderr
    started = time.monotonic()
    up = _cli_up(env, tmp_path, profile, "--start-platform")
    TIMINGS["cli_up_start_platform_s"] = time.monotonic() - started
    try:
        assert _env_of(attached, "pretix")["PG_ADDRESS"] == "aarya-toxiproxy:21000"
        assert _health() == 200
        down = _cli(env, tmp_path, "--target", str(profile), "down")
        assert down.returncode == 0, down.stdout + down.stderr
        assert up.wait(timeout=60) == 0
    finally:
        if up.poll() is None:
            up.terminate()
            up.wait(timeout=60)
    containers = attached.client.containers.list(all=True, filters={"label": f"com.docker.compose.project={attached.project}"})
    assert {c.labels.get("com.docker.compose.service"): c.status for c in containers} == \
        {"pretix": "exited", "postgres": "exited", "redis": "exited"}
    assert attached.client.containers.list(all=True, filters={"label": f"io.aarya-chaos.run={run_id}"}) == []
    assert f"{attached.project}_pretix_pgdata" in {v.name for v in attached.client.volumes.list()}
    assert _cli(env, tmp_path, "runs").stdout.startswith("no runs recorded")
