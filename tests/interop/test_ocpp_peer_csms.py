"""Interop: OUR ``connect()`` client (charge-point role) against a CSMS written with ``ocpp``.

The peer CSMS is the PyPI ``ocpp`` package on a ``websockets`` server, run in a worker thread
with its own asyncio loop on 127.0.0.1 (port 0). Our client runs under trio. Both directions
are exercised: our client's calls answered by the peer's ``@on`` handlers, and the peer's
calls (Reset, RemoteStartTransaction / RequestStartTransaction, GetVariables) answered by
our client's router.
"""

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from datetime import datetime, timezone
from typing import Any

import pytest
import trio
from ocpp.exceptions import NotSupportedError as PeerNotSupportedError
from ocpp.exceptions import PropertyConstraintViolationError as PeerPropertyConstraintViolationError
from ocpp.routing import on
from ocpp.v16 import ChargePoint as PeerChargePoint16
from ocpp.v16 import call as call16
from ocpp.v16 import call_result as result16
from ocpp.v201 import ChargePoint as PeerChargePoint201
from ocpp.v201 import call as call201
from ocpp.v201 import call_result as result201
from ocpp_router import ConnectError, Hooks, Router, SessionOptions, connect, v16, v201
from ocpp_router.errors import CallError, RemoteProtocolError
from websockets.asyncio.server import ServerConnection
from websockets.asyncio.server import serve as ws_serve
from websockets.exceptions import ConnectionClosedOK

TEST_TIMEOUT = 40
RunPeer = Callable[..., Awaitable[Any]]  # the conftest fixture: run an asyncio peer in a thread
T0 = "2024-05-01T10:00:00Z"
T1 = "2024-05-01T10:15:00Z"
T2 = "2024-05-01T10:30:00Z"


def peer_now() -> str:
    """What a typical ``ocpp`` CSMS sends as currentTime (RFC 3339 with ``+00:00`` and microseconds)."""
    return datetime.now(timezone.utc).isoformat()


class PeerCsms:
    """A ``websockets`` server in the peer thread serving one ``ocpp`` CSMS session.

    ``session(ws)`` is the per-connection coroutine; the server stops after it returned.
    The bound port and the end of the CSMS's own calls are reported to trio.
    """

    def __init__(self, subprotocols: list[str], session: Callable[[ServerConnection], Any]) -> None:
        self.subprotocols = subprotocols
        self.session = session
        self.token = trio.lowlevel.current_trio_token()
        self.port = 0
        self.listening = trio.Event()
        self.calls_done = trio.Event()
        self.errors: list[BaseException] = []

    def _report_port(self, port: int) -> None:
        self.port = port
        self.listening.set()

    def signal_calls_done(self) -> None:
        trio.from_thread.run_sync(self.calls_done.set, trio_token=self.token)

    async def main(self) -> None:
        finished = asyncio.Event()

        async def handler(ws: ServerConnection) -> None:
            try:
                await self.session(ws)
            except BaseException as exc:  # surfaced to the test below, not just logged by websockets
                self.errors.append(exc)
                raise
            finally:
                finished.set()

        async with ws_serve(handler, "127.0.0.1", 0, subprotocols=self.subprotocols) as server:
            port = server.sockets[0].getsockname()[1]
            trio.from_thread.run_sync(self._report_port, port, trio_token=self.token)
            await finished.wait()
        if self.errors:
            raise self.errors[0]


async def serve_until_closed(cp: Any) -> None:
    with contextlib.suppress(ConnectionClosedOK):
        await cp.start()


# ----------------------------------------------------------------------------------------
# OCPP 1.6
# ----------------------------------------------------------------------------------------


