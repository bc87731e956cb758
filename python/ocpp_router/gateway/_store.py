"""The gateway's durable state in one SQLite file.

* ``queue``: transaction messages waiting for the upstream CSMS, in arrival order (``seq``),
  already in the upstream's version. Each row also keeps the answer the wallbox got when
  the gateway answered it itself, and the provisional 1.6 transactionId it may have handed out.
* ``tx_ids``: per wallbox, the wallbox's transactionId -> the upstream's (provisional 1.6 ids
  after replay; the 1.6 ↔ 2.0.1 translation's integer ↔ string ids).
* ``state``: per wallbox key/value JSON: the last upstream heartbeat interval, a
  BootNotification and the latest StatusNotification per connector received while the
  upstream was unreachable, translation counters.
* ``counters``: id sequences (provisional transaction ids).
* ``dead_letters``: queued messages the upstream refused (CALLERROR, invalid answer) or
  never answered after ``delivery_attempts`` tries; kept for inspection, never replayed.

Every write commits before the call returns (``synchronous=FULL``, WAL journal), so a
message the wallbox got an answer for survives a crash of the gateway. SQLite runs in
worker threads (``trio.to_thread.run_sync``), one statement batch at a time.
"""

from __future__ import annotations

import sqlite3
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import orjson
import trio

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["DeadLetter", "GatewayStore", "QueuedMessage"]

