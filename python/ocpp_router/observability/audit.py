"""Audit log: every OCPP-J frame as one JSON line, plus recent frames per charge point.

Each line is ``{"time": ..., "direction": "in" | "out", "identity": ..., "version": ...,
"frame": <raw text>}`` (``time`` in UTC, RFC 3339 with milliseconds). Recording a frame
never does I/O: lines go to an in-memory buffer that a writer task flushes every
``flush_interval`` seconds or once ``flush_bytes`` are waiting, with the file writes in a
worker thread. The file is rotated by size (``audit.jsonl`` → ``audit.jsonl.1`` → ...,
keeping ``keep`` rotated files). Should the disk fall behind by more than
``max_pending_bytes``, recording waits for the writer (backpressure on the sessions)
rather than dropping frames or growing without bound.

Independently of the file, the last ``ring_size`` frames of each charge point are kept in
memory for ``recent_frames(identity, limit)`` (admin API, debugging)::

    audit = AuditLog("/var/log/ocpp/audit.jsonl", max_bytes=100 << 20, keep=10)
    server = Server(router)
    audit.attach(server)                  # chains to the server's existing hooks
    async with trio.open_nursery() as nursery:
        await nursery.start(audit.run)    # the writer task
        await nursery.start(server.serve, "0.0.0.0", 9000)
        ...
        await audit.aclose()              # flush what is buffered, stop the writer
"""

from __future__ import annotations

import logging
import os
import time
from collections import OrderedDict, deque
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Literal

import orjson
import trio

from .._hooks import Hooks, compose_hooks

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from .._server import Server
    from .._session import ChargePoint

__all__ = ["AuditFrame", "AuditLog", "open_audit_log", "rfc3339_ms"]

log = logging.getLogger("ocpp_router.audit")

Direction = Literal["in", "out"]


@dataclass(frozen=True, slots=True)
class AuditFrame:
    """One frame as logged (orjson serialises it as the same object as a log line)."""

    time: str
    direction: str
    identity: str
    version: str
    frame: str

    def to_dict(self) -> dict[str, str]:
        return {
            "time": self.time,
            "direction": self.direction,
            "identity": self.identity,
            "version": self.version,
            "frame": self.frame,
        }


class _Rfc3339Clock:
    """Wall-clock time as ``2024-05-01T10:00:00.123Z``; the seconds part is cached."""

    __slots__ = ("_prefix", "_second")

    def __init__(self) -> None:
        self._second = -1
        self._prefix = ""

    def __call__(self, now: float | None = None) -> str:
        now = time.time() if now is None else now
        second = int(now)
        if second != self._second:
            self._second = second
            self._prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        millis = min(999, int((now - second) * 1000))
        return f"{self._prefix}.{millis:03d}Z"


def rfc3339_ms(now: float | None = None) -> str:
    """A POSIX timestamp (default: now) as UTC RFC 3339 with milliseconds and ``Z``."""
    return _Rfc3339Clock()(now)


