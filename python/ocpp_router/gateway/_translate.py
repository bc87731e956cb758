"""Version translation: a 1.6 wallbox appears upstream as an OCPP 2.0.1 charging station.

Each 1.6 connector is a 2.0.1 EVSE with one connector (``evseId = connectorId``,
``connectorId = 1``). The gateway is the authority for transaction ids: it answers the
wallbox's StartTransaction with its own integer id and shows the transaction upstream with
a UUID ``transactionId`` (both kept in the queue file), so the translation needs no
provisional ids while the upstream is unreachable. Field by field: docs/gateway.md.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from .._time import utc_now
from .._versions import V16, V201
from ..errors import NotSupportedError
from ._codec import Codec, Outbound
from ._intercept import Answer

if TYPE_CHECKING:
    from ._link import Link
    from ._store import QueuedMessage

__all__ = ["V16ToV201"]

log = logging.getLogger("ocpp_router.gateway")

ENERGY = "Energy.Active.Import.Register"

#: 1.6 ChargePointStatus -> 2.0.1 ConnectorStatusEnumType.
CONNECTOR_STATUS = {
    "Available": "Available",
    "Preparing": "Occupied",
    "Charging": "Occupied",
    "SuspendedEVSE": "Occupied",
    "SuspendedEV": "Occupied",
    "Finishing": "Occupied",
    "Reserved": "Reserved",
    "Unavailable": "Unavailable",
    "Faulted": "Faulted",
}
#: 2.0.1 AuthorizationStatusEnumType -> 1.6 AuthorizationStatus (the rest: Invalid).
AUTHORIZATION_STATUS = {s: s for s in ("Accepted", "Blocked", "Expired", "Invalid", "ConcurrentTx")}
#: 1.6 StopTransaction reason -> (2.0.1 stoppedReason, triggerReason).
STOP_REASON = {
    "Local": ("Local", "StopAuthorized"),
    "Remote": ("Remote", "RemoteStop"),
    "EVDisconnected": ("EVDisconnected", "EVCommunicationLost"),
    "DeAuthorized": ("DeAuthorized", "Deauthorized"),
    "EmergencyStop": ("EmergencyStop", "AbnormalCondition"),
    "HardReset": ("ImmediateReset", "ResetCommand"),
    "SoftReset": ("Reboot", "ResetCommand"),
    "Reboot": ("Reboot", "AbnormalCondition"),
    "PowerLoss": ("PowerLoss", "AbnormalCondition"),
    "UnlockCommand": ("Other", "UnlockCommand"),
    "Other": ("Other", "AbnormalCondition"),
}
#: Measurands 2.0.1 knows (1.6's RPM and Temperature are not among them and are left out).
MEASURANDS_201 = {
    "Current.Export",
    "Current.Import",
    "Current.Offered",
    "Energy.Active.Export.Register",
    "Energy.Active.Import.Register",
    "Energy.Reactive.Export.Register",
    "Energy.Reactive.Import.Register",
    "Energy.Active.Export.Interval",
    "Energy.Active.Import.Interval",
    "Energy.Reactive.Export.Interval",
    "Energy.Reactive.Import.Interval",
    "Frequency",
    "Power.Active.Export",
    "Power.Active.Import",
    "Power.Factor",
    "Power.Offered",
    "Power.Reactive.Export",
    "Power.Reactive.Import",
    "SoC",
    "Voltage",
}
#: 2.0.1 ChargingProfilePurposeEnumType -> 1.6 ChargingProfilePurposeType.
PROFILE_PURPOSE = {
    "ChargingStationMaxProfile": "ChargePointMaxProfile",
    "TxDefaultProfile": "TxDefaultProfile",
    "TxProfile": "TxProfile",
}
#: How long a RequestStartTransaction waits to be matched with the wallbox's StartTransaction.
REMOTE_START_WINDOW = 600.0


def _drop_none(data: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if v is not None}


def sampled_value(sample: dict[str, Any], default_context: str | None = None) -> dict[str, Any] | None:
    """A 1.6 sampledValue as a 2.0.1 one (None when it cannot be expressed: signed data,
    a non-numeric value, a measurand 2.0.1 does not know)."""
    if sample.get("format") == "SignedData":
        return None
    try:
        value = float(sample["value"])
    except (KeyError, TypeError, ValueError):
        return None
    measurand = sample.get("measurand", ENERGY)
    if measurand not in MEASURANDS_201:
        return None
    out: dict[str, Any] = {"value": int(value) if value.is_integer() else value}
    context = sample.get("context", default_context)
    if context is not None:
        out["context"] = context
    if measurand != ENERGY:
        out["measurand"] = measurand
    for key in ("phase", "location"):
        if sample.get(key) is not None:
            out[key] = sample[key]
    unit = sample.get("unit")
    if unit is not None:
        unit = "Celsius" if unit == "Celcius" else str(unit)
        if unit.startswith("k") and len(unit) > 1:  # kWh, kW, kVA, kvar, kvarh: 10^3 of the base unit
            out["unitOfMeasure"] = {"unit": unit[1:], "multiplier": 3}
        else:
            out["unitOfMeasure"] = {"unit": unit}
    return out


def meter_values(values: list[dict[str, Any]], default_context: str | None = None) -> list[dict[str, Any]]:
    """1.6 meterValue entries as 2.0.1 ones (entries left without samples are dropped)."""
    out = []
    for entry in values or ():
        samples = [s for s in (sampled_value(v, default_context) for v in entry.get("sampledValue", ())) if s]
        if samples:
            out.append({"timestamp": entry["timestamp"], "sampledValue": samples})
    return out


def charging_profile_16(profile: dict[str, Any], transaction_id: int | None) -> dict[str, Any]:
    """A 2.0.1 ChargingProfileType as a 1.6 ChargingProfile (its first schedule)."""
    schedule = profile["chargingSchedule"][0]
    out = _drop_none(
        {
            "chargingProfileId": profile["id"],
            "stackLevel": profile["stackLevel"],
            "chargingProfilePurpose": PROFILE_PURPOSE.get(profile["chargingProfilePurpose"], "TxProfile"),
            "chargingProfileKind": profile["chargingProfileKind"],
            "recurrencyKind": profile.get("recurrencyKind"),
            "validFrom": profile.get("validFrom"),
            "validTo": profile.get("validTo"),
            "transactionId": transaction_id,
            "chargingSchedule": _drop_none(
                {
                    "duration": schedule.get("duration"),
                    "startSchedule": schedule.get("startSchedule"),
                    "chargingRateUnit": schedule["chargingRateUnit"],
                    "chargingSchedulePeriod": [
                        _drop_none(
                            {
                                "startPeriod": p["startPeriod"],
                                "limit": p["limit"],
                                "numberPhases": p.get("numberPhases"),
                            }
                        )
                        for p in schedule["chargingSchedulePeriod"]
                    ],
                    "minChargingRate": schedule.get("minChargingRate"),
                }
            ),
        }
    )
    return out


class V16ToV201(Codec):
    """A 1.6 wallbox shown upstream as a 2.0.1 charging station (see the module docstring)."""

    #: The ``idToken.type`` 1.6 id tags get upstream (RFID cards).
    id_token_type = "ISO14443"

    def __init__(self, link: Link) -> None:
        super().__init__(link, V16, V201)

    @property
    def _store_key(self) -> str:
        return self.link.identity

    async def _transaction_state(self, local_id: int) -> dict[str, Any] | None:
        state: dict[str, Any] | None = await self.link.store.get(self._store_key, f"tx:{local_id}")
        return state

    async def _next_seq(self, local_id: int, state: dict[str, Any]) -> int:
        seq = int(state["seq"]) + 1
        state["seq"] = seq
        await self.link.store.set(self._store_key, f"tx:{local_id}", state)
        return seq

    def _token(self, id_tag: str) -> dict[str, Any]:
        return {"idToken": id_tag, "type": self.id_token_type}

    async def _upstream_tx(self, local_id: int) -> tuple[str, dict[str, Any]]:
        """The upstream transactionId and state of a wallbox transaction (created when unknown)."""
        link = self.link
        upstream_id = link.tx_up.get(local_id)
        state = await self._transaction_state(local_id)
        if upstream_id is None or state is None:
            upstream_id = upstream_id or str(uuid.uuid4())
            state = {"seq": -1, "evse": None}
            await self._remember(local_id, upstream_id, state)
            log.warning("%s: transaction %d was not started through the gateway", link.identity, local_id)
        return upstream_id, state

    async def _remember(self, local_id: int, upstream_id: str, state: dict[str, Any]) -> None:
        link = self.link
        await link.store.map_transaction(link.identity, local_id, upstream_id)
        await link.store.set(self._store_key, f"tx:{local_id}", state)
        link.tx_up[local_id] = upstream_id
        link.tx_down[upstream_id] = local_id

    # -- wallbox → CSMS -------------------------------------------------------------------

    async def up(self, action: str, payload: dict[str, Any]) -> Outbound | Answer:
        if action == "BootNotification":
            station = _drop_none(
                {
                    "model": payload["chargePointModel"],
                    "vendorName": payload["chargePointVendor"],
                    "serialNumber": payload.get("chargePointSerialNumber") or payload.get("chargeBoxSerialNumber"),
                    "firmwareVersion": payload.get("firmwareVersion"),
                }
            )
            modem = _drop_none({"iccid": payload.get("iccid"), "imsi": payload.get("imsi")})
            if modem:
                station["modem"] = modem
            return Outbound("BootNotification", {"reason": "PowerUp", "chargingStation": station}, "boot")
        if action == "Heartbeat":
            return Outbound("Heartbeat", {}, "heartbeat")
        if action == "StatusNotification":
            connector = int(payload["connectorId"])
            if connector == 0:
                # 2.0.1 reports the station as a whole through the device model, not here.
                return Answer({})
            status = {
                "timestamp": payload.get("timestamp") or utc_now(),
                "connectorStatus": CONNECTOR_STATUS.get(payload["status"], "Unavailable"),
                "evseId": connector,
                "connectorId": 1,
            }
            return Outbound("StatusNotification", status, "status", status_key=f"{connector}:1")
        if action == "Authorize":
            return Outbound("Authorize", {"idToken": self._token(payload["idTag"])})
        if action == "StartTransaction":
            return await self._start(payload)
        if action == "StopTransaction":
            return await self._stop(payload)
        if action == "MeterValues":
            return await self._meter_values(payload)
        if action == "DataTransfer":
            return Outbound("DataTransfer", _drop_none(dict(payload)))
        if action == "FirmwareStatusNotification":
            return Outbound("FirmwareStatusNotification", {"status": payload["status"]})
        raise NotSupportedError(f"{action} is not translated to OCPP 2.0.1 by the gateway")

    async def _start(self, payload: dict[str, Any]) -> Outbound:
        link = self.link
        connector = int(payload["connectorId"])
        local_id = await link.store.next_id("translated_transaction_id", 1)
        upstream_id = str(uuid.uuid4())
        await self._remember(local_id, upstream_id, {"seq": 0, "evse": connector})
        info: dict[str, Any] = {"transactionId": upstream_id}
        trigger = "Authorized"
        remote = await link.store.get(self._store_key, "remote_start")
        if remote is not None:
            await link.store.delete(self._store_key, "remote_start")
            fresh = datetime.now(timezone.utc).timestamp() - float(remote["at"]) < REMOTE_START_WINDOW
            if fresh and str(remote["idTag"]).casefold() == str(payload["idTag"]).casefold():
                info["remoteStartId"] = remote["remoteStartId"]
                trigger = "RemoteStart"
        event = _drop_none(
            {
                "eventType": "Started",
                "timestamp": payload["timestamp"],
                "triggerReason": trigger,
                "seqNo": 0,
                "transactionInfo": info,
                "idToken": self._token(payload["idTag"]),
                "evse": {"id": connector, "connectorId": 1},
                "meterValue": meter_values(
                    [
                        {
                            "timestamp": payload["timestamp"],
                            "sampledValue": [{"value": str(payload["meterStart"]), "context": "Transaction.Begin"}],
                        }
                    ]
                ),
                "reservationId": payload.get("reservationId"),
            }
        )
        answer = {"transactionId": local_id, "idTagInfo": {"status": self._authorized(V16, payload["idTag"])}}
        return Outbound("TransactionEvent", event, "transaction", local_answer=answer)

    async def _stop(self, payload: dict[str, Any]) -> Outbound:
        local_id = int(payload["transactionId"])
        upstream_id, state = await self._upstream_tx(local_id)
        seq = await self._next_seq(local_id, state)
        stopped, trigger = STOP_REASON.get(payload.get("reason") or "Local", ("Other", "AbnormalCondition"))
        readings = meter_values(payload.get("transactionData") or [])
        readings += meter_values(
            [
                {
                    "timestamp": payload["timestamp"],
                    "sampledValue": [{"value": str(payload["meterStop"]), "context": "Transaction.End"}],
                }
            ]
        )
        event: dict[str, Any] = {
            "eventType": "Ended",
            "timestamp": payload["timestamp"],
            "triggerReason": trigger,
            "seqNo": seq,
            "transactionInfo": {"transactionId": upstream_id, "stoppedReason": stopped},
            "meterValue": readings,
        }
        if state.get("evse") is not None:
            event["evse"] = {"id": state["evse"], "connectorId": 1}
        answer: dict[str, Any] = {}
        if payload.get("idTag") is not None:
            event["idToken"] = self._token(payload["idTag"])
            answer["idTagInfo"] = {"status": self._authorized(V16, payload["idTag"])}
        return Outbound("TransactionEvent", event, "transaction", local_answer=answer)

    async def _meter_values(self, payload: dict[str, Any]) -> Outbound | Answer:
        connector = int(payload["connectorId"])
        readings = meter_values(payload["meterValue"])
        local_id = payload.get("transactionId")
        if isinstance(local_id, int) and local_id in self.link.tx_up:
            upstream_id, state = await self._upstream_tx(local_id)
            seq = await self._next_seq(local_id, state)
            event = _drop_none(
                {
                    "eventType": "Updated",
                    "timestamp": payload["meterValue"][0]["timestamp"],
                    "triggerReason": "MeterValuePeriodic",
                    "seqNo": seq,
                    "transactionInfo": {"transactionId": upstream_id},
                    "evse": {"id": connector, "connectorId": 1} if connector > 0 else None,
                    "meterValue": readings or None,
                }
            )
            return Outbound("TransactionEvent", event, "transaction", local_answer={})
        if not readings:
            return Answer({})  # nothing 2.0.1 can carry
        return Outbound("MeterValues", {"evseId": connector, "meterValue": readings})

    def decode(self, outbound: Outbound, local_action: str, result: dict[str, Any]) -> dict[str, Any]:
        action = outbound.action
        if action == "BootNotification":
            return {"status": result["status"], "currentTime": result["currentTime"], "interval": result["interval"]}
        if action == "Authorize":
            return {"idTagInfo": self._tag_info(result["idTokenInfo"])}
        if action == "TransactionEvent":
            answer = dict(outbound.local_answer or {})
            if "idTagInfo" in answer and isinstance(result.get("idTokenInfo"), dict):
                answer["idTagInfo"] = self._tag_info(result["idTokenInfo"])
            if local_action == "StartTransaction" and "idTagInfo" not in answer:
                answer["idTagInfo"] = {"status": "Accepted"}
            return answer
        if action == "Heartbeat":
            return {"currentTime": result["currentTime"]}
        if action == "DataTransfer":
            return _drop_none({"status": result["status"], "data": result.get("data")})
        return {}  # StatusNotification, MeterValues, FirmwareStatusNotification

    def _tag_info(self, info: dict[str, Any]) -> dict[str, Any]:
        group = info.get("groupIdToken")
        return _drop_none(
            {
                "status": AUTHORIZATION_STATUS.get(info.get("status", ""), "Invalid"),
                "expiryDate": info.get("cacheExpiryDateTime"),
                "parentIdTag": str(group["idToken"])[:20] if isinstance(group, dict) else None,
            }
        )

    def prepare(self, message: QueuedMessage, answered_locally: bool) -> dict[str, Any]:
        payload = dict(message.payload)
        if message.action == "TransactionEvent" and answered_locally:
            payload["offline"] = True
        return payload

    def delivered(self, message: QueuedMessage, result: dict[str, Any], answered_locally: bool) -> None:
        return None

    # -- CSMS → wallbox -------------------------------------------------------------------

    async def down(self, action: str, payload: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        link = self.link
        if action == "RequestStartTransaction":
            id_tag = str(payload["idToken"]["idToken"])
            if len(id_tag) > 20:
                raise NotSupportedError("the idToken is longer than a 1.6 idTag (20 characters)")
            remote = {
                "remoteStartId": payload["remoteStartId"],
                "idTag": id_tag,
                "at": datetime.now(timezone.utc).timestamp(),
            }
            await link.store.set(self._store_key, "remote_start", remote)
            request: dict[str, Any] = {"idTag": id_tag}
            if payload.get("evseId") is not None:
                request["connectorId"] = payload["evseId"]
            if isinstance(payload.get("chargingProfile"), dict):
                request["chargingProfile"] = charging_profile_16(payload["chargingProfile"], None)
            return "RemoteStartTransaction", request
        if action == "RequestStopTransaction":
            local_id = link.tx_down.get(str(payload["transactionId"]))
            if local_id is None:
                raise NotSupportedError(f"transaction {payload['transactionId']} is not known at the gateway")
            return "RemoteStopTransaction", {"transactionId": local_id}
        if action == "SetChargingProfile":
            profile = payload["chargingProfile"]
            tx = profile.get("transactionId")
            local_tx = link.tx_down.get(str(tx)) if tx is not None else None
            return "SetChargingProfile", {
                "connectorId": payload["evseId"],
                "csChargingProfiles": charging_profile_16(profile, local_tx),
            }
        if action == "Reset":
            return "Reset", {"type": "Hard" if payload["type"] == "Immediate" else "Soft"}
        raise NotSupportedError(f"{action} is not translated to OCPP 1.6 by the gateway")

    async def encode(self, action: str, wallbox_action: str, result: dict[str, Any]) -> dict[str, Any]:
        status = str(result.get("status", ""))
        if action in ("RequestStartTransaction", "RequestStopTransaction", "Reset"):
            return {"status": "Accepted" if status == "Accepted" else "Rejected"}
        if action == "SetChargingProfile":
            return {"status": "Accepted" if status == "Accepted" else "Rejected"}
        return result