T = TypeVar("T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS queue (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    wallbox TEXT NOT NULL,
    action TEXT NOT NULL,
    payload TEXT NOT NULL,
    local_action TEXT NOT NULL,
    local_answer TEXT NOT NULL,
    provisional_id INTEGER,
    answered_locally INTEGER NOT NULL DEFAULT 0,
    attempts INTEGER NOT NULL DEFAULT 0,
    queued_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS queue_by_wallbox ON queue (wallbox, seq);
CREATE TABLE IF NOT EXISTS tx_ids (
    wallbox TEXT NOT NULL,
    local_id INTEGER NOT NULL,
    upstream_id TEXT NOT NULL,
    PRIMARY KEY (wallbox, local_id)
);
CREATE TABLE IF NOT EXISTS state (
    wallbox TEXT NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (wallbox, key)
);
CREATE TABLE IF NOT EXISTS counters (
    name TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS dead_letters (
    seq INTEGER NOT NULL,
    wallbox TEXT NOT NULL,
    action TEXT NOT NULL,
    payload TEXT NOT NULL,
    error TEXT NOT NULL,
    queued_at TEXT NOT NULL
);
"""


@dataclass(slots=True)
class QueuedMessage:
    """One queued transaction message (a row of ``queue``)."""

    seq: int
    wallbox: str
    action: str
    """The upstream action (the upstream's version)."""
    payload: dict[str, Any]
    local_action: str
    """The wallbox's action (its version)."""
    local_answer: dict[str, Any]
    """What the wallbox is answered when the gateway answers it itself."""
    provisional_id: int | None
    answered_locally: bool
    attempts: int
    queued_at: str


@dataclass(frozen=True, slots=True)
class DeadLetter:
    seq: int
    wallbox: str
    action: str
    payload: dict[str, Any]
    error: str
    queued_at: str


def _dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def _row(row: tuple[Any, ...]) -> QueuedMessage:
    seq, wallbox, action, payload, local_action, local_answer, provisional, answered, attempts, queued_at = row
    return QueuedMessage(
        seq=seq,
        wallbox=wallbox,
        action=action,
        payload=orjson.loads(payload),
        local_action=local_action,
        local_answer=orjson.loads(local_answer),
        provisional_id=provisional,
        answered_locally=bool(answered),
        attempts=attempts,
        queued_at=queued_at,
    )


def _draw(db: sqlite3.Connection, name: str, first: int) -> int:
    """The next value of counter ``name`` (inside the caller's transaction)."""
    db.execute("INSERT OR IGNORE INTO counters (name, value) VALUES (?, ?)", (name, first))
    (value,) = db.execute("SELECT value FROM counters WHERE name = ?", (name,)).fetchone()
    db.execute("UPDATE counters SET value = value + 1 WHERE name = ?", (name,))
    return int(value)


_COLUMNS = (
    "seq, wallbox, action, payload, local_action, local_answer, provisional_id, answered_locally, attempts, queued_at"
)


class GatewayStore:
    """Async access to the SQLite file (open with ``await GatewayStore.open(path)``)."""

    def __init__(self, db: sqlite3.Connection, path: str) -> None:
        self._db = db
        self.path = path
        self._lock = threading.Lock()  # one statement batch at a time on the shared connection

    @classmethod
    async def open(cls, path: str) -> GatewayStore:
        def connect() -> sqlite3.Connection:
            db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=10)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            db.executescript(_SCHEMA)
            return db

        return cls(await trio.to_thread.run_sync(connect), path)

    async def close(self) -> None:
        await self._run(self._db.close)

    async def _run(self, fn: Callable[[], T]) -> T:
        def locked() -> T:
            with self._lock:
                return fn()

        return await trio.to_thread.run_sync(locked)

    def _transaction(self, fn: Callable[[sqlite3.Connection], T]) -> Callable[[], T]:
        def run() -> T:
            db = self._db
            db.execute("BEGIN IMMEDIATE")
            try:
                result = fn(db)
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
            return result

        return run

    # -- the queue ----------------------------------------------------------------------

    async def enqueue(
        self,
        wallbox: str,
        action: str,
        payload: dict[str, Any],
        *,
        local_action: str,
        local_answer: dict[str, Any],
        queued_at: str,
        provisional_from: int | None = None,
    ) -> QueuedMessage:
        """Append a message; with ``provisional_from`` a provisional transactionId is drawn
        (the first one is ``provisional_from``) and put into ``local_answer["transactionId"]``."""

        def insert(db: sqlite3.Connection) -> QueuedMessage:
            provisional: int | None = None
            answer = dict(local_answer)
            if provisional_from is not None:
                provisional = _draw(db, "provisional_transaction_id", provisional_from)
                answer["transactionId"] = provisional
            cursor = db.execute(
                "INSERT INTO queue (wallbox, action, payload, local_action, local_answer, provisional_id, queued_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (wallbox, action, _dumps(payload), local_action, _dumps(answer), provisional, queued_at),
            )
            seq = cursor.lastrowid
            assert seq is not None
            return QueuedMessage(
                seq, wallbox, action, dict(payload), local_action, answer, provisional, False, 0, queued_at
            )

        return await self._run(self._transaction(insert))

    async def head(self, wallbox: str) -> QueuedMessage | None:
        """The oldest queued message of ``wallbox``."""

        def select() -> QueuedMessage | None:
            row = self._db.execute(
                f"SELECT {_COLUMNS} FROM queue WHERE wallbox = ? ORDER BY seq LIMIT 1", (wallbox,)
            ).fetchone()
            return None if row is None else _row(row)

        return await self._run(select)

    async def queued(self, wallbox: str | None = None) -> list[QueuedMessage]:
        """Queued messages in order (of one wallbox, or all)."""

        def select() -> list[QueuedMessage]:
            if wallbox is None:
                rows = self._db.execute(f"SELECT {_COLUMNS} FROM queue ORDER BY seq").fetchall()
            else:
                rows = self._db.execute(
                    f"SELECT {_COLUMNS} FROM queue WHERE wallbox = ? ORDER BY seq", (wallbox,)
                ).fetchall()
            return [_row(r) for r in rows]

        return await self._run(select)

    async def count(self, wallbox: str) -> int:
        def select() -> int:
            (n,) = self._db.execute("SELECT COUNT(*) FROM queue WHERE wallbox = ?", (wallbox,)).fetchone()
            return int(n)

        return await self._run(select)

    async def mark_answered_locally(self, seq: int) -> None:
        def update(db: sqlite3.Connection) -> None:
            db.execute("UPDATE queue SET answered_locally = 1 WHERE seq = ?", (seq,))

        await self._run(self._transaction(update))

    async def count_attempt(self, seq: int) -> int:
        def update(db: sqlite3.Connection) -> int:
            db.execute("UPDATE queue SET attempts = attempts + 1 WHERE seq = ?", (seq,))
            found = db.execute("SELECT attempts FROM queue WHERE seq = ?", (seq,)).fetchone()
            return int(found[0]) if found else 0

        return await self._run(self._transaction(update))

    async def delivered(self, message: QueuedMessage, mapping: tuple[int, str] | None = None) -> None:
        """Remove a delivered message; in the same transaction record ``(local_id, upstream_id)``."""

        def update(db: sqlite3.Connection) -> None:
            if mapping is not None:
                db.execute(
                    "INSERT OR REPLACE INTO tx_ids (wallbox, local_id, upstream_id) VALUES (?, ?, ?)",
                    (message.wallbox, mapping[0], mapping[1]),
                )
            db.execute("DELETE FROM queue WHERE seq = ?", (message.seq,))

        await self._run(self._transaction(update))

    async def dead_letter(self, message: QueuedMessage, error: str) -> None:
        """Move a message the upstream refused out of the queue."""

        def update(db: sqlite3.Connection) -> None:
            db.execute(
                "INSERT INTO dead_letters (seq, wallbox, action, payload, error, queued_at) VALUES (?, ?, ?, ?, ?, ?)",
                (message.seq, message.wallbox, message.action, _dumps(message.payload), error, message.queued_at),
            )
            db.execute("DELETE FROM queue WHERE seq = ?", (message.seq,))

        await self._run(self._transaction(update))

    async def dead_letters(self, wallbox: str | None = None) -> list[DeadLetter]:
        def select() -> list[DeadLetter]:
            query = "SELECT seq, wallbox, action, payload, error, queued_at FROM dead_letters"
            rows = (
                self._db.execute(query + " ORDER BY seq").fetchall()
                if wallbox is None
                else self._db.execute(query + " WHERE wallbox = ? ORDER BY seq", (wallbox,)).fetchall()
            )
            return [DeadLetter(s, w, a, orjson.loads(p), e, q) for s, w, a, p, e, q in rows]

        return await self._run(select)

    # -- transaction ids -----------------------------------------------------------------

    async def map_transaction(self, wallbox: str, local_id: int, upstream_id: str) -> None:
        def update(db: sqlite3.Connection) -> None:
            db.execute(
                "INSERT OR REPLACE INTO tx_ids (wallbox, local_id, upstream_id) VALUES (?, ?, ?)",
                (wallbox, local_id, upstream_id),
            )

        await self._run(self._transaction(update))

    async def transaction_ids(self, wallbox: str) -> dict[int, str]:
        """The wallbox's transactionId -> the upstream's (as text)."""

        def select() -> dict[int, str]:
            rows = self._db.execute("SELECT local_id, upstream_id FROM tx_ids WHERE wallbox = ?", (wallbox,))
            return {int(local): str(upstream) for local, upstream in rows.fetchall()}

        return await self._run(select)

    async def next_id(self, name: str, first: int = 1) -> int:
        """The next value of the named counter (``first`` the first time)."""

        def update(db: sqlite3.Connection) -> int:
            return _draw(db, name, first)

        return await self._run(self._transaction(update))

    # -- per-wallbox state ---------------------------------------------------------------

    async def get(self, wallbox: str, key: str, default: Any = None) -> Any:
        def select() -> Any:
            row = self._db.execute("SELECT value FROM state WHERE wallbox = ? AND key = ?", (wallbox, key)).fetchone()
            return default if row is None else orjson.loads(row[0])

        return await self._run(select)

    async def set(self, wallbox: str, key: str, value: Any) -> None:
        def update(db: sqlite3.Connection) -> None:
            db.execute(
                "INSERT OR REPLACE INTO state (wallbox, key, value) VALUES (?, ?, ?)", (wallbox, key, _dumps(value))
            )

        await self._run(self._transaction(update))

    async def delete(self, wallbox: str, key: str) -> None:
        def update(db: sqlite3.Connection) -> None:
            db.execute("DELETE FROM state WHERE wallbox = ? AND key = ?", (wallbox, key))

        await self._run(self._transaction(update))

    async def items(self, wallbox: str, prefix: str) -> dict[str, Any]:
        """State entries whose key starts with ``prefix``, by key."""

        def select() -> dict[str, Any]:
            rows = self._db.execute(
                "SELECT key, value FROM state WHERE wallbox = ? AND substr(key, 1, ?) = ? ORDER BY key",
                (wallbox, len(prefix), prefix),
            )
            return {key: orjson.loads(value) for key, value in rows.fetchall()}

        return await self._run(select)
