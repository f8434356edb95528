"""One-shot compaction from the command line (the runbook's ``compact_analytics.py``, done safely).

    python -m stack.services.event_compactor.compact [--min-age-s N] [--stream analytics_events ...]

Reads the same environment as the service (DATABASE_URL, REDIS_URL, COMPACTOR_MIN_AGE_S, ...; SERVICE_NAME
defaults to ``event_compactor``). Prints the report as JSON on stdout. Exit status: 0 done, 1 a dependency
failed (nothing unarchived was trimmed; the partial report is still printed), 2 bad arguments.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from dataclasses import asdict

from stack.services.common.cache import Cache
from stack.services.common.db import Database
from stack.services.common.logs import configure_logging

from .compactor import STREAMS, CompactionFailed, Compactor, CompactorSettings


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m stack.services.event_compactor.compact", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--min-age-s", type=float, default=None,
                        help="archive and trim entries at least this old (default: COMPACTOR_MIN_AGE_S)")
    parser.add_argument("--stream", action="append", choices=STREAMS, default=None,
                        help="compact only this stream (repeatable; default: all three)")
    parser.add_argument("--keep-unconsumed", action=argparse.BooleanOptionalAction, default=None,
                        help="never trim what the content_services group has not consumed "
                             "(default: COMPACTOR_KEEP_UNCONSUMED, off)")
    args = parser.parse_args(argv)
    if args.min_age_s is not None and args.min_age_s < 0:
        parser.error("--min-age-s must be >= 0")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    os.environ.setdefault("SERVICE_NAME", "event_compactor")
    settings = CompactorSettings()  # read from the environment
    # Logs go to stdout as JSON lines like the service's; the report is the last line.
    log = configure_logging(settings.service_name, settings.log_level)
    if not settings.database_url or not settings.redis_url:
        log.error("DATABASE_URL and REDIS_URL must both be set")
        return 2
    db = Database(settings)
    cache = Cache(settings)
    db.open()
    try:
        result = Compactor(settings, db, cache).run_pass(args.min_age_s, args.stream, keep_unconsumed=args.keep_unconsumed)
    except CompactionFailed as exc:
        print(json.dumps({"error": str(exc), "report": {n: asdict(r) for n, r in exc.report.items()}}))
        return 1
    finally:
        cache.close()
        db.close()
    print(json.dumps(result.as_dict()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
