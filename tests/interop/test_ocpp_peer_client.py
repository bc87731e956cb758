"""Interop: charge points written with the PyPI ``ocpp`` package against OUR server.

The peer is an independent implementation (asyncio + ``websockets``) run in a worker thread
with its own event loop; our server runs under trio on 127.0.0.1. Each test checks the
payloads on both sides: what our handlers received and what the peer got back, and for
CSMS-initiated calls what the peer's ``@on`` handlers received and what ``server.call``
returned.
"""

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import trio
from ocpp.exceptions import NotSupportedError as PeerNotSupportedError
from ocpp.messages import Call, unpack
from ocpp.messages import CallError as PeerCallError
from ocpp.routing import on
from ocpp.v16 import ChargePoint as PeerChargePoint16
from ocpp.v16 import call as call16
from ocpp.v16 import call_result as result16
from ocpp.v201 import ChargePoint as PeerChargePoint201
from ocpp.v201 import call as call201
from ocpp.v201 import call_result as result201
from ocpp_router import Router, Server, utc_now, v16, v201
from ocpp_router.errors import CallError, ConnectionClosedError, NotConnectedError, RemoteProtocolError
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosedOK

# Seconds for the trio side; the peer thread has its own, shorter bound (conftest.PEER_TIMEOUT).
TEST_TIMEOUT = 40
RunPeer = Callable[..., Awaitable[Any]]  # the conftest fixture: run an asyncio peer in a thread
T0 = "2024-05-01T10:00:00Z"
T1 = "2024-05-01T10:15:00Z"
T2 = "2024-05-01T10:30:00Z"


def signal_trio(token: trio.lowlevel.TrioToken, event: trio.Event) -> None:
    """From the peer's thread: set a trio event (runs the setter on the trio loop)."""
    trio.from_thread.run_sync(event.set, trio_token=token)


async def serve_until_closed(cp: Any) -> None:
    """The peer's receive loop; ends cleanly when our server closes the connection."""
    with contextlib.suppress(ConnectionClosedOK):
        await cp.start()


@contextlib.asynccontextmanager
async def running_server(router: Router, versions: list[str] | None = None) -> Any:
    async with trio.open_nursery() as nursery:
        server: Server = await nursery.start(
            Server(router, versions=versions or ["2.1", "2.0.1", "1.6"]).serve, "127.0.0.1", 0
        )
        try:
            yield server
        finally:
            with trio.CancelScope(shield=True), trio.move_on_after(10):
                await server.aclose(grace_period=1)
            nursery.cancel_scope.cancel()


async def wait_for_session(server: Server, identity: str) -> Any:
    while identity not in server.charge_points:
        await trio.sleep(0.005)
    return server.charge_points[identity]


# ----------------------------------------------------------------------------------------
# OCPP 1.6
# ----------------------------------------------------------------------------------------


