"""Upstream outages lose nothing: the queue survives a gateway restart and is replayed in
order, with the upstream's transaction ids replacing the provisional ones."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import trio
from ocpp.v16 import call as call16
from ocpp_router.gateway import GatewayStore, WallboxConfig
from ocpp_router.v16.plugins import plugins as v16_plugins
from ocpp_router.v201.plugins import plugins as v201_plugins

from ._support import (
    Bridge,
    GatewayRunner,
    Upstream,
    Wallbox16,
    Wallbox201,
    at,
    gateway_config,
    gateway_process,
    run_asyncio,
    wait_until,
    wallbox,
)

TAG = "04A2B3C4"
PROVISIONAL_BASE = 1_900_000_000


def _transaction_frames(upstream: Upstream) -> list[tuple[str, Any, Any]]:
    """(action, transactionId or idTag, meter/time) of every transaction CALL upstream got."""
    out: list[tuple[str, Any, Any]] = []
    for action, payload in upstream.frames.of("StartTransaction", "MeterValues", "StopTransaction"):
        if action == "StartTransaction":
            out.append((action, payload["idTag"], payload["timestamp"]))
        elif action == "MeterValues":
            out.append((action, payload.get("transactionId"), payload["meterValue"][0]["timestamp"]))
        else:
            out.append((action, payload["transactionId"], payload["timestamp"]))
    return out


async def test_outage_and_gateway_restart_lose_nothing_16(tmp_path: Path) -> None:
    upstream = Upstream("1.6", lambda: v16_plugins(id_tags={TAG: "Accepted", "B-TAG": "Accepted", "C-TAG": "Accepted"}))
    with trio.fail_after(45):
        async with trio.open_nursery() as nursery:
            await upstream.start(nursery)
            config = gateway_config(tmp_path, [WallboxConfig("WB1", upstream.url, upstream_identity="UP-1")])
            runner = GatewayRunner(config)
            await runner.start(nursery)
            ids: dict[str, int] = {}

            async def restart_gateway() -> int:
                await runner.stop()
                await runner.start(nursery)
                return runner.port

            async def scenario(bridge: Bridge) -> None:
                async with wallbox(runner.port, "WB1", Wallbox16) as wb:
                    assert (await wb.boot()).status == "Accepted"
                    await wb.status(1, "Charging", at(0))
                    ids["A"] = (await wb.start_tx(TAG, at(0))).transaction_id
                    assert ids["A"] < PROVISIONAL_BASE  # the upstream's own id
                    await wb.meter_values(ids["A"], at(1), 1100)

                    await bridge.trio(upstream.stop, abrupt=True)  # the upstream dies mid-transaction

                    await wb.meter_values(ids["A"], at(2), 1200)  # queued, answered locally
                    await wb.stop_tx(ids["A"], at(3), 1300)
                    await wb.status(1, "Finishing", at(3))  # accepted locally, re-sent later
                    started = await wb.start_tx("B-TAG", at(4))
                    assert started.id_tag_info["status"] == "Accepted"
                    ids["B"] = started.transaction_id
                    assert ids["B"] >= PROVISIONAL_BASE  # provisional
                    await wb.meter_values(ids["B"], at(5), 1500)
                    assert (await wb.send(call16.Heartbeat())).current_time  # local time

                port = await bridge.trio(restart_gateway)  # same queue file, upstream still down
                async with wallbox(port, "WB1", Wallbox16) as wb:
                    await wb.stop_tx(ids["B"], at(6), 1600)  # a provisional id in a queued Stop
                    await wb.status(1, "Available", at(6))
                    started = await wb.start_tx("C-TAG", at(7))
                    ids["C"] = started.transaction_id
                    assert ids["C"] == ids["B"] + 1
                    await wb.meter_values(ids["C"], at(8), 1800)

                    await bridge.trio(upstream.start, nursery)  # the upstream comes back
                    await bridge.trio(wait_until, lambda: runner.gateway.links["WB1"].queued == 0)  # type: ignore[union-attr]

                    # After the replay the gateway keeps translating the provisional id both ways.
                    await wb.meter_values(ids["C"], at(9), 1900)
                    up_c = await bridge.trio(_upstream_tx, upstream, "C-TAG")
                    answer = await bridge.trio(upstream.plugins.core.remote_stop_transaction, "UP-1", up_c)
                    assert answer.status == "Accepted"
                    assert wb.received["RemoteStopTransaction"] == [{"transaction_id": ids["C"]}]
                    await wb.stop_tx(ids["C"], at(10), 2000, reason="Remote")

            await run_asyncio(scenario)

            up_b = await _upstream_tx(upstream, "B-TAG")
            up_c = await _upstream_tx(upstream, "C-TAG")
            assert up_b != ids["B"] and up_c != ids["C"]
            # Every transaction message arrived exactly once, in the wallbox's order, with the
            # upstream's ids in place of the provisional ones.
            assert _transaction_frames(upstream) == [
                ("StartTransaction", TAG, at(0)),
                ("MeterValues", ids["A"], at(1)),
                ("MeterValues", ids["A"], at(2)),
                ("StopTransaction", ids["A"], at(3)),
                ("StartTransaction", "B-TAG", at(4)),
                ("MeterValues", up_b, at(5)),
                ("StopTransaction", up_b, at(6)),
                ("StartTransaction", "C-TAG", at(7)),
                ("MeterValues", up_c, at(8)),
                ("MeterValues", up_c, at(9)),
                ("StopTransaction", up_c, at(10)),
            ]
            core = upstream.plugins.core
            transactions = {t.id_tag: t for t in await core.transactions("UP-1")}
            assert {tag: (t.meter_start, t.meter_stop) for tag, t in transactions.items()} == {
                TAG: (1000, 1300),
                "B-TAG": (1300, 1600),
                "C-TAG": (1600, 2000),
            }
            assert await core.unmatched("UP-1") == []
            # The latest status of connector 1 taken while offline was re-sent after the queue.
            statuses = [p["status"] for a, p in upstream.frames.of("StatusNotification")]
            assert statuses == ["Charging", "Available"]
            assert upstream.frames.actions().count("Heartbeat") == 0  # answered locally
            # Nothing left behind in the queue file.
            store = await GatewayStore.open(config.queue_path)
            try:
                assert await store.queued() == [] and await store.dead_letters() == []
                assert await store.transaction_ids("WB1") == {ids["B"]: str(up_b), ids["C"]: str(up_c)}
            finally:
                await store.close()
            nursery.cancel_scope.cancel()


async def _upstream_tx(upstream: Upstream, id_tag: str) -> int:
    for transaction in await upstream.plugins.core.transactions("UP-1"):
        if transaction.id_tag == id_tag:
            return int(transaction.id)
    raise AssertionError(f"no upstream transaction for {id_tag}")


async def test_offline_boot_status_and_transaction_events_201(tmp_path: Path) -> None:
    upstream = Upstream("2.0.1", lambda: v201_plugins())
    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            # Reserve a port for the upstream first, then point the gateway at it while it is down.
            await upstream.start(nursery)
            await upstream.stop()
            config = gateway_config(
                tmp_path, [WallboxConfig("WB2", upstream.url, version="2.0.1")], heartbeat_interval=77
            )
            runner = GatewayRunner(config)
            gateway = await runner.start(nursery)

            async def scenario(bridge: Bridge) -> None:
                async with wallbox(gateway.port, "WB2", Wallbox201) as wb:
                    boot = await wb.boot()
                    assert (boot.status, boot.interval) == ("Accepted", 77)  # locally, interval by config
                    await wb.status(1, "Occupied", at(0))
                    await wb.status(1, "Available", at(9))  # only the latest is re-sent
                    token = {"id_token": TAG, "type": "ISO14443"}
                    started = await wb.event("Started", "TX-9", at(1), 0, "Authorized", id_token=token)
                    assert started.id_token_info == {"status": "Accepted"}  # no allow-list: Accepted
                    await wb.event("Updated", "TX-9", at(2), 500, "MeterValuePeriodic")
                    await wb.event("Ended", "TX-9", at(3), 900, "StopAuthorized", info={"stopped_reason": "Local"})
                    assert await bridge.trio(_queued, gateway.links["WB2"]) == 3

                    await bridge.trio(upstream.start, nursery)
                    await bridge.trio(wait_until, lambda: gateway.links["WB2"].queued == 0)
                    await bridge.trio(wait_until, lambda: upstream.frames.actions().count("StatusNotification") == 1)

            await run_asyncio(scenario)
            assert upstream.frames.actions() == [
                "BootNotification",
                "TransactionEvent",
                "TransactionEvent",
                "TransactionEvent",
                "StatusNotification",
            ]
            events = [p for _, p in upstream.frames.of("TransactionEvent")]
            assert [(e["eventType"], e["seqNo"], e.get("offline")) for e in events] == [
                ("Started", 0, True),
                ("Updated", 1, True),
                ("Ended", 2, True),
            ]
            [(_, status)] = upstream.frames.of("StatusNotification")
            assert status["connectorStatus"] == "Available"
            transaction = await upstream.plugins.transactions.transaction("WB2", "TX-9")
            assert transaction is not None and transaction.complete and transaction.offline
            nursery.cancel_scope.cancel()


async def _queued(link: Any) -> int:
    return int(link.queued)


async def test_killed_gateway_process_keeps_its_queue(tmp_path: Path) -> None:
    """SIGKILL, not a clean stop: what the wallbox got answers for is in the file and goes
    upstream when the next gateway process starts, even before the wallbox returns."""
    from ocpp_router import connect

    upstream = Upstream("1.6", lambda: v16_plugins(id_tags={TAG: "Accepted"}))
    with trio.fail_after(45):
        async with trio.open_nursery() as nursery:
            await upstream.start(nursery)
            await upstream.stop()  # its port is reserved; it is down while the gateway works
            site = tmp_path / "site.toml"
            site.write_text(
                f"""
