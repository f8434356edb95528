"""The target profile's preflight (stack/target/preflight.py), each check with its inputs given: a parsed
compose file, a connector, a container lookup, an HTTP getter. No platform is needed, none is touched."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from docker.errors import NotFound

from stack.target.preflight import (
    Finding,
    check_compose,
    check_containers,
    check_health,
    check_ledger_query,
    check_store,
    check_stores,
    errors,
    load_compose,
)
from stack.target.profile import Component, Edge, Journeys, Ledger, Store, TargetProfile

SECRET = "hunter2-very-secret"


def profile(**edges: Edge) -> TargetProfile:
    components = {
        "api": Component("api", "service", "http://127.0.0.1:9001/health", "http://127.0.0.1:9001/ready",
                         container="shop_api", compose_service="api"),
        "db": Component("db", "store", container="shop_db", compose_service="db"),
        "cache": Component("cache", "store", compose_service="cache"),
    }
    stores = {"db": Store("db", "postgres", url="postgresql://app@db:5432/shop", password_env="SHOP_PG_PASSWORD"),
              "cache": Store("cache", "redis", url="redis://cache:6379/0")}
    return TargetProfile("shop", Path("shop.toml"), components, stores,
                         edges or {"api__db": Edge("api", "db", "db:5432", address_env="DATABASE_URL")},
                         Journeys(Path("locustfile.py")), Ledger("order", "key", "db", "SELECT 1 WHERE %(keys)s"))


def compose(api: dict[str, Any]) -> dict[str, Any]:
    return {"services": {"api": api, "db": {"image": "postgres"}, "cache": {"image": "redis"}}}


# -- compose ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("environment", [{"DATABASE_URL": "postgresql://db/shop"}, ["DATABASE_URL=postgresql://db/shop"],
                                         ["LOG_LEVEL=info", "DATABASE_URL"]])
def test_an_edge_variable_set_in_the_compose_service_passes(environment: object) -> None:
    assert check_compose(profile(), compose({"environment": environment})) == []


def test_an_edge_variable_missing_from_the_compose_service_is_an_error_naming_service_and_variable() -> None:
    [finding] = check_compose(profile(), compose({"environment": {"LOG_LEVEL": "info"}}), "compose.yml")
    assert finding.level == "error" and finding.subject == "edge api__db"
    assert "DATABASE_URL is not set in service 'api' of compose.yml" in str(finding)


def test_an_env_file_is_not_read_and_says_so_as_a_note() -> None:
    [finding] = check_compose(profile(), compose({"env_file": ["api.env"]}))
    assert finding.level == "note" and "env_file" in finding.message and errors([finding]) == []


def test_a_compose_service_that_is_not_in_the_file_is_an_error() -> None:
    found = check_compose(profile(), {"services": {"api": {"environment": ["DATABASE_URL=x"]}, "cache": {}}})
    assert [str(f) for f in found] == ["error: compose: component db: compose service 'db' is not in the compose file"]


def test_an_edge_with_an_address_setting_is_not_looked_up_in_compose() -> None:
    edge = Edge("api", "db", "db:5432", address_setting="config/api.yaml: database.host")
    assert check_compose(profile(api__db=edge), compose({})) == []


def test_load_compose_resolves_merge_keys_and_reports_a_bad_file(tmp_path: Path) -> None:
    path = tmp_path / "compose.yml"
    path.write_text("x-env: &env\n  DATABASE_URL: postgresql://db/shop\nservices:\n  api:\n    environment:\n"
                    "      <<: *env\n  db: {}\n  cache: {}\n")
    parsed, problems = load_compose(path)
    assert problems == [] and parsed is not None and check_compose(profile(), parsed) == []
    path.write_text("services: [unclosed\n")
    parsed, problems = load_compose(path)
    assert parsed is None and "cannot be read" in str(problems[0])


# -- stores ----------------------------------------------------------------------------------------------


def test_a_dsn_that_does_not_connect_is_one_error_with_the_redacted_dsn_never_the_password() -> None:
    def refuse(dsn: str) -> None:
        assert SECRET in dsn  # the connector gets the real secret...
        raise OSError(f"connection to {dsn} refused")  # ...and a driver might echo it

    [finding] = check_store(profile().stores["db"], {"SHOP_PG_PASSWORD": SECRET}, refuse)
    assert finding.subject == "store db"
    assert "postgresql://app@db:5432/shop (password from $SHOP_PG_PASSWORD) does not answer" in finding.message
    assert SECRET not in str(finding)


def test_a_store_whose_secret_variable_is_unset_is_an_error_naming_the_variable() -> None:
    [finding] = check_store(profile().stores["db"], {}, lambda dsn: None)
    assert "SHOP_PG_PASSWORD is not set" in finding.message


def test_each_store_is_connected_with_the_connector_of_its_kind() -> None:
    asked: list[str] = []
    found = check_stores(profile(), {"SHOP_PG_PASSWORD": SECRET},
                         {"postgres": lambda dsn: asked.append("postgres"), "redis": lambda url: asked.append(url)})
    assert found == [] and asked == ["postgres", "redis://cache:6379/0"]


def test_a_failing_ledger_query_is_an_error_without_the_secret() -> None:
    def fail(dsn: str, query: str) -> None:
        raise RuntimeError(f'relation "orders" does not exist ({dsn})')

    [finding] = check_ledger_query(profile(), {"SHOP_PG_PASSWORD": SECRET}, fail)
    assert finding.check == "ledger" and 'relation "orders" does not exist' in finding.message
    assert SECRET not in str(finding)


# -- containers and health -------------------------------------------------------------------------------


def test_a_container_that_does_not_exist_is_an_error() -> None:
    def lookup(name: str) -> object:
        if name == "shop_db":
            raise NotFound(f"No such container: {name}")
        return object()

    assert [str(f) for f in check_containers(profile(), lookup)] == [
        "error: containers: component db: container 'shop_db' does not exist"]


def test_a_container_lookup_that_fails_otherwise_says_why() -> None:
    def lookup(name: str) -> object:
        raise ConnectionError("engine went away")

    found = check_containers(profile(), lookup)
    assert len(found) == 2 and all("could not be looked up: engine went away" in f.message for f in found)


def test_with_a_compose_project_containers_are_found_by_project_and_service() -> None:
    """A team may run its project under another name than the profile's containers carry: the lookup is by
    the compose labels, and a service with no container is named with its project."""
    from dataclasses import replace

    from stack.target.profile import Compose

    shop = replace(profile(), compose=Compose(Path("compose.yml"), project="shop-staging"))
    running = {("shop-staging", "api"), ("shop-staging", "db")}

    def by_service(project: str, service: str) -> object:
        if (project, service) not in running:
            raise NotFound(f"no container of {project}/{service}")
        return object()

    def by_name(name: str) -> object:
        raise AssertionError("container names are not asked when the project is known")

    assert [str(f) for f in check_containers(shop, by_name, by_service)] == [
        "error: containers: component cache: compose service 'cache' of project 'shop-staging' does not exist"]


def test_health_and_readiness_must_answer_2xx() -> None:
    statuses = {"http://127.0.0.1:9001/health": 200, "http://127.0.0.1:9001/ready": 503}
    assert [str(f) for f in check_health(profile(), statuses.__getitem__)] == [
        "error: health: component api: readiness http://127.0.0.1:9001/ready answered 503"]

    def refuse(url: str) -> int:
        raise OSError("connection refused")

    found = check_health(profile(), refuse)
    assert [f.message for f in found] == ["health http://127.0.0.1:9001/health does not answer: connection refused",
                                          "readiness http://127.0.0.1:9001/ready does not answer: connection refused"]


def test_a_finding_prints_as_one_line() -> None:
    finding = Finding("stores", "store db", "postgresql://app@db/shop does not answer: refused")
    assert str(finding) == "error: stores: store db: postgresql://app@db/shop does not answer: refused"
    assert "\n" not in str(finding)
