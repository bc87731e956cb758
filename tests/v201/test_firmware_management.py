"""Block L (Firmware Management) against a real ``ocpp`` 2.0.1 station over WebSockets."""

from __future__ import annotations

from typing import Any

import pytest
import trio
from ocpp_router import ChargePoint, v201
from ocpp_router.v201.plugins import plugins

from ._peer import CHAIN, Peer, at, run_peer, start_server

TIMEOUT = 20
CHECKSUM = "0123456789abcdef0123456789abcdef"


async def test_unsigned_update_refused_update_and_triggered_status(nursery: trio.Nursery) -> None:
    reported: list[tuple[int | None, str]] = []

    async def on_status(cp: ChargePoint, request_id: int | None, status: str) -> None:
        reported.append((request_id, status))

    p = plugins(on_firmware_status=on_status)
    firmware = p.firmware_management
    server = await start_server(nursery, p)

    async def scenario(peer: Peer) -> Any:
        async with peer.connect("CS1") as cs:
            await cs.boot()
            update = await peer.csms(
                firmware.update_firmware,
                "CS1",
                "https://fw.example.com/pulsar-2.0.bin",
                at(0),
                retries=3,
                retry_interval=60,
                request_id=77,
            )
            done = await peer.csms(firmware.wait_for_firmware, "CS1", 77, timeout=5)
            cs.answers["UpdateFirmware"] = {"status": "InvalidCertificate"}
            refused = await peer.csms(
                firmware.update_firmware,
                "CS1",
                "https://fw.example.com/bad.bin",
                at(0),
                signing_certificate=CHAIN,
                signature="c2lnbmF0dXJl",
            )
            refused_done = await peer.csms(firmware.wait_for_firmware, "CS1", refused.request_id, timeout=5)
            await cs.send(cs._call.FirmwareStatusNotification(status="Idle"))  # triggered, no update running
            with pytest.raises(ValueError, match="both"):
                await peer.csms(firmware.update_firmware, "CS1", "https://x", at(0), signature="c2ln")
            return update, done, refused, refused_done, cs.received["UpdateFirmware"]

    with trio.fail_after(TIMEOUT):
        update, done, refused, refused_done, received = await run_peer(server, scenario)
    assert (update.request_id, update.answer, update.signed, update.retries) == (77, "Accepted", False, 3)
    assert received[0] == {
        "request_id": 77,
        "firmware": {"location": "https://fw.example.com/pulsar-2.0.bin", "retrieve_date_time": at(0)},
        "retries": 3,
        "retry_interval": 60,
    }
    assert [s.status for s in done.statuses] == ["Downloading", "Downloaded", "Installing", "Installed"]
    assert done.installed and done.finished
    assert refused.answer == "InvalidCertificate" and refused_done.finished and not refused_done.statuses
    assert reported[:4] == [(77, "Downloading"), (77, "Downloaded"), (77, "Installing"), (77, "Installed")]
    assert reported[-1] == (None, "Idle")
    last = await firmware.firmware_status("CS1")
    assert last is not None and (last.status, last.request_id) == ("Idle", None)
    assert [u.request_id for u in await firmware.firmware_updates("CS1")] == [77, refused.request_id]


async def test_local_controller_publish_and_unpublish(nursery: trio.Nursery) -> None:
    p = plugins()
    firmware = p.firmware_management
    server = await start_server(nursery, p)

    async def scenario(peer: Peer) -> Any:
        async with peer.connect("LC1") as lc:
            await lc.boot()
            published = await peer.csms(
                firmware.publish_firmware, "LC1", "https://fw.example.com/pulsar-2.0.bin", CHECKSUM, retries=2
            )
            settled = await peer.csms(firmware.wait_for_publication, "LC1", published.request_id, timeout=5)
            unpublished = await peer.csms(firmware.unpublish_firmware, "LC1", CHECKSUM)
            with pytest.raises(ValueError, match="MD5"):
                await peer.csms(firmware.publish_firmware, "LC1", "https://x", "not-a-checksum")
            return published, settled, unpublished

    with trio.fail_after(TIMEOUT):
        published, settled, unpublished = await run_peer(server, scenario)
    assert published.answer == "Accepted"
    assert [s.status for s in settled.statuses] == ["Downloading", "Downloaded", "ChecksumVerified", "Published"]
    assert settled.published_locations == (
        f"http://lc.local/fw/{CHECKSUM}.bin",
        f"ftp://lc.local/fw/{CHECKSUM}.bin",
    )
    assert unpublished.status == v201.UnpublishFirmwareStatusEnumType.Unpublished
    [record] = await firmware.publications("LC1")
    assert record.unpublished_at is not None and record.status == "Published"


async def test_status_reports_pass_the_pending_guard(nursery: trio.Nursery) -> None:
    """A station that reboots into Pending during an update may still report on it."""

    async def policy(cp: ChargePoint, request: v201.BootNotificationRequest) -> str:
        return "Pending"

    p = plugins(boot_policy=policy)
    server = await start_server(nursery, p)

    async def scenario(peer: Peer) -> Any:
        async with peer.connect("CS1") as cs:
            await cs.boot()
            update = await peer.csms(p.firmware_management.update_firmware, "CS1", "https://fw/x.bin", at(0))
            await peer.csms(p.firmware_management.wait_for_firmware, "CS1", update.request_id, timeout=5)
            import ocpp.exceptions

            with pytest.raises(ocpp.exceptions.SecurityError):  # not asked for: refused while Pending
                await cs.send(cs._call.FirmwareStatusNotification(status="Installed", request_id=999))
            return update

    with trio.fail_after(TIMEOUT):
        update = await run_peer(server, scenario)
    done = await p.firmware_management.firmware_update("CS1", update.request_id)
    assert done is not None and done.installed
