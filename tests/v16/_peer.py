"""Real charge points for the 1.6 plugin tests.

The charge point is the PyPI ``ocpp`` package's ``ocpp.v16.ChargePoint`` over a real
``websockets`` connection to our server on 127.0.0.1 (port 0). Our server runs under trio;
the peer gets its own asyncio loop in a worker thread (``run_peer``). A scenario is one
asyncio coroutine ``scenario(peer)``: it drives stations (``peer.connect(identity)``) and
reaches the CSMS side with ``await peer.csms(plugin.helper, *args)``, which runs the trio
coroutine in the server's run and returns its result to the asyncio thread.

``Station`` answers every CSMS-initiated 1.6 message like a small but realistic wallbox:
it keeps its configuration, local list and charging profiles, starts/stops a transaction
after an accepted remote start/stop, and sends what a TriggerMessage asks for.
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
from ocpp.routing import after, on
from ocpp.v16 import ChargePoint as OcppChargePoint
from ocpp.v16 import call, call_result
from ocpp_router import Server
from ocpp_router.testing import run_asyncio
from ocpp_router.v16.plugins import V16Plugins
from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed

PEER_TIMEOUT = 30.0
CSMS_CALL_TIMEOUT = 10.0
T = TypeVar("T")

CSR = "-----BEGIN CERTIFICATE REQUEST-----\nMIIBfake\n-----END CERTIFICATE REQUEST-----\n"
CHAIN = "-----BEGIN CERTIFICATE-----\nMIIBsigned\n-----END CERTIFICATE-----\n"


def iso(when: datetime) -> str:
    return when.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def now() -> str:
    return iso(datetime.now(timezone.utc))


def at(minutes: float, base: datetime = datetime(2024, 5, 1, 10, 0, tzinfo=timezone.utc)) -> str:
    """A fixed point in (station) time: stable timestamps make resends byte-identical."""
    return iso(base + timedelta(minutes=minutes))


async def start_server(nursery: trio.Nursery, plugins: V16Plugins | None = None, **options: Any) -> Server:
    """Our server on 127.0.0.1:0 serving 1.6 with the given plugins and no other handlers."""
    server = Server(versions=["1.6"], **options)
    if plugins is not None:
        server.install(*plugins)
    started: Server = await nursery.start(server.serve, "127.0.0.1", 0)
    return started


class Station(OcppChargePoint):
    """A wallbox speaking OCPP 1.6 through the ``ocpp`` package."""

    def __init__(self, identity: str, ws: ClientConnection) -> None:
        super().__init__(identity, ws, response_timeout=10)
        self.ws = ws
        self.received: dict[str, list[dict[str, Any]]] = defaultdict(list)
        #: action -> answer kwargs (or a callable(kwargs) -> kwargs) overriding the defaults
        self.answers: dict[str, Any] = {}
        self.configuration: dict[str, str] = {
            "HeartbeatInterval": "300",
            "MeterValueSampleInterval": "300",
            "MeterValuesSampledData": "Energy.Active.Import.Register",
            "SupportedFeatureProfiles": "Core,FirmwareManagement,LocalAuthListManagement,Reservation,"
            "SmartCharging,RemoteTrigger",
        }
        self.readonly = {"SupportedFeatureProfiles"}
        self.connectors: dict[int, str] = {0: "Available", 1: "Available"}
        self.local_list_version = 0
        self.local_list: dict[str, dict[str, Any]] = {}
        self.profiles: list[dict[str, Any]] = []
        self.meter_wh = 0
        self.transactions: dict[int, int] = {}  # connector -> transaction id
        self.sent: list[tuple[str, Any]] = []  # what the station sent and got back (triggered ones too)
        self.installed: list[dict[str, Any]] = []
        #: Send what an accepted TriggerMessage / RemoteStart / RemoteStop implies.
        self.follow_up = True

    # -- sending --------------------------------------------------------------------------

    async def send(self, payload: Any) -> Any:
        """Call the CSMS; a CALLERROR raises the ``ocpp`` exception."""
        result = await self.call(payload, suppress=False)
        self.sent.append((type(payload).__name__, result))
        return result

    async def boot(self, **extra: Any) -> Any:
        return await self.send(
            call.BootNotification(charge_point_vendor="Wallbox", charge_point_model="Pulsar", **extra)
        )

    async def heartbeat(self) -> Any:
        return await self.send(call.Heartbeat())

    async def status(self, connector: int, status: str, error_code: str = "NoError", **extra: Any) -> Any:
        self.connectors[connector] = status
        return await self.send(
            call.StatusNotification(connector_id=connector, error_code=error_code, status=status, **extra)
        )

    async def authorize(self, id_tag: str) -> Any:
        return await self.send(call.Authorize(id_tag=id_tag))

    async def start_transaction(
        self, connector: int, id_tag: str, meter_start: int, timestamp: str, **extra: Any
    ) -> Any:
        result = await self.send(
            call.StartTransaction(
                connector_id=connector, id_tag=id_tag, meter_start=meter_start, timestamp=timestamp, **extra
            )
        )
        self.transactions[connector] = result.transaction_id
        return result

    async def meter(self, connector: int, transaction_id: int | None, timestamp: str, **samples: Any) -> Any:
        """MeterValues with one sample per measurand keyword (``energy=``, ``power=``, ...)."""
        names = {
            "energy": ("Energy.Active.Import.Register", "Wh"),
            "power": ("Power.Active.Import", "W"),
            "current": ("Current.Import", "A"),
            "voltage": ("Voltage", "V"),
        }
        sampled = []
        for key, value in samples.items():
            measurand, unit = names[key]
            sampled.append({"value": str(value), "measurand": measurand, "unit": unit, "context": "Sample.Periodic"})
        return await self.send(
            call.MeterValues(
                connector_id=connector,
                transaction_id=transaction_id,
                meter_value=[{"timestamp": timestamp, "sampled_value": sampled}],
            )
        )

    async def stop_transaction(self, transaction_id: int, meter_stop: int, timestamp: str, **extra: Any) -> Any:
        return await self.send(
            call.StopTransaction(transaction_id=transaction_id, meter_stop=meter_stop, timestamp=timestamp, **extra)
        )

    def power_loss(self) -> None:
        """Drop the TCP connection without a close frame."""
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
        return getattr(call_result, action)(**answer)

    def _accepted(self, action: str) -> bool:
        """Whether to follow up our answer to ``action`` (it was Accepted)."""
        answer = self.answers.get(action, {"status": "Accepted"})
        return self.follow_up and (callable(answer) or answer.get("status") == "Accepted")

    @on("Reset")
    async def on_reset(self, **kwargs: Any) -> Any:
        return self._answer("Reset", kwargs, {"status": "Accepted"})

    @on("ChangeAvailability")
    async def on_change_availability(self, **kwargs: Any) -> Any:
        return self._answer("ChangeAvailability", kwargs, {"status": "Accepted"})

    @on("ChangeConfiguration")
    async def on_change_configuration(self, key: str, value: str) -> Any:
        status = "NotSupported" if key not in self.configuration else "Rejected" if key in self.readonly else "Accepted"
        if status == "Accepted":
            self.configuration[key] = value
        return self._answer("ChangeConfiguration", {"key": key, "value": value}, {"status": status})

    @on("GetConfiguration")
    async def on_get_configuration(self, key: list[str] | None = None) -> Any:
        wanted = key or list(self.configuration)
        known = [
            {"key": k, "readonly": k in self.readonly, "value": self.configuration[k]}
            for k in wanted
            if k in self.configuration
        ]
        unknown = [k for k in wanted if k not in self.configuration]
        return self._answer(
            "GetConfiguration", {"key": key}, {"configuration_key": known, "unknown_key": unknown or None}
        )

    @on("ClearCache")
    async def on_clear_cache(self, **kwargs: Any) -> Any:
        return self._answer("ClearCache", kwargs, {"status": "Accepted"})

    @on("UnlockConnector")
    async def on_unlock_connector(self, **kwargs: Any) -> Any:
        return self._answer("UnlockConnector", kwargs, {"status": "Unlocked"})

    @on("DataTransfer")
    async def on_data_transfer(self, **kwargs: Any) -> Any:
        return self._answer("DataTransfer", kwargs, {"status": "Accepted", "data": "pong"})

    @on("RemoteStartTransaction")
    async def on_remote_start(self, **kwargs: Any) -> Any:
        return self._answer("RemoteStartTransaction", kwargs, {"status": "Accepted"})

    @after("RemoteStartTransaction")
    async def after_remote_start(self, id_tag: str, connector_id: int = 1, **kwargs: Any) -> None:
        if self._accepted("RemoteStartTransaction"):
            self.meter_wh += 1
            await self.start_transaction(connector_id, id_tag, self.meter_wh, now())

    @on("RemoteStopTransaction")
    async def on_remote_stop(self, **kwargs: Any) -> Any:
        return self._answer("RemoteStopTransaction", kwargs, {"status": "Accepted"})

    @after("RemoteStopTransaction")
    async def after_remote_stop(self, transaction_id: int) -> None:
        if self._accepted("RemoteStopTransaction"):
            self.meter_wh += 100
            await self.stop_transaction(transaction_id, self.meter_wh, now(), reason="Remote")

    @on("UpdateFirmware")
    async def on_update_firmware(self, **kwargs: Any) -> Any:
        return self._answer("UpdateFirmware", kwargs, {})

    @on("GetDiagnostics")
    async def on_get_diagnostics(self, **kwargs: Any) -> Any:
        return self._answer("GetDiagnostics", kwargs, {"file_name": "diagnostics-001.zip"})

    @on("GetLocalListVersion")
    async def on_get_local_list_version(self, **kwargs: Any) -> Any:
        return self._answer("GetLocalListVersion", kwargs, {"list_version": self.local_list_version})

    @on("SendLocalList")
    async def on_send_local_list(
        self, list_version: int, update_type: str, local_authorization_list: list[dict[str, Any]] | None = None
    ) -> Any:
        kwargs = {"list_version": list_version, "update_type": update_type, "entries": local_authorization_list}
        if update_type == "Differential" and list_version <= self.local_list_version:
            return self._answer("SendLocalList", kwargs, {"status": "VersionMismatch"})
        if update_type == "Full":
            self.local_list = {}
        for entry in local_authorization_list or []:
            tag = entry["id_tag"]
            for known in [k for k in self.local_list if k.casefold() == tag.casefold()]:  # CiString20
                del self.local_list[known]
            if entry.get("id_tag_info") is not None:
                self.local_list[tag] = entry["id_tag_info"]
        self.local_list_version = list_version
        return self._answer("SendLocalList", kwargs, {"status": "Accepted"})

    @on("ReserveNow")
    async def on_reserve_now(self, **kwargs: Any) -> Any:
        return self._answer("ReserveNow", kwargs, {"status": "Accepted"})

    @on("CancelReservation")
    async def on_cancel_reservation(self, **kwargs: Any) -> Any:
        return self._answer("CancelReservation", kwargs, {"status": "Accepted"})

    @on("SetChargingProfile")
    async def on_set_charging_profile(self, connector_id: int, cs_charging_profiles: dict[str, Any]) -> Any:
        kwargs = {"connector_id": connector_id, "cs_charging_profiles": cs_charging_profiles}
        self.profiles.append(kwargs)
        return self._answer("SetChargingProfile", kwargs, {"status": "Accepted"})

    @on("ClearChargingProfile")
    async def on_clear_charging_profile(self, **kwargs: Any) -> Any:
        def matches(entry: dict[str, Any]) -> bool:
            profile = entry["cs_charging_profiles"]
            if "id" in kwargs:
                return bool(profile["charging_profile_id"] == kwargs["id"])
            checks = {
                "connector_id": entry["connector_id"],
                "charging_profile_purpose": profile["charging_profile_purpose"],
                "stack_level": profile["stack_level"],
            }
            return all(kwargs[k] == v for k, v in checks.items() if k in kwargs)

        kept = [entry for entry in self.profiles if not matches(entry)]
        status = "Accepted" if len(kept) < len(self.profiles) else "Unknown"
        self.profiles = kept
        return self._answer("ClearChargingProfile", kwargs, {"status": status})

    @on("GetCompositeSchedule")
    async def on_get_composite_schedule(self, connector_id: int, duration: int, **kwargs: Any) -> Any:
        schedule = {
            "charging_rate_unit": kwargs.get("charging_rate_unit", "A"),
            "duration": duration,
            "charging_schedule_period": [{"start_period": 0, "limit": 16.0}],
        }
        default = {
            "status": "Accepted",
            "connector_id": connector_id,
            "schedule_start": now(),
            "charging_schedule": schedule,
        }
        return self._answer(
            "GetCompositeSchedule", {"connector_id": connector_id, "duration": duration, **kwargs}, default
        )

    @on("TriggerMessage")
    async def on_trigger_message(self, **kwargs: Any) -> Any:
        return self._answer("TriggerMessage", kwargs, {"status": "Accepted"})

    @after("TriggerMessage")
    async def after_trigger_message(self, requested_message: str, connector_id: int | None = None) -> None:
        if self._accepted("TriggerMessage"):
            await self.send_triggered(requested_message, connector_id)

    @on("ExtendedTriggerMessage")
    async def on_extended_trigger_message(self, **kwargs: Any) -> Any:
        return self._answer("ExtendedTriggerMessage", kwargs, {"status": "Accepted"})

    @after("ExtendedTriggerMessage")
    async def after_extended_trigger(self, requested_message: str, connector_id: int | None = None) -> None:
        if self._accepted("ExtendedTriggerMessage"):
            await self.send_triggered(requested_message, connector_id)

    async def send_triggered(self, requested: str, connector_id: int | None) -> None:
        if requested == "BootNotification":
            await self.boot()
        elif requested == "StatusNotification":
            for connector in [connector_id] if connector_id is not None else sorted(self.connectors):
                await self.status(connector, self.connectors.get(connector, "Available"))
        elif requested == "Heartbeat":
            await self.heartbeat()
        elif requested == "MeterValues":
            await self.meter(connector_id or 1, None, now(), energy=self.meter_wh)
        elif requested == "FirmwareStatusNotification":
            await self.send(call.FirmwareStatusNotification(status="Idle"))
        elif requested == "DiagnosticsStatusNotification":
            await self.send(call.DiagnosticsStatusNotification(status="Idle"))
        elif requested == "LogStatusNotification":
            await self.send(call.LogStatusNotification(status="Idle", request_id=None))
        elif requested == "SignChargePointCertificate":
            await self.send(call.SignCertificate(csr=CSR))

    @on("CertificateSigned")
    async def on_certificate_signed(self, **kwargs: Any) -> Any:
        return self._answer("CertificateSigned", kwargs, {"status": "Accepted"})

    @on("InstallCertificate")
    async def on_install_certificate(self, certificate_type: str, certificate: str) -> Any:
        kwargs = {"certificate_type": certificate_type, "certificate": certificate}
        return self._answer("InstallCertificate", kwargs, {"status": "Accepted"})

    @on("GetInstalledCertificateIds")
    async def on_get_installed_certificate_ids(self, **kwargs: Any) -> Any:
        default = {
            "status": "Accepted" if self.installed else "NotFound",
            "certificate_hash_data": self.installed or None,
        }
        return self._answer("GetInstalledCertificateIds", kwargs, default)

    @on("DeleteCertificate")
    async def on_delete_certificate(self, certificate_hash_data: dict[str, Any]) -> Any:
        found = certificate_hash_data in self.installed
        if found:
            self.installed.remove(certificate_hash_data)
        kwargs = {"certificate_hash_data": certificate_hash_data}
        return self._answer("DeleteCertificate", kwargs, {"status": "Accepted" if found else "NotFound"})

    @on("GetLog")
    async def on_get_log(self, **kwargs: Any) -> Any:
        return self._answer("GetLog", kwargs, {"status": "Accepted", "filename": "security.log"})

    @on("SignedUpdateFirmware")
    async def on_signed_update_firmware(self, **kwargs: Any) -> Any:
        return self._answer("SignedUpdateFirmware", kwargs, {"status": "Accepted"})


S = TypeVar("S", bound=Station)


class Peer:
    """The scenario's handle: connect stations, call into the trio-side CSMS."""

    def __init__(self, server: Server, token: trio.lowlevel.TrioToken) -> None:
        self.server = server
        self.port = server.port
        self._token = token

    @contextlib.asynccontextmanager
    async def connect(self, identity: str, station: type[S] = Station) -> AsyncIterator[S]:
        """A station connected to the server, serving its messages until the block ends."""
        async with ws_connect(f"ws://127.0.0.1:{self.port}/ocpp/{identity}", subprotocols=["ocpp1.6"]) as ws:
            cp = station(identity, ws)
            serving = asyncio.create_task(cp.start())
            try:
                # The server registers the session when the handshake completes.
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

    async def until(self, predicate: Callable[[], Awaitable[bool]]) -> None:
        """Until the trio-side ``predicate()`` holds (e.g. an after-hook has run)."""

        async def poll() -> None:
            while not await predicate():
                await trio.sleep(0.005)

        await self.csms(poll)

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
