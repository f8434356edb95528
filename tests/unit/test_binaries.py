from __future__ import annotations

from pathlib import Path

import pytest

from aarya_chaos.errors import MissingBinary
from stack import binaries


def test_missing_binaries_are_named_with_the_commands_that_install_them(monkeypatch: pytest.MonkeyPatch,
                                                                        tmp_path: Path) -> None:
    monkeypatch.setattr(binaries, "_locate", lambda tools_dir: {
        "postgres": None, "redis": Path("/usr/bin/redis-server"), "redis-cli": Path("/usr/bin/redis-cli"),
        "nginx": None, "toxiproxy": None})
    with pytest.raises(MissingBinary) as error:
        binaries.find_binaries(tmp_path, install=False)
    message = str(error.value)
    assert "missing: postgres, nginx, toxiproxy" in message
    assert "apt-get install -y nginx-light postgresql-15" in message
    assert f"GOBIN={tmp_path} go install github.com/Shopify/toxiproxy/v2/cmd/server@v2.12.0" in message


def test_no_root_means_no_install_and_a_clear_message(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(binaries.os, "geteuid", lambda: 1000)
    with pytest.raises(MissingBinary, match="needs root"):
        binaries._apt_install(["nginx"], tmp_path)
