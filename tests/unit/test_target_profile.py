"""Target profiles (stack/target): a good profile loads; each bad input is one error line naming the file, the
line and the key; the shipped reference profile agrees with StackConfig and the reference edges."""

from __future__ import annotations

from pathlib import Path

import pytest

from load.outcomes import checkout_value
from load.runner import LoadProfile
from stack.config import StackConfig
from stack.drivers.docker.runfiles import RunFiles
from stack.target.load import ProfileError, load_profile
from stack.target.preflight import check_compose, errors, load_compose
from stack.target.profile import MissingSecret, Store, redact
from stack.target.readonly import read_only_problem

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = ROOT / "stack" / "target" / "profiles" / "aarya.toml"

GOOD = '''\
name = "shop"

[components.api]
kind = "service"
health = "http://127.0.0.1:9001/health"
ready = "http://127.0.0.1:9001/ready"
container = "shop_api"
compose_service = "api"

[components.db]
kind = "store"
container = "shop_db"

[stores.db]
kind = "postgres"
url = "postgresql://app@127.0.0.1:5432/shop"
password_env = "SHOP_PG_PASSWORD"

[edges.api__db]
address_env = "DATABASE_URL"
upstream = "127.0.0.1:5432"

[journeys]
locustfile = "locustfile.py"
users = 5
spawn_rate = 2

[ledger]
op = "place_order"
key_field = "order_key"
store = "db"
query = "SELECT key FROM orders WHERE key = ANY(%(keys)s)"
'''


def write(tmp_path: Path, text: str) -> Path:
    (tmp_path / "locustfile.py").write_text("# the team's journeys\n")
    path = tmp_path / "profile.toml"
    path.write_text(text)
    return path


def line_of(text: str, fragment: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), start=1) if fragment in line)


