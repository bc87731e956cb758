"""Security extension: events, certificate signing through the app's CA, certificate
management, extended triggers, log upload and signed firmware updates."""

from __future__ import annotations

from typing import Any

import trio
from ocpp.v16 import call
from ocpp_router import ChargePoint, v16
from ocpp_router.v16.plugins import plugins
from ocpp_router.v16.security import StationSecurityEvent

from ._peer import CHAIN, CSR, Peer, now, run_peer, start_server

TIMEOUT = 20
HASH = {
    "hash_algorithm": "SHA256",
    "issuer_name_hash": "a1" * 16,
    "issuer_key_hash": "b2" * 16,
    "serial_number": "01",
}


async def test_security_events_are_stored_and_reported(nursery: trio.Nursery) -> None:
    reported: list[tuple[str, StationSecurityEvent]] = []

    async def hook(cp: ChargePoint, event: StationSecurityEvent) -> None:
        reported.append((cp.id, event))
        if event.type == "InvalidTLSVersion":
            raise RuntimeError("the SIEM is down")

    p = plugins(on_security_event=hook)
    server = await start_server(nursery, p)

    async def scenario(peer: Peer) -> None:
        async with peer.connect("CP1") as cp:
            await cp.boot()
            await cp.send(call.SecurityEventNotification(type="StartupOfTheDevice", timestamp=now(), tech_info=None))
            await cp.send(call.SecurityEventNotification(type="InvalidTLSVersion", timestamp=now(), tech_info="1.0"))

    with trio.fail_after(TIMEOUT):
        await run_peer(server, scenario)
    events = await p.security.security_events("CP1")
    assert [(e.type, e.tech_info) for e in events] == [("StartupOfTheDevice", None), ("InvalidTLSVersion", "1.0")]
    assert [(identity, e.type) for identity, e in reported] == [
        ("CP1", "StartupOfTheDevice"),
        ("CP1", "InvalidTLSVersion"),
    ]


async def test_certificate_signing_through_the_ca_hook(nursery: trio.Nursery) -> None:
    signed: list[str] = []

    async def sign_csr(cp: ChargePoint, csr: str) -> str:
        signed.append(csr)
        if "broken" in csr:
            raise RuntimeError("CA offline")
        return CHAIN

    p = plugins(sign_csr=sign_csr)
    server = await start_server(nursery, p)
    security = p.security

    async def outcomes() -> list[str]:
        return [r.outcome for r in await security.certificate_requests("CP1")]

    async def scenario(peer: Peer) -> None:
        async with peer.connect("CP1") as cp:
            await cp.boot()
            assert (await cp.send(call.SignCertificate(csr=CSR))).status == "Accepted"
            await cp.wait_for(lambda: bool(cp.received["CertificateSigned"]))
            assert cp.received["CertificateSigned"] == [{"certificate_chain": CHAIN}]
            assert (await cp.send(call.SignCertificate(csr="not a csr"))).status == "Rejected"
            broken = CSR.replace("MIIBfake", "broken")
            assert (await cp.send(call.SignCertificate(csr=broken))).status == "Accepted"  # the CA fails later
            cp.answers["CertificateSigned"] = {"status": "Rejected"}
            # The CSMS asks for a new certificate: the station sends SignCertificate.
            assert (await peer.csms(security.extended_trigger_message, "CP1", "SignChargePointCertificate")).status == (
                "Accepted"
            )

            async def settled() -> bool:
                return "signing" not in await outcomes() and len(await outcomes()) == 4

            await peer.until(settled)

    with trio.fail_after(TIMEOUT):
        await run_peer(server, scenario)
    requests = await security.certificate_requests("CP1")
    assert [r.outcome for r in requests] == ["installed", "rejected", "signing_failed", "delivery_failed"]
    assert requests[0].certificate_chain == CHAIN
    assert requests[1].detail == "not a PEM CSR"
    assert "CA offline" in (requests[2].detail or "")
    assert signed == [CSR, CSR.replace("MIIBfake", "broken"), CSR]


async def test_without_a_ca_sign_certificate_is_rejected(nursery: trio.Nursery) -> None:
    p = plugins()
    server = await start_server(nursery, p)

    async def scenario(peer: Peer) -> None:
        async with peer.connect("CP1") as cp:
            assert (await cp.send(call.SignCertificate(csr=CSR))).status == "Rejected"

    with trio.fail_after(TIMEOUT):
        await run_peer(server, scenario)
    [request] = await p.security.certificate_requests("CP1")
    assert (request.outcome, request.detail) == ("rejected", "no CA configured")


