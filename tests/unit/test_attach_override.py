"""The attach driver's compose override (stack/drivers/attach/override.py) over a small team's compose
file: the edge variables pointed at the proxy and nothing else, the proxies' upstreams taken from the
team's own values, and one clear line per bad input. Nothing here needs an engine."""

from __future__ import annotations

import copy
import json
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
import yaml

from aarya_chaos.errors import ConfigError
from stack.drivers.attach.addresses import UnparseableAddress, parse_address
from stack.drivers.attach.labels import COMPONENT_LABEL, RUN_LABEL, TOXIPROXY_SERVICE
from stack.drivers.attach.override import (
    DEFAULT_IMAGE,
    AttachError,
    AttachOverride,
    OverrideOptions,
    build_override,
)
from stack.target.profile import Component, Compose, Edge, Journeys, Ledger, TargetProfile

RUN_ID = "shop-0a1b2c3d"
PROXIES_FILE = PurePosixPath("/srv/aarya-runs/shop/attach/proxies.json")
TEAM_COMPOSE = """
name: shop
services:
  web:
    image: shop/web:1.4
    ports: ["8080:8080"]
    environment:
      DATABASE_URL: postgresql://app:secret@db:5432/app?sslmode=disable
      REDIS_URL: redis://cache:6379/1
      LOG_LEVEL: info
    depends_on: [db, cache]
  db:
    image: postgres:15
    environment:
      POSTGRES_PASSWORD: secret
    volumes:
      - pgdata:/var/lib/postgresql/data
  cache:
    image: redis:7
volumes:
  pgdata: {}
"""


def team_compose() -> dict[str, Any]:
    parsed: dict[str, Any] = yaml.safe_load(TEAM_COMPOSE)
    return parsed


def shop_profile(edges: dict[str, Edge] | None = None, web_service: str | None = "web") -> TargetProfile:
    components = {
        "web": Component("web", "service", "http://127.0.0.1:8080/health", compose_service=web_service,
                         container=None if web_service else "shop-web-1"),
        "db": Component("db", "store", compose_service="db"),
        "cache": Component("cache", "store", compose_service="cache"),
    }
    if edges is None:
        # The profile's upstreams are host addresses (published ports): the compose values must win.
        edges = {"web__db": Edge("web", "db", "127.0.0.1:15432", address_env="DATABASE_URL"),
                 "web__cache": Edge("web", "cache", "127.0.0.1:16379", address_env="REDIS_URL")}
    return TargetProfile("shop", Path("/srv/shop/shop.toml"), components, {}, edges,
                         Journeys(Path("/srv/shop/locustfile.py")), Ledger("order", "key", "db", "SELECT 1"),
                         Compose(Path("/srv/shop/docker-compose.yml"), "shop"))


def build(compose: dict[str, Any] | None = None, profile: TargetProfile | None = None) -> AttachOverride:
    return build_override(profile or shop_profile(), team_compose() if compose is None else compose, RUN_ID,
                          OverrideOptions(proxies_file=PROXIES_FILE))


def problems_of(compose: dict[str, Any], profile: TargetProfile | None = None) -> list[str]:
    with pytest.raises(AttachError) as caught:
        build(compose, profile)
    assert isinstance(caught.value, ConfigError)
    assert str(caught.value).splitlines() == list(caught.value.problems)
    return list(caught.value.problems)


# -- what the override sets ---------------------------------------------------------------------------


def test_only_the_edge_variables_point_at_the_proxy_keeping_credentials_path_and_query() -> None:
    services = build().mapping["services"]
    assert set(services) == {TOXIPROXY_SERVICE, "web"}
    assert services["web"]["environment"] == {
        "DATABASE_URL": "postgresql://app:secret@aarya-toxiproxy:21000/app?sslmode=disable",
        "REDIS_URL": "redis://aarya-toxiproxy:21001/1",
    }
    assert services["web"]["depends_on"] == {TOXIPROXY_SERVICE: {"condition": "service_healthy"}}
    assert set(services["web"]) == {"environment", "depends_on"}  # no label, port, image or volume of the team's


def test_the_proxies_forward_to_the_addresses_the_team_compose_file_names() -> None:
    result = build()
    proxies = json.loads(result.proxies_json())
    assert proxies == [
        {"name": "web__db", "listen": "0.0.0.0:21000", "upstream": "db:5432", "enabled": True},
        {"name": "web__cache", "listen": "0.0.0.0:21001", "upstream": "cache:6379", "enabled": True},
    ]
    assert [p.upstream for p in result.proxies()] == ["db:5432", "cache:6379"]


def test_the_proxy_service_is_labelled_with_the_run_and_publishes_its_api_on_loopback_only() -> None:
    proxy = build().mapping["services"][TOXIPROXY_SERVICE]
    assert proxy["image"] == DEFAULT_IMAGE == "aarya-chaos/toxiproxy:latest"
    assert proxy["labels"] == {RUN_LABEL: RUN_ID, COMPONENT_LABEL: "toxiproxy"}
    assert proxy["ports"] == ["127.0.0.1:18474:8474"]
    assert proxy["networks"] == ["default"]
    assert proxy["configs"] == [{"source": "aarya-chaos-toxiproxy-proxies",
                                 "target": "/etc/aarya/toxiproxy/toxiproxy.json"}]
    assert "-config=/etc/aarya/toxiproxy/toxiproxy.json" in proxy["command"]