class Peer16(PeerChargePoint16):
    """An ``ocpp`` 1.6 charge point recording every CSMS-initiated call it answers."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.seen: dict[str, dict[str, Any]] = {}

    @on("RemoteStartTransaction")
    async def on_remote_start(self, id_tag: str, **kwargs: Any) -> Any:
        self.seen["RemoteStartTransaction"] = {"id_tag": id_tag, **kwargs}
        return result16.RemoteStartTransaction(status="Accepted")

    @on("Reset")
    async def on_reset(self, type: str, **kwargs: Any) -> Any:
        self.seen["Reset"] = {"type": type, **kwargs}
        return result16.Reset(status="Accepted")

    @on("GetConfiguration")
    async def on_get_configuration(self, **kwargs: Any) -> Any:
        self.seen["GetConfiguration"] = kwargs
        return result16.GetConfiguration(
            configuration_key=[{"key": "HeartbeatInterval", "readonly": False, "value": "300"}],
            unknown_key=["NoSuchKey"],
        )

    @on("ChangeConfiguration")
    async def on_change_configuration(self, key: str, value: str, **kwargs: Any) -> Any:
        self.seen["ChangeConfiguration"] = {"key": key, "value": value, **kwargs}
        return result16.ChangeConfiguration(status="Accepted")

    @on("UnlockConnector")
    async def on_unlock_connector(self, connector_id: int, **kwargs: Any) -> Any:
        self.seen["UnlockConnector"] = {"connector_id": connector_id, **kwargs}
        raise PeerNotSupportedError(description="no motorised lock on this model")


async def test_ocpp16_peer_charge_point_against_our_server(run_peer: RunPeer) -> None:
    router = Router()
    got: dict[str, Any] = {}

    @router.on("BootNotification", version="1.6")
    async def boot(cp: Any, req: v16.BootNotificationRequest) -> v16.BootNotificationResponse:
        got["BootNotification"] = req
        return v16.BootNotificationResponse(
            status=v16.RegistrationStatus.Accepted, current_time=utc_now(), interval=300
        )

    @router.on("Heartbeat", version="1.6")
    async def heartbeat(cp: Any, payload: dict[str, Any]) -> dict[str, Any]:
        got["Heartbeat"] = payload
        return {"currentTime": "2024-05-01T10:00:01.000Z"}

    @router.on("StatusNotification", version="1.6")
    async def status(cp: Any, req: v16.StatusNotificationRequest) -> None:
        got["StatusNotification"] = req

    @router.on("Authorize", version="1.6")
    async def authorize(cp: Any, payload: dict[str, Any]) -> dict[str, Any]:
        got["Authorize"] = payload
        return {"idTagInfo": {"status": "Accepted", "expiryDate": "2030-01-01T00:00:00Z"}}

    @router.on("StartTransaction", version="1.6")
    async def start_transaction(cp: Any, req: v16.StartTransactionRequest) -> v16.StartTransactionResponse:
        got["StartTransaction"] = req
        return v16.StartTransactionResponse(
            transaction_id=42, id_tag_info=v16.IdTagInfo(status=v16.AuthorizationStatus.Accepted)
        )

    @router.on("MeterValues", version="1.6")
    async def meter_values(cp: Any, req: v16.MeterValuesRequest) -> v16.MeterValuesResponse:
        got["MeterValues"] = req
        return v16.MeterValuesResponse()

    @router.on("StopTransaction", version="1.6")
    async def stop_transaction(cp: Any, payload: dict[str, Any]) -> dict[str, Any]:
        got["StopTransaction"] = payload
        return {"idTagInfo": {"status": "Accepted"}}

    token = trio.lowlevel.current_trio_token()
    peer_done = trio.Event()
    peer_results: dict[str, Any] = {}
    peer_box: list[Peer16] = []

    async def peer(port: int) -> None:
        async with ws_connect(f"ws://127.0.0.1:{port}/ocpp/CP16", subprotocols=["ocpp1.6"]) as ws:
            peer_results["subprotocol"] = ws.subprotocol
            cp = Peer16("CP16", ws, response_timeout=10)
            peer_box.append(cp)
            loop = asyncio.create_task(serve_until_closed(cp))
            r = peer_results
            r["BootNotification"] = await cp.call(
                call16.BootNotification(
                    charge_point_vendor="PeerVendor", charge_point_model="PeerModel", firmware_version="1.2.3"
                ),
                suppress=False,
            )
            r["Heartbeat"] = await cp.call(call16.Heartbeat(), suppress=False)
            r["StatusNotification"] = await cp.call(
                call16.StatusNotification(
                    connector_id=1, error_code="NoError", status="Preparing", timestamp=T0, info="plugged"
                ),
                suppress=False,
            )
            r["Authorize"] = await cp.call(call16.Authorize(id_tag="TAG-1"), suppress=False)
            r["StartTransaction"] = await cp.call(
                call16.StartTransaction(connector_id=1, id_tag="TAG-1", meter_start=1000, timestamp=T0),
                suppress=False,
            )
            r["MeterValues"] = await cp.call(
                call16.MeterValues(
                    connector_id=1,
                    transaction_id=42,
                    meter_value=[
                        {
                            "timestamp": T1,
                            "sampled_value": [
                                {"value": "1500", "measurand": "Energy.Active.Import.Register", "unit": "Wh"},
                                {"value": "7.4", "measurand": "Power.Active.Import", "unit": "kW"},
                            ],
                        }
                    ],
                ),
                suppress=False,
            )
            r["StopTransaction"] = await cp.call(
                call16.StopTransaction(
                    meter_stop=2500,
                    timestamp=T2,
                    transaction_id=42,
                    reason="EVDisconnected",
                    transaction_data=[{"timestamp": T2, "sampled_value": [{"value": "2500", "unit": "Wh"}]}],
                ),
                suppress=False,
            )
            # No handler for DataTransfer on our server: the peer must see CALLERROR NotSupported.
            try:
                await cp.call(call16.DataTransfer(vendor_id="com.example", data="x"), suppress=False)
            except PeerNotSupportedError as exc:
                r["DataTransfer"] = exc
            signal_trio(token, peer_done)
            await loop  # until our server closes the connection
            r["close_code"] = ws.close_code

    with trio.fail_after(TEST_TIMEOUT):
        async with running_server(router) as server, trio.open_nursery() as nursery:
            nursery.start_soon(run_peer, peer, server.port)
            await peer_done.wait()
            session = await wait_for_session(server, "CP16")
            assert session.version == "1.6"
            assert session.subprotocol == "ocpp1.6"

            # CSMS-initiated calls, answered by the peer's @on handlers.
            remote = await server.call(
                "CP16", v16.RemoteStartTransactionRequest(id_tag="TAG-2", connector_id=2), timeout=10
            )
            assert isinstance(remote, v16.RemoteStartTransactionResponse)
            assert remote.status == v16.RemoteStartStopStatus.Accepted
            reset = await server.call("CP16", "Reset", {"type": "Soft"}, timeout=10)
            assert reset == {"status": "Accepted"}
            config = await server.call("CP16", v16.GetConfigurationRequest(key=["HeartbeatInterval", "NoSuchKey"]))
            assert config == v16.GetConfigurationResponse(
                configuration_key=[v16.KeyValue(key="HeartbeatInterval", readonly=False, value="300")],
                unknown_key=["NoSuchKey"],
            )
            change = await server.call(
                "CP16", "ChangeConfiguration", {"key": "HeartbeatInterval", "value": "60"}, timeout=10
            )
            assert change == {"status": "Accepted"}
            with pytest.raises(CallError) as caught:
                await server.call("CP16", "UnlockConnector", {"connectorId": 1}, timeout=10)
            assert caught.value.code == "NotSupported"
            assert caught.value.action == "UnlockConnector"
            assert "no motorised lock" in caught.value.description
            # The connection survives a CALLERROR.
            assert await server.call("CP16", "Reset", {"type": "Hard"}, timeout=10) == {"status": "Accepted"}

            await session.close()

    # What our handlers received (typed objects for the annotated handlers, dicts otherwise).
    boot_req = got["BootNotification"]
    assert isinstance(boot_req, v16.BootNotificationRequest)
    assert (boot_req.charge_point_vendor, boot_req.charge_point_model, boot_req.firmware_version) == (
        "PeerVendor",
        "PeerModel",
        "1.2.3",
    )
    assert got["Heartbeat"] == {}
    assert got["StatusNotification"] == v16.StatusNotificationRequest(
        connector_id=1,
        error_code=v16.ChargePointErrorCode.NoError,
        status=v16.ChargePointStatus.Preparing,
        timestamp=T0,
        info="plugged",
    )
    assert got["Authorize"] == {"idTag": "TAG-1"}
    assert got["StartTransaction"] == v16.StartTransactionRequest(
        connector_id=1, id_tag="TAG-1", meter_start=1000, timestamp=T0
    )
    meter = got["MeterValues"]
    assert isinstance(meter, v16.MeterValuesRequest)
    assert (meter.connector_id, meter.transaction_id) == (1, 42)
    assert meter.meter_value[0].timestamp == T1
    assert [(s.value, s.measurand, s.unit) for s in meter.meter_value[0].sampled_value] == [
        ("1500", "Energy.Active.Import.Register", v16.UnitOfMeasure.Wh),
        ("7.4", "Power.Active.Import", v16.UnitOfMeasure.kW),
    ]
    assert got["StopTransaction"] == {
        "meterStop": 2500,
        "timestamp": T2,
        "transactionId": 42,
        "reason": "EVDisconnected",
        "transactionData": [{"timestamp": T2, "sampledValue": [{"value": "2500", "unit": "Wh"}]}],
    }

    # What the peer got back.
    r = peer_results
    assert r["subprotocol"] == "ocpp1.6"
    assert r["BootNotification"].status == "Accepted"
    assert r["BootNotification"].interval == 300
    assert r["BootNotification"].current_time.endswith("Z")
    assert r["Heartbeat"] == result16.Heartbeat(current_time="2024-05-01T10:00:01.000Z")
    assert r["StatusNotification"] == result16.StatusNotification()
    assert r["Authorize"] == result16.Authorize(
        id_tag_info={"status": "Accepted", "expiry_date": "2030-01-01T00:00:00Z"}
    )
    assert r["StartTransaction"] == result16.StartTransaction(transaction_id=42, id_tag_info={"status": "Accepted"})
    assert r["MeterValues"] == result16.MeterValues()
    assert r["StopTransaction"] == result16.StopTransaction(id_tag_info={"status": "Accepted"})
    assert r["DataTransfer"].code == "NotSupported"
    assert r["close_code"] == 1000

    # What the peer's handlers received from our calls.
    seen = peer_box[0].seen
    assert seen["RemoteStartTransaction"] == {"id_tag": "TAG-2", "connector_id": 2}
    assert seen["Reset"] == {"type": "Hard"}  # the second Reset overwrote the first
    assert seen["GetConfiguration"] == {"key": ["HeartbeatInterval", "NoSuchKey"]}
    assert seen["ChangeConfiguration"] == {"key": "HeartbeatInterval", "value": "60"}
    assert seen["UnlockConnector"] == {"connector_id": 1}


# ----------------------------------------------------------------------------------------
# OCPP 2.0.1
# ----------------------------------------------------------------------------------------


class Peer201(PeerChargePoint201):
    """An ``ocpp`` 2.0.1 charging station recording every CSMS-initiated call it answers."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.seen: dict[str, dict[str, Any]] = {}

    @on("RequestStartTransaction")
    async def on_request_start(self, id_token: dict[str, Any], remote_start_id: int, **kwargs: Any) -> Any:
        self.seen["RequestStartTransaction"] = {"id_token": id_token, "remote_start_id": remote_start_id, **kwargs}
        return result201.RequestStartTransaction(status="Accepted", transaction_id="TX-REMOTE")

    @on("Reset")
    async def on_reset(self, type: str, **kwargs: Any) -> Any:
        self.seen["Reset"] = {"type": type, **kwargs}
        return result201.Reset(status="Scheduled")

    @on("GetVariables")
    async def on_get_variables(self, get_variable_data: list[dict[str, Any]], **kwargs: Any) -> Any:
        self.seen["GetVariables"] = {"get_variable_data": get_variable_data, **kwargs}
        return result201.GetVariables(
            get_variable_result=[
                {
                    "attribute_status": "Accepted",
                    "attribute_type": "Actual",
                    "attribute_value": "300",
                    "component": {"name": "OCPPCommCtrlr"},
                    "variable": {"name": "HeartbeatInterval"},
                },
                {
                    "attribute_status": "UnknownVariable",
                    "component": {"name": "OCPPCommCtrlr"},
                    "variable": {"name": "NoSuchVariable"},
                },
            ]
        )

    @on("SetVariables")
    async def on_set_variables(self, set_variable_data: list[dict[str, Any]], **kwargs: Any) -> Any:
        self.seen["SetVariables"] = {"set_variable_data": set_variable_data, **kwargs}
        return result201.SetVariables(
            set_variable_result=[
                {
                    "attribute_status": "RebootRequired",
                    "component": {"name": "OCPPCommCtrlr"},
                    "variable": {"name": "HeartbeatInterval"},
                }
            ]
        )

    @on("TriggerMessage")
    async def on_trigger_message(self, requested_message: str, **kwargs: Any) -> Any:
        self.seen["TriggerMessage"] = {"requested_message": requested_message, **kwargs}
        raise PeerNotSupportedError(description="triggers are disabled")


