# mypy: disable-error-code="import-untyped,misc,untyped-decorator"
# (the `ocpp` peer ships no type information)
"""The in-process OCPP pipeline, driven the same way for ocpp-router and for the `ocpp` peer.

One message = one CALL text frame in → validated payload → handler → validated, serialised
CALLRESULT text handed to the transport. No sockets, no event-loop scheduling per message:
a batch of frames is processed inside one event-loop run (trio for us, asyncio for the peer).

Implementations (``IMPLEMENTATIONS``):

``ocpp_router``
    ``Connection.receive`` (Rust: parse, validate, build the dict) → ``ChargePoint.handle_call``
    (router → dict handler → ``Connection.reply``: validate + serialise in Rust →
    ``transport.send``), coroutines stepped synchronously inside one ``trio.run``.
``ocpp_router_typed``
    The same with handlers annotated with the generated classes (``from_wire``/``to_wire``).
``ocpp``
    ``ocpp.v16``/``ocpp.v201`` ``ChargePoint.route_message(raw)`` with its defaults: schema
    validation on, run through ``loop.run_in_executor`` (``ocpp.messages.ASYNC_VALIDATION``).
``ocpp_novalidation``
    The same with every handler registered ``@on(..., skip_schema_validation=True)``.
``ocpp_syncvalidation``
    Validation on, but ``ocpp.messages.ASYNC_VALIDATION = False`` (validated inline, no thread
    hop): the cost of its jsonschema validation alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import ocpp.messages
import trio
from ocpp.routing import on
from ocpp.v16 import ChargePoint as PeerChargePoint16
from ocpp.v16 import call_result as peer16
from ocpp.v16 import datatypes as peer16_types
from ocpp.v16.enums import Action as PeerAction16
from ocpp.v16.enums import AuthorizationStatus as PeerAuthStatus16
from ocpp.v16.enums import RegistrationStatus as PeerRegistration16
from ocpp.v201 import ChargePoint as PeerChargePoint201
from ocpp.v201 import call_result as peer201
from ocpp.v201 import datatypes as peer201_types
from ocpp.v201.enums import Action as PeerAction201
from ocpp.v201.enums import AuthorizationStatusEnumType as PeerAuthStatus201
from ocpp.v201.enums import RegistrationStatusEnumType as PeerRegistration201
from ocpp_router import ChargePoint, Router, v16, v201
from ocpp_router._core import IncomingCall

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

__all__ = [
    "CASES",
    "IMPLEMENTATIONS",
    "NOW",
    "VERSIONS",
    "Case",
    "OursDriver",
    "PeerDriver",
    "case_by_id",
]

#: Fixed timestamp used in requests and responses (timestamp formatting is not measured).
NOW = "2025-01-15T12:00:00.000Z"
EXPIRY = "2025-12-31T23:59:59.000Z"
KNOWN_TAGS = frozenset({"04A2B3C4D5E6F7", "DEADBEEF"})

VERSIONS = ("1.6", "2.0.1")
IMPLEMENTATIONS = ("ocpp_router", "ocpp_router_typed", "ocpp", "ocpp_novalidation", "ocpp_syncvalidation")
#: The implementations the issue asks for; the other two are extra columns.
CORE_IMPLEMENTATIONS = ("ocpp_router", "ocpp", "ocpp_novalidation")


# -- the messages ---------------------------------------------------------------------------


def _sampled_values_16() -> list[dict[str, Any]]:
    measurands = [
        ("Energy.Active.Import.Register", None, "Wh", "15234.5"),
        ("Power.Active.Import", None, "W", "11040"),
        ("Current.Import", "L1", "A", "16.0"),
        ("Current.Import", "L2", "A", "15.9"),
        ("Current.Import", "L3", "A", "16.1"),
        ("Voltage", "L1-N", "V", "230.1"),
        ("Voltage", "L2-N", "V", "229.8"),
        ("Voltage", "L3-N", "V", "230.4"),
        ("SoC", None, "Percent", "57"),
        ("Temperature", None, "Celsius", "31.5"),
    ]
    values = []
    for measurand, phase, unit, value in measurands:
        sample: dict[str, Any] = {
            "value": value,
            "context": "Sample.Periodic",
            "format": "Raw",
            "measurand": measurand,
            "location": "EV" if measurand == "SoC" else "Outlet",
            "unit": unit,
        }
        if phase is not None:
            sample["phase"] = phase
        values.append(sample)
    return values


def _sampled_values_201() -> list[dict[str, Any]]:
    measurands = [
        ("Energy.Active.Import.Register", None, "Wh", 15234.5),
        ("Power.Active.Import", None, "W", 11040),
        ("Current.Import", "L1", "A", 16.0),
        ("Current.Import", "L2", "A", 15.9),
        ("Current.Import", "L3", "A", 16.1),
        ("Voltage", "L1-N", "V", 230.1),
        ("Voltage", "L2-N", "V", 229.8),
        ("Voltage", "L3-N", "V", 230.4),
        ("SoC", None, "Percent", 57),
        ("Current.Offered", None, "A", 16),
    ]
    values = []
    for measurand, phase, unit, value in measurands:
        sample: dict[str, Any] = {
            "value": value,
            "context": "Sample.Periodic",
            "measurand": measurand,
            "location": "EV" if measurand == "SoC" else "Outlet",
            "unitOfMeasure": {"unit": unit, "multiplier": 0},
        }
        if phase is not None:
            sample["phase"] = phase
        values.append(sample)
    return values


@dataclass(frozen=True)
class Case:
    version: str
    name: str
    """Row label (the action, MeterValues/TransactionEvent noted with their sample count)."""
    action: str
    request: dict[str, Any]
    invalid_request: dict[str, Any]
    """A schema violation: validating implementations must answer a CALLERROR."""
    reply_keys: tuple[str, ...]
    """Keys the CALLRESULT payload must have."""

    @property
    def id(self) -> str:
        return f"{self.version}-{self.action}"

    def frames(self, count: int, request: dict[str, Any] | None = None) -> list[str]:
        """``count`` CALL frames with distinct message ids (compact JSON, as devices send)."""
        payload = json.dumps(self.request if request is None else request, separators=(",", ":"))
        return [f'[2,"{self.action[:3].lower()}-{i:06d}","{self.action}",{payload}]' for i in range(count)]


CASES: tuple[Case, ...] = (
    Case("1.6", "Heartbeat", "Heartbeat", {}, {"uptime": 5}, ("currentTime",)),
    Case(
        "1.6",
        "BootNotification",
        "BootNotification",
        {
            "chargePointVendor": "VendorX",
            "chargePointModel": "WallBox-22",
            "chargePointSerialNumber": "WB22-000123",
            "chargeBoxSerialNumber": "CB-000123",
            "firmwareVersion": "3.4.1",
            "iccid": "8931440400012345678",
            "imsi": "204043212345678",
            "meterType": "EM340",
            "meterSerialNumber": "EM-998877",
        },
        {"chargePointVendor": 42, "chargePointModel": "WallBox-22"},
        ("status", "currentTime", "interval"),
    ),
    Case(
        "1.6",
        "StatusNotification",
        "StatusNotification",
        {
            "connectorId": 1,
            "errorCode": "NoError",
            "status": "Charging",
            "timestamp": NOW,
            "info": "cable locked",
            "vendorId": "VendorX",
        },
        {"connectorId": 1, "errorCode": "NoError", "status": "Sleeping"},
        (),
    ),
    Case(
        "1.6",
        "MeterValues (10 sampled values)",
        "MeterValues",
        {
            "connectorId": 1,
            "transactionId": 4711,
            "meterValue": [{"timestamp": NOW, "sampledValue": _sampled_values_16()}],
        },
        {"connectorId": "one", "meterValue": []},
        (),
    ),
    Case(
        "1.6",
        "Authorize",
        "Authorize",
        {"idTag": "04A2B3C4D5E6F7"},
        {"idTag": "04A2B3C4D5E6F7-THIS-IS-TOO-LONG"},
        ("idTagInfo",),
    ),
    Case("2.0.1", "Heartbeat", "Heartbeat", {}, {"uptime": 5}, ("currentTime",)),
    Case(
        "2.0.1",
        "BootNotification",
        "BootNotification",
        {
            "reason": "PowerUp",
            "chargingStation": {
                "model": "WallBox-22",
                "vendorName": "VendorX",
                "serialNumber": "WB22-000123",
                "firmwareVersion": "3.4.1",
                "modem": {"iccid": "8931440400012345678", "imsi": "204043212345678"},
            },
        },
        {"reason": "Reboot", "chargingStation": {"model": "WallBox-22"}},
        ("status", "currentTime", "interval"),
    ),
    Case(
        "2.0.1",
        "StatusNotification",
        "StatusNotification",
        {"timestamp": NOW, "connectorStatus": "Occupied", "evseId": 1, "connectorId": 1},
        {"timestamp": NOW, "connectorStatus": "Charging", "evseId": 1, "connectorId": 1},
        (),
    ),
    Case(
        "2.0.1",
        "TransactionEvent (Updated, 10 sampled values)",
        "TransactionEvent",
        {
            "eventType": "Updated",
            "timestamp": NOW,
            "triggerReason": "MeterValuePeriodic",
            "seqNo": 17,
            "transactionInfo": {"transactionId": "tx-2025-000042", "chargingState": "Charging"},
            "evse": {"id": 1, "connectorId": 1},
            "meterValue": [{"timestamp": NOW, "sampledValue": _sampled_values_201()}],
        },
        {
            "eventType": "Updated",
            "timestamp": NOW,
            "triggerReason": "MeterValuePeriodic",
            "seqNo": "17",
            "transactionInfo": {"transactionId": "tx-2025-000042"},
        },
        (),
    ),
    Case(
        "2.0.1",
        "Authorize",
        "Authorize",
        {"idToken": {"idToken": "04A2B3C4D5E6F7", "type": "ISO14443"}},
        {"idToken": {"idToken": "04A2B3C4D5E6F7", "type": "Fingerprint"}},
        ("idTokenInfo",),
    ),
)


def case_by_id(case_id: str) -> Case:
    for case in CASES:
        if case.id == case_id:
            return case
    raise KeyError(case_id)


def check_callresult(text: str, message_id: str, case: Case) -> None:
    """Fail unless ``text`` is the CALLRESULT for ``message_id`` with the expected keys."""
    msg = json.loads(text)
    if not (isinstance(msg, list) and len(msg) == 3 and msg[0] == 3 and msg[1] == message_id):
        raise AssertionError(f"{case.id}: expected a CALLRESULT for {message_id}, got {text}")
    missing = [key for key in case.reply_keys if key not in msg[2]]
    if missing:
        raise AssertionError(f"{case.id}: reply {text} lacks {missing}")


def check_callerror(text: str, message_id: str, case: Case) -> None:
    msg = json.loads(text)
    if not (isinstance(msg, list) and len(msg) == 5 and msg[0] == 4 and msg[1] == message_id):
        raise AssertionError(f"{case.id}: expected a CALLERROR for the invalid payload, got {text}")


def _message_id(frame: str) -> str:
    return str(json.loads(frame)[1])


# -- ocpp-router ----------------------------------------------------------------------------


class SinkTransport:
    """A ``Transport`` whose ``send`` never suspends: keeps the last frame and a count."""

    def __init__(self, subprotocol: str) -> None:
        self.subprotocol = subprotocol
        self.last = ""
        self.count = 0

    async def send(self, text: str) -> None:
        self.last = text
        self.count += 1

    async def receive(self) -> str:
        raise NotImplementedError

    async def close(self, code: int = 1000, reason: str = "") -> None:
        pass

    async def ping(self) -> None:
        pass


def dict_router() -> Router:
    """Realistic CSMS handlers, dict style (the default API)."""
    router = Router()

    @router.on("Heartbeat")
    async def heartbeat(cp: ChargePoint, payload: dict[str, Any]) -> dict[str, Any]:
        return {"currentTime": NOW}

    @router.on("BootNotification")
    async def boot(cp: ChargePoint, payload: dict[str, Any]) -> dict[str, Any]:
        return {"status": "Accepted", "currentTime": NOW, "interval": 300}

    @router.on("StatusNotification")
    async def status(cp: ChargePoint, payload: dict[str, Any]) -> dict[str, Any]:
        return {}

    @router.on("MeterValues")
    async def meter_values(cp: ChargePoint, payload: dict[str, Any]) -> dict[str, Any]:
        return {}

    @router.on("TransactionEvent")
    async def transaction_event(cp: ChargePoint, payload: dict[str, Any]) -> dict[str, Any]:
        return {}

    @router.on("Authorize", version="1.6")
    async def authorize16(cp: ChargePoint, payload: dict[str, Any]) -> dict[str, Any]:
        status = "Accepted" if payload["idTag"] in KNOWN_TAGS else "Invalid"
        return {"idTagInfo": {"status": status, "expiryDate": EXPIRY}}

    @router.on("Authorize", version="2.0.1")
    async def authorize201(cp: ChargePoint, payload: dict[str, Any]) -> dict[str, Any]:
        status = "Accepted" if payload["idToken"]["idToken"] in KNOWN_TAGS else "Invalid"
        return {"idTokenInfo": {"status": status, "cacheExpiryDateTime": EXPIRY}}

    return router


def typed_router() -> Router:
    """The same handlers using the generated message classes."""
    router = Router()

    @router.on("Heartbeat", version="1.6")
    async def heartbeat16(cp: ChargePoint, payload: v16.HeartbeatRequest) -> v16.HeartbeatResponse:
        return v16.HeartbeatResponse(current_time=NOW)

    @router.on("BootNotification", version="1.6")
    async def boot16(cp: ChargePoint, payload: v16.BootNotificationRequest) -> v16.BootNotificationResponse:
        return v16.BootNotificationResponse(status=v16.RegistrationStatus.Accepted, current_time=NOW, interval=300)

    @router.on("StatusNotification", version="1.6")
    async def status16(cp: ChargePoint, payload: v16.StatusNotificationRequest) -> v16.StatusNotificationResponse:
        return v16.StatusNotificationResponse()

    @router.on("MeterValues", version="1.6")
    async def meter_values16(cp: ChargePoint, payload: v16.MeterValuesRequest) -> v16.MeterValuesResponse:
        return v16.MeterValuesResponse()

    @router.on("Authorize", version="1.6")
    async def authorize16(cp: ChargePoint, payload: v16.AuthorizeRequest) -> v16.AuthorizeResponse:
        status = v16.AuthorizationStatus.Accepted if payload.id_tag in KNOWN_TAGS else v16.AuthorizationStatus.Invalid
        return v16.AuthorizeResponse(id_tag_info=v16.IdTagInfo(status=status, expiry_date=EXPIRY))

    @router.on("Heartbeat", version="2.0.1")
    async def heartbeat201(cp: ChargePoint, payload: v201.HeartbeatRequest) -> v201.HeartbeatResponse:
        return v201.HeartbeatResponse(current_time=NOW)

    @router.on("BootNotification", version="2.0.1")
    async def boot201(cp: ChargePoint, payload: v201.BootNotificationRequest) -> v201.BootNotificationResponse:
        return v201.BootNotificationResponse(
            status=v201.RegistrationStatusEnumType.Accepted, current_time=NOW, interval=300
        )

    @router.on("StatusNotification", version="2.0.1")
    async def status201(cp: ChargePoint, payload: v201.StatusNotificationRequest) -> v201.StatusNotificationResponse:
        return v201.StatusNotificationResponse()

    @router.on("TransactionEvent", version="2.0.1")
    async def transaction_event201(
        cp: ChargePoint, payload: v201.TransactionEventRequest
    ) -> v201.TransactionEventResponse:
        return v201.TransactionEventResponse()

    @router.on("Authorize", version="2.0.1")
    async def authorize201(cp: ChargePoint, payload: v201.AuthorizeRequest) -> v201.AuthorizeResponse:
        accepted = payload.id_token.id_token in KNOWN_TAGS
        status = v201.AuthorizationStatusEnumType.Accepted if accepted else v201.AuthorizationStatusEnumType.Invalid
        return v201.AuthorizeResponse(id_token_info=v201.IdTokenInfoType(status=status, cache_expiry_date_time=EXPIRY))

    return router


_SUBPROTOCOL = {"1.6": "ocpp1.6", "2.0.1": "ocpp2.0.1"}


class OursDriver:
    """ocpp-router's pipeline for one case. Construct and use inside ``trio.run``."""

    def __init__(self, case: Case, batch: int, *, typed: bool = False) -> None:
        self.case = case
        self.transport = SinkTransport(_SUBPROTOCOL[case.version])
        router = typed_router() if typed else dict_router()
        self.cp = ChargePoint("CP1", case.version, self.transport, router)
        self.frames = case.frames(batch)

    def verify(self) -> None:
        """Every frame of a batch answers a valid CALLRESULT; the invalid payload a CALLERROR."""
        conn = self.cp.connection
        for frame in self.frames:
            events = conn.receive(frame, trio.current_time())
            if len(events) != 1 or not isinstance(events[0], IncomingCall):
                raise AssertionError(f"{self.case.id}: expected one IncomingCall, got {events}")
            self._step(events[0])
            check_callresult(self.transport.last, _message_id(frame), self.case)
        (bad,) = self.case.frames(1, self.case.invalid_request)
        events = conn.receive(bad, trio.current_time())
        if any(isinstance(event, IncomingCall) for event in events):
            raise AssertionError(f"{self.case.id}: ocpp-router accepted the invalid payload {bad}")
        texts = [getattr(event, "text", None) for event in events]
        check_callerror(next(t for t in texts if t is not None), _message_id(bad), self.case)

    def _step(self, event: IncomingCall) -> None:
        coro = self.cp.handle_call(event)
        try:
            coro.send(None)
        except StopIteration:
            return
        coro.close()
        raise RuntimeError("handle_call suspended: the benchmark needs non-suspending handlers and transport")

    def batch_function(self) -> Callable[[], None]:
        """The measured function: one batch of frames through the pipeline."""
        receive = self.cp.connection.receive
        handle_call = self.cp.handle_call
        frames = self.frames
        clock = trio.current_time

        def run_batch() -> None:
            for frame in frames:
                coro = handle_call(receive(frame, clock())[0])  # type: ignore[arg-type]
                try:
                    coro.send(None)
                except StopIteration:
                    pass
                else:
                    coro.close()
                    raise RuntimeError("handle_call suspended")

        return run_batch


