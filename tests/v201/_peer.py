"""Real charging stations for the 2.0.1 block-plugin tests.

The station is the PyPI ``ocpp`` package's ``ocpp.v201.ChargePoint`` (``Station21``: its
``ocpp.v21`` sibling) over a real ``websockets`` connection to our server on 127.0.0.1
(port 0). Our server runs under trio; the peer gets its own asyncio loop in a worker thread
(``run_peer``). A scenario is one asyncio coroutine ``scenario(peer)``: it drives stations
(``peer.connect(identity)``) and reaches the CSMS side with ``await peer.csms(fn, *args)``,
which runs the trio coroutine in the server's run and returns its result.

``Station`` answers every CSMS-initiated message of blocks A-P like a small but realistic
charging station: it keeps a device model, a local list and reservations, sends a
multi-part NotifyReport (parts out of order) after GetBaseReport/GetReport, starts/stops a
transaction after an accepted RequestStart/StopTransaction, and sends what a TriggerMessage
asks for. Blocks I-P: it keeps charging profiles (ReportChargingProfiles one part per
profile, a composite schedule from them), installed certificates, monitors (a multi-part
NotifyMonitoringReport, the first two parts swapped), display messages (NotifyDisplayMessages
one part per message), reports firmware/log progress (FirmwareStatusNotification up to
Installed, SignatureVerified for signed firmware; LogStatusNotification up to Uploaded),
sends ``customer_data`` as NotifyCustomerInformation parts and echoes DataTransfer.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime, timedelta, timezone
from typing import Any, TypeVar

import trio
from ocpp import v21 as ocpp_v21
from ocpp.routing import after, on
from ocpp.v201 import ChargePoint as OcppChargePoint
from ocpp_router import Server, basic_auth_header
from ocpp_router.testing import run_asyncio
from ocpp_router.v201.plugins import V201Plugins
from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed

PEER_TIMEOUT = 30.0
CSMS_CALL_TIMEOUT = 10.0
T = TypeVar("T")

CSR = "-----BEGIN CERTIFICATE REQUEST-----\nMIIBfake\n-----END CERTIFICATE REQUEST-----\n"
CHAIN = "-----BEGIN CERTIFICATE-----\nMIIBsigned\n-----END CERTIFICATE-----\n"
BASE = datetime(2024, 5, 1, 10, 0, tzinfo=timezone.utc)


def iso(when: datetime) -> str:
    return when.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def now() -> str:
    return iso(datetime.now(timezone.utc))


def at(minutes: float) -> str:
    """A fixed point in (station) time: stable timestamps make resends byte-identical."""
    return iso(BASE + timedelta(minutes=minutes))


async def start_server(nursery: trio.Nursery, plugins: V201Plugins | None = None, **options: Any) -> Server:
    """Our server on 127.0.0.1:0 serving 2.0.1 and 2.1 with the given plugins and no other handlers."""
    options.setdefault("versions", ["2.0.1", "2.1"])
    server = Server(**options)
    if plugins is not None:
        server.install(*plugins)
    started: Server = await nursery.start(server.serve, "127.0.0.1", 0)
    return started


def variable_key(component: dict[str, Any], variable: dict[str, Any]) -> str:
    """The station's own spelling of a variable (matches ``VariableRef.key`` for Actual)."""
    out = component["name"]
    if component.get("instance") is not None:
        out += f"[{component['instance']}]"
    evse = component.get("evse")
    if evse:
        out += f"@{evse['id']}" + (f":{evse['connector_id']}" if evse.get("connector_id") is not None else "")
    out += f".{variable['name']}"
    if variable.get("instance") is not None:
        out += f"[{variable['instance']}]"
    return out


def split_key(key: str) -> tuple[dict[str, Any], dict[str, Any]]:
    component, _, variable = key.partition(".")
    comp: dict[str, Any] = {"name": component}
    if "@" in component:
        name, _, evse = component.partition("@")
        comp = {"name": name, "evse": {"id": int(evse)}}
    var: dict[str, Any] = {"name": variable}
    if variable.endswith("]"):
        name, _, instance = variable[:-1].partition("[")
        var = {"name": name, "instance": instance}
    return comp, var