async def test_certificate_management(nursery: trio.Nursery) -> None:
    p = plugins()
    server = await start_server(nursery, p)
    security = p.security
    root = "-----BEGIN CERTIFICATE-----\nMIIBroot\n-----END CERTIFICATE-----\n"

    async def scenario(peer: Peer) -> None:
        async with peer.connect("CP1") as cp:
            await cp.boot()
            none = await peer.csms(security.get_installed_certificate_ids, "CP1", "CentralSystemRootCertificate")
            assert none.status == v16.GetInstalledCertificateStatus.NotFound
            installed = await peer.csms(security.install_certificate, "CP1", "CentralSystemRootCertificate", root)
            assert installed.status == "Accepted"
            assert cp.received["InstallCertificate"] == [
                {"certificate_type": "CentralSystemRootCertificate", "certificate": root}
            ]
            cp.installed.append(dict(HASH))
            found = await peer.csms(security.get_installed_certificate_ids, "CP1", "CentralSystemRootCertificate")
            assert [h.serial_number for h in found.certificate_hash_data] == ["01"]
            hash_data = v16.CertificateHashData.from_wire(
                {
                    "hashAlgorithm": "SHA256",
                    "issuerNameHash": "a1" * 16,
                    "issuerKeyHash": "b2" * 16,
                    "serialNumber": "01",
                }
            )
            assert (await peer.csms(security.delete_certificate, "CP1", hash_data)).status == "Accepted"
            assert (await peer.csms(security.delete_certificate, "CP1", hash_data)).status == "NotFound"
            chain = await peer.csms(security.certificate_signed, "CP1", CHAIN)
            assert chain.status == "Accepted"

    with trio.fail_after(TIMEOUT):
        await run_peer(server, scenario)
    assert await security.installed_certificates("CP1", "CentralSystemRootCertificate") == []


async def test_logs_and_signed_firmware(nursery: trio.Nursery) -> None:
    p = plugins()
    server = await start_server(nursery, p)
    security = p.security

    async def scenario(peer: Peer) -> dict[str, Any]:
        async with peer.connect("CP1") as cp:
            await cp.boot()
            log = await peer.csms(
                security.get_log,
                "CP1",
                "SecurityLog",
                "https://logs.example/upload",
                oldest_timestamp="2024-05-01T00:00:00Z",
                retries=2,
            )
            assert (log.status, log.filename) == ("Accepted", "security.log")
            [asked] = cp.received["GetLog"]
            for status in ("Uploading", "Uploaded"):
                await cp.send(call.LogStatusNotification(status=status, request_id=asked["request_id"]))
            firmware = await peer.csms(
                security.signed_update_firmware,
                "CP1",
                "https://fw.example/signed.bin",
                "2024-05-01T03:00:00Z",
                "-----BEGIN CERTIFICATE-----\nMIIBsigner\n-----END CERTIFICATE-----\n",
                "c2lnbmF0dXJl",
                install_date_time="2024-05-01T04:00:00Z",
            )
            assert firmware.status == "Accepted"
            [update] = cp.received["SignedUpdateFirmware"]
            for status in ("Downloading", "Downloaded", "SignatureVerified", "Installing", "Installed"):
                await cp.send(call.SignedFirmwareStatusNotification(status=status, request_id=update["request_id"]))
            # ExtendedTriggerMessage for the log status: the station reports it.
            await peer.csms(security.extended_trigger_message, "CP1", "LogStatusNotification")
            await cp.wait_for(lambda: any(name == "LogStatusNotification" for name, _ in cp.sent[-1:]))
            return {"log": asked, "firmware": update}

    with trio.fail_after(TIMEOUT):
        sent = await run_peer(server, scenario)
    assert sent["log"]["log"] == {
        "remote_location": "https://logs.example/upload",
        "oldest_timestamp": "2024-05-01T00:00:00Z",
    }
    assert sent["log"]["request_id"] != sent["firmware"]["request_id"]  # allocated from one counter
    assert sent["firmware"]["firmware"]["install_date_time"] == "2024-05-01T04:00:00Z"
    logs = await security.log_status_history("CP1")
    assert [(e.status, e.request_id) for e in logs] == [
        ("Uploading", sent["log"]["request_id"]),
        ("Uploaded", sent["log"]["request_id"]),
        ("Idle", None),
    ]
    firmware = await security.signed_firmware_status_history("CP1")
    assert [e.status for e in firmware][-1] == "Installed"
    assert {e.request_id for e in firmware} == {sent["firmware"]["request_id"]}
