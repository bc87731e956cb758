"""The registry scripts against a real server: generations fence out older owners."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
import trio

pytest.importorskip("glide", reason="cluster mode needs valkey-glide (the `cluster` extra)")

from ocpp_router.cluster import open_client
from ocpp_router.cluster._keys import CLAIM, REFRESH, RELEASE, ROUTE, Keys

KEYS = Keys("ocpp:")
TTL = "10000"


async def claim(client: Any, node: str, identity: str) -> tuple[int, str]:
    gen, previous = await client.invoke_script(
        CLAIM, keys=[KEYS.owner(identity), KEYS.generation(identity)], args=[node, TTL, "ocpp:", identity]
    )
    return int(gen), previous.decode()


async def refresh(client: Any, node: str, *owned: tuple[str, int]) -> list[int]:
    keys: list[str | bytes] = []
    args: list[str | bytes] = [node, TTL]
    for identity, gen in owned:
        keys += [KEYS.owner(identity), KEYS.generation(identity)]
        args.append(str(gen))
    return [int(i) for i in await client.invoke_script(REFRESH, keys=keys, args=args)]


async def owner(client: Any, identity: str) -> str | None:
    raw = await client.get(KEYS.owner(identity))
    return raw.decode() if raw is not None else None


async def test_newest_connection_wins_and_old_owner_cannot_overwrite(engine: Any) -> None:
    client = await open_client(engine.url)
    listener_messages: list[bytes] = []
    listener = await open_client(
        engine.url, channels={KEYS.channel("a")}, on_message=lambda msg, _: listener_messages.append(msg.message)
    )
    try:
        assert await claim(client, "a", "CP") == (1, "")
        assert await claim(client, "b", "CP") == (2, "a")
        assert await owner(client, "CP") == "b|2"
        # Node a was told on its channel.
        with trio.fail_after(5):
            while not listener_messages:
                await trio.sleep(0.02)
        assert orjson.loads(listener_messages[0]) == {"t": "evict", "cp": "CP", "gen": 2, "by": "b"}
        # A slow node a: its release and its renewal change nothing; the renewal says "lost".
        assert await client.invoke_script(RELEASE, keys=[KEYS.owner("CP")], args=["a|1"]) == 0
        assert await refresh(client, "a", ("CP", 1)) == [1]
        assert await owner(client, "CP") == "b|2"
        # The owner renews; its disconnect deletes the record.
        assert await refresh(client, "b", ("CP", 2)) == []
        assert await client.invoke_script(RELEASE, keys=[KEYS.owner("CP")], args=["b|2"]) == 1
        assert await owner(client, "CP") is None
        # A record that expired while the generation counter moved on stays lost.
        assert await claim(client, "c", "CP") == (3, "")
        await client.delete([KEYS.owner("CP")])
        assert await refresh(client, "b", ("CP", 2)) == [1]
        assert await refresh(client, "c", ("CP", 3)) == []
        assert await owner(client, "CP") == "c|3"
    finally:
        await listener.close()
        await client.close()


async def test_registry_is_refilled_after_the_engine_lost_everything(engine: Any) -> None:
    client = await open_client(engine.url)
    try:
        assert await claim(client, "a", "X") == (1, "")
        assert await claim(client, "b", "X") == (2, "a")
        assert await claim(client, "a", "Y") == (1, "")
        await client.custom_command(["FLUSHALL"])
        # Node a renews first with its stale generation of X: it writes it back...
        assert await refresh(client, "a", ("X", 1), ("Y", 1)) == []
        assert await owner(client, "X") == "a|1"
        # ...then the newer owner b renews and takes it over; a loses it at its next renewal.
        assert await refresh(client, "b", ("X", 2)) == []
        assert await owner(client, "X") == "b|2"
        assert await refresh(client, "a", ("X", 1), ("Y", 1)) == [1]
        # The counter continues above every generation seen, so a new connection is newest.
        assert await claim(client, "c", "X") == (3, "b")
        # A counter lost while an owner record survived: CLAIM still goes above the record.
        await client.delete([KEYS.generation("Y")])
        assert await claim(client, "c", "Y") == (2, "a")
    finally:
        await client.close()


async def test_route_reports_why_a_call_cannot_be_sent(engine: Any) -> None:
    client = await open_client(engine.url)
    received: list[bytes] = []
    subscribers = [
        await open_client(engine.url, channels={KEYS.channel("me")}, on_message=lambda msg, _: None),
        await open_client(
            engine.url, channels={KEYS.channel("alive")}, on_message=lambda m, _: received.append(m.message)
        ),
    ]
    try:

        async def route(identity: str, caller: str = "me") -> tuple[int, str]:
            status, node = await client.invoke_script(ROUTE, keys=[KEYS.owner(identity)], args=["ocpp:", caller, "hi"])
            return int(status), node.decode()

        assert await route("NONE") == (0, "")
        await claim(client, "dead", "D")
        assert await route("D") == (1, "dead")  # no heartbeat
        await client.set(KEYS.node("dead"), "{}")
        assert await route("D") == (2, "dead")  # a heartbeat, but nobody listens
        await claim(client, "me", "M")
        assert await route("M") == (4, "me")  # the record names the caller: stale
        await claim(client, "alive", "A")
        await client.set(KEYS.node("alive"), "{}")
        assert await route("A", caller="deaf") == (5, "alive")  # the answer could not come back
        assert received == []
        assert await route("A") == (3, "alive")
        with trio.fail_after(5):
            while not received:
                await trio.sleep(0.02)
        assert received == [b"hi"]
    finally:
        for subscriber in subscribers:
            await subscriber.close()
        await client.close()


async def test_node_that_missed_the_eviction_closes_at_its_next_renewal(engine: Any) -> None:
    """The eviction message is best effort; the generation in the registry decides."""
    from _harness import in_test_node
    from ocpp_router import connect

    async with in_test_node(engine, "a") as node:
        with trio.fail_after(10):
            async with connect(f"ws://127.0.0.1:{node.port}/ocpp", "CP", versions=["1.6"]) as cp:
                while node.cluster is not None and await node.cluster.locate("CP") != "a":
                    await trio.sleep(0.01)
                # A newer connection registered on node b while a was away (no message to a).
                client = await open_client(engine.url)
                try:
                    await client.set(KEYS.generation("CP"), "99")
                    await client.set(KEYS.owner("CP"), "b|99")
                    await cp.wait_closed()  # a's renewal (every second here) saw generation 99
                    assert cp.close_code == 4000
                    assert await owner(client, "CP") == "b|99"  # and a did not touch b's record
                finally:
                    await client.close()


async def test_a_node_id_in_use_is_refused(engine: Any) -> None:
    from _harness import in_test_node
    from ocpp_router import Server
    from ocpp_router.cluster import ClusterConfig

    async with in_test_node(engine, "twin"):
        server = Server(cluster=ClusterConfig(url=engine.url, node_id="twin"))
        with trio.fail_after(10), pytest.raises(ValueError, match="in use"):
            await server.serve("127.0.0.1", 0)
