"""A toy notes API to try examples/journeys/locustfile.py against (stdlib only; in memory; not part of the suite).

    python examples/journeys/toy_notes_api.py 38517        # serves http://127.0.0.1:38517

POST /notes is idempotent by its `Idempotency-Key`. To give the ledger something to judge, every 7th POST
stores the note and still answers 503 (an unknown outcome that happened), and every 11th POST of a new key is
refused with 409 before storing anything. GET /rows answers what a ledger query would return: one row per stored
note, {"key": ..., "id": ...}.
"""

from __future__ import annotations

import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

STORED_BUT_503_EVERY = 7
REFUSED_EVERY = 11


class Notes:
    def __init__(self) -> None:
        self.key_of: dict[str, str] = {}  # note id -> its idempotency key
        self.id_of: dict[str, str] = {}   # idempotency key -> note id
        self.posts = 0
        self.lock = threading.Lock()

    def post(self, key: str) -> tuple[int, dict[str, Any]]:
        with self.lock:
            self.posts += 1
            if self.posts % REFUSED_EVERY == 0 and key not in self.id_of:
                return 409, {"error": "refused"}
            if key not in self.id_of:
                note_id = str(len(self.key_of) + 1)
                self.key_of[note_id], self.id_of[key] = key, note_id
            answer = self.id_of[key]
            stored_but_503 = self.posts % STORED_BUT_503_EVERY == 0
        return (503, {"error": "stored, answered 503"}) if stored_but_503 else (201, {"id": answer})

    def rows(self) -> list[dict[str, str]]:
        with self.lock:
            return [{"key": key, "id": note_id} for note_id, key in self.key_of.items()]


NOTES = Notes()


class Handler(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass

    def answer(self, status: int, body: object) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        key = self.headers.get("Idempotency-Key")
        if self.path != "/notes" or not key:
            self.answer(400, {"error": "POST /notes with an Idempotency-Key"})
            return
        self.answer(*NOTES.post(key))

    def do_GET(self) -> None:
        if self.path == "/rows":
            self.answer(200, NOTES.rows())
            return
        note_id = self.path.rsplit("/", 1)[-1]
        if self.path.startswith("/notes/") and note_id in NOTES.key_of:
            self.answer(200, {"id": note_id, "title": f"note {NOTES.key_of[note_id][:8]}"})
        else:
            self.answer(404, {"error": "no such note"})


if __name__ == "__main__":
    ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1]) if len(sys.argv) > 1 else 38517), Handler).serve_forever()
