"""The operator's records in an embedded SQLite database: the charge point registry, id
tokens, tariffs, the charging profiles sent, and settings.

One connection, used by one thread at a time: every statement runs through
``trio.to_thread.run_sync`` behind a ``CapacityLimiter(1)`` (a serialized worker), so the
event loop never blocks on disk and ``:memory:`` databases work. The registry and the id
tokens are small and read on every connection and Authorize, so they are also mirrored in
memory (loaded at ``open``, updated after each committed write); reads of those never wait
for the database.

Schema migrations are a numbered list of SQL scripts; ``PRAGMA user_version`` records how
many ran. Add a script at the end, never edit one that shipped.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import sqlite3
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, TypeVar

import orjson
import trio

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["MIGRATIONS", "ChargePointRecord", "IdTokenRecord", "OperatorStore", "hash_password", "utc_text"]

T = TypeVar("T")

# Same parameters as ``PasswordStore`` (scrypt, ~5 ms per check, run in a thread).
_SCRYPT = {"n": 1 << 12, "r": 8, "p": 1, "dklen": 32}

MIGRATIONS: tuple[str, ...] = (
    # 1: the first schema
    """
    CREATE TABLE charge_points (
        identity TEXT PRIMARY KEY,
        security_profile INTEGER,
        password_salt BLOB,
        password_hash BLOB,
        boot_status TEXT NOT NULL DEFAULT 'Accepted',
        description TEXT,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    CREATE TABLE id_tokens (
        id_token TEXT PRIMARY KEY COLLATE NOCASE,
        status TEXT NOT NULL,
        expiry_date TEXT,
        parent_id_tag TEXT,
        type TEXT,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    CREATE TABLE tariffs (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        charge_point TEXT,
        body TEXT NOT NULL,
        created_at TEXT NOT NULL
    );
    CREATE TABLE charging_profiles (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        charge_point TEXT NOT NULL,
        version TEXT NOT NULL,
        location INTEGER NOT NULL,
        profile TEXT NOT NULL,
        status TEXT NOT NULL,
        sent_at TEXT NOT NULL
    );
    CREATE INDEX charging_profiles_by_charge_point ON charging_profiles (charge_point, id);
    CREATE TABLE settings (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
    """,
)


def utc_text(when: datetime | None = None) -> str:
    """RFC 3339 UTC with milliseconds and ``Z``."""
    value = (when or datetime.now(timezone.utc)).astimezone(timezone.utc)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def hash_password(password: bytes, salt: bytes | None = None) -> tuple[bytes, bytes]:
    """(salt, scrypt digest): the ``PasswordStore`` scheme, so the database never holds secrets."""
    salt = os.urandom(16) if salt is None else salt
    return salt, hashlib.scrypt(password, salt=salt, **_SCRYPT)


@dataclass(frozen=True, slots=True)
class ChargePointRecord:
    """A registry entry (the password only as salt and scrypt digest)."""

    identity: str
    security_profile: int | None
    boot_status: str
    description: str | None
    created_at: str
    updated_at: str
    password_salt: bytes | None = None
    password_hash: bytes | None = None

    @property
    def has_password(self) -> bool:
        return self.password_hash is not None

    def check_password(self, password: bytes) -> bool:
        """Constant-time comparison (blocking: scrypt; run it in a thread)."""
        if self.password_salt is None or self.password_hash is None:
            hash_password(password, b"\0" * 16)  # the same work, whatever the outcome
            return False
        return hmac.compare_digest(hash_password(password, self.password_salt)[1], self.password_hash)

    def public(self) -> dict[str, Any]:
        return {
            "identity": self.identity,
            "security_profile": self.security_profile,
            "boot_status": self.boot_status,
            "description": self.description,
            "has_password": self.has_password,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }


@dataclass(frozen=True, slots=True)
class IdTokenRecord:
    id_token: str
    status: str
    expiry_date: str | None
    parent_id_tag: str | None
    type: str | None
    created_at: str
    updated_at: str

    def public(self) -> dict[str, Any]:
        return {
            "id_token": self.id_token,
            "status": self.status,
            "expiry_date": self.expiry_date,
            "parent_id_tag": self.parent_id_tag,
            "type": self.type,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }


_UNSET: Any = object()


class OperatorStore:
    """The SQLite store; ``await open()`` before use, ``await close()`` at the end."""

    def __init__(self, path: str = ":memory:") -> None:
        self.path = path
        self._conn: sqlite3.Connection | None = None
        self._limiter = trio.CapacityLimiter(1)
        self._charge_points: dict[str, ChargePointRecord] = {}
        self._tokens: dict[str, IdTokenRecord] = {}

    # -- plumbing -------------------------------------------------------------------------

    async def _run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        conn = self._conn
        if conn is None:
            raise RuntimeError("the operator store is not open")

        def work() -> T:
            with conn:  # one transaction per call: committed, or rolled back on error
                return fn(conn)

        return await trio.to_thread.run_sync(work, limiter=self._limiter)

    async def open(self) -> None:
        def connect() -> sqlite3.Connection:
            conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA foreign_keys = ON")
            if self.path != ":memory:":
                conn.execute("PRAGMA journal_mode = WAL")
            migrate(conn)
            return conn

        self._conn = await trio.to_thread.run_sync(connect, limiter=self._limiter)
        rows = await self._run(lambda c: c.execute("SELECT * FROM charge_points").fetchall())
        self._charge_points = {row["identity"]: _charge_point(row) for row in rows}
        rows = await self._run(lambda c: c.execute("SELECT * FROM id_tokens").fetchall())
        self._tokens = {row["id_token"].casefold(): _token(row) for row in rows}

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            await trio.to_thread.run_sync(conn.close, limiter=self._limiter)

    @property
    def is_open(self) -> bool:
        return self._conn is not None

    @property
    def schema_version(self) -> int:
        return len(MIGRATIONS)

    # -- charge points --------------------------------------------------------------------

    def charge_point(self, identity: str) -> ChargePointRecord | None:
        return self._charge_points.get(identity)

    def charge_points(self) -> list[ChargePointRecord]:
        return [self._charge_points[k] for k in sorted(self._charge_points)]

    async def put_charge_point(
        self,
        identity: str,
        *,
        security_profile: int | None = _UNSET,
        password: str | None = _UNSET,
        boot_status: str = _UNSET,
        description: str | None = _UNSET,
    ) -> ChargePointRecord:
        """Create or update (only the given fields; ``password=None`` removes it)."""
        now = utc_text()
        old = self._charge_points.get(identity)
        record = old or ChargePointRecord(identity, None, "Accepted", None, now, now)
        changes: dict[str, Any] = {"updated_at": now}
        if security_profile is not _UNSET:
            changes["security_profile"] = security_profile
        if boot_status is not _UNSET:
            changes["boot_status"] = boot_status
        if description is not _UNSET:
            changes["description"] = description
        if password is not _UNSET:
            if password is None:
                changes["password_salt"] = changes["password_hash"] = None
            else:
                salt, digest = await trio.to_thread.run_sync(hash_password, password.encode("utf-8"))
                changes["password_salt"], changes["password_hash"] = salt, digest
        record = replace(record, **changes)

        def write(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT INTO charge_points (identity, security_profile, password_salt, password_hash, boot_status,"
                " description, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (identity) DO UPDATE SET security_profile = excluded.security_profile,"
                " password_salt = excluded.password_salt, password_hash = excluded.password_hash,"
                " boot_status = excluded.boot_status, description = excluded.description,"
                " updated_at = excluded.updated_at",
                (
                    record.identity,
                    record.security_profile,
                    record.password_salt,
                    record.password_hash,
                    record.boot_status,
                    record.description,
                    record.created_at,
                    record.updated_at,
                ),
            )

        await self._run(write)
        self._charge_points[identity] = record
        return record

    async def delete_charge_point(self, identity: str) -> bool:
        found = await self._run(lambda c: c.execute("DELETE FROM charge_points WHERE identity = ?", (identity,)))
        self._charge_points.pop(identity, None)
        return found.rowcount > 0

    # -- id tokens ------------------------------------------------------------------------

    def id_token(self, id_token: str) -> IdTokenRecord | None:
        """Case-insensitive (CiString in 1.6, case-insensitive in 2.x)."""
        return self._tokens.get(id_token.casefold())

    def id_tokens(self) -> list[IdTokenRecord]:
        return [self._tokens[k] for k in sorted(self._tokens)]

    async def put_id_token(
        self,
        id_token: str,
        *,
        status: str = _UNSET,
        expiry_date: str | None = _UNSET,
        parent_id_tag: str | None = _UNSET,
        type: str | None = _UNSET,
    ) -> IdTokenRecord:
        now = utc_text()
        old = self._tokens.get(id_token.casefold())
        record = old or IdTokenRecord(id_token, "Accepted", None, None, None, now, now)
        changes: dict[str, Any] = {"updated_at": now}
        for name, value in (
            ("status", status),
            ("expiry_date", expiry_date),
            ("parent_id_tag", parent_id_tag),
            ("type", type),
        ):
            if value is not _UNSET:
                changes[name] = value
        record = replace(record, **changes)

        def write(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT INTO id_tokens (id_token, status, expiry_date, parent_id_tag, type, created_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id_token) DO UPDATE SET status = excluded.status,"
                " expiry_date = excluded.expiry_date, parent_id_tag = excluded.parent_id_tag, type = excluded.type,"
                " updated_at = excluded.updated_at",
                (
                    record.id_token,
                    record.status,
                    record.expiry_date,
                    record.parent_id_tag,
                    record.type,
                    record.created_at,
                    record.updated_at,
                ),
            )

        await self._run(write)
        self._tokens[id_token.casefold()] = record
        return record

    async def delete_id_token(self, id_token: str) -> bool:
        found = await self._run(lambda c: c.execute("DELETE FROM id_tokens WHERE id_token = ?", (id_token,)))
        self._tokens.pop(id_token.casefold(), None)
        return found.rowcount > 0

    # -- tariffs --------------------------------------------------------------------------

    async def add_tariff(self, charge_point: str | None, body: dict[str, Any]) -> dict[str, Any]:
        now = utc_text()

        def write(conn: sqlite3.Connection) -> int:
            cursor = conn.execute(
                "INSERT INTO tariffs (charge_point, body, created_at) VALUES (?, ?, ?)",
                (charge_point, orjson.dumps(body).decode(), now),
            )
            return int(cursor.lastrowid or 0)

        tariff_id = await self._run(write)
        return {"id": tariff_id, "charge_point": charge_point, **body, "created_at": now}

    async def tariffs(self, charge_point: str | None = None) -> list[dict[str, Any]]:
        """All tariffs, or those that apply to one charge point (its own and the general ones)."""
        args: tuple[str, ...] = ()
        if charge_point is None:
            query = "SELECT * FROM tariffs ORDER BY id"
        else:
            query, args = (
                "SELECT * FROM tariffs WHERE charge_point = ? OR charge_point IS NULL ORDER BY id",
                (charge_point,),
            )
        rows = await self._run(lambda c: c.execute(query, args).fetchall())
        return [_tariff(row) for row in rows]

    async def tariff(self, tariff_id: int) -> dict[str, Any] | None:
        rows = await self._run(lambda c: c.execute("SELECT * FROM tariffs WHERE id = ?", (tariff_id,)).fetchall())
        return _tariff(rows[0]) if rows else None

    async def delete_tariff(self, tariff_id: int) -> bool:
        found = await self._run(lambda c: c.execute("DELETE FROM tariffs WHERE id = ?", (tariff_id,)))
        return found.rowcount > 0

    # -- charging profiles sent -----------------------------------------------------------

    async def add_charging_profile(
        self, charge_point: str, version: str, location: int, profile: dict[str, Any], status: str
    ) -> dict[str, Any]:
        """Record a SetChargingProfile sent (``location``: 1.6 connectorId / 2.x evseId)."""
        now = utc_text()

        def write(conn: sqlite3.Connection) -> int:
            cursor = conn.execute(
                "INSERT INTO charging_profiles (charge_point, version, location, profile, status, sent_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (charge_point, version, location, orjson.dumps(profile).decode(), status, now),
            )
            return int(cursor.lastrowid or 0)

        record_id = await self._run(write)
        return _profile_record(record_id, charge_point, version, location, profile, status, now)

    async def charging_profiles(self, charge_point: str) -> list[dict[str, Any]]:
        rows = await self._run(
            lambda c: c.execute(
                "SELECT * FROM charging_profiles WHERE charge_point = ? ORDER BY id", (charge_point,)
            ).fetchall()
        )
        return [
            _profile_record(
                row["id"],
                row["charge_point"],
                row["version"],
                row["location"],
                orjson.loads(row["profile"]),
                row["status"],
                row["sent_at"],
            )
            for row in rows
        ]

    # -- settings -------------------------------------------------------------------------

    async def set_setting(self, key: str, value: Any) -> None:
        text = orjson.dumps(value).decode()
        await self._run(
            lambda c: c.execute(
                "INSERT INTO settings (key, value) VALUES (?, ?)"
                " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (key, text),
            )
        )

    async def settings(self) -> dict[str, Any]:
        rows = await self._run(lambda c: c.execute("SELECT key, value FROM settings").fetchall())
        return {row["key"]: orjson.loads(row["value"]) for row in rows}


def migrate(conn: sqlite3.Connection) -> int:
    """Run the migrations the database has not seen yet; the resulting schema version."""
    current = int(conn.execute("PRAGMA user_version").fetchone()[0])
    if current > len(MIGRATIONS):
        raise RuntimeError(f"the database has schema version {current}; this ocpp-router knows {len(MIGRATIONS)}")
    for number, script in enumerate(MIGRATIONS[current:], start=current + 1):
        conn.executescript(f"BEGIN;\n{script}\nPRAGMA user_version = {number};\nCOMMIT;")
    return len(MIGRATIONS)


def _charge_point(row: sqlite3.Row) -> ChargePointRecord:
    return ChargePointRecord(
        identity=row["identity"],
        security_profile=row["security_profile"],
        boot_status=row["boot_status"],
        description=row["description"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        password_salt=row["password_salt"],
        password_hash=row["password_hash"],
    )


def _token(row: sqlite3.Row) -> IdTokenRecord:
    return IdTokenRecord(
        id_token=row["id_token"],
        status=row["status"],
        expiry_date=row["expiry_date"],
        parent_id_tag=row["parent_id_tag"],
        type=row["type"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def _tariff(row: sqlite3.Row) -> dict[str, Any]:
    body: dict[str, Any] = orjson.loads(row["body"])
    return {"id": row["id"], "charge_point": row["charge_point"], **body, "created_at": row["created_at"]}


def _profile_record(
    record_id: int, charge_point: str, version: str, location: int, profile: dict[str, Any], status: str, sent_at: str
) -> dict[str, Any]:
    return {
        "id": record_id,
        "charge_point": charge_point,
        "version": version,
        "location": location,
        "profile": profile,
        "status": status,
        "sent_at": sent_at,
    }
