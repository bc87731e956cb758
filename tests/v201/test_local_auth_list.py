"""Block D (Local Authorization List) against a real ``ocpp`` 2.0.1 station over WebSockets."""

from __future__ import annotations

from typing import Any

import pytest
import trio
from ocpp_router import v201
from ocpp_router.v201.local_auth_list import LocalListError
from ocpp_router.v201.plugins import plugins

from ._peer import Peer, run_peer, start_server

TIMEOUT = 20


async def test_full_and_differential_updates_with_version_bookkeeping(nursery: trio.Nursery) -> None:
    p = plugins()
    lists = p.local_auth_list
    server = await start_server(nursery, p)

    async def scenario(peer: Peer) -> Any:
        async with peer.connect("CS1") as cs:
            await cs.boot()
            cs.local_list_version = 4  # the station already holds a list from elsewhere
            reported = await peer.csms(lists.get_local_list_version, "CS1")
            full = await peer.csms(lists.send_local_list, "CS1", {"AAA": "Accepted", "BBB": "Blocked"})
            diff = await peer.csms(
                lists.send_local_list,
                "CS1",
                [
                    v201.AuthorizationData(
                        id_token=v201.IdTokenType(id_token="aaa", type=v201.IdTokenEnumType.ISO14443)
                    ),
                    v201.AuthorizationData(
                        id_token=v201.IdTokenType(id_token="MAC1", type=v201.IdTokenEnumType.MacAddress),
                        id_token_info=v201.IdTokenInfoType(status=v201.AuthorizationStatusEnumType.Accepted),
                    ),
                ],
                update_type="Differential",
            )
            # The station lost its list (e.g. a factory reset): a stale differential is refused.
            cs.local_list_version = 9
            mismatch = await peer.csms(
                lists.send_local_list, "CS1", {"CCC": None}, version=7, update_type="Differential"
            )
            emptied = await peer.csms(lists.send_local_list, "CS1", {}, version=10)
            return reported, full, diff, mismatch, emptied, cs.received["SendLocalList"]

    with trio.fail_after(TIMEOUT):
        reported, full, diff, mismatch, emptied, sent = await run_peer(server, scenario)
    assert reported.version_number == 4
    assert [s["version_number"] for s in sent] == [5, 6, 7, 10]
    assert [s["update_type"] for s in sent] == ["Full", "Differential", "Differential", "Full"]
    assert (full.status, diff.status, mismatch.status, emptied.status) == (
        "Accepted",
        "Accepted",
        "VersionMismatch",
        "Accepted",
    )
    assert sent[0]["entries"][0] == {
        "id_token": {"id_token": "AAA", "type": "ISO14443"},
        "id_token_info": {"status": "Accepted"},
    }
    assert sent[3]["entries"] is None  # an empty Full list clears the station's list
    current = await lists.local_list("CS1")
    assert current is not None
    assert (current.version, current.entries) == (10, {})
    assert await lists.reported_version("CS1") == 10


async def test_list_after_differential_and_local_checks(nursery: trio.Nursery) -> None:
    p = plugins()
    lists = p.local_auth_list
    server = await start_server(nursery, p)

    async def scenario(peer: Peer) -> Any:
        async with peer.connect("CS1") as cs:
            await cs.boot()
            await peer.csms(lists.send_local_list, "CS1", {"AAA": "Accepted", "BBB": "Blocked"}, version=1)
            await peer.csms(lists.send_local_list, "CS1", {"aaa": None, "CCC": "Accepted"}, update_type="Differential")
            with pytest.raises(LocalListError, match="twice"):
                await peer.csms(lists.send_local_list, "CS1", {"DDD": "Accepted", "ddd": "Accepted"})
            with pytest.raises(LocalListError, match="required in a Full"):
                await peer.csms(lists.send_local_list, "CS1", {"EEE": None})
            with pytest.raises(LocalListError, match="above the current 2"):
                await peer.csms(lists.send_local_list, "CS1", {"FFF": None}, version=2, update_type="Differential")
            with pytest.raises(LocalListError, match=">= 1"):
                await peer.csms(lists.send_local_list, "CS1", {}, version=0)
            return len(cs.received["SendLocalList"]), cs.local_list

    with trio.fail_after(TIMEOUT):
        sent, station_list = await run_peer(server, scenario)
    assert sent == 2  # the refused lists were never sent
    current = await lists.local_list("CS1")
    assert current is not None
    assert current.version == 2
    assert sorted(current.entries) == ["ISO14443:bbb", "ISO14443:ccc"]
    assert current.lookup("bbb", "ISO14443") == v201.IdTokenInfoType(status=v201.AuthorizationStatusEnumType.Blocked)
    assert current.lookup("AAA", "ISO14443") is None
    assert set(station_list) == {"bbb", "ccc"}
