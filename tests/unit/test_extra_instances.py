"""Extra instances of a service (the runbook's `--scale`): the docker container's spec, the local process's
command and life cycle, and ExtraConsumer (4.1) on the driver API."""

from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest

from aarya_chaos.errors import StackError
from fixtures.recover import streams
from fixtures.recover.streams import ExtraConsumer
from stack.config import load_config
from stack.drivers.docker.instances import (INSTANCE_LABEL, INSTANCE_OF_LABEL, instance_container_name,
                                            instance_spec, merged_env, published_port)
from stack.drivers.docker.runfiles import RUN_LABEL
from stack.drivers.local.instances import LocalInstances, instance_command
from stack.drivers.fake import FakeDriver

SERVICE_CONFIG = {
    "Image": "aarya-chaos/python:abc",
    "Cmd": ["python", "-m", "uvicorn", "stack.services.content_services.app:app", "--host", "0.0.0.0",
            "--port", "8030"],
    "Env": ["SERVICE_NAME=content_services", "REDIS_URL=redis://toxiproxy:21012/0", "CONSUMER_COST_MS=5",
            "PATH=/usr/bin"],
    "WorkingDir": "/app",
    "Healthcheck": {"Test": ["CMD", "curl", "-fsS", "http://127.0.0.1:8030/health/ready"], "Interval": 2_000_000_000},
}


def test_an_instance_container_is_the_service_container_plus_the_overrides_and_the_run_label() -> None:
    spec = instance_spec(SERVICE_CONFIG, name=instance_container_name("h41_content_services", "extra"),
                         run_id="stack-1234", service="content_services", instance="extra",
                         env={"CONSUMER_NAME": "cs-extra", "CONSUMER_COST_MS": "0"}, network="aarya-chaos-stack-1234",
                         port=8030, host="127.0.0.1", dns=["127.0.0.1"])
    assert spec["name"] == "h41_content_services_extra"
    assert spec["image"] == "aarya-chaos/python:abc" and spec["command"] == SERVICE_CONFIG["Cmd"]
    assert spec["labels"] == {RUN_LABEL: "stack-1234", INSTANCE_LABEL: "extra", INSTANCE_OF_LABEL: "content_services"}
    assert spec["environment"] == ["SERVICE_NAME=content_services", "REDIS_URL=redis://toxiproxy:21012/0",
                                   "CONSUMER_COST_MS=0", "PATH=/usr/bin", "CONSUMER_NAME=cs-extra"]
    assert spec["network"] == "aarya-chaos-stack-1234"
    assert spec["ports"] == {"8030/tcp": ("127.0.0.1",)}  # 127.0.0.1 only, the engine picks the port
    assert spec["working_dir"] == "/app" and spec["healthcheck"] == SERVICE_CONFIG["Healthcheck"]
    assert spec["dns"] == ["127.0.0.1"] and spec["restart_policy"] == {"Name": "no"}
    assert "user" not in spec and "entrypoint" not in spec


def test_merged_env_keeps_values_with_equals_signs() -> None:
    assert merged_env(["A=x=y", "B="], {"B": "1"}) == ["A=x=y", "B=1"]
    assert merged_env(None, {"C": "2"}) == ["C=2"]


def test_published_port_reads_the_engines_binding() -> None:
    attrs = {"NetworkSettings": {"Ports": {"8030/tcp": [{"HostIp": "127.0.0.1", "HostPort": "32771"}]}}}
    assert published_port(attrs, 8030) == 32771
    assert published_port({"NetworkSettings": {"Ports": {}}}, 8030) is None
    assert published_port({}, 8030) is None


def test_instance_command_moves_the_port() -> None:
    assert instance_command(["uvicorn", "app", "--port", "8030", "--host", "h"], 5555) == [
        "uvicorn", "app", "--port", "5555", "--host", "h"]
    with pytest.raises(StackError):
        instance_command(["uvicorn", "app"], 5555)


SERVER = """
import http.server, os, sys
port = int(sys.argv[sys.argv.index("--port") + 1])
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = os.environ.get("CONSUMER_NAME", "").encode()
        self.send_response(200 if self.path == "/health/ready" else 404)
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
http.server.HTTPServer(("127.0.0.1", port), H).serve_forever()
"""


def test_a_local_instance_is_a_process_with_the_services_env_until_stopped(tmp_path: Path) -> None:
    config = load_config(run_dir=str(tmp_path / "run"))
    service = SimpleNamespace(name="content_services", config=config, layout=SimpleNamespace(logs=tmp_path / "logs"),
                              command=lambda: [sys.executable, "-c", SERVER, "--port", "1"],
                              env=lambda: {"PATH": "/usr/bin", "CONSUMER_NAME": "main"})
    instances = LocalInstances()
    url = instances.start(service, "extra", {"CONSUMER_NAME": "cs-extra"}, timeout_s=20)  # type: ignore[arg-type]
    try:
        assert httpx.get(f"{url}/health/ready", timeout=2).text == "cs-extra"
        assert instances.start(service, "extra", {}, timeout_s=20) == url  # type: ignore[arg-type]  # already up
        popen = instances._running["extra"].popen
    finally:
        instances.stop("extra", timeout_s=5)
    assert popen.poll() is not None
    instances.stop("extra")  # idempotent
    assert (tmp_path / "logs" / "content_services-extra.log").exists()


def test_extra_consumer_asks_the_driver_for_an_instance_and_retires_it(monkeypatch: pytest.MonkeyPatch) -> None:
    paused: list[str] = []
    monkeypatch.setattr(streams, "pause_consumer", lambda url: paused.append(url) or True)
    monkeypatch.setattr(ExtraConsumer, "_hand_over", lambda self, main_url: 0)
    driver = FakeDriver()
    extra = ExtraConsumer(driver, consumer_name="cs-extra")  # type: ignore[arg-type]
    extra.start()
    extra.start()  # already running: no second instance
    assert driver.calls == [("start_instance", "content_services/extra")]
    assert driver.instances["extra"] == {"CONSUMER_NAME": "cs-extra", "CONSUMER_COST_MS": "0"}
    assert extra.base_url == "fake://content_services-extra"
    extra.retire("fake://main")
    assert paused == ["fake://content_services-extra"] and driver.instances == {}
    assert extra.base_url is None
    extra.retire("fake://main")  # idempotent: nothing to pause, stop_instance again is harmless
    assert paused == ["fake://content_services-extra"]
    assert driver.calls[-2:] == [("stop_instance", "extra"), ("stop_instance", "extra")]