class Station(OcppChargePoint):
    """A charging station speaking OCPP 2.0.1 through the ``ocpp`` package."""

    def __init__(self, identity: str, ws: ClientConnection) -> None:
        super().__init__(identity, ws, response_timeout=10)
        self.ws = ws
        self.received: dict[str, list[dict[str, Any]]] = defaultdict(list)
        #: action -> answer kwargs (or a callable(kwargs) -> kwargs) overriding the defaults
        self.answers: dict[str, Any] = {}
        self.variables: dict[str, str] = {
            "OCPPCommCtrlr.HeartbeatInterval": "300",
            "OCPPCommCtrlr.MessageAttempts[TransactionEvent]": "3",
            "SecurityCtrlr.Identity": identity,
            "SecurityCtrlr.OrganizationName": "Test CPO",
            "AuthCtrlr.Enabled": "true",
            "AuthCtrlr.AuthorizeRemoteStart": "false",
            "TxCtrlr.EVConnectionTimeOut": "60",
            "SampledDataCtrlr.TxUpdatedInterval": "60",
            "EVSE@1.AvailabilityState": "Available",
        }
        self.readonly = {"SecurityCtrlr.Identity", "EVSE@1.AvailabilityState"}
        self.write_only = {"SecurityCtrlr.BasicAuthPassword"}
        self.secrets: dict[str, str] = {}
        #: NotifyReport: how many parts, and the order in which they are sent (seqNos;
        #: repeat one to resend it, leave one out to lose it)
        self.report_parts = 3
        self.report_order = [2, 0, 1]
        self.local_list_version = 0
        self.local_list: dict[str, dict[str, Any]] = {}
        self.reservations: dict[int, dict[str, Any]] = {}
        self.seq: dict[str, int] = defaultdict(int)
        self.meter_wh = 0
        self.transactions: dict[int, str] = {}  # evse -> transactionId
        self.sent: list[tuple[str, Any]] = []  # what the station sent and got back
        # blocks I-P
        self.displayed_costs: list[tuple[str, float]] = []  # CostUpdated (transactionId, totalCost)
        self.profiles: dict[int, tuple[int, dict[str, Any]]] = {}  # id -> (evseId, profile)
        self.certificates: dict[str, str] = {}  # serial -> certificate type
        self.monitors: dict[int, dict[str, Any]] = {}  # id -> SetMonitoringData
        #: NotifyCustomerInformation parts (their ``data``)
        self.customer_data = ["name=Jane Doe;", "tokens=RFID-1;", "sessions=2"]
        self.display: dict[int, dict[str, Any]] = {}  # id -> MessageInfo

    # -- sending --------------------------------------------------------------------------

    async def send(self, payload: Any) -> Any:
        """Call the CSMS; a CALLERROR raises the ``ocpp`` exception."""
        result = await self.call(payload, suppress=False)
        self.sent.append((type(payload).__name__, result))
        return result

    async def boot(self, reason: str = "PowerUp", **station: Any) -> Any:
        charging_station = {"model": "Pulsar", "vendor_name": "Wallbox", **station}
        return await self.send(self._call.BootNotification(charging_station=charging_station, reason=reason))

    async def heartbeat(self) -> Any:
        return await self.send(self._call.Heartbeat())

    async def status(self, evse: int, connector: int, status: str, timestamp: str | None = None) -> Any:
        return await self.send(
            self._call.StatusNotification(
                timestamp=timestamp or now(), connector_status=status, evse_id=evse, connector_id=connector
            )
        )

    async def authorize(self, id_token: str, type: str = "ISO14443") -> Any:
        return await self.send(self._call.Authorize(id_token={"id_token": id_token, "type": type}))

    async def security_event(self, type: str, tech_info: str | None = None) -> Any:
        return await self.send(self._call.SecurityEventNotification(type=type, timestamp=now(), tech_info=tech_info))

    def event(
        self,
        event_type: str,
        transaction_id: str,
        trigger: str,
        timestamp: str,
        *,
        seq_no: int | None = None,
        energy: float | None = None,
        context: str = "Sample.Periodic",
        evse: int | None = None,
        id_token: str | None = None,
        **extra: Any,
    ) -> Any:
        """A TransactionEvent request (seqNo counted per transaction unless given)."""
        if seq_no is None:
            seq_no = self.seq[transaction_id]
            self.seq[transaction_id] += 1
        info: dict[str, Any] = {"transaction_id": transaction_id}
        for name in ("charging_state", "stopped_reason", "remote_start_id", "time_spent_charging"):
            if name in extra:
                info[name] = extra.pop(name)
        if energy is not None:
            extra["meter_value"] = [
                {
                    "timestamp": timestamp,
                    "sampled_value": [
                        {
                            "value": energy,
                            "context": context,
                            "measurand": "Energy.Active.Import.Register",
                            "unit_of_measure": {"unit": "Wh"},
                        }
                    ],
                }
            ]
        if evse is not None:
            extra["evse"] = {"id": evse, "connector_id": 1}
        if id_token is not None:
            extra["id_token"] = {"id_token": id_token, "type": "ISO14443"}
        return self._call.TransactionEvent(
            event_type=event_type,
            timestamp=timestamp,
            trigger_reason=trigger,
            seq_no=seq_no,
            transaction_info=info,
            **extra,
        )

    def abort(self) -> None:
        """Drop the TCP connection without a close frame (power loss)."""
        self.ws.transport.abort()

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 5.0) -> None:
        """Until ``predicate()`` holds (e.g. a triggered message was sent and answered)."""

        async def poll() -> None:
            while not predicate():
                await asyncio.sleep(0.01)

        await asyncio.wait_for(poll(), timeout)

    # -- answering the CSMS ---------------------------------------------------------------

    def _answer(self, action: str, kwargs: dict[str, Any], default: dict[str, Any]) -> Any:
        self.received[action].append(kwargs)
        answer = self.answers.get(action, default)
        if callable(answer):
            answer = answer(kwargs)
        return getattr(self._call_result, action)(**answer)

    def _accepted(self, action: str) -> bool:
        answer = self.answers.get(action, {"status": "Accepted"})
        return callable(answer) or answer.get("status") == "Accepted"

    @on("GetVariables")
    async def on_get_variables(self, get_variable_data: list[dict[str, Any]]) -> Any:
        results = []
        for item in get_variable_data:
            key = variable_key(item["component"], item["variable"])
            result: dict[str, Any] = {"component": item["component"], "variable": item["variable"]}
            if key in self.write_only:
                result["attribute_status"] = "Rejected"
            elif key in self.variables:
                result.update(attribute_status="Accepted", attribute_value=self.variables[key])
            else:
                result["attribute_status"] = "UnknownVariable"
            results.append(result)
        return self._answer("GetVariables", {"get_variable_data": get_variable_data}, {"get_variable_result": results})

    @on("SetVariables")
    async def on_set_variables(self, set_variable_data: list[dict[str, Any]]) -> Any:
        results = []
        for item in set_variable_data:
            key = variable_key(item["component"], item["variable"])
            if key in self.readonly:
                status = "Rejected"
            elif key in self.write_only:
                status = "Accepted"
                self.secrets[key] = item["attribute_value"]
            elif key in self.variables:
                status = "Accepted"
                self.variables[key] = item["attribute_value"]
            else:
                status = "UnknownVariable"
            results.append({"attribute_status": status, "component": item["component"], "variable": item["variable"]})
        return self._answer("SetVariables", {"set_variable_data": set_variable_data}, {"set_variable_result": results})

    def _report_data(self, keys: list[str]) -> list[dict[str, Any]]:
        data = []
        for key in keys:
            component, variable = split_key(key)
            mutability = "ReadOnly" if key in self.readonly else "ReadWrite"
            data.append(
                {
                    "component": component,
                    "variable": variable,
                    "variable_attribute": [{"type": "Actual", "value": self.variables[key], "mutability": mutability}],
                    "variable_characteristics": {"data_type": "string", "supports_monitoring": False},
                }
            )
        return data

    async def send_report(self, request_id: int, keys: list[str]) -> None:
        """NotifyReport in ``report_parts`` parts, sent in ``report_order``."""
        parts = self.report_parts
        chunks = [keys[i::parts] for i in range(parts)]
        generated = now()
        for seq_no in self.report_order:
            await self.send(
                self._call.NotifyReport(
                    request_id=request_id,
                    generated_at=generated,
                    seq_no=seq_no,
                    tbc=seq_no < parts - 1,
                    report_data=self._report_data(chunks[seq_no]) or None,
                )
            )

    @on("GetBaseReport")
    async def on_get_base_report(self, **kwargs: Any) -> Any:
        return self._answer("GetBaseReport", kwargs, {"status": "Accepted"})

    @after("GetBaseReport")
    async def after_get_base_report(self, request_id: int, report_base: str) -> None:
        if self._accepted("GetBaseReport"):
            await self.send_report(request_id, sorted(self.variables))

    @on("GetReport")
    async def on_get_report(self, **kwargs: Any) -> Any:
        return self._answer("GetReport", kwargs, {"status": "Accepted"})

    @after("GetReport")
    async def after_get_report(
        self, request_id: int, component_variable: list[dict[str, Any]] | None = None, **_: Any
    ) -> None:
        if not self._accepted("GetReport"):
            return
        names = {item["component"]["name"] for item in component_variable or []}
        keys = [k for k in sorted(self.variables) if not names or split_key(k)[0]["name"] in names]
        await self.send_report(request_id, keys)

    @on("SetNetworkProfile")
    async def on_set_network_profile(self, **kwargs: Any) -> Any:
        return self._answer("SetNetworkProfile", kwargs, {"status": "Accepted"})

    @on("Reset")
    async def on_reset(self, **kwargs: Any) -> Any:
        return self._answer("Reset", kwargs, {"status": "Accepted"})

    @on("ClearCache")
    async def on_clear_cache(self, **kwargs: Any) -> Any:
        return self._answer("ClearCache", kwargs, {"status": "Accepted"})

    @on("GetLocalListVersion")
    async def on_get_local_list_version(self, **kwargs: Any) -> Any:
        return self._answer("GetLocalListVersion", kwargs, {"version_number": self.local_list_version})

    @on("SendLocalList")
    async def on_send_local_list(
        self, version_number: int, update_type: str, local_authorization_list: list[dict[str, Any]] | None = None
    ) -> Any:
        kwargs = {"version_number": version_number, "update_type": update_type, "entries": local_authorization_list}
        if update_type == "Differential" and version_number <= self.local_list_version:
            return self._answer("SendLocalList", kwargs, {"status": "VersionMismatch"})
        if update_type == "Full":
            self.local_list = {}
        for entry in local_authorization_list or []:
            token = entry["id_token"]["id_token"].casefold()  # id tokens are case-insensitive
            if entry.get("id_token_info") is None:
                self.local_list.pop(token, None)
            else:
                self.local_list[token] = entry["id_token_info"]
        self.local_list_version = version_number
        return self._answer("SendLocalList", kwargs, {"status": "Accepted"})

    @on("GetTransactionStatus")
    async def on_get_transaction_status(self, transaction_id: str | None = None) -> Any:
        default: dict[str, Any] = {"messages_in_queue": False}
        if transaction_id is not None:
            default["ongoing_indicator"] = transaction_id in self.transactions.values()
        return self._answer("GetTransactionStatus", {"transaction_id": transaction_id}, default)

    @on("RequestStartTransaction")
    async def on_request_start(self, **kwargs: Any) -> Any:
        return self._answer("RequestStartTransaction", kwargs, {"status": "Accepted"})

    @after("RequestStartTransaction")
    async def after_request_start(
        self, id_token: dict[str, Any], remote_start_id: int, evse_id: int = 1, **_: Any
    ) -> None:
        if not self._accepted("RequestStartTransaction"):
            return
        transaction_id = f"{self.id}-remote-{remote_start_id}"
        self.transactions[evse_id] = transaction_id
        self.meter_wh += 10
        await self.send(
            self.event(
                "Started",
                transaction_id,
                "RemoteStart",
                now(),
                energy=self.meter_wh,
                context="Transaction.Begin",
                evse=evse_id,
                remote_start_id=remote_start_id,
                charging_state="Charging",
                id_token=None,
            )
        )

    @on("RequestStopTransaction")
    async def on_request_stop(self, **kwargs: Any) -> Any:
        return self._answer("RequestStopTransaction", kwargs, {"status": "Accepted"})

    @after("RequestStopTransaction")
    async def after_request_stop(self, transaction_id: str, **_: Any) -> None:
        if not self._accepted("RequestStopTransaction"):
            return
        self.meter_wh += 500
        for evse, running in list(self.transactions.items()):
            if running == transaction_id:
                del self.transactions[evse]
        await self.send(
            self.event(
                "Ended",
                transaction_id,
                "RemoteStop",
                now(),
                energy=self.meter_wh,
                context="Transaction.End",
                stopped_reason="Remote",
                charging_state="Idle",
            )
        )

    @on("UnlockConnector")
    async def on_unlock_connector(self, **kwargs: Any) -> Any:
        return self._answer("UnlockConnector", kwargs, {"status": "Unlocked"})

    @on("TriggerMessage")
    async def on_trigger_message(self, **kwargs: Any) -> Any:
        return self._answer("TriggerMessage", kwargs, {"status": "Accepted"})

    @after("TriggerMessage")
    async def after_trigger_message(self, requested_message: str, evse: dict[str, Any] | None = None, **_: Any) -> None:
        if not self._accepted("TriggerMessage"):
            return
        if requested_message == "BootNotification":
            await self.boot(reason="Triggered")
        elif requested_message == "StatusNotification":
            await self.status((evse or {}).get("id", 1), (evse or {}).get("connector_id", 1), "Available")
        elif requested_message == "Heartbeat":
            await self.heartbeat()
        elif requested_message in ("SignChargingStationCertificate", "SignV2GCertificate"):
            use = "ChargingStationCertificate" if requested_message.startswith("SignCharging") else "V2GCertificate"
            await self.send(self._call.SignCertificate(csr=CSR, certificate_type=use))

    @on("ChangeAvailability")
    async def on_change_availability(self, **kwargs: Any) -> Any:
        return self._answer("ChangeAvailability", kwargs, {"status": "Accepted"})

    @on("ReserveNow")
    async def on_reserve_now(self, **kwargs: Any) -> Any:
        self.reservations[kwargs["id"]] = kwargs
        return self._answer("ReserveNow", kwargs, {"status": "Accepted"})

    @on("CancelReservation")
    async def on_cancel_reservation(self, reservation_id: int) -> Any:
        found = self.reservations.pop(reservation_id, None) is not None
        default = {"status": "Accepted" if found else "Rejected"}
        return self._answer("CancelReservation", {"reservation_id": reservation_id}, default)

    @on("CertificateSigned")
    async def on_certificate_signed(self, **kwargs: Any) -> Any:
        return self._answer("CertificateSigned", kwargs, {"status": "Accepted"})

    # -- blocks I-P -----------------------------------------------------------------------

    @on("CostUpdated")
    async def on_cost_updated(self, **kwargs: Any) -> Any:
        self.displayed_costs.append((kwargs["transaction_id"], kwargs["total_cost"]))
        return self._answer("CostUpdated", kwargs, {})

    @on("SetChargingProfile")
    async def on_set_charging_profile(self, evse_id: int, charging_profile: dict[str, Any]) -> Any:
        kwargs = {"evse_id": evse_id, "charging_profile": charging_profile}
        self.profiles[charging_profile["id"]] = (evse_id, charging_profile)
        return self._answer("SetChargingProfile", kwargs, {"status": "Accepted"})

    def _matching_profiles(self, evse_id: int | None, criterion: dict[str, Any]) -> list[tuple[int, dict[str, Any]]]:
        found = []
        for evse, profile in self.profiles.values():
            if evse_id is not None and evse != evse_id:
                continue
            if (
                "charging_profile_purpose" in criterion
                and profile["charging_profile_purpose"] != criterion["charging_profile_purpose"]
            ):
                continue
            if "stack_level" in criterion and profile["stack_level"] != criterion["stack_level"]:
                continue
            if "charging_profile_id" in criterion and profile["id"] not in criterion["charging_profile_id"]:
                continue
            found.append((evse, profile))
        return found

    @on("GetChargingProfiles")
    async def on_get_charging_profiles(
        self, request_id: int, charging_profile: dict[str, Any], evse_id: int | None = None
    ) -> Any:
        kwargs = {"request_id": request_id, "charging_profile": charging_profile, "evse_id": evse_id}
        found = self._matching_profiles(evse_id, charging_profile)
        return self._answer("GetChargingProfiles", kwargs, {"status": "Accepted" if found else "NoProfiles"})

    @after("GetChargingProfiles")
    async def after_get_charging_profiles(
        self, request_id: int, charging_profile: dict[str, Any], evse_id: int | None = None
    ) -> None:
        found = self._matching_profiles(evse_id, charging_profile)
        for index, (evse, profile) in enumerate(found):  # one part per profile
            await self.send(
                self._call.ReportChargingProfiles(
                    request_id=request_id,
                    charging_limit_source="CSO",
                    charging_profile=[profile],
                    evse_id=evse,
                    tbc=index < len(found) - 1,
                )
            )

    @on("ClearChargingProfile")
    async def on_clear_charging_profile(self, **kwargs: Any) -> Any:
        profile_id = kwargs.get("charging_profile_id")
        criteria = kwargs.get("charging_profile_criteria") or {}
        gone = [
            pid
            for pid, (evse, profile) in self.profiles.items()
            if (profile_id is not None and pid == profile_id)
            or (
                profile_id is None
                and all(
                    {"evse_id": evse, **profile}.get(key) == value
                    for key, value in criteria.items()
                    if key in ("evse_id", "charging_profile_purpose", "stack_level")
                )
            )
        ]
        for pid in gone:
            del self.profiles[pid]
        return self._answer("ClearChargingProfile", kwargs, {"status": "Accepted" if gone else "Unknown"})

    @on("GetCompositeSchedule")
    async def on_get_composite_schedule(self, duration: int, evse_id: int, charging_rate_unit: str = "A") -> Any:
        """TxProfile over TxDefaultProfile (highest stack level), capped by the station maximum."""
        kwargs = {"duration": duration, "evse_id": evse_id, "charging_rate_unit": charging_rate_unit}
        candidates = [
            p
            for e, p in self.profiles.values()
            if e in (evse_id, 0) and p["charging_profile_purpose"] != "ChargingStationMaxProfile"
        ]
        if not candidates:
            return self._answer("GetCompositeSchedule", kwargs, {"status": "Rejected"})
        rank = {"TxProfile": 1, "TxDefaultProfile": 0}
        chosen = max(candidates, key=lambda p: (rank.get(p["charging_profile_purpose"], 0), p["stack_level"]))
        cap = min(
            (
                p["charging_schedule"][0]["charging_schedule_period"][0]["limit"]
                for _, p in self.profiles.values()
                if p["charging_profile_purpose"] == "ChargingStationMaxProfile"
            ),
            default=None,
        )
        periods = [
            {"start_period": period["start_period"], "limit": min(period["limit"], cap) if cap else period["limit"]}
            for period in chosen["charging_schedule"][0]["charging_schedule_period"]
            if period["start_period"] < duration
        ]
        schedule = {
            "evse_id": evse_id,
            "duration": duration,
            "schedule_start": now(),
            "charging_rate_unit": charging_rate_unit,
            "charging_schedule_period": periods,
        }
        return self._answer("GetCompositeSchedule", kwargs, {"status": "Accepted", "schedule": schedule})

    @on("UpdateFirmware")
    async def on_update_firmware(self, **kwargs: Any) -> Any:
        return self._answer("UpdateFirmware", kwargs, {"status": "Accepted"})

    @after("UpdateFirmware")
    async def after_update_firmware(self, request_id: int, firmware: dict[str, Any], **_: Any) -> None:
        if not self._accepted("UpdateFirmware"):
            return
        steps = ["Downloading", "Downloaded"]
        if firmware.get("signature"):
            steps.append("SignatureVerified")
        steps += ["Installing", "Installed"]
        for status in steps:
            await self.send(self._call.FirmwareStatusNotification(status=status, request_id=request_id))

    @on("PublishFirmware")
    async def on_publish_firmware(self, **kwargs: Any) -> Any:
        return self._answer("PublishFirmware", kwargs, {"status": "Accepted"})

    @after("PublishFirmware")
    async def after_publish_firmware(self, request_id: int, checksum: str, **_: Any) -> None:
        if not self._accepted("PublishFirmware"):
            return
        for status in ("Downloading", "Downloaded", "ChecksumVerified"):
            await self.send(self._call.PublishFirmwareStatusNotification(status=status, request_id=request_id))
        locations = [f"http://lc.local/fw/{checksum}.bin", f"ftp://lc.local/fw/{checksum}.bin"]
        await self.send(
            self._call.PublishFirmwareStatusNotification(status="Published", location=locations, request_id=request_id)
        )

    @on("UnpublishFirmware")
    async def on_unpublish_firmware(self, **kwargs: Any) -> Any:
        return self._answer("UnpublishFirmware", kwargs, {"status": "Unpublished"})

    @on("InstallCertificate")
    async def on_install_certificate(self, certificate_type: str, certificate: str) -> Any:
        serial = f"{len(self.certificates) + 1:04x}"
        self.certificates[serial] = certificate_type
        kwargs = {"certificate_type": certificate_type, "certificate": certificate}
        return self._answer("InstallCertificate", kwargs, {"status": "Accepted"})

    @staticmethod
    def hash_data(serial: str) -> dict[str, Any]:
        return {
            "hash_algorithm": "SHA256",
            "issuer_name_hash": "aa" * 8,
            "issuer_key_hash": "bb" * 8,
            "serial_number": serial,
        }

    @on("GetInstalledCertificateIds")
    async def on_get_installed_certificate_ids(self, certificate_type: list[str] | None = None) -> Any:
        chains = [
            {"certificate_type": kind, "certificate_hash_data": self.hash_data(serial)}
            for serial, kind in self.certificates.items()
            if certificate_type is None or kind in certificate_type
        ]
        default: dict[str, Any] = {"status": "Accepted" if chains else "NotFound"}
        if chains:
            default["certificate_hash_data_chain"] = chains
        return self._answer("GetInstalledCertificateIds", {"certificate_type": certificate_type}, default)

    @on("DeleteCertificate")
    async def on_delete_certificate(self, certificate_hash_data: dict[str, Any]) -> Any:
        found = self.certificates.pop(certificate_hash_data["serial_number"], None) is not None
        default = {"status": "Accepted" if found else "NotFound"}
        return self._answer("DeleteCertificate", {"certificate_hash_data": certificate_hash_data}, default)

    @on("GetLog")
    async def on_get_log(self, **kwargs: Any) -> Any:
        return self._answer("GetLog", kwargs, {"status": "Accepted", "filename": f"log-{kwargs['request_id']}.tar.gz"})

    @after("GetLog")
    async def after_get_log(self, request_id: int, **_: Any) -> None:
        if self._accepted("GetLog"):
            for status in ("Uploading", "Uploaded"):
                await self.send(self._call.LogStatusNotification(status=status, request_id=request_id))

    @on("SetVariableMonitoring")
    async def on_set_variable_monitoring(self, set_monitoring_data: list[dict[str, Any]]) -> Any:
        results = []
        for item in set_monitoring_data:
            key = variable_key(item["component"], item["variable"])
            result = {k: item[k] for k in ("type", "severity", "component", "variable")}
            if key in self.variables:
                monitor_id = item.get("id") or 100 + len(self.monitors)
                self.monitors[monitor_id] = {**item, "id": monitor_id, "transaction": item.get("transaction", False)}
                result.update(status="Accepted", id=monitor_id)
            else:
                result["status"] = "UnknownVariable"
            results.append(result)
        kwargs = {"set_monitoring_data": set_monitoring_data}
        return self._answer("SetVariableMonitoring", kwargs, {"set_monitoring_result": results})

    @on("SetMonitoringBase")
    async def on_set_monitoring_base(self, **kwargs: Any) -> Any:
        return self._answer("SetMonitoringBase", kwargs, {"status": "Accepted"})

    @on("SetMonitoringLevel")
    async def on_set_monitoring_level(self, **kwargs: Any) -> Any:
        return self._answer("SetMonitoringLevel", kwargs, {"status": "Accepted"})

    @on("ClearVariableMonitoring")
    async def on_clear_variable_monitoring(self, id: list[int]) -> Any:
        results = [
            {"id": monitor_id, "status": "Accepted" if self.monitors.pop(monitor_id, None) else "NotFound"}
            for monitor_id in id
        ]
        return self._answer("ClearVariableMonitoring", {"id": id}, {"clear_monitoring_result": results})

    @on("GetMonitoringReport")
    async def on_get_monitoring_report(self, **kwargs: Any) -> Any:
        return self._answer(
            "GetMonitoringReport", kwargs, {"status": "Accepted" if self.monitors else "EmptyResultSet"}
        )

    @after("GetMonitoringReport")
    async def after_get_monitoring_report(self, request_id: int, **_: Any) -> None:
        monitors = list(self.monitors.values())
        if not monitors or not self._accepted("GetMonitoringReport"):
            return
        order = list(range(len(monitors)))
        if len(order) > 1:
            order[0], order[1] = order[1], order[0]  # the first two parts out of order
        generated = now()
        for seq_no in order:
            monitor = monitors[seq_no]
            data = {
                "component": monitor["component"],
                "variable": monitor["variable"],
                "variable_monitoring": [{k: monitor[k] for k in ("id", "transaction", "value", "type", "severity")}],
            }
            await self.send(
                self._call.NotifyMonitoringReport(
                    request_id=request_id,
                    seq_no=seq_no,
                    generated_at=generated,
                    monitor=[data],
                    tbc=seq_no < len(monitors) - 1,
                )
            )

    @on("CustomerInformation")
    async def on_customer_information(self, **kwargs: Any) -> Any:
        return self._answer("CustomerInformation", kwargs, {"status": "Accepted"})

    @after("CustomerInformation")
    async def after_customer_information(self, request_id: int, report: bool, **_: Any) -> None:
        if not report or not self._accepted("CustomerInformation"):
            return
        chunks = self.customer_data
        generated = now()
        for seq_no, chunk in enumerate(chunks):
            await self.send(
                self._call.NotifyCustomerInformation(
                    data=chunk,
                    seq_no=seq_no,
                    generated_at=generated,
                    request_id=request_id,
                    tbc=seq_no < len(chunks) - 1,
                )
            )

    @on("SetDisplayMessage")
    async def on_set_display_message(self, message: dict[str, Any]) -> Any:
        self.display[message["id"]] = message
        return self._answer("SetDisplayMessage", {"message": message}, {"status": "Accepted"})

    def _matching_messages(self, kwargs: dict[str, Any]) -> list[dict[str, Any]]:
        return [
            m
            for m in self.display.values()
            if (not kwargs.get("id") or m["id"] in kwargs["id"])
            and (kwargs.get("priority") is None or m["priority"] == kwargs["priority"])
            and (kwargs.get("state") is None or m.get("state") == kwargs["state"])
        ]

    @on("GetDisplayMessages")
    async def on_get_display_messages(self, **kwargs: Any) -> Any:
        found = self._matching_messages(kwargs)
        return self._answer("GetDisplayMessages", kwargs, {"status": "Accepted" if found else "Unknown"})

    @after("GetDisplayMessages")
    async def after_get_display_messages(self, request_id: int, **kwargs: Any) -> None:
        found = self._matching_messages(kwargs)
        for index, message in enumerate(found):  # one part per message
            await self.send(
                self._call.NotifyDisplayMessages(
                    request_id=request_id, message_info=[message], tbc=index < len(found) - 1
                )
            )

    @on("ClearDisplayMessage")
    async def on_clear_display_message(self, id: int) -> Any:
        found = self.display.pop(id, None) is not None
        return self._answer("ClearDisplayMessage", {"id": id}, {"status": "Accepted" if found else "Unknown"})

    @on("DataTransfer")
    async def on_data_transfer(self, vendor_id: str, message_id: str | None = None, data: Any = None) -> Any:
        kwargs = {"vendor_id": vendor_id, "message_id": message_id, "data": data}
        return self._answer("DataTransfer", kwargs, {"status": "Accepted", "data": {"echo": data}})