class Csms16(PeerChargePoint16):
    """The peer CSMS's view of one 1.6 charge point; records what our client sent."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.seen: dict[str, Any] = {}
        self.booted = asyncio.Event()

    @on("BootNotification")
    async def on_boot(self, charge_point_vendor: str, charge_point_model: str, **kwargs: Any) -> Any:
        self.seen["BootNotification"] = {
            "charge_point_vendor": charge_point_vendor,
            "charge_point_model": charge_point_model,
            **kwargs,
        }
        self.booted.set()
        return result16.BootNotification(current_time=peer_now(), interval=10, status="Accepted")

    @on("Heartbeat")
    async def on_heartbeat(self, **kwargs: Any) -> Any:
        self.seen["Heartbeat"] = kwargs
        return result16.Heartbeat(current_time=peer_now())

    @on("StatusNotification")
    async def on_status(self, **kwargs: Any) -> Any:
        self.seen.setdefault("StatusNotification", []).append(kwargs)
        return result16.StatusNotification()

    @on("Authorize")
    async def on_authorize(self, id_tag: str, **kwargs: Any) -> Any:
        self.seen["Authorize"] = {"id_tag": id_tag, **kwargs}
        if id_tag == "BAD-TAG":
            raise PeerPropertyConstraintViolationError(description="idTag is blocked")
        return result16.Authorize(id_tag_info={"status": "Accepted", "parent_id_tag": "FLEET"})

    @on("StartTransaction")
    async def on_start_transaction(self, **kwargs: Any) -> Any:
        self.seen["StartTransaction"] = kwargs
        return result16.StartTransaction(transaction_id=7, id_tag_info={"status": "Accepted"})

    @on("MeterValues")
    async def on_meter_values(self, **kwargs: Any) -> Any:
        self.seen["MeterValues"] = kwargs
        return result16.MeterValues()

    @on("StopTransaction")
    async def on_stop_transaction(self, **kwargs: Any) -> Any:
        self.seen["StopTransaction"] = kwargs
        return result16.StopTransaction(id_tag_info={"status": "Accepted"})


async def test_our_16_client_against_ocpp_csms(run_peer: RunPeer) -> None:
    csms_box: list[Csms16] = []
    csms_results: dict[str, Any] = {}

    async def session(ws: ServerConnection) -> None:
        csms_results["path"] = ws.request.path if ws.request else None
        csms_results["subprotocol"] = ws.subprotocol
        cp = Csms16(ws.request.path.rsplit("/", 1)[-1] if ws.request else "?", ws, response_timeout=10)
        csms_box.append(cp)
        loop = asyncio.create_task(serve_until_closed(cp))
        await cp.booted.wait()
        # The CSMS's calls to our charge point, while our client keeps calling too.
        csms_results["Reset"] = await cp.call(call16.Reset(type="Soft"), suppress=False)
        csms_results["RemoteStartTransaction"] = await cp.call(
            call16.RemoteStartTransaction(id_tag="REMOTE-1", connector_id=1), suppress=False
        )
        csms_results["GetConfiguration"] = await cp.call(
            call16.GetConfiguration(key=["HeartbeatInterval"]), suppress=False
        )
        try:  # our client has no handler for it
            await cp.call(call16.UnlockConnector(connector_id=1), suppress=False)
        except PeerNotSupportedError as exc:
            csms_results["UnlockConnector"] = exc
        csms.signal_calls_done()
        await loop  # until our client closes
        csms_results["close_code"] = ws.close_code

    csms = PeerCsms(["ocpp1.6"], session)

    client_router = Router()
    handled: dict[str, Any] = {}

    @client_router.on("Reset")
    async def on_reset(cp: Any, req: v16.ResetRequest) -> v16.ResetResponse:
        handled["Reset"] = req
        return v16.ResetResponse(status=v16.GenericStatus.Accepted)

    @client_router.on("RemoteStartTransaction")
    async def on_remote_start(cp: Any, payload: dict[str, Any]) -> dict[str, Any]:
        handled["RemoteStartTransaction"] = payload
        return {"status": "Accepted"}

    @client_router.on("GetConfiguration")
    async def on_get_configuration(cp: Any, payload: dict[str, Any]) -> dict[str, Any]:
        handled["GetConfiguration"] = payload
        return {"configurationKey": [{"key": "HeartbeatInterval", "readonly": True, "value": "10"}]}

    got: dict[str, Any] = {}
    with trio.fail_after(TEST_TIMEOUT):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(run_peer, csms.main)
            await csms.listening.wait()
            url = f"ws://127.0.0.1:{csms.port}/steve/websocket/CentralSystemService"
            async with connect(url, "CP-16", client_router, versions=["1.6"]) as cp:
                assert cp.version == "1.6"
                assert cp.subprotocol == "ocpp1.6"
                got["BootNotification"] = await cp.call(
                    v16.BootNotificationRequest(
                        charge_point_vendor="OurVendor", charge_point_model="OurModel", iccid="8931"
                    ),
                    timeout=10,
                )
                got["Heartbeat"] = await cp.call("Heartbeat", {}, timeout=10)
                for status in ("Preparing", "Charging"):
                    await cp.call(
                        "StatusNotification",
                        {"connectorId": 1, "errorCode": "NoError", "status": status, "timestamp": T0},
                        timeout=10,
                    )
                got["Authorize"] = await cp.call("Authorize", {"idTag": "TAG-1"}, timeout=10)
                with pytest.raises(CallError) as caught:
                    await cp.call("Authorize", {"idTag": "BAD-TAG"}, timeout=10)
                got["Authorize error"] = caught.value
                got["StartTransaction"] = await cp.call(
                    v16.StartTransactionRequest(connector_id=1, id_tag="TAG-1", meter_start=100, timestamp=T0),
                    timeout=10,
                )
                transaction_id = got["StartTransaction"].transaction_id
                got["MeterValues"] = await cp.call(
                    "MeterValues",
                    {
                        "connectorId": 1,
                        "transactionId": transaction_id,
                        "meterValue": [
                            {
                                "timestamp": T1,
                                "sampledValue": [
                                    {"value": "600", "measurand": "Energy.Active.Import.Register", "unit": "Wh"}
                                ],
                            }
                        ],
                    },
                    timeout=10,
                )
                got["StopTransaction"] = await cp.call(
                    "StopTransaction",
                    {"meterStop": 1100, "timestamp": T2, "transactionId": transaction_id, "reason": "Local"},
                    timeout=10,
                )
                await csms.calls_done.wait()

    # Our client's view of the peer's answers.
    boot = got["BootNotification"]
    assert isinstance(boot, v16.BootNotificationResponse)
    assert boot.status == v16.RegistrationStatus.Accepted
    assert boot.interval == 10
    assert boot.current_time.endswith("+00:00")
    assert set(got["Heartbeat"]) == {"currentTime"}
    assert got["Authorize"] == {"idTagInfo": {"status": "Accepted", "parentIdTag": "FLEET"}}
    error = got["Authorize error"]
    assert error.code == "PropertyConstraintViolation"
    assert "idTag is blocked" in error.description
    assert got["StartTransaction"] == v16.StartTransactionResponse(
        transaction_id=7, id_tag_info=v16.IdTagInfo(status=v16.AuthorizationStatus.Accepted)
    )
    assert got["MeterValues"] == {}
    assert got["StopTransaction"] == {"idTagInfo": {"status": "Accepted"}}

    # The peer CSMS's view of our client's calls.
    assert csms_results["path"] == "/steve/websocket/CentralSystemService/CP-16"
    assert csms_results["subprotocol"] == "ocpp1.6"
    seen = csms_box[0].seen
    assert seen["BootNotification"] == {
        "charge_point_vendor": "OurVendor",
        "charge_point_model": "OurModel",
        "iccid": "8931",
    }
    assert seen["Heartbeat"] == {}
    assert seen["StatusNotification"] == [
        {"connector_id": 1, "error_code": "NoError", "status": "Preparing", "timestamp": T0},
        {"connector_id": 1, "error_code": "NoError", "status": "Charging", "timestamp": T0},
    ]
    assert seen["Authorize"] == {"id_tag": "BAD-TAG"}
    assert seen["StartTransaction"] == {"connector_id": 1, "id_tag": "TAG-1", "meter_start": 100, "timestamp": T0}
    assert seen["MeterValues"] == {
        "connector_id": 1,
        "transaction_id": 7,
        "meter_value": [
            {
                "timestamp": T1,
                "sampled_value": [{"value": "600", "measurand": "Energy.Active.Import.Register", "unit": "Wh"}],
            }
        ],
    }
    assert seen["StopTransaction"] == {"meter_stop": 1100, "timestamp": T2, "transaction_id": 7, "reason": "Local"}

    # The CSMS's calls, as our client's router saw them and as the peer got the answers.
    assert handled["Reset"] == v16.ResetRequest(type=v16.ResetType.Soft)
    assert handled["RemoteStartTransaction"] == {"idTag": "REMOTE-1", "connectorId": 1}
    assert handled["GetConfiguration"] == {"key": ["HeartbeatInterval"]}
    assert csms_results["Reset"] == result16.Reset(status="Accepted")
    assert csms_results["RemoteStartTransaction"] == result16.RemoteStartTransaction(status="Accepted")
    assert csms_results["GetConfiguration"] == result16.GetConfiguration(
        configuration_key=[{"key": "HeartbeatInterval", "readonly": True, "value": "10"}]
    )
    assert csms_results["UnlockConnector"].code == "NotSupported"
    assert csms_results["close_code"] == 1000


# ----------------------------------------------------------------------------------------
# OCPP 2.0.1
# ----------------------------------------------------------------------------------------


class Csms201(PeerChargePoint201):
    """The peer CSMS's view of one 2.0.1 charging station."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.seen: dict[str, Any] = {}
        self.booted = asyncio.Event()

    @on("BootNotification")
    async def on_boot(self, charging_station: dict[str, Any], reason: str, **kwargs: Any) -> Any:
        self.seen["BootNotification"] = {"charging_station": charging_station, "reason": reason, **kwargs}
        self.booted.set()
        return result201.BootNotification(current_time=peer_now(), interval=30, status="Accepted")

    @on("Heartbeat")
    async def on_heartbeat(self, **kwargs: Any) -> Any:
        self.seen["Heartbeat"] = kwargs
        return result201.Heartbeat(current_time=peer_now())

    @on("StatusNotification")
    async def on_status(self, **kwargs: Any) -> Any:
        self.seen["StatusNotification"] = kwargs
        return result201.StatusNotification()

    @on("Authorize")
    async def on_authorize(self, id_token: dict[str, Any], **kwargs: Any) -> Any:
        self.seen["Authorize"] = {"id_token": id_token, **kwargs}
        return result201.Authorize(id_token_info={"status": "Accepted", "group_id_token": id_token})

    @on("TransactionEvent")
    async def on_transaction_event(self, **kwargs: Any) -> Any:
        self.seen.setdefault("TransactionEvent", []).append(kwargs)
        if kwargs["event_type"] == "Ended":
            return result201.TransactionEvent(total_cost=12.5)
        if "id_token" in kwargs:
            return result201.TransactionEvent(id_token_info={"status": "Accepted"})
        return result201.TransactionEvent()

    @on("MeterValues")
    async def on_meter_values(self, **kwargs: Any) -> Any:
        self.seen["MeterValues"] = kwargs
        return result201.MeterValues()