class _RotatingWriter:
    """Appends bytes to ``path``, rotating by size. Used from one worker thread at a time."""

    def __init__(self, path: Path, max_bytes: int, keep: int) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self.keep = keep
        self._file: BinaryIO | None = None
        self._size = 0

    def _open(self) -> BinaryIO:
        if self._file is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = open(self.path, "ab")  # noqa: SIM115 - kept open across writes
            self._size = self._file.tell()
        return self._file

    def _rotate(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        if self.keep <= 0:
            self.path.unlink(missing_ok=True)
        else:
            base = str(self.path)
            Path(f"{base}.{self.keep}").unlink(missing_ok=True)
            for n in range(self.keep - 1, 0, -1):
                older = Path(f"{base}.{n}")
                if older.exists():
                    os.replace(older, f"{base}.{n + 1}")
            os.replace(self.path, f"{base}.1")

    def write(self, lines: list[bytes]) -> None:
        """Write whole lines; a line never straddles two files."""
        file = self._open()
        chunk: list[bytes] = []
        chunk_size = 0
        for line in lines:
            if self.max_bytes > 0 and self._size + chunk_size + len(line) > self.max_bytes and self._size + chunk_size:
                if chunk:
                    file.write(b"".join(chunk))
                    chunk, chunk_size = [], 0
                file.flush()
                self._rotate()
                file = self._open()
            chunk.append(line)
            chunk_size += len(line)
            if chunk_size >= 1 << 20:  # keep joined chunks moderate
                file.write(b"".join(chunk))
                self._size += chunk_size
                chunk, chunk_size = [], 0
        if chunk:
            file.write(b"".join(chunk))
            self._size += chunk_size
        file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


class AuditLog:
    """JSON Lines log of every frame (optional file) and a per-identity ring of recent frames.

    Args:
        path: the log file; ``None`` keeps only the in-memory ring buffers.
        max_bytes: rotate before the file would grow beyond this size (0 = never rotate).
        keep: rotated files kept besides the active one (``path.1`` newest ... ``path.<keep>``
            oldest); older ones are deleted.
        flush_interval: seconds between flushes of buffered lines.
        flush_bytes: flush sooner once this many bytes are buffered.
        max_pending_bytes: buffered bytes beyond which recording waits for the writer.
        ring_size: recent frames kept per identity (0 = none).
        max_identities: identities with a ring buffer; the least recently active is dropped.
    """

    def __init__(
        self,
        path: str | os.PathLike[str] | None,
        *,
        max_bytes: int = 100 << 20,
        keep: int = 5,
        flush_interval: float = 1.0,
        flush_bytes: int = 256 << 10,
        max_pending_bytes: int = 64 << 20,
        ring_size: int = 200,
        max_identities: int = 100_000,
    ) -> None:
        if max_bytes < 0 or keep < 0 or ring_size < 0 or flush_interval <= 0:
            raise ValueError("max_bytes, keep and ring_size must be >= 0 and flush_interval > 0")
        self.path = Path(path) if path is not None else None
        self.max_bytes = max_bytes
        self.keep = keep
        self.flush_interval = flush_interval
        self.flush_bytes = flush_bytes
        self.max_pending_bytes = max(max_pending_bytes, flush_bytes)
        self.ring_size = ring_size
        self.max_identities = max_identities
        #: Lines recorded and lines written to the file so far.
        self.frames_recorded = 0
        self.frames_written = 0
        self.bytes_written = 0
        self._clock = _Rfc3339Clock()
        self._buffer: list[bytes] = []
        self._buffered_bytes = 0
        self._wake = trio.Event()
        self._drained = trio.Event()
        self._writer = _RotatingWriter(self.path, max_bytes, keep) if self.path is not None else None
        self._rings: OrderedDict[str, deque[AuditFrame]] = OrderedDict()
        self._running = False
        self._closing = False
        self._closed = False
        """After ``aclose()`` frames are no longer buffered for the file (the rings go on)."""
        self._stopped = trio.Event()
        self._write_lock = trio.Lock()

    # -- recording --------------------------------------------------------------------------

    def record(self, identity: str, version: str, direction: Direction, text: str, when: float | None = None) -> None:
        """Record one frame (no I/O). ``when`` is a POSIX timestamp (default: now)."""
        frame = AuditFrame(self._clock(when), direction, identity, version, text)
        self.frames_recorded += 1
        if self.ring_size:
            rings = self._rings
            ring = rings.get(identity)
            if ring is None:
                ring = rings[identity] = deque(maxlen=self.ring_size)
                if len(rings) > self.max_identities:
                    rings.popitem(last=False)
            else:
                rings.move_to_end(identity)
            ring.append(frame)
        if self._writer is not None and not self._closed:
            try:
                line = orjson.dumps(frame) + b"\n"
            except TypeError:  # lone surrogates: keep the line, mark the damage
                safe = text.encode("utf-8", "replace").decode("utf-8")
                line = orjson.dumps(AuditFrame(frame.time, direction, identity, version, safe)) + b"\n"
            self._buffer.append(line)
            self._buffered_bytes += len(line)
            if self._buffered_bytes >= self.flush_bytes:
                self._wake.set()

    async def on_message(self, cp: ChargePoint, direction: str, text: str) -> None:
        """``Hooks.on_message``: record the frame; waits only when the disk is far behind."""
        self.record(cp.id, cp.version, "in" if direction == "in" else "out", text)
        if self._buffered_bytes >= self.max_pending_bytes and self._running and not self._closing:
            await self._drained.wait()

    def hooks(self, chain: Hooks | None = None) -> Hooks:
        """``Hooks`` with this log's ``on_message``, chained after ``chain``'s hooks if given."""
        return compose_hooks(chain, Hooks(on_message=self.on_message))

    def attach(self, server: Server) -> None:
        """Tap every frame of ``server`` (before it serves; keeps its existing hooks)."""
        server.hooks = self.hooks(server.hooks)

    # -- reading ----------------------------------------------------------------------------

    def recent_frames(self, identity: str, limit: int | None = None) -> list[AuditFrame]:
        """The last ``limit`` (default: all kept) frames of ``identity``, oldest first."""
        ring = self._rings.get(identity)
        if ring is None or limit == 0:
            return []
        frames = list(ring)
        return frames if limit is None or limit >= len(frames) else frames[-limit:]

    def identities(self) -> list[str]:
        """Identities with recent frames, least recently active first."""
        return list(self._rings)

    def files(self) -> list[Path]:
        """The active log file and the rotated ones that exist, newest first."""
        if self.path is None:
            return []
        candidates = [self.path, *(Path(f"{self.path}.{n}") for n in range(1, self.keep + 1))]
        return [p for p in candidates if p.exists()]

    # -- writing ----------------------------------------------------------------------------

    async def flush(self) -> None:
        """Write everything recorded so far to the file (no-op without a file)."""
        async with self._write_lock:
            if self._writer is None or not self._buffer:
                return
            batch, self._buffer, self._buffered_bytes = self._buffer, [], 0
            writer = self._writer
            try:
                with trio.CancelScope(shield=True):  # a batch is written whole or not at all
                    await trio.to_thread.run_sync(writer.write, batch)
            except OSError:
                log.exception("audit log: writing %d frames to %s failed; they are lost", len(batch), self.path)
            else:
                self.frames_written += len(batch)
                self.bytes_written += sum(map(len, batch))
            finally:
                self._drained.set()
                self._drained = trio.Event()

    async def run(self, *, task_status: trio.TaskStatus[AuditLog] = trio.TASK_STATUS_IGNORED) -> None:
        """The writer task: flush on the timer or when enough is buffered, until ``aclose()``."""
        self._running = True
        task_status.started(self)
        try:
            while not self._closing:
                with trio.move_on_after(self.flush_interval):
                    await self._wake.wait()
                self._wake = trio.Event()
                await self.flush()
        finally:
            self._running = False
            with trio.CancelScope(shield=True), trio.move_on_after(10):
                await self.flush()
                if self._writer is not None:
                    await trio.to_thread.run_sync(self._writer.close)
            self._drained.set()
            self._stopped.set()

    async def aclose(self) -> None:
        """Flush what is buffered and stop the writer task (if it runs); then close the file.

        Frames recorded afterwards still reach ``recent_frames`` but no longer the file."""
        self._closing = True
        self._wake.set()
        if self._running:
            await self._stopped.wait()
        else:
            await self.flush()
            if self._writer is not None:
                await trio.to_thread.run_sync(self._writer.close)
        self._closed = True


@asynccontextmanager
async def open_audit_log(path: str | os.PathLike[str] | None, **options: Any) -> AsyncIterator[AuditLog]:
    """``AuditLog(path, **options)`` with its writer task running for the block's duration."""
    audit = AuditLog(path, **options)
    async with trio.open_nursery() as nursery:
        await nursery.start(audit.run)
        try:
            yield audit
        finally:
            with trio.CancelScope(shield=True):
                await audit.aclose()