def _energy(value: float, context: str) -> dict[str, Any]:
    return {
        "timestamp": T1,
        "sampled_value": [
            {
                "value": value,
                "context": context,
                "measurand": "Energy.Active.Import.Register",
                "unit_of_measure": {"unit": "Wh"},
            }
        ],
    }


async def test_ocpp201_peer_charging_station_against_our_server(run_peer: RunPeer) -> None:
    router = Router()
    got: dict[str, Any] = {}
    transaction_events: list[v201.TransactionEventRequest] = []

    @router.on("BootNotification", version="2.0.1")
    async def boot(cp: Any, req: v201.BootNotificationRequest) -> v201.BootNotificationResponse:
        got["BootNotification"] = req
        return v201.BootNotificationResponse(
            status=v201.RegistrationStatusEnumType.Accepted, current_time=utc_now(), interval=120
        )

    @router.on("Heartbeat", version="2.0.1")
    async def heartbeat(cp: Any, payload: dict[str, Any]) -> dict[str, Any]:
        got["Heartbeat"] = payload
        return {"currentTime": "2024-05-01T10:00:01Z"}

    @router.on("StatusNotification", version="2.0.1")
    async def status(cp: Any, payload: dict[str, Any]) -> dict[str, Any]:
        got["StatusNotification"] = payload
        return {}

    @router.on("Authorize", version="2.0.1")
    async def authorize(cp: Any, req: v201.AuthorizeRequest) -> v201.AuthorizeResponse:
        got["Authorize"] = req
        return v201.AuthorizeResponse(
            id_token_info=v201.IdTokenInfoType(status=v201.AuthorizationStatusEnumType.Accepted, charging_priority=3)
        )

    @router.on("TransactionEvent", version="2.0.1")
    async def transaction_event(cp: Any, req: v201.TransactionEventRequest) -> v201.TransactionEventResponse:
        transaction_events.append(req)
        if req.event_type == v201.TransactionEventEnumType.Ended:
            return v201.TransactionEventResponse(total_cost=4.2)
        return v201.TransactionEventResponse()

    @router.on("MeterValues", version="2.0.1")
    async def meter_values(cp: Any, payload: dict[str, Any]) -> dict[str, Any]:
        got["MeterValues"] = payload
        return {}

    token = trio.lowlevel.current_trio_token()
    peer_done = trio.Event()
    peer_results: dict[str, Any] = {}
    peer_box: list[Peer201] = []
    id_token = {"id_token": "TOKEN-1", "type": "ISO14443"}

    async def peer(port: int) -> None:
        # Offered alone, ocpp2.0.1 must win on a server that also serves 2.1 and 1.6.
        async with ws_connect(f"ws://127.0.0.1:{port}/csms/CS201", subprotocols=["ocpp2.0.1"]) as ws:
            peer_results["subprotocol"] = ws.subprotocol
            assert ws.response is not None
            peer_results["extensions"] = ws.response.headers.get("Sec-WebSocket-Extensions")
            cp = Peer201("CS201", ws, response_timeout=10)
            peer_box.append(cp)
            loop = asyncio.create_task(serve_until_closed(cp))
            r = peer_results
            r["BootNotification"] = await cp.call(
                call201.BootNotification(
                    charging_station={"model": "PeerModel", "vendor_name": "PeerVendor", "serial_number": "SN-7"},
                    reason="PowerUp",
                ),
                suppress=False,
            )
            r["Heartbeat"] = await cp.call(call201.Heartbeat(), suppress=False)
            r["StatusNotification"] = await cp.call(
                call201.StatusNotification(timestamp=T0, connector_status="Occupied", evse_id=1, connector_id=1),
                suppress=False,
            )
            r["Authorize"] = await cp.call(call201.Authorize(id_token=id_token), suppress=False)
            transaction = []
            for seq_no, (event_type, trigger, state, energy, context) in enumerate(
                [
                    ("Started", "Authorized", "Charging", 1000.0, "Transaction.Begin"),
                    ("Updated", "MeterValuePeriodic", "Charging", 1500.5, "Sample.Periodic"),
                    ("Ended", "EVCommunicationLost", "Idle", 2500.0, "Transaction.End"),
                ]
            ):
                info: dict[str, Any] = {"transaction_id": "TX-1", "charging_state": state}
                if event_type == "Ended":
                    info["stopped_reason"] = "EVDisconnected"
                transaction.append(
                    await cp.call(
                        call201.TransactionEvent(
                            event_type=event_type,
                            timestamp=T1,
                            trigger_reason=trigger,
                            seq_no=seq_no,
                            transaction_info=info,
                            meter_value=[_energy(energy, context)],
                            evse={"id": 1, "connector_id": 1},
                            id_token=id_token if event_type == "Started" else None,
                        ),
                        suppress=False,
                    )
                )
            r["TransactionEvent"] = transaction
            r["MeterValues"] = await cp.call(
                call201.MeterValues(evse_id=1, meter_value=[_energy(1234.5, "Sample.Clock")]), suppress=False
            )
            # No handler for DataTransfer on our server: CALLERROR NotSupported.
            try:
                await cp.call(call201.DataTransfer(vendor_id="com.example", message_id="m"), suppress=False)
            except PeerNotSupportedError as exc:
                r["DataTransfer"] = exc
            signal_trio(token, peer_done)
            await loop
            r["close_code"] = ws.close_code

    with trio.fail_after(TEST_TIMEOUT):
        async with running_server(router) as server, trio.open_nursery() as nursery:
            nursery.start_soon(run_peer, peer, server.port)
            await peer_done.wait()
            session = await wait_for_session(server, "CS201")
            assert session.version == "2.0.1"
            assert session.subprotocol == "ocpp2.0.1"

            start = await server.call(
                "CS201",
                "RequestStartTransaction",
                {"idToken": {"idToken": "TOKEN-2", "type": "Central"}, "remoteStartId": 7, "evseId": 1},
                timeout=10,
            )
            assert start == {"status": "Accepted", "transactionId": "TX-REMOTE"}
            reset = await server.call("CS201", v201.ResetRequest(type=v201.ResetEnumType.OnIdle), timeout=10)
            assert reset == v201.ResetResponse(status=v201.ResetStatusEnumType.Scheduled)
            variables = await server.call(
                "CS201",
                v201.GetVariablesRequest(
                    get_variable_data=[
                        v201.GetVariableDataType(
                            component=v201.ComponentType(name="OCPPCommCtrlr"),
                            variable=v201.VariableType(name="HeartbeatInterval"),
                            attribute_type=v201.AttributeEnumType.Actual,
                        ),
                        v201.GetVariableDataType(
                            component=v201.ComponentType(name="OCPPCommCtrlr"),
                            variable=v201.VariableType(name="NoSuchVariable"),
                        ),
                    ]
                ),
                timeout=10,
            )
            assert isinstance(variables, v201.GetVariablesResponse)
            results = variables.get_variable_result
            assert [(x.attribute_status, x.attribute_value, x.variable.name) for x in results] == [
                (v201.GetVariableStatusEnumType.Accepted, "300", "HeartbeatInterval"),
                (v201.GetVariableStatusEnumType.UnknownVariable, None, "NoSuchVariable"),
            ]
            changed = await server.call(
                "CS201",
                "SetVariables",
                {
                    "setVariableData": [
                        {
                            "attributeValue": "60",
                            "component": {"name": "OCPPCommCtrlr"},
                            "variable": {"name": "HeartbeatInterval"},
                        }
                    ]
                },
                timeout=10,
            )
            assert changed == {
                "setVariableResult": [
                    {
                        "attributeStatus": "RebootRequired",
                        "component": {"name": "OCPPCommCtrlr"},
                        "variable": {"name": "HeartbeatInterval"},
                    }
                ]
            }
            with pytest.raises(CallError) as caught:
                await server.call("CS201", "TriggerMessage", {"requestedMessage": "Heartbeat"}, timeout=10)
            assert caught.value.code == "NotSupported"
            assert caught.value.canonical_code == "NotSupported"
            assert "triggers are disabled" in caught.value.description

            await session.close()

    boot_req = got["BootNotification"]
    assert isinstance(boot_req, v201.BootNotificationRequest)
    assert boot_req.reason == v201.BootReasonEnumType.PowerUp
    assert boot_req.charging_station == v201.ChargingStationType(
        model="PeerModel", vendor_name="PeerVendor", serial_number="SN-7"
    )
    assert got["Heartbeat"] == {}
    assert got["StatusNotification"] == {
        "timestamp": T0,
        "connectorStatus": "Occupied",
        "evseId": 1,
        "connectorId": 1,
    }
    assert got["Authorize"] == v201.AuthorizeRequest(
        id_token=v201.IdTokenType(id_token="TOKEN-1", type=v201.IdTokenEnumType.ISO14443)
    )
    assert [(e.event_type, e.seq_no, e.transaction_info.transaction_id) for e in transaction_events] == [
        (v201.TransactionEventEnumType.Started, 0, "TX-1"),
        (v201.TransactionEventEnumType.Updated, 1, "TX-1"),
        (v201.TransactionEventEnumType.Ended, 2, "TX-1"),
    ]
    energies = [
        (e.meter_value[0].sampled_value[0].value, e.meter_value[0].sampled_value[0].context)
        for e in transaction_events
        if e.meter_value
    ]
    assert energies == [
        (1000.0, "Transaction.Begin"),
        (1500.5, "Sample.Periodic"),
        (2500.0, "Transaction.End"),
    ]
    assert transaction_events[0].id_token == v201.IdTokenType(id_token="TOKEN-1", type=v201.IdTokenEnumType.ISO14443)
    assert transaction_events[1].id_token is None
    assert transaction_events[2].transaction_info.stopped_reason == v201.ReasonEnumType.EVDisconnected
    assert transaction_events[0].evse == v201.EVSEType(id=1, connector_id=1)
    assert got["MeterValues"] == {
        "evseId": 1,
        "meterValue": [
            {
                "timestamp": T1,
                "sampledValue": [
                    {
                        "value": 1234.5,
                        "context": "Sample.Clock",
                        "measurand": "Energy.Active.Import.Register",
                        "unitOfMeasure": {"unit": "Wh"},
                    }
                ],
            }
        ],
    }

    r = peer_results
    assert r["subprotocol"] == "ocpp2.0.1"
    # websockets offers permessage-deflate; OCPP 2.x requires the CSMS to accept it.
    assert (r["extensions"] or "").startswith("permessage-deflate")
    assert r["BootNotification"].status == "Accepted"
    assert r["BootNotification"].interval == 120
    assert r["Heartbeat"] == result201.Heartbeat(current_time="2024-05-01T10:00:01Z")
    assert r["StatusNotification"] == result201.StatusNotification()
    assert r["Authorize"] == result201.Authorize(id_token_info={"status": "Accepted", "charging_priority": 3})
    assert r["TransactionEvent"] == [
        result201.TransactionEvent(),
        result201.TransactionEvent(),
        result201.TransactionEvent(total_cost=4.2),
    ]
    assert r["MeterValues"] == result201.MeterValues()
    assert r["DataTransfer"].code == "NotSupported"
    assert r["close_code"] == 1000

    seen = peer_box[0].seen
    assert seen["RequestStartTransaction"] == {
        "id_token": {"id_token": "TOKEN-2", "type": "Central"},
        "remote_start_id": 7,
        "evse_id": 1,
    }
    assert seen["Reset"] == {"type": "OnIdle"}
    assert seen["GetVariables"] == {
        "get_variable_data": [
            {
                "component": {"name": "OCPPCommCtrlr"},
                "variable": {"name": "HeartbeatInterval"},
                "attribute_type": "Actual",
            },
            {"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "NoSuchVariable"}},
        ]
    }
    assert seen["SetVariables"] == {
        "set_variable_data": [
            {
                "attribute_value": "60",
                "component": {"name": "OCPPCommCtrlr"},
                "variable": {"name": "HeartbeatInterval"},
            }
        ]
    }
    assert seen["TriggerMessage"] == {"requested_message": "Heartbeat"}


# ----------------------------------------------------------------------------------------
# Subprotocol negotiation with a real websockets client
# ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("offered", "expected"),
    [
        (["ocpp2.0.1"], "ocpp2.0.1"),
        (["ocpp2.0.1", "ocpp1.6"], "ocpp2.0.1"),
        (["ocpp1.6", "ocpp2.0.1"], "ocpp1.6"),  # prefer="client": the charge point's order wins
        (["ocpp1.2", "ocpp2.1", "ocpp2.0.1"], "ocpp2.1"),  # unknown tokens are skipped
    ],
)
async def test_subprotocol_negotiation_with_websockets_client(
    offered: list[str], expected: str, run_peer: RunPeer
) -> None:
    router = Router()

    @router.on("Heartbeat")
    async def heartbeat(cp: Any, payload: dict[str, Any]) -> dict[str, Any]:
        return {"currentTime": utc_now()}

    async def peer(port: int) -> tuple[str | None, str]:
        async with ws_connect(f"ws://127.0.0.1:{port}/ocpp/NEG", subprotocols=offered) as ws:
            await ws.send('[2,"hb-1","Heartbeat",{}]')
            return ws.subprotocol, await ws.recv()

    with trio.fail_after(TEST_TIMEOUT):
        async with running_server(router) as server:
            subprotocol, answer = await run_peer(peer, server.port)
    assert subprotocol == expected
    assert answer.startswith('[3,"hb-1",{"currentTime":"')