def _sample(value: float, context: str) -> dict[str, Any]:
    return {
        "timestamp": T1,
        "sampledValue": [
            {"value": value, "context": context, "measurand": "Energy.Active.Import.Register"},
        ],
    }


async def test_our_201_client_against_ocpp_csms(run_peer: RunPeer) -> None:
    csms_box: list[Csms201] = []
    csms_results: dict[str, Any] = {}

    async def session(ws: ServerConnection) -> None:
        csms_results["subprotocol"] = ws.subprotocol
        cp = Csms201("CS-201", ws, response_timeout=10)
        csms_box.append(cp)
        loop = asyncio.create_task(serve_until_closed(cp))
        await cp.booted.wait()
        csms_results["Reset"] = await cp.call(call201.Reset(type="Immediate", evse_id=1), suppress=False)
        csms_results["RequestStartTransaction"] = await cp.call(
            call201.RequestStartTransaction(
                id_token={"id_token": "REMOTE-1", "type": "Central"}, remote_start_id=99, evse_id=1
            ),
            suppress=False,
        )
        csms_results["GetVariables"] = await cp.call(
            call201.GetVariables(
                get_variable_data=[
                    {"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"}},
                    {"component": {"name": "Nope"}, "variable": {"name": "Nope"}},
                ]
            ),
            suppress=False,
        )
        csms.signal_calls_done()
        await loop
        csms_results["close_code"] = ws.close_code

    # The peer prefers 1.6 (its list order decides), our client offers only 2.0.1.
    csms = PeerCsms(["ocpp1.6", "ocpp2.0.1"], session)

    client_router = Router()
    handled: dict[str, Any] = {}

    @client_router.on("Reset", version="2.0.1")
    async def on_reset(cp: Any, payload: dict[str, Any]) -> dict[str, Any]:
        handled["Reset"] = payload
        return {"status": "Accepted"}

    @client_router.on("RequestStartTransaction", version="2.0.1")
    async def on_request_start(cp: Any, req: v201.RequestStartTransactionRequest) -> Any:
        handled["RequestStartTransaction"] = req
        return v201.RequestStartTransactionResponse(
            status=v201.RequestStartStopStatusEnumType.Accepted, transaction_id="TX-99"
        )

    @client_router.on("GetVariables", version="2.0.1")
    async def on_get_variables(cp: Any, req: v201.GetVariablesRequest) -> v201.GetVariablesResponse:
        handled["GetVariables"] = req
        known = {("OCPPCommCtrlr", "HeartbeatInterval"): "30"}
        results = []
        for item in req.get_variable_data:
            value = known.get((item.component.name, item.variable.name))
            results.append(
                v201.GetVariableResultType(
                    attribute_status=v201.GetVariableStatusEnumType.Accepted
                    if value is not None
                    else v201.GetVariableStatusEnumType.UnknownComponent,
                    attribute_value=value,
                    component=item.component,
                    variable=item.variable,
                )
            )
        return v201.GetVariablesResponse(get_variable_result=results)

    got: dict[str, Any] = {}
    id_token = {"idToken": "TOKEN-1", "type": "ISO14443"}
    with trio.fail_after(TEST_TIMEOUT):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(run_peer, csms.main)
            await csms.listening.wait()
            async with connect(f"ws://127.0.0.1:{csms.port}/ocpp", "CS-201", client_router, versions=["2.0.1"]) as cp:
                assert cp.version == "2.0.1"
                got["BootNotification"] = await cp.call(
                    "BootNotification",
                    {"chargingStation": {"model": "OurModel", "vendorName": "OurVendor"}, "reason": "PowerUp"},
                    timeout=10,
                )
                got["Heartbeat"] = await cp.call(v201.HeartbeatRequest(), timeout=10)
                got["StatusNotification"] = await cp.call(
                    "StatusNotification",
                    {"timestamp": T0, "connectorStatus": "Occupied", "evseId": 1, "connectorId": 1},
                    timeout=10,
                )
                got["Authorize"] = await cp.call("Authorize", {"idToken": id_token}, timeout=10)
                events = []
                for seq_no, (event_type, trigger, energy, context) in enumerate(
                    [
                        ("Started", "Authorized", 0.0, "Transaction.Begin"),
                        ("Updated", "MeterValuePeriodic", 3300.5, "Sample.Periodic"),
                        ("Ended", "StopAuthorized", 7000.0, "Transaction.End"),
                    ]
                ):
                    payload: dict[str, Any] = {
                        "eventType": event_type,
                        "timestamp": T1,
                        "triggerReason": trigger,
                        "seqNo": seq_no,
                        "transactionInfo": {"transactionId": "TX-1"},
                        "meterValue": [_sample(energy, context)],
                    }
                    if event_type == "Started":
                        payload["idToken"] = id_token
                        payload["evse"] = {"id": 1, "connectorId": 1}
                    events.append(await cp.call("TransactionEvent", payload, timeout=10))
                got["TransactionEvent"] = events
                got["MeterValues"] = await cp.call(
                    "MeterValues", {"evseId": 1, "meterValue": [_sample(42.0, "Sample.Clock")]}, timeout=10
                )
                await csms.calls_done.wait()

    assert got["BootNotification"]["status"] == "Accepted"
    assert got["BootNotification"]["interval"] == 30
    assert isinstance(got["Heartbeat"], v201.HeartbeatResponse)
    assert got["StatusNotification"] == {}
    assert got["Authorize"] == {"idTokenInfo": {"status": "Accepted", "groupIdToken": id_token}}
    assert got["TransactionEvent"] == [{"idTokenInfo": {"status": "Accepted"}}, {}, {"totalCost": 12.5}]
    assert got["MeterValues"] == {}

    assert csms_results["subprotocol"] == "ocpp2.0.1"
    seen = csms_box[0].seen
    assert seen["BootNotification"] == {
        "charging_station": {"model": "OurModel", "vendor_name": "OurVendor"},
        "reason": "PowerUp",
    }
    assert seen["StatusNotification"] == {
        "timestamp": T0,
        "connector_status": "Occupied",
        "evse_id": 1,
        "connector_id": 1,
    }
    assert seen["Authorize"] == {"id_token": {"id_token": "TOKEN-1", "type": "ISO14443"}}
    events_seen = seen["TransactionEvent"]
    assert [(e["event_type"], e["seq_no"], e["transaction_info"]) for e in events_seen] == [
        ("Started", 0, {"transaction_id": "TX-1"}),
        ("Updated", 1, {"transaction_id": "TX-1"}),
        ("Ended", 2, {"transaction_id": "TX-1"}),
    ]
    assert [e["meter_value"][0]["sampled_value"][0]["value"] for e in events_seen] == [0.0, 3300.5, 7000.0]
    assert events_seen[0]["id_token"] == {"id_token": "TOKEN-1", "type": "ISO14443"}
    assert events_seen[0]["evse"] == {"id": 1, "connector_id": 1}
    assert seen["MeterValues"]["meter_value"][0]["sampled_value"][0] == {
        "value": 42.0,
        "context": "Sample.Clock",
        "measurand": "Energy.Active.Import.Register",
    }

    assert handled["Reset"] == {"type": "Immediate", "evseId": 1}
    assert handled["RequestStartTransaction"] == v201.RequestStartTransactionRequest(
        id_token=v201.IdTokenType(id_token="REMOTE-1", type=v201.IdTokenEnumType.Central), remote_start_id=99, evse_id=1
    )
    assert [d.variable.name for d in handled["GetVariables"].get_variable_data] == ["HeartbeatInterval", "Nope"]
    assert csms_results["Reset"] == result201.Reset(status="Accepted")
    assert csms_results["RequestStartTransaction"] == result201.RequestStartTransaction(
        status="Accepted", transaction_id="TX-99"
    )
    assert csms_results["GetVariables"] == result201.GetVariables(
        get_variable_result=[
            {
                "attribute_status": "Accepted",
                "attribute_value": "30",
                "component": {"name": "OCPPCommCtrlr"},
                "variable": {"name": "HeartbeatInterval"},
            },
            {"attribute_status": "UnknownComponent", "component": {"name": "Nope"}, "variable": {"name": "Nope"}},
        ]
    )
    assert csms_results["close_code"] == 1000


