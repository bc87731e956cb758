"""Block H (Reservation) against a real ``ocpp`` 2.0.1 station over WebSockets."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import trio
from ocpp_router import v201
from ocpp_router.v201.plugins import plugins

from ._peer import Peer, at, run_peer, start_server

TIMEOUT = 20


async def test_reserve_use_cancel_expire_and_remove(nursery: trio.Nursery) -> None:
    p = plugins(id_tokens={"TAG": "Accepted"})
    reservations = p.reservation
    server = await start_server(nursery, p)

    async def scenario(peer: Peer) -> Any:
        async with peer.connect("CS1") as cs:
            await cs.boot()
            used = await peer.csms(reservations.reserve_now, "CS1", "TAG", timedelta(minutes=30), evse_id=1)
            cancelled = await peer.csms(
                reservations.reserve_now,
                "CS1",
                "OTHER",
                timedelta(minutes=30),
                connector_type="cType2",
                group_id_token="FLEET",
            )
            expired = await peer.csms(reservations.reserve_now, "CS1", "LATE", timedelta(minutes=5), evse_id=2)
            removed = await peer.csms(reservations.reserve_now, "CS1", "GONE", timedelta(minutes=5), evse_id=3)
            cs.answers["ReserveNow"] = {"status": "Occupied"}
            occupied = await peer.csms(reservations.reserve_now, "CS1", "TAG", timedelta(minutes=5), evse_id=1)
            await cs.send(
                cs.event("Started", "T1", "Authorized", at(0), evse=1, id_token="TAG", reservation_id=used.id)
            )
            cancel = await peer.csms(reservations.cancel_reservation, "CS1", cancelled.id)
            again = await peer.csms(reservations.cancel_reservation, "CS1", cancelled.id)  # no longer known there
            await cs.send(
                cs._call.ReservationStatusUpdate(reservation_id=expired.id, reservation_update_status="Expired")
            )
            await cs.send(
                cs._call.ReservationStatusUpdate(reservation_id=removed.id, reservation_update_status="Removed")
            )
            with pytest.raises(ValueError, match="future"):
                await peer.csms(reservations.reserve_now, "CS1", "TAG", timedelta(minutes=-1))
            return used, cancelled, occupied, cancel, again, cs.received["ReserveNow"]

    with trio.fail_after(TIMEOUT):
        used, cancelled, occupied, cancel, again, asked = await run_peer(server, scenario)
    assert (used.state, used.response_status) == ("active", "Accepted")
    assert (occupied.state, occupied.response_status) == ("rejected", "Occupied")
    assert len({used.id, cancelled.id, occupied.id}) == 3  # CSMS-allocated, unique
    assert asked[1]["connector_type"] == "cType2"
    assert asked[1]["group_id_token"] == {"id_token": "FLEET", "type": "Central"}
    assert asked[0]["id_token"] == {"id_token": "TAG", "type": "ISO14443"}
    assert (cancel.status, again.status) == (
        v201.CancelReservationStatusEnumType.Accepted,
        v201.CancelReservationStatusEnumType.Rejected,
    )
    states = {r.id: (r.state, r.transaction_id) for r in await reservations.reservations("CS1")}
    assert list(states.values()) == [
        ("used", "T1"),
        ("cancelled", None),
        ("expired", None),
        ("removed", None),
        ("rejected", None),
    ]
    assert [r.id for r in await reservations.reservations("CS1", state="used")] == [used.id]
    tx = await p.transactions.transaction("CS1", "T1")
    assert tx is not None and tx.reservation_id == used.id


async def test_an_unused_reservation_reads_expired_after_its_time(nursery: trio.Nursery) -> None:
    p = plugins()
    server = await start_server(nursery, p)

    async def scenario(peer: Peer) -> Any:
        async with peer.connect("CS1") as cs:
            await cs.boot()
            return await peer.csms(p.reservation.reserve_now, "CS1", "TAG", timedelta(minutes=5))

    with trio.fail_after(TIMEOUT):
        made = await run_peer(server, scenario)
    real_clock = p.reservation.clock
    p.reservation.clock = lambda: real_clock() + timedelta(minutes=6)
    current = await p.reservation.reservation("CS1", made.id)
    assert current is not None and current.state == "expired"
