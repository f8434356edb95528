from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from stack.render import MissingTemplateValue, placeholders, render_template, render_text

STACK = Path(__file__).resolve().parents[2] / "stack"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "x.conf.tmpl"
    path.write_text(text, encoding="utf-8")
    return path


def test_replaces_placeholders_with_and_without_spaces(tmp_path: Path) -> None:
    path = write(tmp_path, "port = {{port}}\nlisten = '{{ host }}'\n{{port}}\n")
    assert render_template(path, {"port": 5432, "host": "127.0.0.1"}) == (
        "port = 5432\nlisten = '127.0.0.1'\n5432\n"
    )


def test_extra_values_are_ignored(tmp_path: Path) -> None:
    assert render_template(write(tmp_path, "a={{a}}"), {"a": "1", "unused": 2}) == "a=1"


def test_empty_value_is_allowed(tmp_path: Path) -> None:
    assert render_template(write(tmp_path, "[{{user_directive}}]"), {"user_directive": ""}) == "[]"


def test_text_without_placeholders_is_unchanged(tmp_path: Path) -> None:
    text = "location / { return 200 '{\"status\":\"ok\"}'; }\n${not_a_placeholder} {single}"
    assert render_template(write(tmp_path, text), {}) == text


def test_values_are_not_rescanned() -> None:
    assert render_text("{{a}}", {"a": "{{b}}"}) == "{{b}}"


def test_missing_value_names_file_and_placeholders(tmp_path: Path) -> None:
    path = write(tmp_path, "{{port}} {{ dir }} {{bind}}")
    with pytest.raises(MissingTemplateValue) as info:
        render_template(path, {"bind": "127.0.0.1"})
    assert isinstance(info.value, KeyError)
    assert info.value.names == ["dir", "port"]
    message = str(info.value)
    assert str(path) in message
    assert "dir" in message and "port" in message
    assert not message.startswith("'")


def test_missing_value_is_a_key_error(tmp_path: Path) -> None:
    with pytest.raises(KeyError):
        render_template(write(tmp_path, "{{x}}"), {})


def test_missing_file_raises_file_not_found(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        render_template(tmp_path / "absent.tmpl", {})


POSTGRES_KEYS = {"port", "listen_addresses", "socket_dir", "max_connections", "archive_dir",
                 "archive_timeout_s"}
REDIS_KEYS = {"port", "bind", "dir", "maxmemory_mb", "maxmemory_policy"}
NGINX_KEYS = {"prefix", "listen", "user_directive", "deny_file", "up_core_platform", "up_commerce",
              "up_payment", "up_content_services", "up_search_recommendation", "up_event_compactor"}


@pytest.mark.parametrize(
    ("relative", "expected"),
    [
        ("postgres/postgresql.conf.tmpl", POSTGRES_KEYS),
        ("redis/redis.conf.tmpl", REDIS_KEYS),
        ("nginx/nginx.conf.tmpl", NGINX_KEYS),
    ],
)
def test_stack_templates_use_the_documented_placeholders(relative: str, expected: set[str]) -> None:
    assert placeholders((STACK / relative).read_text(encoding="utf-8")) == expected


def nginx_values(prefix: Path) -> dict[str, object]:
    values: dict[str, object] = {
        "prefix": prefix,
        "listen": "127.0.0.1:28480",
        "user_directive": "",
        "deny_file": prefix / "deny.conf",
    }
    for port, service in enumerate(
        ["core_platform", "commerce", "payment", "content_services", "search_recommendation",
         "event_compactor"],
        start=28481,
    ):
        values[f"up_{service}"] = f"127.0.0.1:{port}"
    return values


@pytest.mark.skipif(shutil.which("nginx", path="/usr/sbin:/usr/bin") is None, reason="no nginx")
@pytest.mark.parametrize(("deny", "user_directive"), [
    ("", ""),
    ("deny 127.0.0.9;\ndeny 127.0.0.10;\n", ""),
    ("", "user root;"),
])
def test_rendered_nginx_config_passes_nginx_t(tmp_path: Path, deny: str, user_directive: str) -> None:
    (tmp_path / "logs").mkdir()
    (tmp_path / "deny.conf").write_text(deny, encoding="utf-8")
    conf = tmp_path / "nginx.conf"
    values = {**nginx_values(tmp_path), "user_directive": user_directive}
    conf.write_text(render_template(STACK / "nginx/nginx.conf.tmpl", values))
    nginx = shutil.which("nginx", path="/usr/sbin:/usr/bin")
    assert nginx is not None
    result = subprocess.run(
        [nginx, "-t", "-p", str(tmp_path), "-c", str(conf)], capture_output=True, text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    assert "test is successful" in result.stderr


def test_rendered_postgres_config_has_the_contract_settings(tmp_path: Path) -> None:
    text = render_template(
        STACK / "postgres/postgresql.conf.tmpl",
        {"port": 15432, "listen_addresses": "127.0.0.1", "socket_dir": tmp_path,
         "max_connections": 40, "archive_dir": tmp_path / "wal", "archive_timeout_s": 60},
    )
    settings = dict(
        (key.strip(), value.split("#")[0].strip())
        for key, _, value in (line.partition("=") for line in text.splitlines())
        if key.strip() and not key.startswith("#")
    )
    assert settings["port"] == "15432"
    assert settings["listen_addresses"] == "'127.0.0.1'"
    assert settings["max_connections"] == "40"
    assert settings["fsync"] == "on"
    assert settings["wal_level"] == "replica"
    assert settings["archive_mode"] == "on"
    assert settings["archive_timeout"] == "60s"
    assert f'test ! -f "{tmp_path}/wal/%f"' in settings["archive_command"]


def test_rendered_redis_config_has_the_contract_settings(tmp_path: Path) -> None:
    text = render_template(
        STACK / "redis/redis.conf.tmpl",
        {"port": 16379, "bind": "127.0.0.1", "dir": tmp_path, "maxmemory_mb": 64,
         "maxmemory_policy": "volatile-ttl"},
    )
    lines = {line.strip() for line in text.splitlines()}
    for expected in ("port 16379", "bind 127.0.0.1", "appendonly yes", "appendfsync everysec",
                     "maxmemory 64mb", "maxmemory-policy volatile-ttl", "daemonize no",
                     'logfile ""', f"dir {tmp_path}"):
        assert expected in lines