async def test_our_client_gets_connect_error_when_the_csms_refuses_the_versions(run_peer: RunPeer) -> None:
    """The peer answers HTTP 400 when no subprotocol matches; ``connect()`` raises ``ConnectError``."""

    async def session(ws: ServerConnection) -> None:
        await serve_until_closed(PeerChargePoint16("CP-OK", ws))

    csms = PeerCsms(["ocpp1.6"], session)

    async def stop_peer_server() -> None:
        # The peer stops once one session ended; a good connection that closes at once ends it.
        async with connect(f"ws://127.0.0.1:{csms.port}/ocpp", "CP-OK", versions=["1.6"]):
            pass

    with trio.fail_after(TEST_TIMEOUT):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(run_peer, csms.main)
            await csms.listening.wait()
            with pytest.raises(ConnectError) as caught:
                async with connect(f"ws://127.0.0.1:{csms.port}/ocpp", "CP-21", versions=["2.1", "2.0.1"]):
                    pass
            assert caught.value.status_code == 400
            await stop_peer_server()


class NaiveClockCsms(PeerChargePoint16):
    """Sends ``currentTime`` the way the ``ocpp`` package's own examples do:
    ``datetime.utcnow().isoformat()``, with no UTC offset (not RFC 3339)."""

    @on("BootNotification")
    async def on_boot(self, **kwargs: Any) -> Any:
        naive = datetime.now(timezone.utc).replace(tzinfo=None).isoformat()
        return result16.BootNotification(current_time=naive, interval=10, status="Accepted")