class Station21(Station):
    """The same station speaking OCPP 2.1 (``ocpp.v21``); the 2.1-only CSMS messages are
    answered from ``answers`` (defaults: Accepted / nothing installed)."""

    _call = ocpp_v21.call
    _call_result = ocpp_v21.call_result
    _ocpp_version = "2.1"

    @on("SetDefaultTariff")
    async def on_set_default_tariff(self, **kwargs: Any) -> Any:
        return self._answer("SetDefaultTariff", kwargs, {"status": "Accepted"})

    @on("GetTariffs")
    async def on_get_tariffs(self, **kwargs: Any) -> Any:
        return self._answer("GetTariffs", kwargs, {"status": "NoTariff"})

    @on("ClearTariffs")
    async def on_clear_tariffs(self, **kwargs: Any) -> Any:
        return self._answer("ClearTariffs", kwargs, {"clear_tariffs_result": [{"status": "NoTariff"}]})

    @on("ChangeTransactionTariff")
    async def on_change_transaction_tariff(self, **kwargs: Any) -> Any:
        return self._answer("ChangeTransactionTariff", kwargs, {"status": "Accepted"})

    @on("UsePriorityCharging")
    async def on_use_priority_charging(self, **kwargs: Any) -> Any:
        return self._answer("UsePriorityCharging", kwargs, {"status": "Accepted"})

    @on("UpdateDynamicSchedule")
    async def on_update_dynamic_schedule(self, **kwargs: Any) -> Any:
        return self._answer("UpdateDynamicSchedule", kwargs, {"status": "Accepted"})

    @on("GetPeriodicEventStream")
    async def on_get_periodic_event_stream(self, **kwargs: Any) -> Any:
        return self._answer("GetPeriodicEventStream", kwargs, {})

    @on("AdjustPeriodicEventStream")
    async def on_adjust_periodic_event_stream(self, **kwargs: Any) -> Any:
        return self._answer("AdjustPeriodicEventStream", kwargs, {"status": "Accepted"})


