"""stack/target/stack_config.py: a target profile mapped onto the engine's StackConfig."""

from __future__ import annotations

from pathlib import Path

import pytest

from aarya_chaos.errors import ConfigError
from stack.config import StackConfig
from stack.target.load import load_profile
from stack.target.stack_config import stack_config_of

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = ROOT / "stack" / "target" / "profiles" / "aarya.toml"
PRETIX = ROOT / "examples" / "second-platform" / "pretix.toml"


def test_the_reference_profile_gives_stackconfigs_defaults_where_they_overlap(tmp_path: Path) -> None:
    config = stack_config_of(load_profile(REFERENCE), tmp_path)
    default = StackConfig()
    assert config.run_dir == tmp_path
    assert config.host == default.host
    assert {n: (s.port, s.container, s.depends_on) for n, s in config.services.items()} == {
        n: (s.port, s.container, s.depends_on) for n, s in default.services.items()}
    assert config.gateway == default.gateway
    assert config.redis == default.redis
    assert config.toxiproxy == default.toxiproxy
    pg, dpg = config.postgres, default.postgres
    assert (pg.port, pg.database, pg.app_user, pg.container) == (dpg.port, dpg.database, dpg.app_user, dpg.container)


def test_no_password_is_copied(tmp_path: Path) -> None:
    config = stack_config_of(load_profile(PRETIX), tmp_path,
                             environ={"PRETIX_PG_DSN": "postgresql://pretix:s3cret@127.0.0.1:26032/pretix"})
    assert config.postgres.app_password == "" and config.postgres.superuser_password == ""
    assert "s3cret" not in config.model_dump_json()


def test_pretix_without_a_gateway_is_entered_by_its_service(tmp_path: Path) -> None:
    config = stack_config_of(load_profile(PRETIX), tmp_path, toxiproxy_port=26174,
                             environ={"PRETIX_PG_DSN": "postgresql://pretix:x@127.0.0.1:26032/pretix"})
    assert (config.gateway.port, config.gateway.container) == (26080, "aarya-second-platform-pretix-1")
    assert config.gateway_url == "http://127.0.0.1:26080"
    assert config.services == {}  # the one service plays the gateway: StackConfig gives a port one owner
    pg = config.postgres
    assert (pg.port, pg.database, pg.app_user, pg.container) == (26032, "pretix", "pretix",
                                                                  "aarya-second-platform-postgres-1")
    assert (config.redis.port, config.redis.container) == (26079, "aarya-second-platform-redis-1")
    assert config.toxiproxy.port == 26174


def test_a_dsn_left_unset_takes_the_port_from_the_edges_upstream(tmp_path: Path) -> None:
    config = stack_config_of(load_profile(PRETIX), tmp_path, environ={})
    assert config.postgres.port == 26032
    assert config.postgres.database == "" and config.postgres.app_user == ""


def test_a_libpq_keyword_dsn_maps_too(tmp_path: Path) -> None:
    config = stack_config_of(load_profile(PRETIX), tmp_path, environ={
        "PRETIX_PG_DSN": "host=127.0.0.1 port=26132 dbname=shop user=app password=x"})
    assert (config.postgres.port, config.postgres.database, config.postgres.app_user) == (26132, "shop", "app")


def test_a_port_clash_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="used twice"):
        stack_config_of(load_profile(REFERENCE), tmp_path, toxiproxy_port=8001)
