"""The docker driver's run files and compose file, without a Docker engine."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from stack.config import load_config
from stack.drivers.docker.runfiles import (
    COMPOSE_FILE,
    RUN_LABEL,
    RunFiles,
    component_names,
    container_name,
    netns_container_name,
    run_id_for,
)
from stack.render import placeholders


@pytest.fixture
def files(tmp_path: Path) -> RunFiles:
    config = load_config(run_dir=str(tmp_path / "run")).with_port_offset(1400)
    return RunFiles(config, images={"python": "aarya-chaos/python:abc", "base": "aarya-chaos/base:bookworm"})


def test_run_id_is_stable_per_run_dir_and_label_safe(tmp_path: Path) -> None:
    one = load_config(run_dir=str(tmp_path / "My Run"))
    assert run_id_for(one) == run_id_for(load_config(run_dir=str(tmp_path / "My Run")))
    assert run_id_for(one) != run_id_for(load_config(run_dir=str(tmp_path / "other")))
    assert re.fullmatch(r"[a-z0-9-]+", run_id_for(one)) and run_id_for(one).startswith("my-run-")


def test_containers_are_named_from_the_config(files: RunFiles) -> None:
    config = files.config
    assert component_names(config)[:3] == ["postgres", "redis", "toxiproxy"]
    assert component_names(config)[-1] == "api_gateway"
    assert container_name(config, "postgres") == "aarya_postgres"
    assert container_name(config, "commerce") == "aarya_commerce"
    assert netns_container_name(config, "commerce") == "aarya_commerce_net"
    assert netns_container_name(config, "api_gateway") is None


def test_compose_env_carries_ports_names_images_and_the_label(files: RunFiles) -> None:
    env = files.compose_env()
    config = files.config
    assert env["AARYA_RUN_ID"] == files.run_id and env["AARYA_PROJECT"] == f"aarya-chaos-{files.run_id}"
    assert env["AARYA_BIND"] == "127.0.0.1" and env["AARYA_RESTART"] == "no"
    assert env["AARYA_PORT_POSTGRES"] == str(config.postgres.port) == "16832"
    assert env["AARYA_PORT_COMMERCE"] == "9410" and env["AARYA_PORT_GATEWAY"] == "9400"
    edges = sorted(e.listen_port for e in config.edges())
    assert (int(env["AARYA_PROXY_FIRST"]), int(env["AARYA_PROXY_LAST"])) == (edges[0], edges[-1])
    assert env["AARYA_CONTAINER_API_GATEWAY"] == "aarya_api_gateway"
    assert env["AARYA_IMAGE_PYTHON"] == "aarya-chaos/python:abc" and "AARYA_IMAGE_NGINX" not in env


def test_every_service_reaches_every_dependency_through_its_own_toxiproxy_edge(files: RunFiles) -> None:
    config = files.config
    env = files.service_env("commerce")
    pg = config.postgres
    assert env["DATABASE_URL"] == (f"postgresql://{pg.app_user}:{pg.app_password}@toxiproxy:"
                                   f"{config.edge('commerce', 'postgres').listen_port}/{pg.database}")
    assert env["REDIS_URL"] == f"redis://toxiproxy:{config.edge('commerce', 'redis').listen_port}/0"
    assert env["PAYMENT_URL"] == f"http://toxiproxy:{config.edge('commerce', 'payment').listen_port}"
    assert env["DB_POOL_MAX_SIZE"] == "8"
    assert files.service_env("commerce", {"RELEASE": "v2-bad"})["RELEASE"] == "v2-bad"
    specs = {s["name"]: s for s in files.toxiproxy_specs()}
    assert set(specs) == {e.name for e in config.edges()}
    edge = config.edge("commerce", "payment")
    assert specs[edge.name] == {"name": edge.name, "listen": f"0.0.0.0:{edge.listen_port}",
                                "upstream": f"payment:{config.services['payment'].port}", "enabled": True}
    assert specs["core_platform__postgres"]["upstream"] == "postgres:5432"


def test_write_renders_every_config_completely(files: RunFiles) -> None:
    files.write()
    root = files.root
    rendered = [root / "postgres" / "postgresql.conf", root / "redis" / "redis.conf", files.nginx_dir / "nginx.conf"]
    for path in rendered:
        assert not placeholders(path.read_text()), path
    assert "listen_addresses = '*'" in rendered[0].read_text()
    assert "archive_mode = on" in rendered[0].read_text()
    assert "bind 0.0.0.0" in rendered[1].read_text() and "maxmemory 128mb" in rendered[1].read_text()
    nginx = rendered[2].read_text()
    assert f"server toxiproxy:{files.config.edge('gateway', 'commerce').listen_port};" in nginx
    assert f"listen 0.0.0.0:{files.config.gateway.port}" in nginx
    assert (files.nginx_dir / "deny.conf").exists() and (files.nginx_dir / "logs").is_dir()
    env_lines = files.env_file.read_text().splitlines()
    assert f"AARYA_RUN_ID={files.run_id}" in env_lines
    assert (root / "env" / "payment.env").read_text().startswith("SERVICE_NAME=payment\n")
    (files.nginx_dir / "deny.conf").write_text("deny 127.0.0.9;\n")
    files.write()
    assert (files.nginx_dir / "deny.conf").read_text() == "deny 127.0.0.9;\n"  # the deny-list is kept


def test_the_compose_file_labels_publishes_on_loopback_and_checks_health() -> None:
    yaml = pytest.importorskip("yaml")
    compose = yaml.safe_load(COMPOSE_FILE.read_text())
    services = compose["services"]
    components = {"postgres", "redis", "toxiproxy", "api_gateway", "core_platform", "payment", "commerce",
                  "content_services", "search_recommendation", "event_compactor"}
    assert components <= set(services)
    for name, service in services.items():
        assert service["labels"][RUN_LABEL] == "${AARYA_RUN_ID:-manual}", name
        assert service["pull_policy"] == "never" and "restart" in service, name
        for binding in service.get("ports", []):
            assert binding.startswith("${AARYA_BIND:-127.0.0.1}:"), (name, binding)
        if name in components:
            assert service["labels"]["io.aarya-chaos.component"] == name
            assert service["healthcheck"]["test"], name
            assert service["container_name"].startswith(f"${{AARYA_CONTAINER_{name.upper()}:-"), name
            if name != "api_gateway":
                assert service["network_mode"] == f"service:{name}-net"
                assert "ports" not in service
        else:
            assert name.endswith("-net") and service["labels"]["io.aarya-chaos.netns"] == name[:-4]
            assert service["networks"]["default"]["aliases"] == [name[:-4]]
    assert compose["networks"]["default"]["labels"][RUN_LABEL] == "${AARYA_RUN_ID:-manual}"
    assert all(v["labels"][RUN_LABEL] == "${AARYA_RUN_ID:-manual}" for v in compose["volumes"].values())