# -- the `ocpp` peer ------------------------------------------------------------------------


def _peer_classes(skip: bool) -> tuple[type[PeerChargePoint16], type[PeerChargePoint201]]:
    """Peer charge-point classes whose handlers mirror ``dict_router``."""

    class Peer16(PeerChargePoint16):
        @on(PeerAction16.heartbeat, skip_schema_validation=skip)
        async def on_heartbeat(self, **kwargs: Any) -> peer16.Heartbeat:
            return peer16.Heartbeat(current_time=NOW)

        @on(PeerAction16.boot_notification, skip_schema_validation=skip)
        async def on_boot_notification(self, **kwargs: Any) -> peer16.BootNotification:
            return peer16.BootNotification(current_time=NOW, interval=300, status=PeerRegistration16.accepted)

        @on(PeerAction16.status_notification, skip_schema_validation=skip)
        async def on_status_notification(self, **kwargs: Any) -> peer16.StatusNotification:
            return peer16.StatusNotification()

        @on(PeerAction16.meter_values, skip_schema_validation=skip)
        async def on_meter_values(self, **kwargs: Any) -> peer16.MeterValues:
            return peer16.MeterValues()

        @on(PeerAction16.authorize, skip_schema_validation=skip)
        async def on_authorize(self, id_tag: str, **kwargs: Any) -> peer16.Authorize:
            status = PeerAuthStatus16.accepted if id_tag in KNOWN_TAGS else PeerAuthStatus16.invalid
            return peer16.Authorize(id_tag_info=peer16_types.IdTagInfo(status=status, expiry_date=EXPIRY))

    class Peer201(PeerChargePoint201):
        @on(PeerAction201.heartbeat, skip_schema_validation=skip)
        async def on_heartbeat(self, **kwargs: Any) -> peer201.Heartbeat:
            return peer201.Heartbeat(current_time=NOW)

        @on(PeerAction201.boot_notification, skip_schema_validation=skip)
        async def on_boot_notification(self, **kwargs: Any) -> peer201.BootNotification:
            return peer201.BootNotification(current_time=NOW, interval=300, status=PeerRegistration201.accepted)

        @on(PeerAction201.status_notification, skip_schema_validation=skip)
        async def on_status_notification(self, **kwargs: Any) -> peer201.StatusNotification:
            return peer201.StatusNotification()

        @on(PeerAction201.transaction_event, skip_schema_validation=skip)
        async def on_transaction_event(self, **kwargs: Any) -> peer201.TransactionEvent:
            return peer201.TransactionEvent()

        @on(PeerAction201.authorize, skip_schema_validation=skip)
        async def on_authorize(self, id_token: dict[str, Any], **kwargs: Any) -> peer201.Authorize:
            accepted = id_token["id_token"] in KNOWN_TAGS
            status = PeerAuthStatus201.accepted if accepted else PeerAuthStatus201.invalid
            return peer201.Authorize(
                id_token_info=peer201_types.IdTokenInfoType(status=status, cache_expiry_date_time=EXPIRY)
            )

    return Peer16, Peer201


