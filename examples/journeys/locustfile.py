"""A team's locustfile: the (imaginary) notes API under chaos, every note it writes put in the run's write ledger.

The API:
    POST /notes       {"title": ..., "body": ...} with an `Idempotency-Key` header; 201 {"id": ...}
                      (the same key sent again answers the same note, never a second one)
    GET  /notes/<id>  200 {"id": ..., "title": ..., "body": ...}

The suite's load runner starts this file with AARYA_HISTORY_DIR set; `load.journeys` writes each locust
process's history there. By hand (the aarya-chaos checkout on PYTHONPATH):

    AARYA_HISTORY_DIR=history PYTHONPATH=/path/to/aarya-chaos \\
        locust -f examples/journeys/locustfile.py --headless -u 10 -t 60s --host https://notes.staging.example

After the run, the ledger query of the team's profile reads the notes back, and checks/write_ledger.py judges
every write named "note": lost, duplicate, phantom, refused but stored. examples/journeys/README.md says how.
"""

from __future__ import annotations

import uuid
from typing import Any

from locust import FastHttpUser, between, task

from load.journeys import ledger

#: The write's name in the history: the ledger profile's `op`.
NOTE = "note"


class NoteTaker(FastHttpUser):
    wait_time = between(0.2, 1.0)

    def on_start(self) -> None:
        self.unanswered_key: str | None = None  # the key of a note whose outcome is unknown: sent again
        self.note_ids: list[str] = []

    @task(3)
    def write_note(self) -> None:
        # A retry of an unknown write must send the SAME key: a new one would be a second note if the first
        # was in fact stored, and the ledger would rightly report a duplicate of the platform's making.
        key = self.unanswered_key or str(uuid.uuid4())
        note = {"title": f"note {key[:8]}", "body": "written under chaos"}
        # The block records `unknown` if the request raises (a timeout in some clients, GreenletExit when
        # locust stops this user) before an outcome is recorded.
        with ledger.write(NOTE, key=key, value={"title": note["title"]}) as write, \
                self.client.post("/notes", json=note, headers={"Idempotency-Key": key}, name="/notes",
                                 catch_response=True) as response:
            note_id = _note_id(response)
            # 2xx acknowledged (ok); 4xx refused (fail: certainly not stored); 5xx, timeouts and lost
            # connections unknown (info: the ledger looks them up, never counts them against the platform).
            outcome = write.from_response(response, value={"id": note_id} if note_id else None)
            if outcome == "ok":
                response.success()
            else:
                response.failure(f"{outcome}: HTTP {response.status_code or 'no answer'}")
        self.unanswered_key = key if outcome == "info" else None
        if note_id:
            self.note_ids.append(note_id)

    @task(1)
    def read_note(self) -> None:
        # Reads are not writes: they are locust requests only, not in the ledger.
        if self.note_ids:
            note_id = self.note_ids[-1]
            self.client.get(f"/notes/{note_id}", name="/notes/[id]")


def _note_id(response: Any) -> str | None:
    """The id of a 2xx answer's note, or None (no answer, an error, an unreadable body)."""
    if not 200 <= (response.status_code or 0) < 300:
        return None
    try:
        note_id = response.json().get("id")
    except (ValueError, AttributeError):
        return None
    return None if note_id is None else str(note_id)