def test_the_labels_are_the_reference_docker_drivers() -> None:
    from stack.drivers.docker.runfiles import COMPONENT_LABEL as DOCKER_COMPONENT_LABEL
    from stack.drivers.docker.runfiles import RUN_LABEL as DOCKER_RUN_LABEL

    assert (RUN_LABEL, COMPONENT_LABEL) == (DOCKER_RUN_LABEL, DOCKER_COMPONENT_LABEL)


def test_the_override_never_mentions_volumes_and_leaves_the_team_file_as_it_was() -> None:
    compose = team_compose()
    before = copy.deepcopy(compose)
    result = build(compose)
    assert compose == before
    assert "volume" not in result.yaml_text().lower()
    assert set(result.mapping) == {"services", "configs"}


def test_the_yaml_text_reads_back_as_the_mapping() -> None:
    result = build()
    text = result.yaml_text()
    assert text.startswith(f"# Generated by aarya-chaos for run {RUN_ID}")
    assert yaml.safe_load(text) == result.mapping
    assert result.mapping["configs"] == {"aarya-chaos-toxiproxy-proxies": {"file": str(PROXIES_FILE)}}


def test_the_list_form_of_environment_is_read_too() -> None:
    compose = team_compose()
    compose["services"]["web"]["environment"] = ["DATABASE_URL=postgresql://app:secret@db:5432/app",
                                                 "REDIS_URL=redis://cache:6379/1"]
    assert build(compose).mapping["services"]["web"]["environment"]["DATABASE_URL"] == \
        "postgresql://app:secret@aarya-toxiproxy:21000/app"


def test_the_proxy_joins_the_networks_the_rewired_clients_use() -> None:
    compose = team_compose()
    compose["services"]["web"]["networks"] = {"front": {"aliases": ["www"]}, "back": None}
    assert build(compose).mapping["services"][TOXIPROXY_SERVICE]["networks"] == ["back", "front"]


def test_ports_are_given_in_the_profiles_order_and_the_same_every_time() -> None:
    first, second = build(), build()
    assert [(e.edge, e.listen_port) for e in first.routed] == [("web__db", 21000), ("web__cache", 21001)]
    assert first.yaml_text() == second.yaml_text()
    assert first.rewired_services() == ("web",)


def test_an_edge_set_outside_the_environment_is_noted_not_rerouted() -> None:
    edges = {"web__db": Edge("web", "db", "127.0.0.1:15432", address_env="DATABASE_URL"),
             "web__cache": Edge("web", "cache", "127.0.0.1:16379", address_setting="app.ini: [cache] url")}
    result = build(profile=shop_profile(edges))
    assert [e.edge for e in result.routed] == ["web__db"]
    assert len(result.unrouted) == 1 and result.unrouted[0].startswith("edge web__cache:")
    assert "REDIS_URL" not in result.mapping["services"]["web"]["environment"]


# -- the addresses ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "host_port", "rewritten"), [
    ("postgresql://u:p@postgres:5432/db", "postgres:5432", "postgresql://u:p@aarya-toxiproxy:21000/db"),
    ("redis://redis:6379/0", "redis:6379", "redis://aarya-toxiproxy:21000/0"),
    ("http://payment:8020", "payment:8020", "http://aarya-toxiproxy:21000"),
    ("payment:8020", "payment:8020", "aarya-toxiproxy:21000"),
    ("postgresql://app:${PG_PASSWORD}@db:5432/app", "db:5432", "postgresql://app:${PG_PASSWORD}@aarya-toxiproxy:21000/app"),
    ("redis://cache/2", "cache:6379", "redis://aarya-toxiproxy:21000/2"),
    ("amqp://guest:guest@rabbit:5672/%2F?heartbeat=30#x", "rabbit:5672", "amqp://guest:guest@aarya-toxiproxy:21000/%2F?heartbeat=30#x"),
])
def test_an_address_keeps_everything_but_its_host_and_port(value: str, host_port: str, rewritten: str) -> None:
    address = parse_address(value)
    assert address.host_port == host_port
    assert address.original == value
    assert address.pointed_at(TOXIPROXY_SERVICE, 21000) == rewritten


@pytest.mark.parametrize(("value", "reason"), [
    ("${DATABASE_URL}", "compose variable"),
    ("postgresql://app@${DB_HOST}:5432/app", "compose variable"),
    ("postgresql://app@db1:5432,db2:5432/app", "several hosts"),
    ("db", "neither a URL"),
    ("foo://thing/x", "no default port"),
    ("db:70000", "out of range"),
])
def test_an_address_that_cannot_be_parsed_says_why(value: str, reason: str) -> None:
    with pytest.raises(UnparseableAddress, match=reason):
        parse_address(value)