@pytest.mark.parametrize("date_time", ["strict", "lenient"])
async def test_naive_current_time_from_ocpp_csms(date_time: str, run_peer: RunPeer) -> None:
    """Strict (the default) refuses the offset-less timestamp; lenient accepts it."""

    async def session(ws: ServerConnection) -> None:
        await serve_until_closed(NaiveClockCsms("CP-NAIVE", ws))

    csms = PeerCsms(["ocpp1.6"], session)
    violations: list[tuple[str, str]] = []
    hooks = Hooks(on_validation_violation=lambda cp, action, failure: violations.append((action, failure.description)))
    options = SessionOptions(date_time=date_time)  # type: ignore[arg-type]
    outcome: Any = None
    with trio.fail_after(TEST_TIMEOUT):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(run_peer, csms.main)
            await csms.listening.wait()
            url = f"ws://127.0.0.1:{csms.port}/ocpp"
            async with connect(url, "CP-NAIVE", versions=["1.6"], options=options, hooks=hooks) as cp:
                try:
                    outcome = await cp.call("BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"})
                except RemoteProtocolError as exc:
                    outcome = exc
    if date_time == "strict":
        assert isinstance(outcome, RemoteProtocolError)
        assert outcome.action == "BootNotification"
        assert "currentTime" in outcome.description
        assert violations == []
    else:
        assert outcome["status"] == "Accepted"
        assert "+" not in outcome["currentTime"]
        assert not outcome["currentTime"].endswith("Z")
        # date_time="lenient" widens the accepted format (README: 1.6-style ISO 8601); unlike
        # incoming_validation="lenient" it is not a violation, so no hook call.
        assert violations == []