S = TypeVar("S", bound=Station)


class Peer:
    """The scenario's handle: connect stations, call into the trio-side CSMS."""

    def __init__(self, server: Server, token: trio.lowlevel.TrioToken) -> None:
        self.server = server
        self.port = server.port
        self._token = token

    @contextlib.asynccontextmanager
    async def connect(
        self, identity: str, station: type[S] = Station, *, password: str | None = None
    ) -> AsyncIterator[S]:
        """A station connected to the server, serving its messages until the block ends."""
        subprotocol = "ocpp2.1" if station._ocpp_version == "2.1" else "ocpp2.0.1"
        headers = [basic_auth_header(identity, password)] if password is not None else None
        async with ws_connect(
            f"ws://127.0.0.1:{self.port}/ocpp/{identity}", subprotocols=[subprotocol], additional_headers=headers
        ) as ws:
            cp = station(identity, ws)
            serving = asyncio.create_task(cp.start())
            try:
                await self.csms(self._wait_attached, identity)
                yield cp
            finally:
                serving.cancel()
                with contextlib.suppress(asyncio.CancelledError, ConnectionClosed):
                    await serving

    async def _wait_attached(self, identity: str) -> None:
        while (session := self.server.get(identity)) is None or session.closed:
            await trio.sleep(0.005)

    async def wait_disconnected(self, identity: str) -> None:
        """Until the server noticed that ``identity`` went away."""

        async def gone() -> None:
            while (session := self.server.get(identity)) is not None and not session.closed:
                await trio.sleep(0.005)

        await self.csms(gone)

    async def csms(self, fn: Callable[..., Awaitable[T]], *args: Any, **kwargs: Any) -> T:
        """Run ``await fn(*args, **kwargs)`` in the server's trio run (bounded) and return its result."""

        async def bounded() -> T:
            with trio.fail_after(CSMS_CALL_TIMEOUT):
                return await fn(*args, **kwargs)

        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            None, functools.partial(trio.from_thread.run, bounded, trio_token=self._token)
        )


async def run_peer(server: Server, scenario: Callable[[Peer], Awaitable[T]]) -> T:
    """Run ``scenario(peer)`` on an asyncio loop in a worker thread and return its result.

    Bounded twice: ``PEER_TIMEOUT`` inside the loop, and a trio-side cancellation (the
    test's ``fail_after``) cancels the scenario and joins the thread, so nothing outlives
    the test.
    """
    peer = Peer(server, trio.lowlevel.current_trio_token())
    return await run_asyncio(scenario, peer, timeout=PEER_TIMEOUT)
