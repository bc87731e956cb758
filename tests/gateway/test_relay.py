"""The relay: wallboxes (``ocpp`` package) → gateway → upstream CSMS, both directions.

Upstream is our ``Server`` with the 1.6 / 2.0.1 plugins, and separately a CSMS written with
the ``ocpp`` package on ``websockets``. Real sockets on 127.0.0.1, every wait bounded.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
import trio
from ocpp.exceptions import InternalError as PeerInternalError
from ocpp.routing import on
from ocpp.v16 import ChargePoint as PeerCsms16
from ocpp.v16 import call as call16
from ocpp.v16 import call_result as result16
from ocpp_router import v16
from ocpp_router.errors import CallError
from ocpp_router.gateway import WallboxConfig
from ocpp_router.v16.plugins import plugins as v16_plugins
from ocpp_router.v201.plugins import plugins as v201_plugins
from websockets.asyncio.server import ServerConnection
from websockets.asyncio.server import serve as ws_serve

from ._support import (
    Bridge,
    GatewayRunner,
    Upstream,
    Wallbox16,
    Wallbox201,
    at,
    gateway_config,
    now,
    run_asyncio,
    until,
    wait_until,
    wallbox,
)

TAG = "04A2B3C4"


async def _connected_ids(upstream: Upstream) -> set[str]:
    assert upstream.server is not None
    return set(upstream.server.charge_points)


async def test_16_wallbox_relayed_to_our_16_csms(tmp_path: Path) -> None:
    upstream = Upstream("1.6", lambda: v16_plugins(id_tags={TAG: "Accepted", "STOLEN": "Blocked"}))
    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            await upstream.start(nursery)
            config = gateway_config(
                tmp_path,
                [WallboxConfig("WB1", upstream.url, upstream_identity="SITE-WB1", version="1.6")],
                wallbox_timeout=1.0,
            )
            runner = GatewayRunner(config)
            gateway = await runner.start(nursery)
            core = upstream.plugins.core

            @upstream.server.router.on("DataTransfer")  # type: ignore[union-attr]
            async def slow(cp: Any, payload: dict[str, Any]) -> dict[str, Any]:
                await trio.sleep(5)  # longer than the gateway's upstream_timeout
                return {"status": "Accepted"}

            async def scenario(bridge: Bridge) -> None:
                async with wallbox(gateway.port, "WB1", Wallbox16) as wb:
                    boot = await wb.boot()
                    assert (boot.status, boot.interval) == ("Accepted", 300)
                    await wb.status(1, "Preparing", now())
                    assert (await wb.send(call16.Authorize(id_tag="stolen"))).id_tag_info["status"] == "Blocked"
                    started = await wb.start_tx(TAG, at(0))
                    assert started.id_tag_info["status"] == "Accepted"
                    tx = started.transaction_id
                    await wb.meter_values(tx, at(10), 4000)
                    await wb.stop_tx(tx, at(20), 7000, reason="EVDisconnected")
                    heartbeat = await wb.send(call16.Heartbeat())
                    assert heartbeat.current_time

                    # CSMS → wallbox: a remote start reaches the wallbox, its answer comes back,
                    # and the wallbox's StartTransaction follows through the gateway.
                    answer = await bridge.trio(core.remote_start_transaction, "SITE-WB1", TAG, connector_id=1)
                    assert answer.status == v16.RemoteStartStopStatus.Accepted
                    assert wb.received["RemoteStartTransaction"] == [{"id_tag": TAG, "connector_id": 1}]
                    await until(lambda: bool(wb.received["StartTransaction.result"]))
                    remote_tx = wb.received["StartTransaction.result"][0]["transaction_id"]
                    stopped = await bridge.trio(core.remote_stop_transaction, "SITE-WB1", remote_tx)
                    assert stopped.status == v16.RemoteStartStopStatus.Accepted
                    assert wb.received["RemoteStopTransaction"] == [{"transaction_id": remote_tx}]

                    # The upstream is too slow: the wallbox's CALL gets a CALLERROR, not silence.
                    with pytest.raises(PeerInternalError) as slow_error:
                        await wb.send(call16.DataTransfer(vendor_id="com.acme"))
                    assert "did not answer DataTransfer within 3 s" in str(slow_error.value.description)

                    # The wallbox is too slow: the CSMS's call gets a CALLERROR InternalError.
                    wb.delays["Reset"] = 2.0
                    with pytest.raises(CallError) as reset_error:
                        await bridge.trio(core.reset, "SITE-WB1", "Soft")
                    assert reset_error.value.code == "InternalError"
                    assert "did not answer Reset within 1 s" in reset_error.value.description
                    await asyncio.sleep(1.2)  # let the late answer arrive (logged, ignored)
                    # Upstream the charge point is SITE-WB1.
                    assert await bridge.trio(_connected_ids, upstream) == {"SITE-WB1"}
                    await wb.stop_tx(remote_tx, now(), 9000, reason="Remote")

            await run_asyncio(scenario)

            first, remote = await core.transactions("SITE-WB1")
            assert (first.id_tag, first.meter_start, first.meter_stop, first.stop_reason) == (
                TAG,
                1000,
                7000,
                "EVDisconnected",
            )
            assert remote.id_tag == TAG and remote.stop_time is not None
            [sample] = await core.meter_values("SITE-WB1", transaction_id=first.id)
            assert sample.number == 4000
            assert (await core.connector("SITE-WB1", 1)).status == "Preparing"  # type: ignore[union-attr]
            # The wallbox left and nothing is queued: the gateway closes its upstream link too.
            await wait_until(lambda: not upstream.server.charge_points)  # type: ignore[union-attr]
            assert gateway.links["WB1"].connects == 1
            nursery.cancel_scope.cancel()


async def test_201_wallbox_relayed_to_our_201_csms(tmp_path: Path) -> None:
    upstream = Upstream("2.0.1", lambda: v201_plugins(id_tokens={TAG: "Accepted"}))
    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            await upstream.start(nursery)
            config = gateway_config(tmp_path, [WallboxConfig("WB2", upstream.url, version="2.0.1")])
            gateway = await GatewayRunner(config).start(nursery)
            plugins = upstream.plugins

            async def scenario(bridge: Bridge) -> None:
                async with wallbox(gateway.port, "WB2", Wallbox201) as wb:
                    assert (await wb.boot()).status == "Accepted"
                    await wb.status(1, "Occupied", at(0))
                    token = {"id_token": TAG, "type": "ISO14443"}
                    started = await wb.event(
                        "Started", "TX-1", at(1), 100, "Authorized", id_token=token, evse={"id": 1, "connector_id": 1}
                    )
                    assert started.id_token_info["status"] == "Accepted"
                    await wb.event("Updated", "TX-1", at(5), 2100, "MeterValuePeriodic")
                    await wb.event(
                        "Ended", "TX-1", at(9), 4100, "EVCommunicationLost", info={"stopped_reason": "EVDisconnected"}
                    )

                    answer = await bridge.trio(
                        plugins.remote_control.request_start_transaction,
                        "WB2",
                        {"idToken": TAG, "type": "ISO14443"},
                        evse_id=1,
                    )
                    assert answer.status == "Accepted"
                    [request] = wb.received["RequestStartTransaction"]
                    assert request["id_token"] == {"id_token": TAG, "type": "ISO14443"} and request["evse_id"] == 1

            await run_asyncio(scenario)
            transaction = await plugins.transactions.transaction("WB2", "TX-1")
            assert transaction is not None and transaction.complete
            assert await plugins.transactions.energy_wh("WB2", "TX-1") == 4000
            nursery.cancel_scope.cancel()


# -- a CSMS written with the ``ocpp`` package -------------------------------------------------


class PeerCsms(PeerCsms16):
    """The ``ocpp`` package's view of one charge point, as a CSMS."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.seen: list[tuple[str, dict[str, Any]]] = []
        self.next_tx = 500

    @on("BootNotification")
    async def on_boot(self, **kwargs: Any) -> Any:
        self.seen.append(("BootNotification", kwargs))
        return result16.BootNotification(current_time=now(), interval=42, status="Accepted")

    @on("StatusNotification")
    async def on_status(self, **kwargs: Any) -> Any:
        self.seen.append(("StatusNotification", kwargs))
        return result16.StatusNotification()

    @on("Authorize")
    async def on_authorize(self, **kwargs: Any) -> Any:
        self.seen.append(("Authorize", kwargs))
        return result16.Authorize(id_tag_info={"status": "Accepted"})

    @on("StartTransaction")
    async def on_start(self, **kwargs: Any) -> Any:
        self.seen.append(("StartTransaction", kwargs))
        self.next_tx += 1
        return result16.StartTransaction(transaction_id=self.next_tx, id_tag_info={"status": "Accepted"})

    @on("MeterValues")
    async def on_meter_values(self, **kwargs: Any) -> Any:
        self.seen.append(("MeterValues", kwargs))
        return result16.MeterValues()

    @on("StopTransaction")
    async def on_stop(self, **kwargs: Any) -> Any:
        self.seen.append(("StopTransaction", kwargs))
        return result16.StopTransaction(id_tag_info={"status": "Accepted"})