# -- bad input: one line each, naming the file, the service and the variable --------------------------


def test_a_client_service_not_in_the_compose_file() -> None:
    compose = team_compose()
    compose["services"]["frontend"] = compose["services"].pop("web")
    assert problems_of(compose) == [
        "docker-compose.yml: service 'web' (client of edge web__db, variable DATABASE_URL) is not in the file",
        "docker-compose.yml: service 'web' (client of edge web__cache, variable REDIS_URL) is not in the file",
    ]


def test_a_variable_not_set_in_the_service() -> None:
    compose = team_compose()
    del compose["services"]["web"]["environment"]["REDIS_URL"]
    assert problems_of(compose) == [
        "docker-compose.yml: service 'web', variable REDIS_URL (edge web__cache): not set under `environment:` "
        "(an env_file is not read); Toxiproxy cannot be put in this edge's path"]


def test_a_variable_without_a_value_in_the_list_form() -> None:
    compose = team_compose()
    compose["services"]["web"]["environment"] = ["DATABASE_URL", "REDIS_URL=redis://cache:6379/1"]
    [problem] = problems_of(compose)
    assert problem.startswith("docker-compose.yml: service 'web', variable DATABASE_URL (edge web__db): "
                              "set without a value")


def test_a_value_that_cannot_be_parsed() -> None:
    compose = team_compose()
    compose["services"]["web"]["environment"]["DATABASE_URL"] = "host=db port=5432 dbname=app"
    [problem] = problems_of(compose)
    assert problem.startswith("docker-compose.yml: service 'web', variable DATABASE_URL (edge web__db): "
                              "cannot parse 'host=db port=5432 dbname=app': ")


def test_every_problem_is_reported_at_once() -> None:
    compose = team_compose()
    compose["services"]["web"]["environment"] = {"DATABASE_URL": "${DATABASE_URL}"}
    problems = problems_of(compose)
    assert [p.split(": ")[1] for p in problems] == ["service 'web', variable DATABASE_URL (edge web__db)",
                                                    "service 'web', variable REDIS_URL (edge web__cache)"]


def test_a_client_without_a_compose_service() -> None:
    [problem] = problems_of(team_compose(), shop_profile(edges={
        "web__db": Edge("web", "db", "127.0.0.1:15432", address_env="DATABASE_URL")}, web_service=None))
    assert problem == ("docker-compose.yml: edge web__db: client 'web' names no compose_service, so DATABASE_URL "
                       "cannot be found in the file")


def test_a_client_on_a_network_mode_cannot_reach_the_proxy_by_name() -> None:
    compose = team_compose()
    compose["services"]["web"]["network_mode"] = "host"
    [problem] = problems_of(compose)
    assert problem.startswith("docker-compose.yml: service 'web': network_mode 'host': ")


def test_a_team_service_already_named_like_the_proxy() -> None:
    compose = team_compose()
    compose["services"][TOXIPROXY_SERVICE] = {"image": "theirs"}
    assert problems_of(compose) == [
        "docker-compose.yml: service 'aarya-toxiproxy' is already in the file; the proxy needs that name"]


def test_two_edges_on_one_variable() -> None:
    edges = {"web__db": Edge("web", "db", "127.0.0.1:15432", address_env="DATABASE_URL"),
             "web__cache": Edge("web", "cache", "127.0.0.1:16379", address_env="DATABASE_URL")}
    [problem] = problems_of(team_compose(), shop_profile(edges))
    assert "edges web__db and web__cache both name it" in problem


def test_a_relative_proxies_file_is_refused() -> None:
    with pytest.raises(ValueError, match="absolute"):
        build_override(shop_profile(), team_compose(), RUN_ID, OverrideOptions(proxies_file=PurePosixPath("p.json")))


def test_a_profile_loaded_from_toml_gives_the_same_override(tmp_path: Path) -> None:
    from stack.target.load import load_profile

    (tmp_path / "docker-compose.yml").write_text(TEAM_COMPOSE)
    (tmp_path / "locustfile.py").write_text("")
    (tmp_path / "shop.toml").write_text("""
name = "shop"
[components.web]
kind = "service"
health = "http://127.0.0.1:8080/health"
compose_service = "web"
[components.db]
kind = "store"
compose_service = "db"
[components.cache]
kind = "store"
compose_service = "cache"
[edges]
web__db = { address_env = "DATABASE_URL", upstream = "127.0.0.1:15432" }
web__cache = { address_env = "REDIS_URL", upstream = "127.0.0.1:16379" }
[journeys]
locustfile = "locustfile.py"
[ledger]
op = "order"
key_field = "key"
store = "db"
query = "SELECT key FROM orders WHERE key = ANY(%(keys)s)"
[stores.db]
kind = "postgres"
url = "postgresql://app@127.0.0.1:15432/app"
password_env = "SHOP_PG_PASSWORD"
[compose]
file = "docker-compose.yml"
project = "shop"
""")
    loaded = load_profile(tmp_path / "shop.toml")
    assert build(profile=loaded).mapping == build().mapping