_PEER_CLASSES = {False: _peer_classes(False), True: _peer_classes(True)}


class FakeConnection:
    """What the peer's ChargePoint writes to: keeps the last frame and a count."""

    def __init__(self) -> None:
        self.last = ""
        self.count = 0

    async def send(self, message: str) -> None:
        self.last = message
        self.count += 1

    async def recv(self) -> str:
        raise NotImplementedError


@contextlib.contextmanager
def peer_async_validation(enabled: bool) -> Iterator[None]:
    """Set ``ocpp.messages.ASYNC_VALIDATION`` (its default is True) for the block."""
    saved = ocpp.messages.ASYNC_VALIDATION
    ocpp.messages.ASYNC_VALIDATION = enabled
    try:
        yield
    finally:
        ocpp.messages.ASYNC_VALIDATION = saved


class PeerDriver:
    """The `ocpp` package's pipeline for one case, on a persistent asyncio loop."""

    def __init__(self, case: Case, batch: int, *, skip_validation: bool) -> None:
        self.case = case
        self.skip_validation = skip_validation
        self.loop = asyncio.new_event_loop()
        self.connection = FakeConnection()
        cls16, cls201 = _PEER_CLASSES[skip_validation]
        cls = cls16 if case.version == "1.6" else cls201
        self.cp = cls("CP1", self.connection)
        self.frames = case.frames(batch)

    def close(self) -> None:
        self.loop.run_until_complete(self.loop.shutdown_default_executor())
        self.loop.close()

    def verify(self) -> None:
        """Every frame answers a valid CALLRESULT; the invalid payload a CALLERROR exactly
        when validation is on (proves the validation runs, or is really skipped)."""

        async def check() -> None:
            for frame in self.frames:
                await self.cp.route_message(frame)
                check_callresult(self.connection.last, _message_id(frame), self.case)
            (bad,) = self.case.frames(1, self.case.invalid_request)
            await self.cp.route_message(bad)
            if self.skip_validation:
                check_callresult(self.connection.last, _message_id(bad), self.case)
            else:
                check_callerror(self.connection.last, _message_id(bad), self.case)

        # The peer logs the rejected payload with logger.exception; keep benchmark output clean.
        logger = self.cp.logger
        disabled, logger.disabled = logger.disabled, True
        try:
            self.loop.run_until_complete(check())
        finally:
            logger.disabled = disabled

    def batch_function(self) -> Callable[[], None]:
        route_message = self.cp.route_message
        frames = self.frames
        run = self.loop.run_until_complete

        async def batch() -> None:
            for frame in frames:
                await route_message(frame)

        def run_batch() -> None:
            run(batch())

        return run_batch