async def test_no_common_subprotocol_is_closed_with_1002(run_peer: RunPeer) -> None:
    """The handshake completes without a subprotocol, then the server closes (1002)."""

    async def peer(port: int) -> tuple[str | None, int | None]:
        async with ws_connect(f"ws://127.0.0.1:{port}/ocpp/OLD", subprotocols=["ocpp1.5"]) as ws:
            with contextlib.suppress(Exception):
                await ws.recv()
            return ws.subprotocol, ws.close_code

    with trio.fail_after(TEST_TIMEOUT):
        async with running_server(Router(), versions=["2.0.1", "1.6"]) as server:
            subprotocol, close_code = await run_peer(peer, server.port)
            assert "OLD" not in server.charge_points
    assert subprotocol is None
    assert close_code == 1002


# ----------------------------------------------------------------------------------------
# Misbehaving peers: invalid payloads both ways, a peer that hangs up mid-call
# ----------------------------------------------------------------------------------------


class Sloppy16(PeerChargePoint16):
    """Answers Reset with a status the schema does not allow; hangs up on UnlockConnector."""

    @on("Reset", skip_schema_validation=True)
    async def on_reset(self, **kwargs: Any) -> Any:
        return result16.Reset(status="Maybe")

    @on("UnlockConnector")
    async def on_unlock_connector(self, **kwargs: Any) -> Any:
        await self._connection.close()  # no answer: the socket goes away instead
        return result16.UnlockConnector(status="Unlocked")


