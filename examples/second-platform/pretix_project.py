"""pretix as a team's compose platform, for the suite's attach driver: build its images (the project's base,
PostgreSQL and Redis images, and pretix FROM the same base, all through the project's cached builder),
start the compose project, print the environment a run needs, stop it.

    .venv/bin/python examples/second-platform/pretix_project.py up        # builds (cached), starts, writes .env
    (or `prepare`: builds and writes .env, starts nothing; then pytest ... --start-platform starts it)
    source /tmp/aarya-pretix/run.env
    .venv/bin/python -m pytest scenarios/test_scenario_files.py --stack attach \\
        --target /tmp/aarya-pretix/pretix.toml --scenario-dir examples/second-platform/scenarios
    .venv/bin/python examples/second-platform/pretix_project.py down      # the project and its volumes (the example's own)

`make second-platform` does all three. The project is named aarya-second-platform; the run directory is
/tmp/aarya-pretix (AARYA_PRETIX_DIR); ports 26032 (PostgreSQL), 26079 (Redis), 26080 (pretix).
"""

from __future__ import annotations

import argparse
import os
import secrets
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT))

from stack.drivers.docker import images  # noqa: E402 - after the checkout is on the path
from stack.drivers.docker.engine import docker_client, ensure_all  # noqa: E402

PROJECT = "aarya-second-platform"
RUN_DIR = Path(os.environ.get("AARYA_PRETIX_DIR", "/tmp/aarya-pretix"))
UP_TIMEOUT_S = 900


@dataclass(frozen=True)
class PretixImage(images.ImageSpec):
    source: Path = HERE / "Dockerfile"

    @property
    def dockerfile(self) -> Path:
        return self.source


def build() -> str:
    """The images the compose file names, built or taken from the cache; pretix's tag."""
    reason = ensure_all()
    if reason is not None:
        raise SystemExit(f"no usable Docker engine: {reason}")
    client = docker_client(timeout_s=1900)
    started = time.monotonic()
    images.build_images(client, ["postgres", "redis", "toxiproxy"])
    spec = PretixImage("pretix", files=(("pretix.cfg.template", HERE / "pretix.cfg.template"),
                                        ("setup_pretix.py", HERE / "setup_pretix.py")),
                       extra=images._host_ca_certificates)
    report = images.build_image(client, spec, str(client.images.get(images.BASE_IMAGE).id))
    print(f"images ready in {time.monotonic() - started:.1f} s (pretix: {report.action})")
    return report.tag


def environment(token: str, image: str) -> dict[str, str]:
    return {"PRETIX_PROJECT": PROJECT, "PRETIX_IMAGE": image, "AARYA_RESTART": "no", "AARYA_API_TOKEN": token,
            "PRETIX_API_TOKEN": token, "PRETIX_AUTHORIZATION": f"Token {token}",
            "PRETIX_PG_DSN": "postgresql://pretix:pretix@127.0.0.1:26032/pretix"}


def compose(*args: str, env: dict[str, str]) -> None:
    subprocess.run(["docker", "compose", "-f", str(HERE / "docker-compose.yml"), "-p", PROJECT, *args],
                   env={**os.environ, **env}, check=True, timeout=UP_TIMEOUT_S)


def up() -> None:
    env = prepare()
    started = time.monotonic()
    compose("up", "-d", "--wait", env=env)
    print(f"{PROJECT} up in {time.monotonic() - started:.1f} s")


def prepare() -> dict[str, str]:
    """The images, the profile and run.env, nothing started (`pytest --start-platform` starts the project)."""
    RUN_DIR.mkdir(parents=True, exist_ok=True)
    env = environment(secrets.token_hex(32), build())
    profile = (HERE / "pretix.toml").read_text()
    profile = profile.replace('locustfile = "locustfile.py"', f'locustfile = "{HERE / "locustfile.py"}"')
    profile = profile.replace('file = "docker-compose.yml"', f'file = "{HERE / "docker-compose.yml"}"')
    (RUN_DIR / "pretix.toml").write_text(profile)
    env_file = RUN_DIR / "run.env"
    env_file.write_text("".join(f"export {k}='{v}'\n" for k, v in env.items()))
    env_file.chmod(0o600)
    print(f"profile {RUN_DIR / 'pretix.toml'}; environment: source {env_file}")
    return env


def down() -> None:
    # the compose file refuses to interpolate without a token, even to take the project down
    env = {"PRETIX_PROJECT": PROJECT, "AARYA_API_TOKEN": os.environ.get("AARYA_API_TOKEN", "not-needed-to-stop")}
    compose("down", "-v", "--remove-orphans", env=env)  # the example's own project: its volumes go too


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=("build", "prepare", "up", "down"))
    action = parser.parse_args().action
    {"build": build, "prepare": prepare, "up": up, "down": down}[action]()
    return 0


if __name__ == "__main__":
    sys.exit(main())