def problems(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(ProfileError) as caught:
        load_profile(write(tmp_path, text))
    lines = str(caught.value).splitlines()
    assert len(lines) == len(caught.value.issues)
    return lines


def test_a_good_profile_loads(tmp_path: Path) -> None:
    profile = load_profile(write(tmp_path, GOOD))
    assert profile.name == "shop" and set(profile.components) == {"api", "db"}
    edge = profile.edges["api__db"]
    assert (edge.client, edge.dependency, edge.address_env, edge.upstream_port) == ("api", "db", "DATABASE_URL", 5432)
    assert profile.journeys.locustfile == (tmp_path / "locustfile.py").resolve()
    assert (profile.journeys.users, profile.journeys.spawn_rate) == (5, 2.0)
    assert profile.ledger.store == "db" and profile.compose is None


@pytest.mark.parametrize("old, new, key, at, message", [
    ('users = 5\n', '', None, None, None),  # optional: no error (checked below)
    ('op = "place_order"\n', '', "ledger.op", "[ledger]", "missing key 'op' in [ledger]"),
    ('health = "http://127.0.0.1:9001/health"', 'helth = "http://127.0.0.1:9001/health"',
     "components.api.helth", "helth =", "unknown key 'helth' in [components.api]; did you mean 'health'?"),
    ('users = 5', 'users = "five"', "journeys.users", "users =", "expected an integer, got a string ('five')"),
    ('users = 5', 'users = true', "journeys.users", "users =", "expected an integer, got a boolean"),
    ('[edges.api__db]', '[edges.api__cache]', "edges.api__cache", "[edges.api__cache]",
     "edge api__cache names component 'cache', which is not declared in [components]"),
    ('query = "SELECT key FROM orders WHERE key = ANY(%(keys)s)"',
     'query = "DELETE FROM orders WHERE key = ANY(%(keys)s)"', "ledger.query", "query =",
     "must start with SELECT or WITH (it starts with DELETE)"),
    ('query = "SELECT key FROM orders WHERE key = ANY(%(keys)s)"',
     'query = "SELECT key FROM orders WHERE key = ANY(%(keys)s); DROP TABLE orders"', "ledger.query", "query =",
     "must be one statement, without ';'"),
    ('locustfile = "locustfile.py"', 'locustfile = "journeys/shop.py"', "journeys.locustfile", "locustfile =",
     "journeys/shop.py does not exist"),
    ('url = "postgresql://app@127.0.0.1:5432/shop"', 'url = "postgresql://app:hunter2@127.0.0.1:5432/shop"',
     "stores.db.url", "url =", "the URL holds a password"),
    ('kind = "store"', 'kind = "database"', "components.db.kind", 'kind = "database"', "is not one of"),
    ('upstream = "127.0.0.1:5432"', 'upstream = "127.0.0.1"', "edges.api__db.upstream", "upstream =",
     "is not host:port"),
])
def test_each_bad_input_names_the_file_the_line_and_the_key(tmp_path: Path, old: str, new: str, key: str | None,
                                                            at: str | None, message: str | None) -> None:
    assert old in GOOD
    text = GOOD.replace(old, new, 1)
    if key is None:
        load_profile(write(tmp_path, text))
        return
    assert at is not None and message is not None
    found = problems(tmp_path, text)
    path = tmp_path / "profile.toml"
    expected = f"{path}:{line_of(text, at)}: {key}: "
    assert any(line.startswith(expected) and message in line for line in found), found


def test_a_toml_syntax_error_carries_its_line(tmp_path: Path) -> None:
    text = GOOD.replace('users = 5', 'users = = 5')
    [line] = problems(tmp_path, text)
    assert line.startswith(f"{tmp_path / 'profile.toml'}:{line_of(text, 'users = =')}: not valid TOML")


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    text = (GOOD.replace('kind = "service"', 'knd = "service"').replace('op = "place_order"\n', '')
            .replace('store = "db"', 'store = "dbb"'))
    found = problems(tmp_path, text)
    assert any("components.api.knd: unknown key 'knd'" in line and "did you mean 'kind'?" in line for line in found)
    assert any("components.api.kind: missing key 'kind'" in line for line in found)
    assert any("ledger.op: missing key 'op'" in line for line in found)
    assert any("ledger.store: store 'dbb' is not declared in [stores]; did you mean 'db'?" in line for line in found)


def test_a_missing_profile_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ProfileError, match="cannot read the profile"):
        load_profile(tmp_path / "absent.toml")


# -- secrets ---------------------------------------------------------------------------------------------


def test_a_store_secret_is_read_from_the_environment_and_never_printed() -> None:
    store = Store("db", "postgres", url="postgresql://app@db:5432/shop", password_env="SHOP_PG_PASSWORD")
    env = {"SHOP_PG_PASSWORD": "s3cr:t@"}
    assert store.connection_string(env) == "postgresql://app:s3cr%3At%40@db:5432/shop"
    assert "s3cr" not in store.redacted(env) and "$SHOP_PG_PASSWORD" in store.redacted(env)
    with pytest.raises(MissingSecret, match="SHOP_PG_PASSWORD is not set"):
        store.connection_string({})
    whole = Store("db", "postgres", dsn_env="SHOP_DSN")
    assert whole.redacted({"SHOP_DSN": "host=db password='x y' user=app"}) == \
        "host=db password=*** user=app (from $SHOP_DSN)"


@pytest.mark.parametrize("dsn, shown", [
    ("postgresql://app:pw@db:5432/shop", "postgresql://app:***@db:5432/shop"),
    ("redis://:pw@cache:6379/0", "redis://:***@cache:6379/0"),
    ("postgresql://db/shop?user=app&password=pw&sslmode=require", "postgresql://db/shop?user=app&password=***&sslmode=require"),
    ("host=db port=5432 password=pw dbname=shop", "host=db port=5432 password=*** dbname=shop"),
    ("redis://cache:6379/0", "redis://cache:6379/0"),
])
def test_redact_hides_every_form_of_password(dsn: str, shown: str) -> None:
    assert redact(dsn) == shown


