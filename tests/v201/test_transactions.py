"""Block E (Transactions) against a real ``ocpp`` 2.0.1 station over WebSockets."""

from __future__ import annotations

from typing import Any

import trio
from ocpp_router import ChargePoint, Server
from ocpp_router.v201.plugins import plugins
from ocpp_router.v201.transactions import Transaction, TransactionEventRecord, TransactionsPlugin

from ._peer import Peer, at, run_peer, start_server

TIMEOUT = 20


async def test_started_updated_ended_with_meter_values(nursery: trio.Nursery) -> None:
    seen: list[tuple[str, int, bool]] = []

    async def on_event(cp: ChargePoint, tx: Transaction, event: TransactionEventRecord) -> None:
        seen.append((event.event_type, event.seq_no, tx.complete))
        if event.event_type == "Updated":
            raise RuntimeError("a broken hook does not break the answer")

    p = plugins(id_tokens={"TAG": "Accepted"}, on_transaction_event=on_event)
    server = await start_server(nursery, p)

    async def scenario(peer: Peer) -> Any:
        async with peer.connect("CS1") as cs:
            await cs.boot()
            started = await cs.send(
                cs.event(
                    "Started",
                    "T1",
                    "Authorized",
                    at(0),
                    energy=1000,
                    context="Transaction.Begin",
                    evse=1,
                    id_token="TAG",
                    charging_state="EVConnected",
                )
            )
            updated = await cs.send(cs.event("Updated", "T1", "ChargingStateChanged", at(1), charging_state="Charging"))
            periodic = await cs.send(cs.event("Updated", "T1", "MeterValuePeriodic", at(15), energy=4000))
            ended = await cs.send(
                cs.event(
                    "Ended",
                    "T1",
                    "EVDeparted",
                    at(30),
                    energy=7500,
                    context="Transaction.End",
                    stopped_reason="EVDisconnected",
                    charging_state="Idle",
                    time_spent_charging=1740,
                )
            )
            return started, updated, periodic, ended

    with trio.fail_after(TIMEOUT):
        started, updated, _periodic, ended = await run_peer(server, scenario)
    assert started.id_token_info == {"status": "Accepted"}
    assert updated.id_token_info is None and ended.id_token_info is None  # no idToken, no idTokenInfo
    tx = await p.transactions.transaction("CS1", "T1")
    assert tx is not None
    assert (tx.started, tx.ended, tx.complete, tx.active, tx.missing_seq_nos) == (True, True, True, False, [])
    assert tx.trigger_reasons == ["Authorized", "ChargingStateChanged", "MeterValuePeriodic", "EVDeparted"]
    assert (tx.evse_id, tx.connector_id, tx.id_token, tx.id_token_info) == (
        1,
        1,
        {"idToken": "TAG", "type": "ISO14443"},
        {"status": "Accepted"},
    )
    assert (tx.charging_state, tx.stopped_reason, tx.time_spent_charging) == ("Idle", "EVDisconnected", 1740)
    assert (tx.started_at, tx.ended_at, tx.offline) == (at(0), at(30), False)
    samples = await p.transactions.meter_values("CS1", "T1")
    assert [(s.timestamp, s.value, s.context) for s in samples] == [
        (at(0), 1000, "Transaction.Begin"),
        (at(15), 4000, "Sample.Periodic"),
        (at(30), 7500, "Transaction.End"),
    ]
    assert await p.transactions.energy_wh("CS1", "T1") == 6500
    assert seen == [("Started", 0, False), ("Updated", 1, False), ("Updated", 2, False), ("Ended", 3, True)]
    assert await p.transactions.active_transaction("CS1", 1) is None


