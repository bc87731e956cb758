"""Real charging stations for the 2.0.1 block-plugin tests.

The station is the PyPI ``ocpp`` package's ``ocpp.v201.ChargePoint`` (``Station21``: its
``ocpp.v21`` sibling) over a real ``websockets`` connection to our server on 127.0.0.1
(port 0). Our server runs under trio; the peer gets its own asyncio loop in a worker thread
(``run_peer``). A scenario is one asyncio coroutine ``scenario(peer)``: it drives stations
(``peer.connect(identity)``) and reaches the CSMS side with ``await peer.csms(fn, *args)``,
which runs the trio coroutine in the server's run and returns its result.

``Station`` answers every CSMS-initiated message of blocks A-H like a small but realistic
charging station: it keeps a device model, a local list and reservations, sends a
multi-part NotifyReport (parts out of order) after GetBaseReport/GetReport, starts/stops a
transaction after an accepted RequestStart/StopTransaction, and sends what a TriggerMessage
asks for.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import threading
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime, timedelta, timezone
from typing import Any, TypeVar

import trio
from ocpp import v21 as ocpp_v21
from ocpp.routing import after, on
from ocpp.v201 import ChargePoint as OcppChargePoint
from ocpp_router import Server, basic_auth_header
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


class Station21(Station):
    """The same station speaking OCPP 2.1 (``ocpp.v21``)."""

    _call = ocpp_v21.call
    _call_result = ocpp_v21.call_result
    _ocpp_version = "2.1"


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
    started, finished = threading.Event(), threading.Event()
    handle: dict[str, Any] = {}

    async def main() -> T:
        handle["loop"], handle["task"] = asyncio.get_running_loop(), asyncio.current_task()
        started.set()
        return await asyncio.wait_for(scenario(peer), PEER_TIMEOUT)

    def in_thread() -> T:
        try:
            return asyncio.run(main())
        finally:
            finished.set()

    try:
        return await trio.to_thread.run_sync(in_thread, abandon_on_cancel=True)
    except trio.Cancelled:
        with trio.CancelScope(shield=True):
            if await trio.to_thread.run_sync(started.wait, 5) and not finished.is_set():
                with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                    handle["loop"].call_soon_threadsafe(handle["task"].cancel)
            await trio.to_thread.run_sync(finished.wait, 10)
        raise
