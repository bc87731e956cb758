"""Block O (Display Message) against a real ``ocpp`` 2.0.1 station over WebSockets."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
import trio
from ocpp_router.v201.display_message import message_info
from ocpp_router.v201.plugins import plugins

from ._peer import Peer, at, run_peer, start_server

TIMEOUT = 20


async def test_set_list_and_clear(nursery: trio.Nursery) -> None:
    p = plugins()
    display = p.display_message
    server = await start_server(nursery, p)
    p.display_message.clock = lambda: datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)

    async def scenario(peer: Peer) -> Any:
        async with peer.connect("CS1") as cs:
            await cs.boot()
            welcome = await peer.csms(display.set_display_message, "CS1", "Welcome! 0.35 EUR/kWh", language="en")
            outage = await peer.csms(
                display.set_display_message,
                "CS1",
                "Maintenance tonight 22:00-23:00",
                priority="AlwaysFront",
                state="Idle",
                start=at(0),
                end=at(24 * 60),
            )
            bound = await peer.csms(
                display.set_display_message, "CS1", "Charging for Fleet 7", transaction_id="TX-1", message_id=50
            )
            everything = await peer.csms(display.fetch_display_messages, "CS1", wait=5)
            front = await peer.csms(display.fetch_display_messages, "CS1", priority="AlwaysFront", wait=5)
            none = await peer.csms(display.fetch_display_messages, "CS1", ids=[12345], wait=5)
            cleared = await peer.csms(display.clear_display_message, "CS1", welcome[0])
            unknown = await peer.csms(display.clear_display_message, "CS1", 4711)
            await cs.send(cs.event("Ended", "TX-1", "EVDeparted", at(30), seq_no=3))
            return welcome, outage, bound, everything, front, none, cleared, unknown, cs.received["SetDisplayMessage"]

    with trio.fail_after(TIMEOUT):
        welcome, outage, bound, everything, front, none, cleared, unknown, sent = await run_peer(server, scenario)
    assert [answer.status for _, answer in (welcome, outage, bound)] == ["Accepted"] * 3
    assert bound[0] == 50 and welcome[0] != outage[0]
    assert sent[1]["message"] == {
        "id": outage[0],
        "priority": "AlwaysFront",
        "message": {"format": "UTF8", "content": "Maintenance tonight 22:00-23:00"},
        "state": "Idle",
        "start_date_time": at(0),
        "end_date_time": at(24 * 60),
    }
    assert (everything.status, everything.complete, everything.parts) == ("Accepted", True, 3)
    assert sorted(m["id"] for m in everything.messages) == sorted([welcome[0], outage[0], 50])
    assert [m["id"] for m in front.messages] == [outage[0]]
    assert (none.status, none.complete, none.messages) == ("Unknown", True, ())
    assert cleared.status == "Accepted" and unknown.status == "Unknown"
    await trio.sleep(0.05)  # the transaction's message goes after the Ended event was answered
    remaining = await display.display_messages("CS1")
    assert [(m.id, m.priority, m.source) for m in remaining] == [(outage[0], "AlwaysFront", "report")]
    p.display_message.clock = lambda: datetime(2024, 5, 3, tzinfo=timezone.utc)
    assert await display.display_messages("CS1") == []  # past its end
    assert len(await display.display_messages("CS1", include_expired=True)) == 1


def test_message_info_checks() -> None:
    with pytest.raises(ValueError, match="512"):
        message_info("x" * 513, message_id=1)
    with pytest.raises(ValueError, match="end after it starts"):
        message_info("x", message_id=1, start=at(10), end=at(5))
    info = message_info("<b>hi</b>", message_id=2, message_format="HTML", display={"name": "Display", "instance": "2"})
    assert info["display"] == {"name": "Display", "instance": "2"} and info["message"]["format"] == "HTML"
    start = datetime(2024, 5, 1, tzinfo=timezone.utc)
    assert message_info("x", message_id=3, start=start, end=start + timedelta(hours=1))["endDateTime"] == (
        "2024-05-01T01:00:00.000Z"
    )