async def test_out_of_order_duplicates_conflicts_and_gaps(nursery: trio.Nursery) -> None:
    p = plugins(id_tokens={"TAG": "Accepted"})
    server = await start_server(nursery, p)

    async def scenario(peer: Peer) -> Any:
        async with peer.connect("CS1") as cs:
            await cs.boot()
            # A station whose seqNo keeps running across transactions: Started is 57.
            late = cs.event("Updated", "T2", "MeterValuePeriodic", at(10), seq_no=59, energy=2000, offline=True)
            await cs.send(late)  # before Started: creates the record
            after_gap = await peer.csms(p.transactions.transaction, "CS1", "T2")
            first = await cs.send(
                cs.event("Started", "T2", "Authorized", at(0), seq_no=57, energy=500, evse=2, id_token="TAG")
            )
            again = await cs.send(
                cs.event("Started", "T2", "Authorized", at(0), seq_no=57, energy=500, evse=2, id_token="TAG")
            )
            await cs.send(late)  # resent after a reconnect
            # Same seqNo, different content: a station bug, answered like the first copy.
            odd = await cs.send(cs.event("Started", "T2", "Authorized", at(0), seq_no=57, energy=999, evse=2))
            await cs.send(
                cs.event("Ended", "T2", "StopAuthorized", at(20), seq_no=61, energy=3000, stopped_reason="Local")
            )
            before = await peer.csms(p.transactions.transaction, "CS1", "T2")
            await cs.send(
                cs.event("Updated", "T2", "ChargingStateChanged", at(5), seq_no=58, charging_state="Charging")
            )
            await cs.send(
                cs.event("Updated", "T2", "ChargingStateChanged", at(15), seq_no=60, charging_state="SuspendedEV")
            )
            return after_gap, first, again, odd, before

    with trio.fail_after(TIMEOUT):
        after_gap, first, again, odd, before = await run_peer(server, scenario)
    assert (after_gap.started, after_gap.seq_nos, after_gap.missing_seq_nos) == (False, [59], [])
    assert first.id_token_info == again.id_token_info == odd.id_token_info == {"status": "Accepted"}
    assert (before.complete, before.missing_seq_nos) == (False, [58, 60])
    tx = await p.transactions.transaction("CS1", "T2")
    assert tx is not None
    assert (tx.complete, tx.seq_nos, tx.started_seq_no, tx.ended_seq_no) == (True, [57, 58, 59, 60, 61], 57, 61)
    assert (tx.duplicates, tx.conflicts, tx.offline) == (3, (57,), True)
    assert tx.events[59].offline and not tx.events[57].offline
    assert tx.charging_state == "SuspendedEV"  # the latest by seqNo, not by arrival
    assert len(await p.transactions.transactions("CS1")) == 1  # never a second transaction
    assert await p.transactions.energy_wh("CS1", "T2") == 2500  # 500 -> 3000, no duplicated samples
    assert len(await p.transactions.meter_values("CS1", "T2")) == 3


async def test_transaction_status_and_queries(nursery: trio.Nursery) -> None:
    p = plugins()
    server = await start_server(nursery, p)

    async def scenario(peer: Peer) -> Any:
        async with peer.connect("CS1") as cs:
            await cs.boot()
            await cs.send(cs.event("Started", "T3", "CablePluggedIn", at(0), evse=1))
            cs.transactions[1] = "T3"
            running = await peer.csms(p.transactions.get_transaction_status, "CS1", "T3")
            cs.answers["GetTransactionStatus"] = {"messages_in_queue": True}
            anything = await peer.csms(p.transactions.get_transaction_status, "CS1")
            return running, anything, cs.received["GetTransactionStatus"]

    with trio.fail_after(TIMEOUT):
        running, anything, asked = await run_peer(server, scenario)
    assert (running.ongoing_indicator, running.messages_in_queue) == (True, False)
    assert (anything.ongoing_indicator, anything.messages_in_queue) == (None, True)
    assert asked == [{"transaction_id": "T3"}, {"transaction_id": None}]
    tx = await p.transactions.active_transaction("CS1", 1)
    assert tx is not None
    assert tx.station_status is not None and tx.station_status["ongoingIndicator"] is True
    assert [t.transaction_id for t in await p.transactions.transactions("CS1", active=True)] == ["T3"]
    assert await p.transactions.energy_wh("CS1", "T3") is None


async def test_transactions_plugin_alone_answers_accepted(nursery: trio.Nursery) -> None:
    """Without an Authorization plugin (or authorizer) an idToken is answered Accepted."""
    server = Server(versions=["2.0.1"])
    plugin = TransactionsPlugin()
    server.install(plugin)
    await nursery.start(server.serve, "127.0.0.1", 0)

    async def scenario(peer: Peer) -> Any:
        async with peer.connect("CS1") as cs:
            return await cs.send(cs.event("Started", "T4", "Authorized", at(0), id_token="ANY", evse=1))

    with trio.fail_after(TIMEOUT):
        started = await run_peer(server, scenario)
    assert started.id_token_info == {"status": "Accepted"}
    assert (await plugin.transaction("CS1", "T4")) is not None
