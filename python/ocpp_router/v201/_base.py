"""What the OCPP 2.0.1 functional-block plugins share: the base class, storage layout,
registration state, "expected message" marks, id tokens and device-model references.

The plugins serve 2.0.1 *and* 2.1 connections (2.1 only adds fields and enum values to the
messages of blocks A-H). Incoming payloads are handled as wire dicts, so 2.1 extras are
kept; CSMS-initiated helpers send wire dicts and return the 2.0.1 typed response (on a 2.1
connection the 2.1-only response fields are dropped from the typed view).

Facts that cross blocks live here so no plugin imports another's internals:

* the registration state (written by ``ProvisioningPlugin``, read by every helper: a
  Rejected station is not called, a Pending one gets no RequestStart/StopTransaction);
* "expected" marks: a TriggerMessage, GetBaseReport or GetReport lets the messages it asks
  for through the Pending guard (per requestId where the message carries one).

Version-neutral utilities (timestamps, record (de)serialisation) come from the 1.6 base.
"""

from __future__ import annotations

import dataclasses
import re
import time
from collections.abc import Awaitable, Callable, Hashable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

import trio

from .. import v201
from .._messages import to_payload
from .._plugin import Plugin
from .._versions import V21, V201
from ..errors import LocalProtocolError, OcppError
from ..v16._base import (
    EPOCH,
    StatusEvent,
    append_bounded,
    dump_record,
    format_time,
    load_record,
    normalize_time,
    parse_time,
    text,
    utc_datetime,
    wire,
)

if TYPE_CHECKING:
    from datetime import datetime

    from _typeshed import DataclassInstance

    from .._session import ChargePoint
    from .._storage import Storage

__all__ = [
    "EPOCH",
    "NS_EXPECTED",
    "NS_PROVISIONING",
    "VERSIONS",
    "Assembled",
    "MultipartRefusedError",
    "MultipartTimeoutError",
    "NotAcceptedError",
    "Notifier",
    "PartsAssembler",
    "StatusEvent",
    "V201Plugin",
    "VariableRef",
    "VariableResult",
    "append_bounded",
    "dump_record",
    "expect",
    "format_time",
    "id_token_key",
    "id_token_wire",
    "is_expected",
    "load_record",
    "normalize_time",
    "parse_time",
    "registration_status",
    "status_info",
    "text",
    "unexpect",
    "utc_datetime",
    "variable_results",
    "variable_value",
    "wire",
]

#: The versions the block plugins serve.
VERSIONS: tuple[str, ...] = (V201, V21)

#: Storage namespaces shared between blocks.
NS_PROVISIONING = "v201.provisioning"
NS_EXPECTED = "v201.expected"

#: Actions a CSMS does not send while the registration is Pending (same rule as 1.6 §4.2).
_NOT_WHILE_PENDING = frozenset({"RequestStartTransaction", "RequestStopTransaction"})

R = TypeVar("R")
T = TypeVar("T")
D = TypeVar("D", bound="DataclassInstance")
Handler = Callable[["ChargePoint", dict[str, Any]], Awaitable[Any]]
AfterHook = Callable[["ChargePoint", Any, Any], Awaitable[None]]


class NotAcceptedError(LocalProtocolError):
    """The station's registration forbids this call (nothing was sent).

    OCPP 2.0.1 (errata 2023-12): while Rejected the CSMS must not initiate any message;
    while Pending this library also refuses RequestStartTransaction/RequestStopTransaction.
    """


# -- shared state -------------------------------------------------------------------------


async def registration_status(storage: Storage, identity: str) -> str | None:
    """Accepted, Pending, Rejected, or None when the CSMS never saw a BootNotification."""
    record = await storage.get(NS_PROVISIONING, identity, "registration")
    return record.get("status") if isinstance(record, dict) else None


def _expect_key(action: str, request_id: int | None) -> str:
    return action if request_id is None else f"{action}#{request_id}"


async def expect(
    storage: Storage, identity: str, action: str, window: float, *, request_id: int | None = None
) -> float:
    """Let ``action`` (only the one with this ``requestId`` when given) through the Pending
    guard for ``window`` seconds; returns the mark (for ``unexpect``)."""
    until = time.time() + window
    await storage.set(NS_EXPECTED, identity, _expect_key(action, request_id), until)
    return until