@pytest.mark.parametrize("query, problem", [
    ("SELECT k FROM t WHERE k = ANY(%(keys)s)", None),
    ("WITH x AS (SELECT k FROM t) SELECT k FROM x WHERE k = ANY(%(keys)s)", None),
    ("SELECT updated_at FROM t WHERE note = 'delete me' AND k = ANY(%(keys)s) -- insert", None),
    ("UPDATE t SET k = 1 WHERE k = ANY(%(keys)s)", "must start with SELECT or WITH"),
    ("WITH d AS (DELETE FROM t RETURNING k) SELECT k FROM d WHERE k = ANY(%(keys)s)", "contains DELETE"),
    ("SELECT nextval('s') FROM t WHERE k = ANY(%(keys)s)", "contains NEXTVAL"),
    ("SELECT k FROM t", "%(keys)s"),
    ("SELECT 1;", "without ';'"),
])
def test_the_ledger_query_must_be_read_only(query: str, problem: str | None) -> None:
    found = read_only_problem(query)
    assert found is None if problem is None else (found is not None and problem in found)


# -- the reference profile -------------------------------------------------------------------------------


def test_the_reference_profile_loads_and_agrees_with_stack_config() -> None:
    profile = load_profile(REFERENCE)
    config = StackConfig()
    services = {c.name: c for c in profile.services()}
    assert set(services) == set(config.services)
    for name, service in config.services.items():
        assert services[name].health == f"http://{config.host}:{service.port}/health"
        assert services[name].ready == f"http://{config.host}:{service.port}/health/ready"
        assert services[name].container == service.container
    gateway = profile.components["gateway"]
    assert (gateway.kind, gateway.health) == ("gateway", f"{config.gateway_url}/health")
    assert gateway.container == config.gateway.container
    assert profile.components["postgres"].container == config.postgres.container
    assert profile.components["redis"].container == config.redis.container
    postgres = profile.stores["postgres"]
    assert postgres.url == f"postgresql://{config.postgres.app_user}@{config.host}:{config.postgres.port}/" \
                           f"{config.postgres.database}"
    assert profile.stores["redis"].url == config.redis_url


def test_the_reference_profile_has_every_reference_edge_with_its_address_variable(tmp_path: Path) -> None:
    profile = load_profile(REFERENCE)
    config = StackConfig()
    assert set(profile.edges) == {edge.name for edge in config.edges()}
    files = RunFiles(config.model_copy(update={"run_dir": tmp_path}), images={})
    for edge in config.edges():
        mine = profile.edges[edge.name]
        assert mine.upstream == f"{config.host}:{edge.upstream_port}", edge.name
        if edge.client == "gateway":
            assert mine.address_setting and f"upstream {edge.dependency}" in mine.address_setting
        else:
            assert mine.address_env in files.service_env(edge.client), edge.name


def test_the_reference_profile_names_the_reference_load_ledger_and_compose_services() -> None:
    profile = load_profile(REFERENCE)
    assert profile.journeys.locustfile == ROOT / "load" / "locustfile.py"
    assert (profile.journeys.users, profile.journeys.spawn_rate) == (LoadProfile.users, LoadProfile.spawn_rate)
    assert profile.ledger.op == "checkout"
    assert profile.ledger.key_field in checkout_value(None, 1, "k")
    assert f"o.{profile.ledger.key_field}," in profile.ledger.query and " AS id," in profile.ledger.query
    assert "idempotency_key" in (ROOT / "stack" / "postgres" / "schema.sql").read_text()
    assert profile.compose is not None and profile.compose.file == ROOT / "docker-compose.test.yml"
    compose, unreadable = load_compose(profile.compose.file)
    assert compose is not None and not unreadable
    found = check_compose(profile, compose)
    assert errors(found) == []
    # the services' addresses are in their env_file, which the check says it did not read
    assert {f.subject for f in found} == {f"edge {e.name}" for e in profile.edges.values() if e.address_env}
