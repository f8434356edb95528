"""`python -m stack.drivers.docker COMMAND [--config PATH]`: the docker stack by hand.

    engine     start the engine and the Compose plugin if needed, or say why they cannot work (exit 2)
    build      build the images (cached by the content of their inputs); print what was built or reused
    prepare    build, render <run_dir>/docker/, print the `docker compose` command for this run
    up         start the stack and stay up until Ctrl-C (then remove the containers)
    clean      remove the containers, networks and volumes labelled with this run's id (--all: any run)
    leftovers  list what carries this run's label (--all: any run's)
"""

from __future__ import annotations

import argparse
import logging
import shlex
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from aarya_chaos.errors import ChaosError
from stack.config import load_config

from .cleanup import leftovers, remove_labelled
from .driver import DockerDriver
from .engine import docker_client, ensure_all
from .images import build_images
from .runfiles import run_id_for


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stack.drivers.docker", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=("engine", "build", "prepare", "up", "clean", "leftovers"))
    parser.add_argument("--config", type=Path, default=None, help="aarya-chaos TOML config")
    parser.add_argument("--all", action="store_true", help="clean/leftovers: every aarya-chaos run")
    parser.add_argument("--fresh", action="store_true", help="up: drop the run's data first")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    try:
        config = load_config(args.config)
        run_id = None if args.all else run_id_for(config)
        if args.command == "engine":
            reason = ensure_all()
            print(reason or "docker engine and compose v2: usable")
            return 2 if reason else 0
        if args.command in ("clean", "leftovers"):
            found = remove_labelled(run_id) if args.command == "clean" else leftovers(run_id)
            print(f"{'removed' if args.command == 'clean' else 'found'}: {found.describe()}")
            return 0
        if args.command == "build":
            reason = ensure_all()
            if reason:
                print(reason, file=sys.stderr)
                return 2
            with docker_client() as client:
                result = build_images(client)
            print(result.summary())
            for name, tag in result.tags.items():
                print(f"  {name}: {tag}")
            return 0
        driver = DockerDriver(config, fresh=args.fresh)
        if args.command == "prepare":
            files = driver.prepare()
            files.write()
            print(shlex.join(files.compose_command("up", "--detach", "--wait")))
            return 0
        return _up(driver)
    except ChaosError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


def _up(driver: DockerDriver) -> int:
    done = threading.Event()

    def terminate(signum: int, frame: FrameType | None) -> None:
        done.set()

    signal.signal(signal.SIGTERM, terminate)
    driver.start()
    try:
        print(f"docker stack {driver.run_id} up in {driver.timings.get('stack_up_s', 0):.1f}s "
              f"(images: {driver.build_summary})")
        for name, endpoint in driver.endpoints().items():
            print(f"  {name:<22} {endpoint}")
        done.wait()
    except KeyboardInterrupt:
        pass
    finally:
        driver.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
