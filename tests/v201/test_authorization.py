"""Block C (Authorization) against a real ``ocpp`` 2.0.1 station over WebSockets."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
import trio
from ocpp_router import ChargePoint, v201
from ocpp_router.v201.authorization import AuthorizationPlugin, IdTokenList
from ocpp_router.v201.plugins import plugins

from ._peer import Peer, at, run_peer, start_server

TIMEOUT = 20


async def test_authorize_with_the_default_token_list(nursery: trio.Nursery) -> None:
    past = datetime.now(timezone.utc) - timedelta(days=1)
    future = datetime.now(timezone.utc) + timedelta(days=30)
    p = plugins(id_tokens={"GOOD": "Accepted", "STOLEN": "Blocked", "OLD": "Expired"})
    tokens = p.authorization.id_tokens
    tokens.add("LAPSED", valid_until=past)
    tokens.add("CHILD", valid_until=future, group_id_token="FLEET", personal_message="Hello")
    tokens.add("FLEET", type="Central")
    tokens.add("KID", group_id_token="BANNED-FLEET")
    tokens.add("BANNED-FLEET", "Blocked", type="Central")
    tokens.add("MAC-ONLY", type="MacAddress", evse_ids=[1, 2], charging_priority=5, language="de")
    server = await start_server(nursery, p)

    async def scenario(peer: Peer) -> dict[str, Any]:
        async with peer.connect("CS1") as cs:
            await cs.boot()
            asked = [
                ("GOOD", "ISO14443"),
                ("good", "KeyCode"),  # case-insensitive, any type
                ("STOLEN", "ISO14443"),
                ("OLD", "ISO14443"),
                ("LAPSED", "ISO14443"),
                ("CHILD", "ISO14443"),
                ("KID", "ISO14443"),
                ("MAC-ONLY", "MacAddress"),
                ("MAC-ONLY", "ISO14443"),  # registered for another type only
                ("NOBODY", "eMAID"),
                ("", "NoAuthorization"),
            ]
            return {f"{t}:{token}": (await cs.authorize(token, t)).id_token_info for token, t in asked}

    with trio.fail_after(TIMEOUT):
        answers = await run_peer(server, scenario)
    assert {key: info["status"] for key, info in answers.items()} == {
        "ISO14443:GOOD": "Accepted",
        "KeyCode:good": "Accepted",
        "ISO14443:STOLEN": "Blocked",
        "ISO14443:OLD": "Expired",
        "ISO14443:LAPSED": "Expired",
        "ISO14443:CHILD": "Accepted",
        "ISO14443:KID": "Blocked",  # its group is blocked
        "MacAddress:MAC-ONLY": "Accepted",
        "ISO14443:MAC-ONLY": "Unknown",
        "eMAID:NOBODY": "Unknown",
        "NoAuthorization:": "Unknown",  # not accepted unless configured
    }
    child = answers["ISO14443:CHILD"]
    assert child["group_id_token"] == {"id_token": "FLEET", "type": "Central"}
    assert child["personal_message"] == {"format": "UTF8", "content": "Hello"}
    assert child["cache_expiry_date_time"]  # never cached beyond the token's validity
    mac = answers["MacAddress:MAC-ONLY"]
    assert (mac["evse_id"], mac["charging_priority"], mac["language1"]) == ([1, 2], 5, "de")


async def test_cache_expiry_custom_authorizer_and_clear_cache(nursery: trio.Nursery) -> None:
    asked: list[tuple[str, str, str]] = []

    async def authorizer(cp: ChargePoint, id_token: v201.IdTokenType) -> Any:
        asked.append((cp.id, id_token.id_token, getattr(id_token.type, "value", id_token.type)))
        if id_token.id_token == "VIP":
            far = (datetime.now(timezone.utc) + timedelta(days=365)).strftime("%Y-%m-%dT%H:%M:%SZ")
            return v201.IdTokenInfoType(status=v201.AuthorizationStatusEnumType.Accepted, cache_expiry_date_time=far)
        return "NoCredit" if id_token.id_token == "BROKE" else "Accepted"

    p = plugins(authorizer=authorizer, cache_expiry=timedelta(hours=1))
    server = await start_server(nursery, p)

    async def scenario(peer: Peer) -> Any:
        async with peer.connect("CS1") as cs:
            await cs.boot()
            answers = [(await cs.authorize(t)).id_token_info for t in ("A", "BROKE", "VIP")]
            # A TransactionEvent with an idToken gets the same verdict in idTokenInfo.
            started = await cs.send(cs.event("Started", "T1", "Authorized", at(0), id_token="BROKE", evse=1))
            cs.answers["ClearCache"] = {"status": "Rejected"}
            cleared = await peer.csms(p.authorization.clear_cache, "CS1")
            return answers, started.id_token_info, cleared

    with trio.fail_after(TIMEOUT):
        (accepted, broke, vip), tx_info, cleared = await run_peer(server, scenario)
    now = datetime.now(timezone.utc)
    expiry = datetime.fromisoformat(accepted["cache_expiry_date_time"].replace("Z", "+00:00"))
    assert timedelta(minutes=59) < expiry - now <= timedelta(hours=1)
    assert broke == {"status": "NoCredit"}  # not Accepted: no cache expiry
    vip_expiry = datetime.fromisoformat(vip["cache_expiry_date_time"].replace("Z", "+00:00"))
    assert vip_expiry - now <= timedelta(hours=1)  # capped to the configured cache expiry
    assert tx_info == {"status": "NoCredit"}
    assert cleared.status == v201.ClearCacheStatusEnumType.Rejected
    assert asked == [
        ("CS1", "A", "ISO14443"),
        ("CS1", "BROKE", "ISO14443"),
        ("CS1", "VIP", "ISO14443"),
        ("CS1", "BROKE", "ISO14443"),
    ]


def test_id_token_list_rules() -> None:
    clock = [datetime(2024, 5, 1, tzinfo=timezone.utc)]
    tokens = IdTokenList(
        {"A": v201.IdTokenInfoType(status=v201.AuthorizationStatusEnumType.Accepted, language1="fr")},
        clock=lambda: clock[0],
    )
    tokens.add("B", valid_until="2024-05-02T00:00:00Z")
    assert tokens.lookup({"idToken": "a", "type": "Local"}).language1 == "fr"
    assert tokens.lookup({"idToken": "B", "type": "Local"}).status == v201.AuthorizationStatusEnumType.Accepted
    clock[0] += timedelta(days=2)
    assert tokens.lookup({"idToken": "B", "type": "Local"}).status == v201.AuthorizationStatusEnumType.Expired
    tokens.remove("B")
    assert tokens.lookup({"idToken": "B", "type": "Local"}).status == v201.AuthorizationStatusEnumType.Unknown
    assert len(tokens) == 1
    free = IdTokenList(accept_no_authorization=True)
    assert free.lookup({"idToken": "", "type": "NoAuthorization"}).status == v201.AuthorizationStatusEnumType.Accepted
    with pytest.raises(ValueError, match="either"):
        AuthorizationPlugin(authorizer=free, id_tokens={"X": "Accepted"})