queue_path = "queue.sqlite3"
upstream_timeout = 3
[local]
host = "127.0.0.1"
port = 0
[reconnect]
initial = 0.05
maximum = 0.3
[[wallboxes]]
identity = "WB1"
upstream_url = "{upstream.url}"
upstream_identity = "UP-1"
"""
            )
            boot = {"chargePointVendor": "Wallbox", "chargePointModel": "Pulsar"}
            async with gateway_process(site) as (process, port):
                async with connect(f"ws://127.0.0.1:{port}", "WB1", versions=["1.6"]) as wb:
                    assert (await wb.call("BootNotification", boot))["status"] == "Accepted"
                    start = {"connectorId": 1, "idTag": TAG, "meterStart": 10, "timestamp": at(0)}
                    tx = (await wb.call("StartTransaction", start))["transactionId"]
                    assert tx >= PROVISIONAL_BASE
                    sample = {"timestamp": at(1), "sampledValue": [{"value": "20"}]}
                    await wb.call("MeterValues", {"connectorId": 1, "transactionId": tx, "meterValue": [sample]})
                    await wb.call("StopTransaction", {"transactionId": tx, "meterStop": 30, "timestamp": at(2)})
                    process.kill()  # SIGKILL while the wallbox is connected and everything is queued
                    with trio.fail_after(10):
                        await process.wait()

            await upstream.start(nursery)
            async with gateway_process(site):  # no wallbox at all: the queue goes up by itself
                await wait_until(lambda: upstream.frames.actions().count("StopTransaction") == 1, timeout=15)
            [transaction] = await upstream.plugins.core.transactions("UP-1")
            assert _transaction_frames(upstream) == [
                ("StartTransaction", TAG, at(0)),
                ("MeterValues", transaction.id, at(1)),
                ("StopTransaction", transaction.id, at(2)),
            ]
            assert upstream.frames.actions()[0] == "BootNotification"  # the offline boot, re-sent first
            assert transaction.energy_wh == 20
            nursery.cancel_scope.cancel()
