"""Firmware Management: UpdateFirmware / GetDiagnostics and the reported status history."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
import trio
from ocpp.v16 import call
from ocpp_router.v16.firmware_management import FirmwareManagementPlugin
from ocpp_router.v16.plugins import plugins

from ._peer import Peer, run_peer, start_server

TIMEOUT = 20


async def test_update_firmware_and_status_history(nursery: trio.Nursery) -> None:
    p = plugins()
    server = await start_server(nursery, p)
    fw = p.firmware_management
    when = datetime(2024, 5, 1, 3, 0, tzinfo=timezone.utc)

    async def scenario(peer: Peer) -> None:
        async with peer.connect("CP1") as cp:
            await cp.boot()
            await peer.csms(fw.update_firmware, "CP1", "https://fw.example/v2.bin", when, retries=3, retry_interval=60)
            assert cp.received["UpdateFirmware"] == [
                {
                    "location": "https://fw.example/v2.bin",
                    "retrieve_date": "2024-05-01T03:00:00.000Z",
                    "retries": 3,
                    "retry_interval": 60,
                }
            ]
            for status in ("Downloading", "Downloaded", "Installing", "Installed"):
                await cp.send(call.FirmwareStatusNotification(status=status))

    with trio.fail_after(TIMEOUT):
        await run_peer(server, scenario)
    history = await fw.firmware_status_history("CP1")
    assert [e.status for e in history] == ["Downloading", "Downloaded", "Installing", "Installed"]
    assert all(e.received_at for e in history)
    assert await fw.firmware_status("CP1") == "Installed"
    [update] = await fw.firmware_updates("CP1")
    assert (update.location, update.retrieve_date) == ("https://fw.example/v2.bin", "2024-05-01T03:00:00.000Z")


async def test_get_diagnostics_and_status_history(nursery: trio.Nursery) -> None:
    p = plugins()
    server = await start_server(nursery, p)
    fw = p.firmware_management

    async def scenario(peer: Peer) -> None:
        async with peer.connect("CP1") as cp:
            await cp.boot()
            answer = await peer.csms(
                fw.get_diagnostics,
                "CP1",
                "ftp://logs.example/upload",
                start_time="2024-05-01T00:00:00Z",
                stop_time="2024-05-02T00:00:00Z",
            )
            assert answer.file_name == "diagnostics-001.zip"
            for status in ("Uploading", "Uploaded"):
                await cp.send(call.DiagnosticsStatusNotification(status=status))
            cp.answers["GetDiagnostics"] = {}  # nothing to upload: no file name
            assert (await peer.csms(fw.get_diagnostics, "CP1", "ftp://logs.example/upload")).file_name is None

    with trio.fail_after(TIMEOUT):
        await run_peer(server, scenario)
    assert [e.status for e in await fw.diagnostics_status_history("CP1")] == ["Uploading", "Uploaded"]
    assert await fw.diagnostics_status("CP1") == "Uploaded"
    first, second = await fw.diagnostics_requests("CP1")
    assert (first.file_name, first.start_time) == ("diagnostics-001.zip", "2024-05-01T00:00:00Z")
    assert second.file_name is None
    assert await fw.firmware_status("CP1") is None


async def test_history_is_bounded_and_arguments_checked(nursery: trio.Nursery) -> None:
    fw = FirmwareManagementPlugin(max_history=2)
    server = await start_server(nursery)
    server.install(fw)

    async def scenario(peer: Peer) -> None:
        async with peer.connect("CP1") as cp:
            for status in ("Downloading", "DownloadFailed", "Idle"):
                await cp.send(call.FirmwareStatusNotification(status=status))
            with pytest.raises(ValueError, match="retries"):
                await peer.csms(fw.update_firmware, "CP1", "https://x", "2024-01-01T00:00:00Z", retries=-1)
            assert "UpdateFirmware" not in cp.received

    with trio.fail_after(TIMEOUT):
        await run_peer(server, scenario)
    assert [e.status for e in await fw.firmware_status_history("CP1")] == ["DownloadFailed", "Idle"]
