"""A run's own figures as OpenMetrics text (`<reports dir>/metrics.om`), and pushed to a Prometheus Pushgateway,
so MTTD and RTO trend on a team's own dashboards.

    aarya_chaos_mttd_seconds{scenario="7.1",driver="attach",control="",test="..."} 0.168
    aarya_chaos_rto_seconds{...} 7.498
    aarya_chaos_verdict{...,verdict="pass"} 1
    aarya_chaos_orders_judged{...} 185
    aarya_chaos_run_timestamp_seconds{driver="attach"} 1.7651596870e+09

`control` is "" for a real scenario (Prometheus has no null label); `test` is the test's artifacts directory
(without a re-run's `-attemptN`), which tells two records of the same id in one run apart. A figure that was not measured has no sample.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, Gauge, push_to_gateway
from prometheus_client.openmetrics.exposition import generate_latest

from reports.gate_input import FLAKY, driver_of, figure, is_flaky, orders_judged, test_name

METRICS_FILE = "metrics.om"
JOB = "aarya_chaos"
LABELS = ("scenario", "driver", "control", "test")


class PushError(Exception):
    """The push to the Pushgateway failed; the message is one line naming the URL."""


def _labels(record: Mapping[str, Any], summary: Mapping[str, Any]) -> dict[str, str]:
    return {"scenario": str(record["id"]), "driver": driver_of(record, summary),
            "control": str(record.get("control") or ""),
            "test": test_name(record)}


def _run_timestamp(summary: Mapping[str, Any]) -> float | None:
    try:
        return datetime.fromisoformat(str((summary.get("run") or {}).get("started"))).timestamp()
    except ValueError:
        return None


def registry_of(summaries: Sequence[Mapping[str, Any]]) -> CollectorRegistry:
    """A registry holding the figures of every record of the summaries."""
    registry = CollectorRegistry()
    mttd = Gauge("aarya_chaos_mttd", "time to detect the fault", LABELS, unit="seconds", registry=registry)
    rto = Gauge("aarya_chaos_rto", "time to recover (steady again)", LABELS, unit="seconds", registry=registry)
    verdict = Gauge("aarya_chaos_verdict", "1 for the record's verdict", (*LABELS, "verdict"), registry=registry)
    orders = Gauge("aarya_chaos_orders_judged", "acknowledged writes the ledger judged", LABELS, registry=registry)
    started = Gauge("aarya_chaos_run_timestamp", "when the run started", ("driver",), unit="seconds",
                    registry=registry)
    for summary in summaries:
        when = _run_timestamp(summary)
        if when is not None:
            started.labels(driver=str((summary.get("run") or {}).get("driver") or "unknown")).set(when)
        for record in summary.get("scenarios") or []:
            labels = _labels(record, summary)
            for gauge, value in ((mttd, figure(record, "mttd_s")), (rto, figure(record, "rto_s")),
                                 (orders, orders_judged(record))):
                if value is not None:
                    gauge.labels(**labels).set(value)
            shown = FLAKY if is_flaky(record) else str(record.get("verdict"))
            verdict.labels(**labels, verdict=shown).set(1)
    return registry


def openmetrics_text(summaries: Sequence[Mapping[str, Any]]) -> bytes:
    text: bytes = generate_latest(registry_of(summaries))  # type: ignore[no-untyped-call]
    return text


def write_metrics(summary: Mapping[str, Any], reports_dir: Path) -> Path:
    """`<reports_dir>/metrics.om` with the figures of this summary; returns its path."""
    path = reports_dir / METRICS_FILE
    tmp = path.with_suffix(".om.tmp")
    tmp.write_bytes(openmetrics_text([summary]))
    tmp.replace(path)
    return path


def push_metrics(summaries: Sequence[Mapping[str, Any]], url: str, *, timeout_s: float = 10.0) -> None:
    """PUT the figures to the Pushgateway at `url` under job `aarya_chaos` (replacing the job's last push)."""
    try:
        push_to_gateway(url, job=JOB, registry=registry_of(summaries), timeout=timeout_s)
    except Exception as exc:  # urllib's errors, a bad URL, a refused connection: one line, never a traceback
        text = " ".join(str(exc).split()) or type(exc).__name__
        raise PushError(f"push to the Pushgateway {url} failed: {text}") from None
