"""Default CSMS handlers: a sensible answer to every message a charge point may send.

BootNotification is Accepted with a heartbeat interval, Heartbeat gets the current time,
everything else is accepted and recorded (``DefaultHandlers.last``). Certificate signing
and ISO 15118 requests are refused honestly (no CA is configured), DataTransfer answers
``UnknownVendorId``. Plugins and your own ``@router.on`` handlers take precedence when the
default router is included below them.
"""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING, Any

from ._router import Router
from ._time import utc_now
from ._versions import V16, V21, V201

if TYPE_CHECKING:
    from collections.abc import Callable

    from ._session import ChargePoint

__all__ = ["CHARGE_POINT_ACTIONS", "DefaultHandlers", "default_router"]

Payload = dict[str, Any]

_ACCEPTED_TAG = {"status": "Accepted"}

#: Fixed answers (besides the computed ones below) per action, by version family.
_V16_FIXED: dict[str, Payload] = {
    "Authorize": {"idTagInfo": _ACCEPTED_TAG},
    "DataTransfer": {"status": "UnknownVendorId"},
    "DiagnosticsStatusNotification": {},
    "FirmwareStatusNotification": {},
    "LogStatusNotification": {},
    "MeterValues": {},
    "SecurityEventNotification": {},
    "SignCertificate": {"status": "Rejected"},
    "SignedFirmwareStatusNotification": {},
    "StatusNotification": {},
    "StopTransaction": {},
}
_V2_FIXED: dict[str, Payload] = {
    "Authorize": {"idTokenInfo": _ACCEPTED_TAG},
    "ClearedChargingLimit": {},
    "DataTransfer": {"status": "UnknownVendorId"},
    "FirmwareStatusNotification": {},
    "Get15118EVCertificate": {"status": "Failed", "exiResponse": ""},
    "GetCertificateStatus": {"status": "Failed"},
    "LogStatusNotification": {},
    "MeterValues": {},
    "NotifyChargingLimit": {},
    "NotifyCustomerInformation": {},
    "NotifyDisplayMessages": {},
    "NotifyEVChargingNeeds": {"status": "Accepted"},
    "NotifyEVChargingSchedule": {"status": "Accepted"},
    "NotifyEvent": {},
    "NotifyMonitoringReport": {},
    "NotifyReport": {},
    "PublishFirmwareStatusNotification": {},
    "ReportChargingProfiles": {},
    "ReservationStatusUpdate": {},
    "SecurityEventNotification": {},
    "SignCertificate": {"status": "Rejected"},
    "StatusNotification": {},
}
_V21_EXTRA: dict[str, Payload] = {
    "BatterySwap": {},
    "ClosePeriodicEventStream": {},
    "GetCertificateChainStatus": {"certificateStatus": []},
    "NotifyDERAlarm": {},
    "NotifyDERStartStop": {},
    "NotifyPriorityCharging": {},
    "NotifySettlement": {},
    "OpenPeriodicEventStream": {"status": "Accepted"},
    "PullDynamicScheduleUpdate": {"status": "Rejected"},
    "ReportDERControl": {},
}
_COMPUTED = {"BootNotification", "Heartbeat"}

#: Every action a charge point may send, per version (CALLs; 2.1's SEND is separate).
CHARGE_POINT_ACTIONS: dict[str, frozenset[str]] = {
    V16: frozenset(_V16_FIXED) | _COMPUTED | {"StartTransaction"},
    V201: frozenset(_V2_FIXED) | _COMPUTED | {"TransactionEvent"},
    V21: frozenset(_V2_FIXED) | frozenset(_V21_EXTRA) | _COMPUTED | {"TransactionEvent", "VatNumberValidation"},
}


class DefaultHandlers:
    """The state behind ``default_router``: what each charge point last reported."""

    def __init__(self, heartbeat_interval: int = 300) -> None:
        self.heartbeat_interval = heartbeat_interval
        #: identity → action → last request payload
        self.last: dict[str, dict[str, Payload]] = {}
        #: 1.6 StartTransaction dedupe: (identity, connector, idTag, meterStart, timestamp) → id
        self.transactions: dict[tuple[str, Any, Any, Any, Any], int] = {}
        self._next_transaction_id = itertools.count(1)

    def record(self, cp: ChargePoint, action: str, payload: Payload) -> None:
        self.last.setdefault(cp.id, {})[action] = payload

    def router(self) -> Router:
        router = Router()
        for version in (V16, V201, V21):
            for action in CHARGE_POINT_ACTIONS[version]:
                router.on(action, version=version, typed=False)(self._handler(version, action))
        return router

    def _handler(self, version: str, action: str) -> Callable[[ChargePoint, Payload], Any]:
        fixed = {**_V2_FIXED, **_V21_EXTRA} if version != V16 else _V16_FIXED

        async def handle(cp: ChargePoint, payload: Payload) -> Payload:
            self.record(cp, action, payload)
            if action == "BootNotification":
                return {"status": "Accepted", "currentTime": utc_now(), "interval": self.heartbeat_interval}
            if action == "Heartbeat":
                return {"currentTime": utc_now()}
            if action == "StartTransaction":
                key = (
                    cp.id,
                    payload.get("connectorId"),
                    payload.get("idTag"),
                    payload.get("meterStart"),
                    payload.get("timestamp"),
                )
                if key not in self.transactions:  # a resent StartTransaction gets the same id back
                    self.transactions[key] = next(self._next_transaction_id)
                return {"transactionId": self.transactions[key], "idTagInfo": _ACCEPTED_TAG}
            if action == "TransactionEvent":
                return {"idTokenInfo": _ACCEPTED_TAG} if "idToken" in payload else {}
            if action == "VatNumberValidation":
                return {"vatNumber": payload.get("vatNumber", ""), "status": "Rejected"}
            return fixed[action]

        handle.__qualname__ = f"default_{action}"
        return handle


def default_router(heartbeat_interval: int = 300) -> Router:
    """A router answering every charge-point-initiated message (see module docs)."""
    return DefaultHandlers(heartbeat_interval).router()
