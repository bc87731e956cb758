"""Core profile against a real ``ocpp`` 1.6 charge point over WebSockets."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import ocpp.exceptions
import pytest
import trio
from ocpp.v16 import call
from ocpp_router import ChargePoint, Server, testing, v16
from ocpp_router.errors import CallError, LocalProtocolError
from ocpp_router.v16.core import CorePlugin, IdTagList, NotAcceptedError
from ocpp_router.v16.plugins import plugins
from ocpp_router.v16.smart_charging import InvalidChargingProfileError, tx_default_profile

from ._peer import Peer, at, run_peer, start_server

TIMEOUT = 20


async def test_boot_heartbeat_and_registration_survive_reconnect(nursery: trio.Nursery) -> None:
    p = plugins(heartbeat_interval=42)
    server = await start_server(nursery, p)

    async def scenario(peer: Peer) -> None:
        async with peer.connect("CP1") as cp:
            boot = await cp.boot(firmware_version="1.2.3")
            assert (boot.status, boot.interval) == ("Accepted", 42)
            assert datetime.fromisoformat(boot.current_time.replace("Z", "+00:00"))
            beat = await cp.heartbeat()
            assert abs(
                datetime.fromisoformat(beat.current_time.replace("Z", "+00:00")) - datetime.now(timezone.utc)
            ) < (timedelta(seconds=5))
        async with peer.connect("CP1") as cp:  # a plain reconnect: no BootNotification expected
            await cp.heartbeat()
            await cp.status(1, "Available")

    with trio.fail_after(TIMEOUT):
        await run_peer(server, scenario)
    registration = await p.core.registration("CP1")
    assert registration is not None
    assert (registration.status, registration.interval) == ("Accepted", 42)
    assert registration.boot["firmwareVersion"] == "1.2.3"
    assert (await p.core.connector("CP1", 1)) is not None


async def test_boot_policy_rejects_and_the_guard_refuses_everything_else(nursery: trio.Nursery) -> None:
    seen: list[v16.BootNotificationRequest] = []

    async def policy(cp: ChargePoint, request: v16.BootNotificationRequest) -> Any:
        seen.append(request)
        return (v16.RegistrationStatus.Rejected, 120) if request.charge_point_model == "Pulsar" else "Accepted"

    p = plugins(boot_policy=policy)
    server = await start_server(nursery, p)

    async def scenario(peer: Peer) -> None:
        async with peer.connect("CP-BAD") as cp:
            boot = await cp.boot()
            assert (boot.status, boot.interval) == ("Rejected", 120)
            with pytest.raises(ocpp.exceptions.SecurityError):
                await cp.heartbeat()
            with pytest.raises(ocpp.exceptions.SecurityError):
                await cp.status(1, "Available")
            # The CSMS must not initiate messages to a Rejected charge point either.
            with pytest.raises(NotAcceptedError):
                await peer.csms(p.core.reset, "CP-BAD")
            assert "Reset" not in cp.received

    with trio.fail_after(TIMEOUT):
        await run_peer(server, scenario)
    assert [r.charge_point_vendor for r in seen] == ["Wallbox"]
    assert (await p.core.registration("CP-BAD")).status == "Rejected"  # type: ignore[union-attr]


async def test_unknown_registration_is_served_normally(nursery: trio.Nursery) -> None:
    """The CSMS may have restarted (or lost its store): no state means no guard."""
    p = plugins()
    server = await start_server(nursery, p)

    async def scenario(peer: Peer) -> None:
        async with peer.connect("CP-OLD") as cp:
            await cp.status(0, "Available")
            assert (await cp.authorize("nobody")).id_tag_info["status"] == "Invalid"

    with trio.fail_after(TIMEOUT):
        await run_peer(server, scenario)
    assert await p.core.registration("CP-OLD") is None


async def test_status_notification_table(nursery: trio.Nursery) -> None:
    p = plugins()
    server = await start_server(nursery, p)

    async def scenario(peer: Peer) -> None:
        async with peer.connect("CP1") as cp:
            await cp.boot()
            await cp.status(0, "Available", timestamp=at(0))
            await cp.status(1, "Preparing", timestamp=at(1))
            await cp.status(
                2,
                "Faulted",
                error_code="GroundFailure",
                info="RCD tripped",
                vendor_id="com.wallbox",
                vendor_error_code="E42",
                timestamp=at(2),
            )
            # A late report of an older state does not overwrite the newer one.
            await cp.status(1, "Available", timestamp=at(0))
            with pytest.raises(ocpp.exceptions.PropertyConstraintViolationError):
                await cp.status(-1, "Available")

    with trio.fail_after(TIMEOUT):
        await run_peer(server, scenario)
    table = await p.core.connectors("CP1")
    assert list(table) == [0, 1, 2]
    assert table[0].status == "Available"
    assert (table[1].status, table[1].timestamp) == ("Preparing", at(1))
    faulted = table[2]
    assert (faulted.status, faulted.error_code, faulted.info) == ("Faulted", "GroundFailure", "RCD tripped")
    assert (faulted.vendor_id, faulted.vendor_error_code) == ("com.wallbox", "E42")
    assert faulted.received_at


async def test_authorize_with_the_default_id_tag_list(nursery: trio.Nursery) -> None:
    past = datetime.now(timezone.utc) - timedelta(days=1)
    future = datetime.now(timezone.utc) + timedelta(days=30)
    p = plugins(id_tags={"GOOD": "Accepted", "STOLEN": "Blocked", "OLD": "Expired"})
    p.core.id_tags.add("LAPSED", expiry_date=past)
    p.core.id_tags.add("CHILD", expiry_date=future, parent_id_tag="FLEET")
    server = await start_server(nursery, p)

    async def scenario(peer: Peer) -> dict[str, Any]:
        async with peer.connect("CP1") as cp:
            await cp.boot()
            tags = ["GOOD", "good", "STOLEN", "OLD", "LAPSED", "CHILD", "UNKNOWN"]
            return {tag: (await cp.authorize(tag)).id_tag_info for tag in tags}

    with trio.fail_after(TIMEOUT):
        answers = await run_peer(server, scenario)
    assert {tag: info["status"] for tag, info in answers.items()} == {
        "GOOD": "Accepted",
        "good": "Accepted",  # CiString20: case-insensitive
        "STOLEN": "Blocked",
        "OLD": "Expired",
        "LAPSED": "Expired",
        "CHILD": "Accepted",
        "UNKNOWN": "Invalid",
    }
    assert answers["CHILD"]["parent_id_tag"] == "FLEET"
    assert answers["CHILD"]["expiry_date"]


async def test_custom_authorizer_also_answers_transactions(nursery: trio.Nursery) -> None:
    asked: list[tuple[str, str]] = []

    async def authorizer(cp: ChargePoint, id_tag: str) -> str:
        asked.append((cp.id, id_tag))
        return "ConcurrentTx" if id_tag == "BUSY" else "Accepted"

    p = plugins(authorizer=authorizer)
    server = await start_server(nursery, p)

    async def scenario(peer: Peer) -> None:
        async with peer.connect("CP1") as cp:
            await cp.boot()
            assert (await cp.authorize("A")).id_tag_info == {"status": "Accepted"}
            started = await cp.start_transaction(1, "BUSY", 0, at(0))
            assert started.id_tag_info == {"status": "ConcurrentTx"}
            stopped = await cp.stop_transaction(started.transaction_id, 10, at(1), id_tag="A")
            assert stopped.id_tag_info == {"status": "Accepted"}
            assert (
                await cp.stop_transaction(started.transaction_id, 10, at(1))
            ).id_tag_info is None  # no idTag: no info

    with trio.fail_after(TIMEOUT):
        await run_peer(server, scenario)
    assert asked == [("CP1", "A"), ("CP1", "BUSY"), ("CP1", "A")]
    with pytest.raises(ValueError, match="either"):
        CorePlugin(authorizer=authorizer, id_tags={"X": "Accepted"})


async def test_transactions_ids_resends_stops_and_minus_one(nursery: trio.Nursery) -> None:
    p = plugins(id_tags={"TAG": "Accepted"})
    server = await start_server(nursery, p)

    async def scenario(peer: Peer) -> dict[str, Any]:
        ids: dict[str, Any] = {}
        async with peer.connect("CP1") as a, peer.connect("CP2") as b:
            await a.boot()
            await b.boot()
            first = await a.start_transaction(1, "TAG", 1000, at(0), reservation_id=None)
            again = await a.start_transaction(1, "TAG", 1000, at(0))  # the answer got lost: resent
            other = await b.start_transaction(1, "TAG", 1000, at(0))  # same data, other charge point
            ids.update(first=first.transaction_id, again=again.transaction_id, other=other.transaction_id)
            data = [
                {
                    "timestamp": at(30),
                    "sampled_value": [{"value": "1500", "context": "Sample.Periodic", "unit": "Wh"}],
                },
                {
                    "timestamp": at(60),
                    "sampled_value": [{"value": "2000", "context": "Transaction.End", "unit": "Wh"}],
                },
            ]
            stop = call.StopTransaction(
                transaction_id=first.transaction_id,
                meter_stop=2000,
                timestamp=at(60),
                id_tag="TAG",
                reason="PowerLoss",
                transaction_data=data,
            )
            assert (await a.send(stop)).id_tag_info == {"status": "Accepted"}
            await a.send(stop)  # a duplicate StopTransaction is answered normally
            await a.stop_transaction(9999, 10, at(61))  # unknown transaction: answered normally too
            # -1: the charge point never got an id for this one; matched by time (and idTag).
            lost = await b.stop_transaction(-1, 1800, at(90), id_tag="TAG")
            assert lost.id_tag_info == {"status": "Accepted"}
            await b.stop_transaction(-1, 1800, at(91))  # nothing left to match
        return ids

    with trio.fail_after(TIMEOUT):
        ids = await run_peer(server, scenario)
    assert ids["first"] == ids["again"]
    assert ids["other"] != ids["first"]
    first = await p.core.transaction("CP1", ids["first"])
    assert first is not None and not first.active
    assert (first.stop_reason, first.meter_stop, first.energy_wh, first.stop_id_tag) == ("PowerLoss", 2000, 1000, "TAG")
    assert first.stop_time == at(60)
    end = await p.core.meter_values("CP1", transaction_id=ids["first"])
    assert [(s.value, s.context) for s in end] == [("1500", "Sample.Periodic"), ("2000", "Transaction.End")]
    assert [u.reason for u in await p.core.unmatched("CP1")] == ["unknown transaction"]
    other = await p.core.transaction("CP2", ids["other"])
    assert other is not None and other.stopped_as_unknown and other.meter_stop == 1800
    assert [u.action for u in await p.core.unmatched("CP2")] == ["StopTransaction"]
    assert await p.core.transactions("CP1", active=True) == []


async def test_meter_values_parsing_defaults_and_dedupe(nursery: trio.Nursery) -> None:
    p = plugins(id_tags={"TAG": "Accepted"})
    server = await start_server(nursery, p)

    async def scenario(peer: Peer) -> int:
        async with peer.connect("CP1") as cp:
            await cp.boot()
            tx = (await cp.start_transaction(1, "TAG", 0, at(0))).transaction_id
            await cp.meter(1, tx, at(1), energy=100, power=7200, current=32, voltage=230)
            await cp.meter(1, tx, at(1), energy=100, power=7200)  # resent: nothing new
            three_phase = call.MeterValues(
                connector_id=1,
                transaction_id=tx,
                meter_value=[
                    {
                        "timestamp": at(2),
                        "sampled_value": [
                            {"value": "16.1", "measurand": "Current.Import", "phase": "L1", "unit": "A"},
                            {"value": "16.2", "measurand": "Current.Import", "phase": "L2", "unit": "A"},
                            {"value": "231", "measurand": "Voltage", "phase": "L1-N", "location": "Inlet"},
                            {"value": "250"},  # all defaults: an energy register reading in Wh
                            {"value": "AB12", "format": "SignedData", "context": "Sample.Clock"},
                        ],
                    }
                ],
            )
            await cp.send(three_phase)
            # transactionId -1: matched by connector and time.
            await cp.meter(1, -1, at(3), energy=300)
            await cp.meter(2, -1, at(3), energy=5)  # no transaction on connector 2
            await cp.meter(0, None, at(4), energy=99999)  # outside transactions (main meter)
            return int(tx)

    with trio.fail_after(TIMEOUT):
        tx = await run_peer(server, scenario)
    samples = await p.core.meter_values("CP1", transaction_id=tx)
    assert [(s.timestamp, s.measurand, s.phase, s.value, s.unit) for s in samples] == [
        (at(1), "Current.Import", None, "32", "A"),
        (at(1), "Energy.Active.Import.Register", None, "100", "Wh"),
        (at(1), "Power.Active.Import", None, "7200", "W"),
        (at(1), "Voltage", None, "230", "V"),
        (at(2), "Current.Import", "L1", "16.1", "A"),
        (at(2), "Current.Import", "L2", "16.2", "A"),
        (at(2), "Energy.Active.Import.Register", None, "250", "Wh"),
        (at(2), "Energy.Active.Import.Register", None, "AB12", "Wh"),
        (at(2), "Voltage", "L1-N", "231", "V"),
        (at(3), "Energy.Active.Import.Register", None, "300", "Wh"),
    ]
    default = samples[6]
    assert (default.context, default.location, default.format, default.number) == (
        "Sample.Periodic",
        "Outlet",
        "Raw",
        250.0,
    )
    signed = samples[7]
    assert (signed.format, signed.context, signed.number) == ("SignedData", "Sample.Clock", None)
    assert samples[8].location == "Inlet"
    energy = await p.core.meter_values("CP1", measurand="Energy.Active.Import.Register", connector_id=0)
    assert [(s.value, s.transaction_id) for s in energy] == [("99999", None)]
    assert [(u.action, u.payload["connectorId"]) for u in await p.core.unmatched("CP1")] == [("MeterValues", 2)]


async def test_data_transfer_routing_both_ways(nursery: trio.Nursery) -> None:
    p = plugins()

    @p.core.on_data_transfer("com.wallbox", "ping")
    async def ping(cp: ChargePoint, request: v16.DataTransferRequest) -> v16.DataTransferResponse:
        return v16.DataTransferResponse(status=v16.DataTransferStatus.Accepted, data=f"pong:{request.data}")

    @p.core.on_data_transfer("com.acme")
    async def acme(cp: ChargePoint, request: v16.DataTransferRequest) -> v16.DataTransferResponse:
        return v16.DataTransferResponse(status=v16.DataTransferStatus.Rejected, data=request.message_id)

    server = await start_server(nursery, p)

    async def scenario(peer: Peer) -> None:
        async with peer.connect("CP1") as cp:
            await cp.boot()

            async def transfer(vendor: str, message: str | None, data: str | None = None) -> tuple[str, Any]:
                result = await cp.send(call.DataTransfer(vendor_id=vendor, message_id=message, data=data))
                return result.status, result.data

            assert await transfer("com.wallbox", "ping", "1") == ("Accepted", "pong:1")
            assert await transfer("com.wallbox", "other") == ("UnknownMessageId", None)
            assert await transfer("com.wallbox", None) == ("UnknownMessageId", None)
            assert await transfer("com.acme", "anything") == ("Rejected", "anything")
            assert await transfer("com.unknown", "ping") == ("UnknownVendorId", None)
            answer = await peer.csms(p.core.data_transfer, "CP1", "com.csms", message_id="hello", data="x")
            assert (answer.status, answer.data) == (v16.DataTransferStatus.Accepted, "pong")
            assert cp.received["DataTransfer"] == [{"vendor_id": "com.csms", "message_id": "hello", "data": "x"}]

    with trio.fail_after(TIMEOUT):
        await run_peer(server, scenario)


async def test_core_helpers_end_to_end(nursery: trio.Nursery) -> None:
    p = plugins(id_tags={"REMOTE": "Accepted"})
    server = await start_server(nursery, p)
    core = p.core

    async def scenario(peer: Peer) -> None:
        async with peer.connect("CP1") as cp:
            await cp.boot()
            assert (await peer.csms(core.change_availability, "CP1", 1, "Inoperative")).status == "Accepted"
            assert cp.received["ChangeAvailability"] == [{"connector_id": 1, "type": "Inoperative"}]
            changed = await peer.csms(core.change_configuration, "CP1", "HeartbeatInterval", "60")
            assert changed.status == v16.ConfigurationStatus.Accepted
            refused = await peer.csms(core.change_configuration, "CP1", "NoSuchKey", "1")
            assert refused.status == v16.ConfigurationStatus.NotSupported
            read = await peer.csms(core.get_configuration, "CP1", ["HeartbeatInterval", "Nope"])
            assert [(k.key, k.value) for k in read.configuration_key] == [("HeartbeatInterval", "60")]
            assert read.unknown_key == ["Nope"]
            everything = await peer.csms(core.get_configuration, "CP1")
            assert len(everything.configuration_key) == len(cp.configuration)
            assert (await peer.csms(core.clear_cache, "CP1")).status == "Accepted"
            # RemoteStart → the station starts a transaction → a StartTransaction arrives.
            assert (await peer.csms(core.remote_start_transaction, "CP1", "REMOTE", connector_id=1)).status == (
                "Accepted"
            )
            await cp.wait_for(lambda: 1 in cp.transactions)
            tx = cp.transactions[1]
            running = await peer.csms(core.active_transaction, "CP1", 1)
            assert running is not None and (running.id, running.id_tag) == (tx, "REMOTE")
            assert (await peer.csms(core.remote_stop_transaction, "CP1", tx)).status == "Accepted"
            await cp.wait_for(lambda: any(name == "StopTransaction" for name, _ in cp.sent))
            stopped = await peer.csms(core.transaction, "CP1", tx)
            assert stopped is not None and stopped.stop_reason == "Remote"
            assert (await peer.csms(core.reset, "CP1", "Hard")).status == "Accepted"
            assert cp.received["Reset"] == [{"type": "Hard"}]
            assert (await peer.csms(core.unlock_connector, "CP1", 1)).status == v16.UnlockStatus.Unlocked

    with trio.fail_after(TIMEOUT):
        await run_peer(server, scenario)
    configuration = await core.configuration("CP1")
    assert configuration["HeartbeatInterval"].value == "60"
    assert configuration["SupportedFeatureProfiles"].readonly is True
    assert "NoSuchKey" not in configuration


async def test_helpers_refuse_bad_arguments_before_sending(nursery: trio.Nursery) -> None:
    p = plugins()
    server = Server()
    server.install(*p)
    async with testing.connect(server, "CP1", "1.6"):
        session = server.get("CP1")
        assert session is not None  # apps overriding a handler can reuse the authorizer
        assert (await p.core.authorize_id_tag(session, "nobody")).status == v16.AuthorizationStatus.Invalid
        with pytest.raises(ValueError, match="connector_id"):
            await p.core.unlock_connector("CP1", 0)
        with pytest.raises(ValueError, match="connector_id"):
            await p.core.change_availability("CP1", -1, "Operative")
        with pytest.raises(ValueError, match="Sideways"):
            await p.core.reset("CP1", "Sideways")
        profile = tx_default_profile(1, [(0, 16.0)])
        with pytest.raises(InvalidChargingProfileError, match="only a TxProfile"):
            await p.core.remote_start_transaction("CP1", "TAG", connector_id=1, charging_profile=profile)


async def test_pending_forbids_remote_start_and_stop() -> None:
    async def pending(cp: ChargePoint, request: v16.BootNotificationRequest) -> str:
        return "Pending"

    p = plugins(boot_policy=pending, retry_interval=5)
    server = Server()
    server.install(*p)
    async with testing.connect(server, "CP1", "1.6") as cp:
        boot = await cp.call(v16.BootNotificationRequest(charge_point_vendor="V", charge_point_model="M"))
        assert (boot.status, boot.interval) == (v16.RegistrationStatus.Pending, 5)
        with pytest.raises(NotAcceptedError, match="Pending"):
            await p.core.remote_start_transaction("CP1", "TAG")
        with pytest.raises(NotAcceptedError):
            await p.core.remote_stop_transaction("CP1", 1)


async def test_guard_and_helpers_leave_other_versions_alone() -> None:
    p = plugins()
    server = Server()
    server.install(*p)
    await server.storage.set("v16.core", "CP1", "registration", {"status": "Rejected"})
    async with testing.connect(server, "CP1", "2.0.1") as cp:
        # No SecurityError from the 1.6 guard: the 2.0.1 action simply has no handler here.
        with pytest.raises(CallError) as refused:
            await cp.call("Heartbeat", {})
        assert refused.value.code == "NotSupported"
        with pytest.raises(LocalProtocolError, match=r"2\.0\.1"):
            await p.core.clear_cache("CP1")


def test_id_tag_list_directly() -> None:
    tags = IdTagList({"A": v16.IdTagInfo(status=v16.AuthorizationStatus.Blocked)})
    assert "a" in tags and len(tags) == 1
    tags.add("B", "Accepted", expiry_date="2000-01-01T00:00:00Z")
    assert tags.lookup("b").status == v16.AuthorizationStatus.Expired
    tags.remove("A")
    assert tags.lookup("A").status == v16.AuthorizationStatus.Invalid
    with pytest.raises(ValueError, match="Maybe"):
        tags.add("C", "Maybe")
