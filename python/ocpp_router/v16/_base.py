"""What the OCPP 1.6 profile plugins share: the base class, storage layout, time and records.

Every plugin keeps its state in the server's ``Storage`` under its own namespace; the few
facts that cross profiles live here so that no plugin imports another's internals:

* the registration state (written by ``CorePlugin``, read by every plugin's helpers: a
  Rejected charge point is not called, a Pending one gets no remote start/stop);
* "triggered" marks (written by ``TriggerMessage``/``ExtendedTriggerMessage`` helpers, read
  by the core's Pending guard, which lets a triggered message through).
"""

from __future__ import annotations

import dataclasses
import re
import time
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

import trio

from .._messages import to_payload
from .._plugin import Plugin
from .._versions import V16
from ..errors import LocalProtocolError

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from _typeshed import DataclassInstance

    from .._session import ChargePoint
    from .._storage import Storage

__all__ = ["NotAcceptedError", "V16Plugin"]

#: Storage namespaces (one per profile plus the shared ones).
NS_CORE = "v16.core"
NS_TRANSACTIONS = "v16.core.transactions"
NS_METER_VALUES = "v16.core.meter_values"
NS_TRIGGERS = "v16.triggers"

#: Upper bound for bookkeeping after-hooks that outlive their connection.
_SHIELDED_HOOK_SECONDS = 10.0

#: Actions a charge point may not be sent while its registration is Pending (1.6 §4.2).
_NOT_WHILE_PENDING = frozenset({"RemoteStartTransaction", "RemoteStopTransaction"})

R = TypeVar("R", bound="DataclassInstance")
AfterHook = Callable[["ChargePoint", Any, Any], Awaitable[None]]


class NotAcceptedError(LocalProtocolError):
    """The charge point's registration forbids this call (nothing was sent).

    OCPP 1.6 §4.2: while Rejected the CSMS should not initiate any message; while Pending it
    must not send RemoteStartTransaction or RemoteStopTransaction.
    """


# -- time ---------------------------------------------------------------------------------

_ISO = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?\s*(Z|z|[+-]\d{2}(?::?\d{2})?)?"
)


#: Sorts before every real timestamp (for records whose time is unreadable).
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def utc_datetime() -> datetime:
    return datetime.now(timezone.utc)


def parse_time(text: object) -> datetime | None:
    """An ISO 8601 timestamp as an aware UTC datetime, or None when unreadable.

    Lenient on purpose (1.6 stations send offsets, ``Z``, no offset at all, any number of
    fraction digits); a missing offset is taken as UTC.
    """
    if not isinstance(text, str):
        return None
    match = _ISO.fullmatch(text.strip())
    if match is None:
        return None
    year, month, day, hour, minute, second, fraction, offset = match.groups()
    micro = int((fraction or "0")[:6].ljust(6, "0"))
    tz = timezone.utc
    if offset and offset not in "Zz":
        sign = -1 if offset[0] == "-" else 1
        digits = offset[1:].replace(":", "")
        tz = timezone(sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:4] or 0)))
    try:
        parsed = datetime(int(year), int(month), int(day), int(hour), int(minute), int(second or 0), micro, tz)
    except ValueError:
        return None
    return parsed.astimezone(timezone.utc)


def format_time(value: datetime | str) -> str:
    """RFC 3339 UTC with milliseconds and ``Z``; strings are passed through unchanged."""
    if isinstance(value, str):
        return value
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    value = value.astimezone(timezone.utc)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def normalize_time(text: str) -> str:
    """The canonical form of a timestamp (for dedupe keys); unreadable text stays as is."""
    parsed = parse_time(text)
    return format_time(parsed) if parsed is not None else text


# -- records ------------------------------------------------------------------------------


def load_record(cls: type[R], data: Mapping[str, Any]) -> R:
    """A record dataclass from its stored (JSON) form; unknown keys are ignored."""
    names = {f.name for f in dataclasses.fields(cls)}
    return cls(**{k: v for k, v in data.items() if k in names})


def dump_record(record: DataclassInstance) -> dict[str, Any]:
    return dataclasses.asdict(record)


def wire(message: Any) -> dict[str, Any]:
    """A request or response as its JSON object, whether a handler saw a dict or a typed object."""
    payload = to_payload(message)
    return payload if isinstance(payload, dict) else {}


def text(value: object) -> str | None:
    """An enum member or plain string as the exact wire string (None stays None)."""
    if value is None:
        return None
    return str(getattr(value, "value", value))


@dataclasses.dataclass(frozen=True, slots=True)
class StatusEvent:
    """One status report of a charge point (firmware, diagnostics, log upload, ...)."""

    status: str
    received_at: str
    request_id: int | None = None


# -- shared state -------------------------------------------------------------------------


