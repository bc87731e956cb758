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
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

import trio

from .. import v201
from .._messages import to_payload
from .._plugin import Plugin
from .._versions import V21, V201
from ..errors import LocalProtocolError
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
    "NotAcceptedError",
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
