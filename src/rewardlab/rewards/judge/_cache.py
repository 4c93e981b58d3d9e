"""A persistent, content-addressed cache of judge replies (SQLite, shared across runs and processes)."""

from __future__ import annotations

import hashlib
import os
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any, Literal

import orjson

CacheMode = Literal["off", "read", "readwrite"]
CACHE_MODES: tuple[CacheMode, ...] = ("off", "read", "readwrite")

BUSY_TIMEOUT_MS = 10_000
"""How long a writer waits for another process holding the database (SQLite busy timeout)."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS replies (
    key TEXT PRIMARY KEY,
    body BLOB NOT NULL,
    created REAL NOT NULL
)
"""


def default_cache_path() -> Path:
    """``$REWARDLAB_CACHE_DIR/judge.sqlite``, else ``~/.cache/rewardlab/judge.sqlite``."""
    root = os.environ.get("REWARDLAB_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "rewardlab"
    )
    return Path(root) / "judge.sqlite"


def request_key(body: dict[str, Any]) -> str:
    """The content address of a request: SHA-256 of its canonical JSON.

    ``body`` is what decides the reply (model, messages, sampling settings), never
    transport settings (server URL, key, timeouts, retries, concurrency), so the
    same request through another URL or with other limits hits the same entry.
    """
    return hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).hexdigest()


class ReplyCache:
    """Replies by request key, in one SQLite file in WAL mode (many readers, one writer at a time)."""

    def __init__(self, path: str | Path, mode: CacheMode) -> None:
        if mode not in CACHE_MODES:
            raise ValueError(f"cache must be one of {', '.join(CACHE_MODES)}, got {mode!r}")
        self.path = Path(path)
        self.mode = mode
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_MS / 1000, check_same_thread=False)
            conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(_SCHEMA)
            conn.commit()
            self._conn = conn
        return self._conn

    def get(self, key: str) -> dict[str, Any] | None:
        if self.mode == "off":
            return None
        with self._lock:
            row = self._connection().execute("SELECT body FROM replies WHERE key = ?", (key,)).fetchone()
        return None if row is None else orjson.loads(row[0])

    def put(self, key: str, reply: dict[str, Any]) -> None:
        if self.mode != "readwrite":
            return
        with self._lock:
            conn = self._connection()
            conn.execute(
                "INSERT OR REPLACE INTO replies (key, body, created) VALUES (?, ?, ?)",
                (key, orjson.dumps(reply), time.time()),
            )
            conn.commit()

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
