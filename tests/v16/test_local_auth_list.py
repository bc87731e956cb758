"""Local Auth List Management: list versions, full and differential updates, bookkeeping."""

from __future__ import annotations

import pytest
import trio
from ocpp_router import v16
from ocpp_router.v16.local_auth_list import LocalListError
from ocpp_router.v16.plugins import plugins

from ._peer import Peer, run_peer, start_server

TIMEOUT = 20


async def test_full_and_differential_updates(nursery: trio.Nursery) -> None:
    p = plugins()
    server = await start_server(nursery, p)
    lists = p.local_auth_list

    async def scenario(peer: Peer) -> None:
        async with peer.connect("CP1") as cp:
            await cp.boot()
            assert (await peer.csms(lists.get_local_list_version, "CP1")).list_version == 0
            full = {"TAG-A": "Accepted", "TAG-B": v16.IdTagInfo(status=v16.AuthorizationStatus.Blocked)}
            assert (await peer.csms(lists.send_local_list, "CP1", full)).status == "Accepted"
            assert cp.local_list_version == 1  # version allocated: reported 0 + 1
            assert set(cp.local_list) == {"TAG-A", "TAG-B"}
            change = [
                v16.AuthorizationData(
                    id_tag="TAG-C", id_tag_info=v16.IdTagInfo(status=v16.AuthorizationStatus.Accepted)
                ),
                v16.AuthorizationData(id_tag="tag-b"),  # no IdTagInfo: remove (case-insensitively)
            ]
            answer = await peer.csms(lists.send_local_list, "CP1", change, update_type="Differential")
            assert answer.status == "Accepted"
            assert (cp.local_list_version, set(cp.local_list)) == (2, {"TAG-A", "TAG-C"})
            # The station's list moved on without us: VersionMismatch, our record stays.
            cp.local_list_version = 10
            mismatch = await peer.csms(
                lists.send_local_list, "CP1", {"TAG-D": "Accepted"}, version=3, update_type="Differential"
            )
            assert mismatch.status == v16.UpdateStatus.VersionMismatch
            assert (await peer.csms(lists.get_local_list_version, "CP1")).list_version == 10
            assert await peer.csms(lists.reported_version, "CP1") == 10
            # Default version: above what the charge point reported.
            assert (await peer.csms(lists.send_local_list, "CP1", {"TAG-E": "Accepted"})).status == "Accepted"
            assert cp.local_list_version == 11

    with trio.fail_after(TIMEOUT):
        await run_peer(server, scenario)
    local = await lists.local_list("CP1")
    assert local is not None
    assert local.version == 11
    assert {tag: info.status for tag, info in local.entries.items()} == {"TAG-E": "Accepted"}


async def test_invalid_lists_are_refused_before_sending(nursery: trio.Nursery) -> None:
    p = plugins()
    server = await start_server(nursery, p)
    lists = p.local_auth_list

    async def scenario(peer: Peer) -> None:
        async with peer.connect("CP1") as cp:
            cases = [
                ({"A": None}, {}, "no IdTagInfo"),
                ({"A": "Accepted", "a": "Blocked"}, {}, "occurs twice"),
                ({"A": "Accepted"}, {"version": 0}, "listVersion"),
                ({"X" * 21: "Accepted"}, {}, "longer than 20"),
            ]
            for entries, options, problem in cases:
                with pytest.raises(LocalListError, match=problem):
                    await peer.csms(lists.send_local_list, "CP1", entries, **options)
            assert (await peer.csms(lists.send_local_list, "CP1", {}, version=5)).status == "Accepted"  # empty = clear
            with pytest.raises(LocalListError, match="above the current 5"):
                await peer.csms(lists.send_local_list, "CP1", {"A": "Accepted"}, version=5, update_type="Differential")
            assert len(cp.received["SendLocalList"]) == 1

    with trio.fail_after(TIMEOUT):
        await run_peer(server, scenario)
    local = await lists.local_list("CP1")
    assert local is not None and (local.version, local.entries) == (5, {})
    assert await lists.local_list("CP-OTHER") is None