async def unexpect(
    storage: Storage, identity: str, action: str, mark: float | None = None, *, request_id: int | None = None
) -> None:
    """Withdraw a mark (``mark=None``: whatever is there; else only if no newer one replaced it)."""
    key = _expect_key(action, request_id)
    if mark is None or await storage.get(NS_EXPECTED, identity, key) == mark:
        await storage.delete(NS_EXPECTED, identity, key)


async def is_expected(storage: Storage, identity: str, action: str, payload: Any) -> bool:
    """Whether the CSMS asked for this message (a trigger or a report request)."""
    keys = [action]
    request_id = payload.get("requestId") if isinstance(payload, Mapping) else None
    if isinstance(request_id, int):
        keys.append(_expect_key(action, request_id))
    now = time.time()
    for key in keys:
        until = await storage.get(NS_EXPECTED, identity, key)
        if isinstance(until, (int, float)) and until >= now:
            return True
    return False


# -- id tokens ----------------------------------------------------------------------------


def id_token_wire(value: str | v201.IdTokenType | Mapping[str, Any], token_type: object) -> dict[str, Any]:
    """An id token as its wire object: a plain string gets ``token_type`` (any string, so
    2.1's open token types work too)."""
    if isinstance(value, str):
        return {"idToken": value, "type": text(token_type)}
    if isinstance(value, v201.IdTokenType):
        return value.to_wire()
    return dict(value)


def id_token_key(id_token: Mapping[str, Any] | v201.IdTokenType) -> str:
    """``"<type>:<idToken>"`` with the token case-folded (2.x id tokens are case-insensitive)."""
    data = id_token.to_wire() if isinstance(id_token, v201.IdTokenType) else id_token
    return f"{text(data.get('type'))}:{str(data.get('idToken', '')).casefold()}"


# -- device model -------------------------------------------------------------------------

_REF = re.compile(
    r"(?P<component>[^.\[\]@/]+)(?:\[(?P<component_instance>[^\]]*)\])?"
    r"(?:@(?P<evse_id>\d+)(?::(?P<connector_id>\d+))?)?"
    r"\.(?P<variable>[^\[\]/]+)(?:\[(?P<variable_instance>[^\]]*)\])?"
    r"(?:/(?P<attribute>Actual|Target|MinSet|MaxSet))?"
)


@dataclasses.dataclass(frozen=True, slots=True)
class VariableRef:
    """One variable attribute of the device model.

    Written as ``Component[instance]@evse:connector.Variable[instance]/Attribute``; every
    part but ``Component.Variable`` is optional (attribute ``Actual`` by default), e.g.
    ``"OCPPCommCtrlr.HeartbeatInterval"``, ``"EVSE@1.AvailabilityState"``,
    ``"OCPPCommCtrlr.MessageAttempts[TransactionEvent]"``.
    """

    component: str
    variable: str
    component_instance: str | None = None
    variable_instance: str | None = None
    evse_id: int | None = None
    connector_id: int | None = None
    attribute: str = "Actual"

    @classmethod
    def parse(cls, value: str | VariableRef) -> VariableRef:
        if isinstance(value, VariableRef):
            return value
        match = _REF.fullmatch(value.strip())
        if match is None:
            raise ValueError(f"not a variable reference (Component.Variable): {value!r}")
        g = match.groupdict()
        return cls(
            component=g["component"],
            variable=g["variable"],
            component_instance=g["component_instance"],
            variable_instance=g["variable_instance"],
            evse_id=int(g["evse_id"]) if g["evse_id"] is not None else None,
            connector_id=int(g["connector_id"]) if g["connector_id"] is not None else None,
            attribute=g["attribute"] or "Actual",
        )

    @classmethod
    def from_wire(cls, component: Mapping[str, Any], variable: Mapping[str, Any], attribute: Any = None) -> VariableRef:
        evse = component.get("evse") or {}
        return cls(
            component=str(component["name"]),
            variable=str(variable["name"]),
            component_instance=component.get("instance"),
            variable_instance=variable.get("instance"),
            evse_id=evse.get("id"),
            connector_id=evse.get("connectorId"),
            attribute=text(attribute) or "Actual",
        )

    @property
    def key(self) -> str:
        """The canonical text form (``parse(ref.key) == ref``)."""
        out = self.component
        if self.component_instance is not None:
            out += f"[{self.component_instance}]"
        if self.evse_id is not None:
            out += f"@{self.evse_id}"
            if self.connector_id is not None:
                out += f":{self.connector_id}"
        out += f".{self.variable}"
        if self.variable_instance is not None:
            out += f"[{self.variable_instance}]"
        if self.attribute != "Actual":
            out += f"/{self.attribute}"
        return out

    def __str__(self) -> str:
        return self.key

    def component_type(self) -> v201.ComponentType:
        evse = None
        if self.evse_id is not None:
            evse = v201.EVSEType(id=self.evse_id, connector_id=self.connector_id)
        return v201.ComponentType(name=self.component, instance=self.component_instance, evse=evse)

    def variable_type(self) -> v201.VariableType:
        return v201.VariableType(name=self.variable, instance=self.variable_instance)

    def attribute_type(self) -> v201.AttributeEnumType | None:
        """None for ``Actual`` (the default the station assumes)."""
        return None if self.attribute == "Actual" else v201.AttributeEnumType(self.attribute)


