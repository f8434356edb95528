"""reports.openmetrics: a run's figures as OpenMetrics text (parsed back with prometheus_client's parser), and the
push to a Pushgateway: a tiny HTTP server on 127.0.0.1 stands for it (no external network)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.openmetrics.parser import text_string_to_metric_families

from reports.gate import EXIT_FAILED, EXIT_PASSED, EXIT_PUSH_FAILED, main
from reports.openmetrics import METRICS_FILE, PushError, openmetrics_text, push_metrics, write_metrics
from tests.data.sample import record, summary, write_json

RUN = summary(record("1.1", mttd=0.4, rto=6.5, driver="LocalDriver"),
              record("1.1", control="skip-recovery", rto=None, driver="LocalDriver"),
              record("2.2", "pass", attempts=[{"verdict": "fail"}, {"verdict": "pass"}], driver="LocalDriver",
                     artifacts="/r/scenarios/test_2_2-attempt2"))


def samples(text: bytes) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text.decode()) for s in family.samples}


def test_the_figures_as_openmetrics() -> None:
    found = samples(openmetrics_text([RUN]))
    real = (("control", ""), ("driver", "local"), ("scenario", "1.1"), ("test", "test_1_1"))
    control = (("control", "skip-recovery"), ("driver", "local"), ("scenario", "1.1"), ("test", "test_1_1"))
    assert found[("aarya_chaos_mttd_seconds", real)] == 0.4
    assert found[("aarya_chaos_rto_seconds", real)] == 6.5
    assert ("aarya_chaos_rto_seconds", control) not in found  # not measured: no sample
    assert found[("aarya_chaos_verdict", (*real, ("verdict", "pass")))] == 1
    flaky = (("control", ""), ("driver", "local"), ("scenario", "2.2"), ("test", "test_2_2"), ("verdict", "flaky"))
    assert found[("aarya_chaos_verdict", flaky)] == 1
    assert found[("aarya_chaos_orders_judged", real)] == 5
    assert found[("aarya_chaos_run_timestamp_seconds", (("driver", "local"),))] == 1795881600.0  # 2026-11-28T16:00:00Z
    assert openmetrics_text([RUN]).endswith(b"# EOF\n")


def test_write_metrics_in_the_reports_dir(tmp_path: Path) -> None:
    path = write_metrics(RUN, tmp_path)
    assert path == tmp_path / METRICS_FILE
    assert path.read_bytes() == openmetrics_text([RUN])
    assert sorted(p.name for p in tmp_path.iterdir()) == [METRICS_FILE]


class Pushgateway(BaseHTTPRequestHandler):
    received: list[tuple[str, str, bytes]] = []
    status = 200

    def do_PUT(self) -> None:  # noqa: N802 (http.server's name)
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        Pushgateway.received.append((self.command, self.path, body))
        self.send_response(Pushgateway.status)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def gateway() -> Iterator[str]:
    server = HTTPServer(("127.0.0.1", 0), Pushgateway)
    Pushgateway.received, Pushgateway.status = [], 200
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


def test_push_to_a_local_pushgateway(gateway: str) -> None:
    push_metrics([RUN], gateway)
    [(method, path, body)] = Pushgateway.received
    assert (method, path) == ("PUT", "/metrics/job/aarya_chaos")
    assert b'aarya_chaos_rto_seconds{control="",driver="local",scenario="1.1",test="test_1_1"} 6.5' in body


def test_a_failed_push_is_one_line_and_the_gate_keeps_the_file(gateway: str, tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    Pushgateway.status = 500
    with pytest.raises(PushError) as info:
        push_metrics([RUN], gateway)
    assert str(info.value).startswith(f"push to the Pushgateway {gateway} failed: ") and "\n" not in str(info.value)
    path = write_json(tmp_path / "latest" / "summary.json", RUN)
    code = main(["--summary", str(path), "--pushgateway", gateway, "--allow-skip"])
    out, err = capsys.readouterr()
    assert code == EXIT_FAILED  # the flaky 2.2 fails the default gate; a failed push does not hide it
    assert (tmp_path / "latest" / METRICS_FILE).is_file()
    assert "push to the Pushgateway" in err
    passing = write_json(tmp_path / "ok" / "summary.json", summary(record("1.1")))
    assert main(["--summary", str(passing), "--pushgateway", gateway]) == EXIT_PUSH_FAILED
    Pushgateway.status = 200
    assert main(["--summary", str(passing), "--pushgateway", gateway]) == EXIT_PASSED
    assert "pushed to" in capsys.readouterr().out
    assert json.loads(path.read_text()) == RUN  # the summary is untouched


def test_a_push_to_nowhere_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(PushError, match="failed: .*(refused|Errno)"):
        push_metrics([RUN], "http://127.0.0.1:9", timeout_s=2)
