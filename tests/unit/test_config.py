from __future__ import annotations

from pathlib import Path

import pytest

from aarya_chaos.errors import ConfigError
from stack.config import load_config


def test_defaults_route_every_dependency_through_its_own_proxy() -> None:
    config = load_config()
    names = {edge.name for edge in config.edges()}
    assert {"commerce__postgres", "commerce__payment", "gateway__commerce", "core_platform__redis"} <= names
    ports = [edge.listen_port for edge in config.edges()]
    assert len(ports) == len(set(ports))
    assert config.services["commerce"].port == 8010
    order = list(config.service_names())
    assert order.index("commerce") > order.index("payment") and order.index("commerce") > order.index("core_platform")


def test_a_toml_file_overrides_ports(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text('[postgres]\nport = 25432\n[services.commerce]\nport = 9010\n')
    config = load_config(path)
    assert config.postgres.port == 25432 and config.services["commerce"].port == 9010
    assert config.services["payment"].port == 8020


@pytest.mark.parametrize("text, message", [
    ("[postgres\nport = 1", "not valid TOML"),
    ("[postgres]\nprot = 1", "prot"),
    ("[services.commerce]\nport = 8001", "used twice"),
    ("[services.shop]\nport = 9999\ndepends_on = ['warehouse']", "unknown"),
])
def test_bad_config_gets_a_clear_error(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "c.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_config(path)


def test_missing_config_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.toml")


def test_port_offset_shifts_everything() -> None:
    base = load_config()
    shifted = base.with_port_offset(100)
    assert {k: v + 100 for k, v in base.listen_ports().items()} == shifted.listen_ports()


def test_to_toml_reads_back_as_the_same_stack(tmp_path: Path) -> None:
    shifted = load_config().with_port_offset(300, run_dir=tmp_path / "run")
    path = tmp_path / "c.toml"
    path.write_text(shifted.to_toml())
    assert load_config(path) == shifted