async def test_invalid_answer_and_hang_up_fail_our_calls_cleanly(run_peer: RunPeer) -> None:
    token = trio.lowlevel.current_trio_token()
    booted = trio.Event()

    async def peer(port: int) -> int | None:
        async with ws_connect(f"ws://127.0.0.1:{port}/ocpp/SLOPPY", subprotocols=["ocpp1.6"]) as ws:
            cp = Sloppy16("SLOPPY", ws, response_timeout=10)
            loop = asyncio.create_task(serve_until_closed(cp))
            await cp.call(call16.BootNotification(charge_point_vendor="V", charge_point_model="M"), suppress=False)
            signal_trio(token, booted)
            await loop
            return ws.close_code

    router = Router()

    @router.on("BootNotification")
    async def boot(cp: Any, payload: dict[str, Any]) -> dict[str, Any]:
        return {"status": "Accepted", "currentTime": utc_now(), "interval": 300}

    with trio.fail_after(TEST_TIMEOUT):
        async with running_server(router) as server, trio.open_nursery() as nursery:
            nursery.start_soon(run_peer, peer, server.port)
            await booted.wait()
            with pytest.raises(RemoteProtocolError) as invalid:
                await server.call("SLOPPY", "Reset", {"type": "Soft"}, timeout=10)
            assert invalid.value.action == "Reset"
            assert "status" in invalid.value.description
            # Still connected after an invalid answer; then the peer hangs up mid-call.
            before = trio.current_time()
            with pytest.raises(ConnectionClosedError):
                await server.call("SLOPPY", "UnlockConnector", {"connectorId": 1}, timeout=10)
            assert trio.current_time() - before < 5  # failed at the close, not at the time-out
            while "SLOPPY" in server.charge_points:
                await trio.sleep(0.005)
            with pytest.raises(NotConnectedError):
                await server.call("SLOPPY", "Reset", {"type": "Soft"}, timeout=10)


