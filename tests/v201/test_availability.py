"""Block G (Availability) against a real ``ocpp`` 2.0.1 station over WebSockets."""

from __future__ import annotations

from typing import Any

import pytest
import trio
from ocpp_router import v201
from ocpp_router.v201.plugins import plugins

from ._peer import Peer, at, run_peer, start_server

TIMEOUT = 20


async def test_status_table_heartbeat_and_change_availability(nursery: trio.Nursery) -> None:
    p = plugins()
    availability = p.availability
    server = await start_server(nursery, p)

    async def scenario(peer: Peer) -> Any:
        async with peer.connect("CS1") as cs:
            await cs.boot()
            await cs.status(1, 1, "Available", at(0))
            await cs.status(1, 2, "Occupied", at(1))
            await cs.status(2, 1, "Faulted", at(2))
            await cs.status(1, 2, "Available", at(0))  # a late report of an older state
            beat = await cs.heartbeat()
            station = await peer.csms(availability.change_availability, "CS1", "Inoperative")
            cs.answers["ChangeAvailability"] = {"status": "Scheduled"}
            connector = await peer.csms(
                availability.change_availability,
                "CS1",
                v201.OperationalStatusEnumType.Inoperative,
                evse_id=1,
                connector_id=2,
            )
            cs.answers["ChangeAvailability"] = {"status": "Rejected"}
            refused = await peer.csms(availability.change_availability, "CS1", "Operative", evse_id=2)
            with pytest.raises(ValueError, match="needs an evse_id"):
                await peer.csms(availability.change_availability, "CS1", "Operative", connector_id=1)
            return beat, station, connector, refused, cs.received["ChangeAvailability"]

    with trio.fail_after(TIMEOUT):
        beat, station, connector, refused, asked = await run_peer(server, scenario)
    table = await availability.connectors("CS1")
    assert {key: state.status for key, state in table.items()} == {
        (1, 1): "Available",
        (1, 2): "Occupied",
        (2, 1): "Faulted",
    }
    assert table[(1, 2)].timestamp == at(1)
    assert beat.current_time
    assert await availability.last_heartbeat("CS1") is not None
    assert (station.status, connector.status, refused.status) == ("Accepted", "Scheduled", "Rejected")
    assert asked == [
        {"operational_status": "Inoperative"},
        {"operational_status": "Inoperative", "evse": {"id": 1, "connector_id": 2}},
        {"operational_status": "Operative", "evse": {"id": 2}},
    ]
    requested = await availability.requested_availability("CS1")
    assert {k: (r.operational_status, r.answer) for k, r in requested.items()} == {
        "station": ("Inoperative", "Accepted"),
        "1:2": ("Inoperative", "Scheduled"),
    }
