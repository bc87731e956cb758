"""The charge-point event stream: nodes append, other services read with consumer groups.

Every incoming CALL (and 2.1 SEND) of every charge point becomes one stream entry, plus a
``connected`` / ``disconnected`` entry per session. Delivery to consumer groups is at least
once; ``key`` (identity / connection / message id) is the same for every copy of one event,
so consumers deduplicate on it (``EventConsumer.deduplicate``).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson
import trio
from glide import (
    Batch,
    GlideError,
    RequestError,
    StreamAddOptions,
    StreamGroupOptions,
    StreamReadGroupOptions,
    TrimByMaxLen,
)

from .._time import utc_now
from ._config import open_client
from ._keys import Keys

if TYPE_CHECKING:
    from glide import GlideClient

    from .._session import ChargePoint

__all__ = ["ClusterEvent", "EventConsumer", "EventPublisher"]

log = logging.getLogger("ocpp_router.cluster")

_BATCH = 256


class EventPublisher:
    """Buffers events in memory and appends them to the stream in pipelined batches.

    ``frame()`` never waits (the receive loop of a charge point calls it): when the buffer is
    full (engine away for long) events are dropped and counted in ``dropped``.
    """

    def __init__(self, stream_key: str, maxlen: int, buffer: int, node_id: str) -> None:
        self.stream_key = stream_key
        self.node_id = node_id
        self.options = StreamAddOptions(trim=TrimByMaxLen(exact=False, threshold=maxlen))
        self._send, self._recv = trio.open_memory_channel[dict[str, str]](buffer)
        self._unsent: list[dict[str, str]] = []
        self.published = 0
        self.dropped = 0

    def _submit(self, fields: dict[str, str]) -> None:
        try:
            self._send.send_nowait(fields)
        except trio.WouldBlock:
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 1000 == 0:
                log.warning("event stream buffer full: %d events dropped so far", self.dropped)

    def frame(self, cp: ChargePoint, text: str, connection: str) -> None:
        """A frame the charge point sent: CALLs and SENDs become events."""
        try:
            message = orjson.loads(text)
        except orjson.JSONDecodeError:
            return
        if not (isinstance(message, list) and len(message) == 4 and message[0] in (2, 6)):
            return
        message_id, action, payload = message[1], message[2], message[3]
        if not (isinstance(message_id, str) and isinstance(action, str)):
            return
        self._submit(
            {
                "kind": "call" if message[0] == 2 else "send",
                "identity": cp.id,
                "messageId": message_id,
                "action": action,
                "payload": orjson.dumps(payload).decode(),
                "version": cp.version,
                "node": self.node_id,
                "connection": connection,
                "time": utc_now(),
                "key": f"{cp.id}/{connection}/{message_id}",
            }
        )

    def lifecycle(self, cp: ChargePoint, kind: str, connection: str, generation: int | None) -> None:
        """``connected`` / ``disconnected`` of a session."""
        self._submit(
            {
                "kind": kind,
                "identity": cp.id,
                "messageId": "",
                "action": "",
                "payload": orjson.dumps({"generation": generation, "closeCode": cp.close_code}).decode(),
                "version": cp.version,
                "node": self.node_id,
                "connection": connection,
                "time": utc_now(),
                "key": f"{cp.id}/{connection}/{kind}",
            }
        )

    async def run(self, client: GlideClient) -> None:
        """Append buffered events until cancelled; retries (with back-off) while the engine is away."""
        while True:
            if not self._unsent:
                self._unsent.append(await self._recv.receive())
                self._drain()
            delay = 0.1
            while True:
                try:
                    await self._append(client, self._unsent)
                    break
                except GlideError as exc:
                    log.warning("event stream: %d events waiting, engine error: %s", len(self._unsent), exc)
                    await trio.sleep(delay)
                    delay = min(2.0, delay * 2)
            self.published += len(self._unsent)
            self._unsent = []

    def _drain(self) -> None:
        while len(self._unsent) < _BATCH:
            try:
                self._unsent.append(self._recv.receive_nowait())
            except trio.WouldBlock:
                return

    async def flush(self, client: GlideClient) -> None:
        """Append what is buffered now (at shutdown)."""
        self._drain()
        while self._unsent:
            try:
                await self._append(client, self._unsent)
            except GlideError as exc:
                log.warning("event stream: %d events lost at shutdown: %s", len(self._unsent), exc)
                return
            self.published += len(self._unsent)
            self._unsent = []
            self._drain()

    async def _append(self, client: GlideClient, events: list[dict[str, str]]) -> None:
        batch = Batch(is_atomic=False)
        for fields in events:
            batch.xadd(self.stream_key, list(fields.items()), self.options)
        await client.exec(batch, raise_on_error=True)


@dataclass(slots=True)
class ClusterEvent:
    """One stream entry. ``key`` identifies the event across duplicates (deduplicate on it)."""

    stream_id: str
    kind: str
    """``call`` (an incoming CALL), ``send`` (2.1 SEND), ``connected``, ``disconnected``."""
    identity: str
    message_id: str
    action: str
    payload: Any
    version: str
    node: str
    connection: str
    time: str
    key: str
    fields: dict[str, str] = field(repr=False, default_factory=dict)

    @classmethod
    def from_entry(cls, stream_id: bytes | str, pairs: Any) -> ClusterEvent:
        fields: dict[str, str] = {}
        for pair in pairs or []:
            name, value = pair
            fields[name.decode() if isinstance(name, bytes) else str(name)] = (
                value.decode() if isinstance(value, bytes) else str(value)
            )
        raw = fields.get("payload", "null")
        try:
            payload = orjson.loads(raw)
        except orjson.JSONDecodeError:
            payload = raw
        return cls(
            stream_id=stream_id.decode() if isinstance(stream_id, bytes) else stream_id,
            kind=fields.get("kind", ""),
            identity=fields.get("identity", ""),
            message_id=fields.get("messageId", ""),
            action=fields.get("action", ""),
            payload=payload,
            version=fields.get("version", ""),
            node=fields.get("node", ""),
            connection=fields.get("connection", ""),
            time=fields.get("time", ""),
            key=fields.get("key", ""),
            fields=fields,
        )


class EventConsumer:
    """Read the event stream as one consumer of a consumer group::

        async with EventConsumer("redis://host:6379", group="billing", consumer="billing-1") as events:
            while True:
                for event in await events.read():
                    if await events.deduplicate(event):
                        handle(event)
                    await events.ack(event)

    ``read()`` returns, in this order: entries this consumer received earlier but never
    acknowledged (after a restart), entries other consumers left unacknowledged for
    ``claim_idle`` seconds (they died), then new entries (waiting up to ``block`` seconds).
    """

    def __init__(
        self,
        url: str,
        group: str,
        consumer: str,
        *,
        prefix: str = "ocpp:",
        stream: str = "events",
        block: float = 1.0,
        count: int = 100,
        claim_idle: float = 30.0,
        start: str = "0",
        dedup_ttl: float = 86_400.0,
    ) -> None:
        self.url = url
        self.group = group
        self.consumer = consumer
        self.keys = Keys(prefix)
        self.stream_key = self.keys.stream(stream)
        self.block = block
        self.count = count
        self.claim_idle = claim_idle
        self.start = start
        """Where a new group starts: ``0`` (the whole stream) or ``$`` (only new events)."""
        self.dedup_ttl = dedup_ttl
        self.client: GlideClient | None = None
        self._own_pending = True
        self._next_claim = 0.0
        self._claim_cursor = "0-0"

    async def __aenter__(self) -> EventConsumer:
        # XREADGROUP BLOCK holds the connection: this client is the consumer's alone.
        self.client = await open_client(
            self.url, command_timeout=self.block + 5.0, client_name=f"ocpp-events:{self.group}:{self.consumer}"
        )
        try:
            await self.client.xgroup_create(
                self.stream_key, self.group, self.start, StreamGroupOptions(make_stream=True)
            )
        except RequestError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        client, self.client = self.client, None
        if client is not None:
            with trio.CancelScope(shield=True), trio.move_on_after(2):
                await client.close()

    def _require(self) -> GlideClient:
        if self.client is None:
            raise RuntimeError("use EventConsumer as `async with EventConsumer(...) as events:`")
        return self.client

    async def read(self) -> list[ClusterEvent]:
        """The next events for this consumer (an empty list after ``block`` seconds of silence)."""
        client = self._require()
        if self._own_pending:
            events = await self._read_group(client, "0", block=False)
            if events:
                return events
            self._own_pending = False
        now = time.monotonic()
        if now >= self._next_claim:
            claimed = await self._claim(client)
            if claimed:
                return claimed
            self._next_claim = now + min(self.claim_idle / 2, 5.0)
        return await self._read_group(client, ">", block=True)

    async def _read_group(self, client: GlideClient, position: str, *, block: bool) -> list[ClusterEvent]:
        options = StreamReadGroupOptions(block_ms=max(1, int(self.block * 1000)) if block else None, count=self.count)
        reply = await client.xreadgroup({self.stream_key: position}, self.group, self.consumer, options)
        events: list[ClusterEvent] = []
        for entries in (reply or {}).values():
            for stream_id, pairs in entries.items():
                if pairs is not None:  # None: entry trimmed away while pending
                    events.append(ClusterEvent.from_entry(stream_id, pairs))
        return events

    async def _claim(self, client: GlideClient) -> list[ClusterEvent]:
        reply = await client.xautoclaim(
            self.stream_key,
            self.group,
            self.consumer,
            max(0, int(self.claim_idle * 1000)),
            self._claim_cursor,
            count=self.count,
        )
        cursor = reply[0]
        self._claim_cursor = cursor.decode() if isinstance(cursor, bytes) else str(cursor)
        entries = reply[1]
        events: list[ClusterEvent] = []
        if isinstance(entries, dict):
            for stream_id, pairs in entries.items():
                if pairs:
                    events.append(ClusterEvent.from_entry(stream_id, pairs))
        return events

    async def ack(self, *events: ClusterEvent) -> int:
        """Acknowledge processed events (they leave the group's pending list)."""
        if not events:
            return 0
        client = self._require()
        return await client.xack(self.stream_key, self.group, [event.stream_id for event in events])

    async def deduplicate(self, event: ClusterEvent) -> bool:
        """True the first time the group sees ``event.key`` (kept for ``dedup_ttl`` seconds).

        Marks before processing: a consumer that dies between this and its work loses that
        event. For effects that must happen exactly once, store ``event.key`` with the effect
        (same transaction) instead.
        """
        client = self._require()
        marked = await client.custom_command(
            ["SET", self.keys.dedup(self.group, event.key), event.stream_id, "NX", "EX", str(int(self.dedup_ttl))]
        )
        return marked is not None
