"""Start (and stop) the second platform, pretix, as local processes under one directory: a dev runner.

    python3 run_local.py start DIR [--toxiproxy] [--pg-port 26032] [--redis-port 26079] [--web-port 26080]
                                   [--toxiproxy-port 26474] [--pg-proxy-port 26033] [--redis-proxy-port 26078]
                                   [--venv /work/scratch-platform/venv] [--workers 3]
    python3 run_local.py stop DIR
    python3 run_local.py status DIR

`start` is idempotent: each part already running (its pid file names a live process, its port answers) is
left alone, and the setup (setup_pretix.py: migrate, organizer, event, item, quota, API token) changes
nothing the second time. Under DIR:

    pg/            PostgreSQL 15 cluster (initdb on first start; trust auth on 127.0.0.1; role + db `pretix`)
    redis/         redis-server's dir (no persistence: --save '' --appendonly no), redis.pid, redis.log
    data/          pretix's datadir (logs in data/logs/pretix.log)
    pretix.cfg     rendered from pretix.cfg.template
    secrets.env    PRETIX_SECRET and the 64-character API token, made once (mode 600)
    gunicorn.pid   gunicorn.log  access.log  toxiproxy.pid  toxiproxy.log  setup.log
    run.json       the ports this start used (`stop` and `status` read it)

With `--toxiproxy`, the project's toxiproxy-server (~/.cache/aarya-chaos/bin/toxiproxy-server; `--toxiproxy-bin`)
runs with the two edges as proxies, named as the target profile names them:
    pretix__postgres  127.0.0.1:<pg-proxy-port>    -> 127.0.0.1:<pg-port>
    pretix__redis     127.0.0.1:<redis-proxy-port> -> 127.0.0.1:<redis-port>
and pretix dials them (PRETIX_DATABASE_PORT, PRETIX_REDIS_LOCATION); the proxies exist before pretix starts.
setup_pretix.py always talks to PostgreSQL directly.

Every wait polls its condition against a deadline (no fixed sleeps). Needs: root or the postgres user (initdb,
pg_ctl run as `postgres` when started as root), postgresql-15, redis-server, the venv holding pretix and
gunicorn (README.md, "Install"). Stdlib only, so any python3 runs it.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import shutil
import signal
import socket
import string
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
PG_BIN = Path(os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin"))
DEFAULT_VENV = Path("/work/scratch-platform/venv")
DEFAULT_TOXIPROXY = Path.home() / ".cache/aarya-chaos/bin/toxiproxy-server"
TOKEN_ALPHABET = string.ascii_lowercase + string.digits


# --- small helpers ---------------------------------------------------------------------------------------

def say(message: str) -> None:
    print(message, flush=True)


def wait_for(what: str, check, deadline_s: float, interval_s: float = 0.2) -> None:
    """Poll `check()` until it is true, or fail with `what` after `deadline_s`."""
    deadline = time.monotonic() + deadline_s
    while True:
        try:
            done = bool(check())
        except Exception:  # noqa: BLE001 - a check that raises is a check that is not true yet
            done = False
        if done:
            return
        if time.monotonic() >= deadline:
            raise SystemExit(f"run_local: {what} not within {deadline_s:.0f} s")
        time.sleep(interval_s)


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def read_pid(path: Path) -> int | None:
    try:
        pid = int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return pid if alive(pid) else None


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie child of ours counts as gone
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        return state != "Z"
    except (OSError, IndexError):
        return True


def as_postgres(argv: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *argv] if os.geteuid() == 0 else argv


def run(argv: list[str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run(argv, check=True, **kw)


def http_get(url: str, timeout: float = 2.0) -> int:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def http_json(method: str, url: str, body: dict | None = None) -> tuple[int, object]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=3) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace")


def redis_pong(port: int) -> bool:
    with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
        s.sendall(b"PING\r\n")
        return s.recv(64).startswith(b"+PONG")


# --- the parts -------------------------------------------------------------------------------------------

def start_postgres(d: Path, port: int) -> None:
    pg = d / "pg"
    if not (pg / "PG_VERSION").exists():
        pg.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(pg, "postgres")
        say(f"postgres: initdb {pg}")
        run(as_postgres([str(PG_BIN / "initdb"), "-D", str(pg), "-U", "postgres", "--auth=trust", "-E", "UTF8"]),
            stdout=subprocess.DEVNULL)
    if read_pid(pg / "postmaster.pid") is None:
        say(f"postgres: starting on 127.0.0.1:{port}")
        # pg_ctl -W: do not wait; readiness is polled below with our own deadline
        run(as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(pg), "-l", str(pg / "pg.log"), "-W",
                         "-o", f"-p {port} -k /tmp -c listen_addresses=127.0.0.1", "start"]),
            stdout=subprocess.DEVNULL)
    wait_for(f"postgres on {port}", lambda: subprocess.run(
        [str(PG_BIN / "pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(port), "-U", "postgres"], check=False).returncode == 0, 60)
    psql = [str(PG_BIN / "psql"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "-qAtX", "-c"]
    have_role = subprocess.run([*psql, "select 1 from pg_roles where rolname = 'pretix'"],
                               capture_output=True, text=True, check=True).stdout.strip()
    if not have_role:
        run([*psql, "create user pretix password 'pretix'"])
    have_db = subprocess.run([*psql, "select 1 from pg_database where datname = 'pretix'"],
                             capture_output=True, text=True, check=True).stdout.strip()
    if not have_db:
        run([*psql, "create database pretix owner pretix"])


def start_redis(d: Path, port: int) -> None:
    rd = d / "redis"
    rd.mkdir(parents=True, exist_ok=True)
    if read_pid(rd / "redis.pid") is None:
        say(f"redis: starting on 127.0.0.1:{port}")
        run(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--daemonize", "yes",
             "--pidfile", str(rd / "redis.pid"), "--dir", str(rd), "--logfile", str(rd / "redis.log"),
             "--save", "", "--appendonly", "no"])
    wait_for(f"redis on {port}", lambda: redis_pong(port), 20)


def start_toxiproxy(d: Path, binary: Path, api_port: int, edges: dict[str, tuple[int, int]]) -> None:
    pidfile = d / "toxiproxy.pid"
    if read_pid(pidfile) is None:
        if not binary.exists():
            raise SystemExit(f"run_local: no toxiproxy-server at {binary} (--toxiproxy-bin)")
        say(f"toxiproxy: starting, API on 127.0.0.1:{api_port}")
        with open(d / "toxiproxy.log", "ab") as log:
            proc = subprocess.Popen([str(binary), "-host", "127.0.0.1", "-port", str(api_port)],
                                    stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    start_new_session=True)
        pidfile.write_text(f"{proc.pid}\n")
    api = f"http://127.0.0.1:{api_port}"
    wait_for(f"toxiproxy API on {api_port}", lambda: http_get(f"{api}/version") == 200, 20)
    for name, (listen, upstream) in edges.items():
        want = {"name": name, "listen": f"127.0.0.1:{listen}", "upstream": f"127.0.0.1:{upstream}", "enabled": True}
        status, _ = http_json("GET", f"{api}/proxies/{name}")
        if status == 200:  # there already: make it what we want (enabled, no toxics of a previous run kept)
            http_json("POST", f"{api}/proxies/{name}", want)
        else:
            status, answer = http_json("POST", f"{api}/proxies", want)
            if status not in (200, 201):
                raise SystemExit(f"run_local: toxiproxy refused proxy {name}: {status} {answer}")
        wait_for(f"proxy {name} on {listen}", lambda listen=listen: port_open(listen), 10)


def pretix_env(d: Path, ports: dict, toxiproxy: bool) -> dict[str, str]:
    values = dict(line.split("=", 1) for line in (d / "secrets.env").read_text().split())
    env = dict(os.environ, PRETIX_CONFIG_FILE=str(d / "pretix.cfg"), AARYA_API_TOKEN=values["AARYA_API_TOKEN"])
    # the edges: straight, or through the proxies (pretix.helpers.config: PRETIX_<SECTION>_<OPTION>)
    env["PRETIX_DATABASE_HOST"] = "127.0.0.1"
    env["PRETIX_DATABASE_PORT"] = str(ports["pg_proxy"] if toxiproxy else ports["pg"])
    env["PRETIX_REDIS_LOCATION"] = f"redis://127.0.0.1:{ports['redis_proxy'] if toxiproxy else ports['redis']}/0"
    return env


def configure_pretix(d: Path, ports: dict) -> None:
    (d / "data").mkdir(parents=True, exist_ok=True)
    secrets_file = d / "secrets.env"
    if not secrets_file.exists():
        token = "".join(secrets.choice(TOKEN_ALPHABET) for _ in range(64))
        secrets_file.write_text(f"PRETIX_SECRET={secrets.token_hex(32)}\nAARYA_API_TOKEN={token}\n")
        secrets_file.chmod(0o600)
    values = dict(line.split("=", 1) for line in secrets_file.read_text().split())
    fill = {
        "PRETIX_HOST": "127.0.0.1", "PRETIX_PORT": ports["web"], "PRETIX_DATA_DIR": d / "data",
        "PRETIX_SECRET": values["PRETIX_SECRET"], "PG_DB": "pretix", "PG_USER": "pretix", "PG_PASSWORD": "pretix",
        "PG_HOST": "127.0.0.1", "PG_PORT": ports["pg"], "REDIS_HOST": "127.0.0.1", "REDIS_PORT": ports["redis"],
        "MAIL_PORT": ports["mail"],
    }
    # as envsubst: ${NAME} of the names above; the template's comments mention ${...} too, left as they are
    text = re.sub(r"\$\{([A-Z_]+)\}", lambda m: str(fill.get(m.group(1), m.group(0))),
                  (HERE / "pretix.cfg.template").read_text())
    (d / "pretix.cfg").write_text(text)


def setup_pretix(d: Path, venv: Path, ports: dict) -> dict[str, str]:
    env = pretix_env(d, ports, toxiproxy=False)  # setup goes straight to the stores
    say("pretix: setup_pretix.py (migrate + fixtures; the first time takes minutes)")
    started = time.monotonic()
    with open(d / "setup.log", "ab") as log:
        out = subprocess.run([str(venv / "bin/python"), str(HERE / "setup_pretix.py")], env=env, cwd=d,
                             stdout=subprocess.PIPE, stderr=log, timeout=900, check=False)
    if out.returncode != 0:
        raise SystemExit(f"run_local: setup_pretix.py failed ({out.returncode}); see {d / 'setup.log'}")
    said = dict(line.split("=", 1) for line in out.stdout.decode().split() if "=" in line)
    say(f"pretix: setup done in {time.monotonic() - started:.1f} s")
    return said


def start_pretix(d: Path, venv: Path, ports: dict, toxiproxy: bool, workers: int) -> None:
    pidfile = d / "gunicorn.pid"
    if read_pid(pidfile) is None:
        if port_open(ports["web"]):
            raise SystemExit(f"run_local: port {ports['web']} is taken (a gunicorn still stopping?)")
        say(f"pretix: gunicorn, {workers} workers, on 127.0.0.1:{ports['web']}")
        run([str(venv / "bin/gunicorn"), "pretix.wsgi", "--name", "pretix", "--workers", str(workers),
             "--bind", f"127.0.0.1:{ports['web']}", "--timeout", "60", "--no-control-socket",
             "--access-logfile", str(d / "access.log"), "--error-logfile", str(d / "gunicorn.log"),
             "--pid", str(pidfile), "--daemon"], env=pretix_env(d, ports, toxiproxy), cwd=d)
    url = f"http://127.0.0.1:{ports['web']}/healthcheck/"
    wait_for(f"pretix {url} answering 200", lambda: http_get(url, timeout=3) == 200, 120, interval_s=0.5)


def stop_pid(name: str, pidfile: Path, deadline_s: float, sig: int = signal.SIGTERM) -> None:
    pid = read_pid(pidfile)
    if pid is None:
        say(f"{name}: not running")
        return
    say(f"{name}: stopping pid {pid}")
    os.kill(pid, sig)
    try:
        wait_for(f"{name} (pid {pid}) to exit", lambda: not alive(pid), deadline_s)
    except SystemExit:
        say(f"{name}: still there after {deadline_s:.0f} s, SIGKILL")
        os.kill(pid, signal.SIGKILL)
        wait_for(f"{name} (pid {pid}) to die", lambda: not alive(pid), 5)


# --- commands --------------------------------------------------------------------------------------------

def start(args: argparse.Namespace) -> None:
    d = Path(args.dir).resolve()
    d.mkdir(parents=True, exist_ok=True)
    ports = {"pg": args.pg_port, "redis": args.redis_port, "web": args.web_port, "mail": args.mail_port,
             "toxiproxy": args.toxiproxy_port, "pg_proxy": args.pg_proxy_port, "redis_proxy": args.redis_proxy_port}
    venv = Path(args.venv)
    if not (venv / "bin/gunicorn").exists():
        raise SystemExit(f"run_local: no gunicorn in {venv} (install: README.md)")
    started = time.monotonic()
    (d / "run.json").write_text(json.dumps({"ports": ports, "toxiproxy": args.toxiproxy}, indent=1))
    start_postgres(d, ports["pg"])
    start_redis(d, ports["redis"])
    if args.toxiproxy:
        start_toxiproxy(d, Path(args.toxiproxy_bin), ports["toxiproxy"],
                        {"pretix__postgres": (ports["pg_proxy"], ports["pg"]),
                         "pretix__redis": (ports["redis_proxy"], ports["redis"])})
    configure_pretix(d, ports)
    said = setup_pretix(d, venv, ports) if not args.no_setup else {}
    start_pretix(d, venv, ports, args.toxiproxy, args.workers)
    say(f"\nup in {time.monotonic() - started:.1f} s")
    say(f"pretix      http://127.0.0.1:{ports['web']}/  (health /healthcheck/)")
    say(f"postgres    postgresql://pretix@127.0.0.1:{ports['pg']}/pretix  (password pretix; superuser postgres, trust)")
    say(f"redis       redis://127.0.0.1:{ports['redis']}/0")
    if args.toxiproxy:
        say(f"toxiproxy   http://127.0.0.1:{ports['toxiproxy']}  pretix__postgres 127.0.0.1:{ports['pg_proxy']}, "
            f"pretix__redis 127.0.0.1:{ports['redis_proxy']}")
    say(f"organizer={said.get('organizer', 'aarya')} event={said.get('event', 'chaos')} "
        f"item={said.get('item', '?')}")
    say("for the locustfile and the profile:")
    say(f"  export PRETIX_API_TOKEN=$(sed -n 's/^AARYA_API_TOKEN=//p' {d / 'secrets.env'})")
    say(f"  export PRETIX_PG_DSN=postgresql://postgres@127.0.0.1:{ports['pg']}/pretix")


def stop(args: argparse.Namespace) -> None:
    d = Path(args.dir).resolve()
    run_json = d / "run.json"
    ports = json.loads(run_json.read_text())["ports"] if run_json.exists() else {"web": 26080}
    stop_pid("pretix (gunicorn master)", d / "gunicorn.pid", 30)
    # the master waits for its workers; the port is free once they are gone
    wait_for(f"port {ports['web']} free", lambda: not port_open(ports["web"]), 30)
    stop_pid("toxiproxy", d / "toxiproxy.pid", 10)
    stop_pid("redis", d / "redis" / "redis.pid", 10)
    pg = d / "pg"
    if read_pid(pg / "postmaster.pid") is not None:
        say("postgres: pg_ctl stop -m fast")
        run(as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(pg), "-m", "fast", "-W", "stop"]),
            stdout=subprocess.DEVNULL)
        wait_for("postgres to exit", lambda: read_pid(pg / "postmaster.pid") is None, 30)
    else:
        say("postgres: not running")


def status(args: argparse.Namespace) -> None:
    d = Path(args.dir).resolve()
    for name, pidfile in (("postgres", d / "pg/postmaster.pid"), ("redis", d / "redis/redis.pid"),
                          ("toxiproxy", d / "toxiproxy.pid"), ("pretix", d / "gunicorn.pid")):
        pid = read_pid(pidfile)
        say(f"{name:10} {'pid ' + str(pid) if pid else 'not running'}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("start")
    p.add_argument("dir")
    p.add_argument("--pg-port", type=int, default=26032)
    p.add_argument("--redis-port", type=int, default=26079)
    p.add_argument("--web-port", type=int, default=26080)
    p.add_argument("--mail-port", type=int, default=26025, help="pretix's SMTP setting (no mail is sent)")
    p.add_argument("--toxiproxy", action="store_true", help="put Toxiproxy in pretix's two edges")
    p.add_argument("--toxiproxy-port", type=int, default=26474)
    p.add_argument("--pg-proxy-port", type=int, default=26033)
    p.add_argument("--redis-proxy-port", type=int, default=26078)
    p.add_argument("--toxiproxy-bin", default=str(DEFAULT_TOXIPROXY))
    p.add_argument("--venv", default=str(DEFAULT_VENV), help="the venv holding pretix and gunicorn")
    p.add_argument("--workers", type=int, default=3)
    p.add_argument("--no-setup", action="store_true", help="skip setup_pretix.py (already done)")
    p.set_defaults(func=start)
    for name, func in (("stop", stop), ("status", status)):
        q = sub.add_parser(name)
        q.add_argument("dir")
        q.set_defaults(func=func)
    args = parser.parse_args(argv)
    args.func(args)


if __name__ == "__main__":
    main(sys.argv[1:])