async def registration_status(storage: Storage, identity: str) -> str | None:
    """Accepted, Pending, Rejected, or None when the CSMS never saw a BootNotification."""
    record = await storage.get(NS_CORE, identity, "registration")
    return record.get("status") if isinstance(record, dict) else None


async def expect_triggered(storage: Storage, identity: str, action: str, window: float) -> float:
    """Let ``action`` through the Pending guard for ``window`` seconds; returns the mark."""
    until = time.time() + window
    await storage.set(NS_TRIGGERS, identity, action, until)
    return until


async def forget_triggered(storage: Storage, identity: str, action: str, mark: float) -> None:
    """Withdraw a mark (the trigger was refused), unless a newer trigger replaced it."""
    if await storage.get(NS_TRIGGERS, identity, action) == mark:
        await storage.delete(NS_TRIGGERS, identity, action)


async def was_triggered(storage: Storage, identity: str, action: str) -> bool:
    until = await storage.get(NS_TRIGGERS, identity, action)
    return isinstance(until, (int, float)) and until >= time.time()


async def append_bounded(storage: Storage, namespace: str, identity: str, key: str, item: Any, limit: int) -> None:
    """Append to a stored list, keeping the newest ``limit`` items."""
    items = await storage.get(namespace, identity, key) or []
    items.append(item)
    await storage.set(namespace, identity, key, items[-limit:])


def _shielded(hook: AfterHook) -> AfterHook:
    async def shielded(cp: ChargePoint, request: Any, response: Any) -> None:
        with trio.CancelScope(shield=True), trio.move_on_after(_SHIELDED_HOOK_SECONDS):
            await hook(cp, request, response)

    shielded.__qualname__ = getattr(hook, "__qualname__", "hook")
    return shielded


# -- base class ---------------------------------------------------------------------------


class V16Plugin(Plugin):
    """Base of the 1.6 profile plugins: typed handlers for 1.6 only, checked helper calls."""

    versions: ClassVar[tuple[str, ...]] = (V16,)

    def __init__(self) -> None:
        super().__init__()
        #: The plugin's wall clock (aware UTC); replace it in tests to move time.
        self.clock: Callable[[], datetime] = utc_datetime

    def now(self) -> datetime:
        return self.clock()

    def now_text(self) -> str:
        return format_time(self.clock())

    def handle(self, action: str, handler: Callable[[ChargePoint, Any], Awaitable[Any]]) -> None:
        """Serve ``action`` (1.6 connections only) with a handler taking the typed request."""
        self.router.on(action, version=V16, typed=True)(handler)

    def after(self, action: str, hook: AfterHook, *, shielded: bool = False) -> None:
        """Observe ``action`` after it was answered, whoever answered it (app or plugin).

        After-hooks run in the connection's nursery, which is cancelled when the charge point
        disconnects; ``shielded`` hooks (short storage bookkeeping) finish regardless.
        """
        self.router.after(action, version=V16)(_shielded(hook) if shielded else hook)

    async def request(self, identity: str, message: Any, *, timeout: float | None = None) -> Any:
        """Send a typed 1.6 request and return the typed response.

        Refuses (``NotAcceptedError``, ``LocalProtocolError``) what must not be sent: calls to
        a Rejected charge point, remote start/stop to a Pending one, 1.6 messages to a
        charge point connected with another version.
        """
        action = type(message).__name__.removesuffix("Request")
        cp = self.server.get(identity)
        if cp is not None and cp.version != V16:
            raise LocalProtocolError(f"{identity!r} speaks OCPP {cp.version}; {action} is an OCPP 1.6 message")
        status = await registration_status(self.storage, identity)
        if status == "Rejected" or (status == "Pending" and action in _NOT_WHILE_PENDING):
            raise NotAcceptedError(f"{identity!r} is {status}: {action} must not be sent")
        # The action name is passed explicitly: ``ChargePoint.call`` takes a lone object with a
        # string ``.value`` for an Action enum member, and ChangeConfigurationRequest has one.
        return await self.call(identity, action, message, timeout=timeout)

    async def triggered_request(
        self, identity: str, message: Any, actions: Iterable[str], window: float, *, timeout: float | None
    ) -> Any:
        """Send a (Extended)TriggerMessage, letting the messages it triggers through the
        Pending guard. The mark is set *before* sending: the charge point may send the
        triggered message right behind its answer, before this task sees the answer."""
        storage = self.storage
        marks = {action: await expect_triggered(storage, identity, action, window) for action in actions}
        response = None
        try:
            response = await self.request(identity, message, timeout=timeout)
            return response
        finally:
            if text(getattr(response, "status", None)) != "Accepted":
                with trio.CancelScope(shield=True):
                    for action, mark in marks.items():
                        await forget_triggered(storage, identity, action, mark)

    # Per-identity state in this plugin's namespace, typed as records.
    async def load_list(self, cls: type[R], identity: str, key: str) -> list[R]:
        return [load_record(cls, item) for item in await self.load(identity, key, [])]