@dataclasses.dataclass(frozen=True, slots=True)
class VariableResult:
    """The station's answer for one variable of a GetVariables or SetVariables call."""

    ref: VariableRef
    status: str
    """GetVariables: Accepted, Rejected, UnknownComponent, UnknownVariable,
    NotSupportedAttributeType; SetVariables adds RebootRequired."""
    value: str | None = None
    """GetVariables: the value read; SetVariables: the value written."""
    reason_code: str | None = None
    additional_info: str | None = None

    @property
    def key(self) -> str:
        return self.ref.key

    @property
    def ok(self) -> bool:
        """Read, or written (possibly effective only after a reboot)."""
        return self.status in ("Accepted", "RebootRequired")


def variable_value(value: object) -> str:
    """A Python value as a device-model attribute value (booleans as ``true``/``false``)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def variable_results(
    items: Iterable[Mapping[str, Any]], written: Mapping[str, str] | None = None
) -> dict[str, VariableResult]:
    """``getVariableResult`` / ``setVariableResult`` items as results keyed by ``ref.key``."""
    results: dict[str, VariableResult] = {}
    for item in items:
        ref = VariableRef.from_wire(item["component"], item["variable"], item.get("attributeType"))
        info = item.get("attributeStatusInfo") or {}
        value = item.get("attributeValue") if written is None else written.get(ref.key)
        results[ref.key] = VariableResult(
            ref=ref,
            status=str(text(item["attributeStatus"])),
            value=value,
            reason_code=info.get("reasonCode"),
            additional_info=info.get("additionalInfo"),
        )
    return results


# -- base class ---------------------------------------------------------------------------


class V201Plugin(Plugin):
    """Base of the 2.0.1 functional-block plugins (serving 2.0.1 and 2.1 connections)."""

    versions: ClassVar[tuple[str, ...]] = VERSIONS

    def __init__(self) -> None:
        super().__init__()
        #: The plugin's wall clock (aware UTC); replace it in tests to move time.
        self.clock: Callable[[], datetime] = utc_datetime

    def now(self) -> datetime:
        return self.clock()

    def now_text(self) -> str:
        return format_time(self.clock())

    def handle(self, action: str, handler: Handler) -> None:
        """Serve ``action`` on 2.0.1 and 2.1 connections with ``async (cp, payload: dict)``."""
        self.router.on(action, version=self.versions, typed=False)(handler)

    def after(self, action: str, hook: AfterHook) -> None:
        """Observe ``action`` after it was answered, whoever answered it (app or plugin)."""
        self.router.after(action, version=self.versions)(hook)

    def plugin(self, cls: type[R]) -> R | None:
        """Another installed plugin of type ``cls`` (None when not installed)."""
        for candidate in self.server.plugins.values():
            if isinstance(candidate, cls):
                return candidate
        return None

    async def check_callable(self, identity: str, action: str) -> None:
        """Raise when ``action`` must not be sent to ``identity`` (see ``NotAcceptedError``)."""
        cp = self.server.get(identity)
        if cp is not None and cp.version not in self.versions:
            raise LocalProtocolError(f"{identity!r} speaks OCPP {cp.version}; {action} is an OCPP 2.x message")
        status = await registration_status(self.storage, identity)
        if status == "Rejected" or (status == "Pending" and action in _NOT_WHILE_PENDING):
            raise NotAcceptedError(f"{identity!r} is {status}: {action} must not be sent")

    async def request(self, identity: str, message: Any, *, timeout: float | None = None) -> dict[str, Any]:
        """Send a 2.0.1 request object (or ``(action, dict)``) and return the response as a dict.

        The wire form is sent, so the same call serves 2.1 connections (the session
        validates it against the connection's own schema).
        """
        if isinstance(message, tuple):
            action, payload = message
        else:
            action, payload = type(message).__name__.removesuffix("Request"), to_payload(message)
        await self.check_callable(identity, action)
        response = await self.call(identity, action, payload, timeout=timeout)
        return response if isinstance(response, dict) else {}

    async def request_typed(self, identity: str, message: Any, response_type: type[R], *, timeout: float | None) -> R:
        """``request`` with the answer as the 2.0.1 response class."""
        data = await self.request(identity, message, timeout=timeout)
        result: R = response_type.from_wire(data)  # type: ignore[attr-defined]  # generated classes
        return result

    async def triggered_request(
        self,
        identity: str,
        message: Any,
        response_type: type[R],
        actions: Iterable[str],
        window: float,
        *,
        request_id: int | None = None,
        timeout: float | None,
    ) -> R:
        """Send a request that makes the station send ``actions`` (TriggerMessage, report
        requests), letting them through the Pending guard for ``window`` seconds. The marks
        are set *before* sending: the station may send right behind its answer."""
        storage = self.storage
        marks = {action: await expect(storage, identity, action, window, request_id=request_id) for action in actions}
        accepted = False
        try:
            response = await self.request_typed(identity, message, response_type, timeout=timeout)
            accepted = text(getattr(response, "status", None)) == "Accepted"
            return response
        finally:
            if not accepted:
                with trio.CancelScope(shield=True):
                    for action, mark in marks.items():
                        await unexpect(storage, identity, action, mark, request_id=request_id)

    async def load_list(self, cls: type[D], identity: str, key: str) -> list[D]:
        return [load_record(cls, item) for item in await self.load(identity, key, [])]

    async def new_request_id(self) -> int:
        """A ``requestId`` unique across the CSMS (the counter ``ProvisioningPlugin`` uses)."""
        return await self.storage.next_id("v201.request_id")

    def handle_21(self, action: str, handler: Handler) -> None:
        """Serve an OCPP 2.1-only ``action`` (2.1 connections) with ``async (cp, payload: dict)``."""
        self.router.on(action, version=V21, typed=False)(handler)

    async def request_21(
        self, identity: str, action: str, payload: dict[str, Any], *, timeout: float | None = None
    ) -> dict[str, Any]:
        """``request`` for an OCPP 2.1-only action: refused (``LocalProtocolError``, nothing
        sent) when the station is connected with 2.0.1."""
        cp = self.server.get(identity)
        if cp is not None and cp.version != V21:
            raise LocalProtocolError(f"{action} is an OCPP 2.1 message; {identity!r} speaks OCPP {cp.version}")
        return await self.request(identity, (action, payload), timeout=timeout)


# -- helpers shared by blocks I-P ---------------------------------------------------------


def status_info(response: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """``(reasonCode, additionalInfo)`` of a response's ``statusInfo`` (None when absent)."""
    info = response.get("statusInfo")
    if not isinstance(info, Mapping):
        return None, None
    return info.get("reasonCode"), info.get("additionalInfo")


class Notifier:
    """Wake-ups for helpers that wait for station messages (``wait_for_*``).

    ``notify(key)`` wakes every waiter of ``key``; waiters also re-check once a second, so
    a message stored by another node of a cluster is noticed too.
    """

    def __init__(self) -> None:
        self._waiting: dict[Hashable, list[trio.Event]] = {}

    def notify(self, key: Hashable) -> None:
        for event in self._waiting.get(key, ()):
            event.set()

    async def wait_for(self, key: Hashable, check: Callable[[], Awaitable[T | None]], timeout: float) -> T:
        """Until ``check()`` returns something (not None); ``trio.TooSlowError`` after ``timeout``."""
        events = self._waiting.setdefault(key, [])
        event = trio.Event()
        events.append(event)
        try:
            with trio.fail_after(timeout):
                while True:
                    result = await check()
                    if result is not None:
                        return result
                    with trio.move_on_after(1.0):
                        await event.wait()
                    if event.is_set():
                        events.remove(event)
                        event = trio.Event()
                        events.append(event)
        finally:
            events.remove(event)
            if not events:
                self._waiting.pop(key, None)


@dataclasses.dataclass(frozen=True, slots=True)
class Assembled:
    """The CS->CSMS messages that answer one report-style request, assembled by requestId
    (NotifyMonitoringReport, NotifyCustomerInformation, ReportChargingProfiles,
    NotifyDisplayMessages)."""

    request_id: int
    status: str | None
    """The station's answer to the request (Accepted, EmptyResultSet, NoProfiles, ...);
    None when the parts came without a request of ours (e.g. sent before a restart)."""
    complete: bool
    parts: int
    missing: tuple[int, ...]
    """seqNos not received yet (below the highest known; messages with a seqNo only)."""
    payloads: tuple[dict[str, Any], ...]
    """The parts as received (wire dicts): in seqNo order, else in arrival order."""
    generated_at: str | None = None
    """The first part's ``generatedAt`` (messages that carry one)."""


class MultipartRefusedError(OcppError):
    """The station refused a report-style request (Rejected, NotSupported, Invalid, ...)."""

    def __init__(self, action: str, request_id: int, status: str) -> None:
        super().__init__(f"{action} {request_id} answered {status}")
        self.action = action
        self.request_id = request_id
        self.status = status


class MultipartTimeoutError(OcppError, trio.TooSlowError):
    """The parts did not complete in time; ``assembled`` holds what arrived so far."""

    def __init__(self, assembled: Assembled) -> None:
        missing = list(assembled.missing) or "the last part"
        super().__init__(f"request {assembled.request_id} incomplete: missing {missing}")
        self.assembled = assembled


class PartsAssembler:
    """Assembly of one multi-part message type (``notify``) for a plugin, by ``requestId``.

    Messages with a ``seqNo`` (NotifyMonitoringReport, NotifyCustomerInformation) are kept by
    seqNo in any order (a resend is ignored) and complete once the part with ``tbc`` false
    and every seqNo below it arrived, as ``ProvisioningPlugin`` does for NotifyReport.
    Messages without one (ReportChargingProfiles, NotifyDisplayMessages) are kept in arrival
    order (an identical resend is ignored) and complete with the part whose ``tbc`` is false.
    State lives in the plugin's storage namespace (``<notify>:<requestId>``); the last
    ``max_kept`` requests are kept per station.

    ``request`` sends the request with "expected" marks for ``notify`` (the parts pass the
    Pending guard), ``fetch`` also waits for the assembled answer; ``empty`` names the
    answers that mean "nothing to report" (a complete empty result).
    """

    def __init__(
        self,
        plugin: V201Plugin,
        notify: str,
        *,
        sequenced: bool,
        empty: Iterable[str] = (),
        window: float = 600.0,
        max_kept: int = 10,
    ) -> None:
        self.plugin = plugin
        self.notify = notify
        self.sequenced = sequenced
        self.empty = frozenset(empty)
        self.window = window
        self.max_kept = max_kept
        self._notifier = Notifier()

    def _key(self, request_id: int) -> str:
        return f"{self.notify}:{request_id}"

    def _meta_key(self, request_id: int) -> str:
        return f"{self.notify}:request:{request_id}"

    async def request(
        self, identity: str, message: Any, response_type: type[R], request_id: int, *, timeout: float | None
    ) -> R:
        """Send the request (marks first: the parts may follow right behind the answer) and
        remember the station's answer."""
        plugin = self.plugin
        response = await plugin.triggered_request(
            identity, message, response_type, (self.notify,), self.window, request_id=request_id, timeout=timeout
        )
        action = message[0] if isinstance(message, tuple) else type(message).__name__.removesuffix("Request")
        meta = {"status": text(getattr(response, "status", None)), "requested_at": plugin.now_text(), "action": action}
        await plugin.save(identity, self._meta_key(request_id), meta)
        await self._track(identity, request_id)
        if meta["status"] in self.empty:
            self._notifier.notify((identity, request_id))
        return response

    async def fetch(self, identity: str, request_id: int, wait: float, sent: Awaitable[Any]) -> Assembled:
        """Await ``sent`` (a ``request``) and then the complete answer. Raises
        ``MultipartRefusedError`` or ``MultipartTimeoutError``."""
        response = await sent
        status = str(text(getattr(response, "status", None)))
        if status not in self.empty and status != "Accepted":
            action = type(response).__name__.removesuffix("Response")
            raise MultipartRefusedError(action, request_id, status)

        async def check() -> Assembled | None:
            found = await self.get(identity, request_id)
            return found if found is not None and found.complete else None

        try:
            return await self._notifier.wait_for((identity, request_id), check, wait)
        except trio.TooSlowError:
            partial = await self.get(identity, request_id)
            raise MultipartTimeoutError(partial or Assembled(request_id, status, False, 0, (), ())) from None

    async def add(self, identity: str, payload: Mapping[str, Any]) -> tuple[Assembled, bool]:
        """Store one part; returns the assembly and whether this part completed it."""
        plugin = self.plugin
        request_id = int(payload["requestId"])
        key = self._key(request_id)
        stored = await plugin.load(identity, key)
        if stored is None:
            stored = {"parts": {}, "order": [], "last": None, "first_at": plugin.now_text()}
            await self._track(identity, request_id)
        before = await self.get(identity, request_id)
        part = dict(payload)
        if self.sequenced:
            slot = str(int(payload["seqNo"]))
            if slot in stored["parts"]:
                return before or await self._assemble(identity, request_id, stored), False  # a resend
            stored["parts"][slot] = part
            if not payload.get("tbc", False):
                stored["last"] = int(payload["seqNo"])
        else:
            if part in stored["order"]:
                return before or await self._assemble(identity, request_id, stored), False  # a resend
            stored["order"].append(part)
            if not payload.get("tbc", False):
                stored["last"] = len(stored["order"]) - 1
        await plugin.save(identity, key, stored)
        assembled = await self._assemble(identity, request_id, stored)
        completed = assembled.complete and not (before is not None and before.complete)
        if completed:
            await unexpect(plugin.storage, identity, self.notify, request_id=request_id)
            self._notifier.notify((identity, request_id))
        return assembled, completed

    async def get(self, identity: str, request_id: int) -> Assembled | None:
        """The answer to ``request_id`` as received so far (None: nothing known)."""
        stored = await self.plugin.load(identity, self._key(request_id))
        if stored is None:
            meta = await self.plugin.load(identity, self._meta_key(request_id))
            if meta is None:
                return None
            status = meta.get("status")
            return Assembled(request_id, status, status in self.empty, 0, (), ())
        return await self._assemble(identity, request_id, stored)

    async def _assemble(self, identity: str, request_id: int, stored: Mapping[str, Any]) -> Assembled:
        meta = await self.plugin.load(identity, self._meta_key(request_id))
        last = stored.get("last")
        if self.sequenced:
            parts: dict[str, Any] = stored["parts"]
            numbers = sorted(int(n) for n in parts)
            top = last if last is not None else (numbers[-1] if numbers else -1)
            missing = tuple(n for n in range(top + 1) if str(n) not in parts)
            payloads = tuple(parts[str(n)] for n in numbers)
            complete = last is not None and not missing
        else:
            missing = ()
            payloads = tuple(stored["order"])
            complete = last is not None
        generated = next((p.get("generatedAt") for p in payloads if p.get("generatedAt")), None)
        return Assembled(
            request_id=request_id,
            status=meta.get("status") if meta else None,
            complete=complete,
            parts=len(payloads),
            missing=missing,
            payloads=payloads,
            generated_at=generated,
        )

    async def _track(self, identity: str, request_id: int) -> None:
        plugin = self.plugin
        order_key = f"{self.notify}:requests"
        order: list[int] = await plugin.load(identity, order_key, [])
        if request_id in order:
            return
        order.append(request_id)
        for old in order[: -self.max_kept]:
            await plugin.storage.delete(plugin.name, identity, self._key(old))
            await plugin.storage.delete(plugin.name, identity, self._meta_key(old))
        await plugin.save(identity, order_key, order[-self.max_kept :])

    async def request_ids(self, identity: str) -> list[int]:
        """The requestIds kept for a station, oldest first."""
        order: list[int] = await self.plugin.load(identity, f"{self.notify}:requests", [])
        return order