async def test_16_wallbox_relayed_to_an_ocpp_package_csms(tmp_path: Path) -> None:
    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:

            async def scenario(bridge: Bridge) -> list[tuple[str, dict[str, Any]]]:
                sessions: dict[str, PeerCsms] = {}
                connected = asyncio.Event()

                async def handler(ws: ServerConnection) -> None:
                    identity = ws.request.path.rstrip("/").rsplit("/", 1)[-1]  # type: ignore[union-attr]
                    csms = sessions[identity] = PeerCsms(identity, ws, response_timeout=10)
                    connected.set()
                    await csms.start()

                async with ws_serve(handler, "127.0.0.1", 0, subprotocols=["ocpp1.6"]) as peer:
                    peer_port = peer.sockets[0].getsockname()[1]
                    config = gateway_config(
                        tmp_path,
                        [WallboxConfig("WB3", f"ws://127.0.0.1:{peer_port}/steve", upstream_identity="CP-0003")],
                    )
                    gateway = await bridge.trio(GatewayRunner(config).start, nursery)
                    async with wallbox(gateway.port, "WB3", Wallbox16) as wb:
                        assert (await wb.boot()).interval == 42
                        await asyncio.wait_for(connected.wait(), 5)
                        csms = sessions["CP-0003"]
                        await wb.status(1, "Preparing", now())
                        tx = (await wb.start_tx(TAG, at(0))).transaction_id
                        assert tx == 501
                        await wb.meter_values(tx, at(5), 2500)
                        await wb.stop_tx(tx, at(10), 5000)

                        # The peer CSMS starts a transaction remotely.
                        answer = await csms.call(
                            call16.RemoteStartTransaction(id_tag=TAG, connector_id=1), suppress=False
                        )
                        assert answer.status == "Accepted"
                        assert wb.received["RemoteStartTransaction"] == [{"id_tag": TAG, "connector_id": 1}]
                        await until(lambda: bool(wb.received["StartTransaction.result"]))
                        assert wb.received["StartTransaction.result"] == [{"transaction_id": 502}]
                        return csms.seen

            seen = await run_asyncio(scenario)
            assert [action for action, _ in seen] == [
                "BootNotification",
                "StatusNotification",
                "StartTransaction",
                "MeterValues",
                "StopTransaction",
                "StartTransaction",
            ]
            assert seen[3][1]["transaction_id"] == 501 and seen[4][1]["meter_stop"] == 5000
            nursery.cancel_scope.cancel()