@pytest.mark.parametrize(
    ("subprotocol", "payload", "code"),
    [
        # 1.6 spells two codes differently; the ocpp package knows both spellings.
        ("ocpp1.6", {"chargePointVendor": "V"}, "OccurenceConstraintViolation"),
        ("ocpp1.6", {"chargePointVendor": "V", "chargePointModel": "M", "x": 1}, "FormationViolation"),
        ("ocpp1.6", {"chargePointVendor": 7, "chargePointModel": "M"}, "TypeConstraintViolation"),
        ("ocpp2.0.1", {"reason": "PowerUp"}, "OccurrenceConstraintViolation"),
        (
            "ocpp2.0.1",
            {"reason": "Bogus", "chargingStation": {"model": "M", "vendorName": "V"}},
            "PropertyConstraintViolation",
        ),
    ],
)
async def test_invalid_request_from_peer_gets_version_spelled_call_error(
    subprotocol: str, payload: dict[str, Any], code: str, run_peer: RunPeer
) -> None:
    handled: list[Any] = []
    router = Router()

    @router.on("BootNotification")
    async def boot(cp: Any, request: dict[str, Any]) -> dict[str, Any]:
        handled.append(request)  # pragma: no cover - invalid requests never reach handlers
        return {}  # pragma: no cover

    async def peer(port: int) -> Any:
        async with ws_connect(f"ws://127.0.0.1:{port}/ocpp/BAD", subprotocols=[subprotocol]) as ws:
            await ws.send(Call(unique_id="bad-1", action="BootNotification", payload=payload).to_json())
            answer = unpack(await ws.recv())  # the ocpp package's own parser and code table
            assert isinstance(answer, PeerCallError), answer
            assert answer.unique_id == "bad-1"
            return answer.to_exception()  # raises UnknownCallErrorCodeError for a code it does not know

    with trio.fail_after(TEST_TIMEOUT):
        async with running_server(router) as server:
            error = await run_peer(peer, server.port)
    assert error.code == code, error
    assert handled == []
