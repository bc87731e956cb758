"""Reservation: ReserveNow / CancelReservation with allocated ids and reservation states."""

from __future__ import annotations

from datetime import timedelta

import pytest
import trio
from ocpp_router.v16.plugins import plugins

from ._peer import Peer, at, run_peer, start_server

TIMEOUT = 20


async def test_reservation_lifecycle(nursery: trio.Nursery) -> None:
    p = plugins(id_tags={"TAG": "Accepted"})
    server = await start_server(nursery, p)
    res = p.reservation

    async def scenario(peer: Peer) -> None:
        async with peer.connect("CP1") as cp:
            await cp.boot()
            used = await peer.csms(res.reserve_now, "CP1", 1, "TAG", timedelta(minutes=15), parent_id_tag="FLEET")
            assert (used.state, used.response_status, used.id) == ("active", "Accepted", 1)
            [sent] = cp.received["ReserveNow"]
            assert (sent["reservation_id"], sent["connector_id"], sent["parent_id_tag"]) == (1, 1, "FLEET")
            cancelled = await peer.csms(res.reserve_now, "CP1", 2, "TAG", timedelta(minutes=15))
            assert cancelled.id == 2
            # The driver arrives: StartTransaction names the reservation.
            tx = (await cp.start_transaction(1, "TAG", 0, at(0), reservation_id=used.id)).transaction_id
            assert (await peer.csms(res.cancel_reservation, "CP1", cancelled.id)).status == "Accepted"
            cp.answers["ReserveNow"] = {"status": "Occupied"}
            refused = await peer.csms(res.reserve_now, "CP1", 1, "TAG", timedelta(minutes=5))
            assert (refused.state, refused.response_status) == ("rejected", "Occupied")
            del cp.answers["ReserveNow"]
            # A replacement of an existing reservation keeps its id.
            again = await peer.csms(
                res.reserve_now, "CP1", 2, "TAG", timedelta(minutes=30), reservation_id=cancelled.id
            )
            assert (again.id, again.state) == (cancelled.id, "active")
            cp.answers["CancelReservation"] = {"status": "Rejected"}
            assert (await peer.csms(res.cancel_reservation, "CP1", 999)).status == "Rejected"

            async def used_by_transaction() -> bool:
                r = await res.reservation("CP1", used.id)
                return r is not None and r.state == "used" and r.transaction_id == tx

            await peer.until(used_by_transaction)  # marked by an after-hook, right behind the answer

    with trio.fail_after(TIMEOUT):
        await run_peer(server, scenario)
    states = {r.id: r.state for r in await res.reservations("CP1")}
    assert states == {1: "used", 2: "active", 3: "rejected"}
    assert [r.id for r in await res.reservations("CP1", state="active")] == [2]
    # Time passes: an unused active reservation reads as expired.
    later = res.now() + timedelta(hours=1)
    res.clock = lambda: later
    assert {r.id: r.state for r in await res.reservations("CP1")} == {1: "used", 2: "expired", 3: "rejected"}


async def test_reserve_now_checks_arguments(nursery: trio.Nursery) -> None:
    p = plugins()
    server = await start_server(nursery, p)

    async def scenario(peer: Peer) -> None:
        async with peer.connect("CP1") as cp:
            with pytest.raises(ValueError, match="future"):
                await peer.csms(p.reservation.reserve_now, "CP1", 1, "TAG", "2001-01-01T00:00:00Z")
            with pytest.raises(ValueError, match="future"):
                await peer.csms(p.reservation.reserve_now, "CP1", 1, "TAG", timedelta(seconds=-1))
            with pytest.raises(ValueError, match="connector_id"):
                await peer.csms(p.reservation.reserve_now, "CP1", -1, "TAG", timedelta(minutes=1))
            assert not cp.received

    with trio.fail_after(TIMEOUT):
        await run_peer(server, scenario)
