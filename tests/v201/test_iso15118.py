"""Block M (ISO 15118 Certificate Management) against a real ``ocpp`` 2.0.1 station."""

from __future__ import annotations

from typing import Any

import pytest
import trio
from ocpp_router import ChargePoint, Router, Server, testing
from ocpp_router.v201.iso15118 import EVCertificateRequest, ISO15118Plugin
from ocpp_router.v201.plugins import plugins

from ._peer import CHAIN, Peer, run_peer, start_server

TIMEOUT = 20
OCSP_DATA = {
    "hash_algorithm": "SHA256",
    "issuer_name_hash": "aa" * 8,
    "issuer_key_hash": "bb" * 8,
    "serial_number": "0001",
    "responder_url": "http://ocsp.example.com",
}


async def test_ev_certificate_and_ocsp_through_the_hooks(nursery: trio.Nursery) -> None:
    asked: list[Any] = []

    async def ev_certificate(cp: ChargePoint, request: EVCertificateRequest) -> tuple[str, str]:
        asked.append(request)
        return "Accepted", "RVhJLXJlc3BvbnNl"

    async def ocsp(cp: ChargePoint, data: dict[str, Any]) -> str | None:
        asked.append(data)
        return "T0NTUC1yZXN1bHQ=" if data["serialNumber"] == "0001" else None

    p = plugins(ev_certificate=ev_certificate, ocsp=ocsp)
    server = await start_server(nursery, p)

    async def scenario(peer: Peer) -> Any:
        async with peer.connect("CS1") as cs:
            await cs.boot()
            contract = await cs.send(
                cs._call.Get15118EVCertificate(
                    iso15118_schema_version="urn:iso:15118:2:2013:MsgDef", action="Install", exi_request="RVhJ"
                )
            )
            good = await cs.send(cs._call.GetCertificateStatus(ocsp_request_data=OCSP_DATA))
            unknown = await cs.send(
                cs._call.GetCertificateStatus(ocsp_request_data={**OCSP_DATA, "serial_number": "02"})
            )
            return contract, good, unknown

    with trio.fail_after(TIMEOUT):
        contract, good, unknown = await run_peer(server, scenario)
    assert (contract.status, contract.exi_response) == ("Accepted", "RVhJLXJlc3BvbnNl")
    assert (good.status, good.ocsp_result) == ("Accepted", "T0NTUC1yZXN1bHQ=")
    assert unknown.status == "Failed"
    request = asked[0]
    assert (request.action, request.exi_request, request.iso15118_schema_version) == (
        "Install",
        "RVhJ",
        "urn:iso:15118:2:2013:MsgDef",
    )
    assert asked[1]["responderURL"] == "http://ocsp.example.com"
    assert [(e.action, e.status) for e in await p.iso15118.exchanges("CS1")] == [
        ("Get15118EVCertificate", "Accepted"),
        ("GetCertificateStatus", "Accepted"),
        ("GetCertificateStatus", "Failed"),
    ]


async def test_without_hooks_the_station_hears_failed() -> None:
    async def broken(cp: ChargePoint, request: EVCertificateRequest) -> tuple[str, str]:
        raise RuntimeError("PKI down")

    server = Server(versions=["2.0.1", "2.1"])
    plugin = ISO15118Plugin(ev_certificate=broken)
    server.install(plugin)
    async with testing.connect(server, "CS1", "2.0.1") as cs:
        ev = await cs.call(
            "Get15118EVCertificate", {"iso15118SchemaVersion": "x", "action": "Update", "exiRequest": "RVhJ"}
        )
        status = await cs.call(
            "GetCertificateStatus",
            {
                "ocspRequestData": {
                    "hashAlgorithm": "SHA256",
                    "issuerNameHash": "a",
                    "issuerKeyHash": "b",
                    "serialNumber": "1",
                    "responderURL": "http://ocsp",
                }
            },
        )
    async with testing.connect(server, "CS21", "2.1") as cs21:
        request = {
            "certificateHashData": {
                "hashAlgorithm": "SHA256",
                "issuerNameHash": "a",
                "issuerKeyHash": "b",
                "serialNumber": "1",
            },
            "source": "OCSP",
            "urls": ["http://ocsp"],
        }
        chain = await cs21.call("GetCertificateChainStatus", {"certificateStatusRequests": [request]})
    assert ev == {"status": "Failed", "exiResponse": ""}
    assert status == {"status": "Failed"}
    assert [s["status"] for s in chain["certificateStatus"]] == ["Failed"]
    assert [e.detail for e in await plugin.exchanges("CS1")] == ["RuntimeError('PKI down')", "no ocsp hook configured"]


async def test_install_list_and_delete_certificates(nursery: trio.Nursery) -> None:
    p = plugins()
    iso = p.iso15118
    server = await start_server(nursery, p)

    async def scenario(peer: Peer) -> Any:
        async with peer.connect("CS1") as cs:
            await cs.boot()
            installed = [
                await peer.csms(iso.install_certificate, "CS1", "V2GRootCertificate", CHAIN),
                await peer.csms(iso.install_certificate, "CS1", "MORootCertificate", CHAIN),
            ]
            listed = await peer.csms(iso.get_installed_certificate_ids, "CS1")
            only_mo = await peer.csms(iso.get_installed_certificate_ids, "CS1", ["MORootCertificate"])
            first = listed.certificate_hash_data_chain[0].certificate_hash_data
            deleted = await peer.csms(iso.delete_certificate, "CS1", first)
            again = await peer.csms(iso.delete_certificate, "CS1", first)
            with pytest.raises(ValueError, match="PEM"):
                await peer.csms(iso.install_certificate, "CS1", "V2GRootCertificate", "not a certificate")
            return installed, listed, only_mo, deleted, again

    with trio.fail_after(TIMEOUT):
        installed, listed, only_mo, deleted, again = await run_peer(server, scenario)
    assert [i.status for i in installed] == ["Accepted", "Accepted"]
    assert [c.certificate_type for c in listed.certificate_hash_data_chain] == [
        "V2GRootCertificate",
        "MORootCertificate",
    ]
    assert [c.certificate_type for c in only_mo.certificate_hash_data_chain] == ["MORootCertificate"]
    assert (deleted.status, again.status) == ("Accepted", "NotFound")
    remaining = await iso.installed_certificates("CS1")
    assert [(c.certificate_type, c.certificate_hash_data.serial_number) for c in remaining] == [
        ("MORootCertificate", "0002")
    ]


async def test_hook_returning_a_full_answer() -> None:
    async def ev_certificate(cp: ChargePoint, request: EVCertificateRequest) -> dict[str, Any]:
        return {"status": "Accepted", "exiResponse": "RVhJ", "remainingContracts": 2}

    server = Server(versions=["2.1"])
    server.install(ISO15118Plugin(ev_certificate=ev_certificate))
    async with testing.connect(server, "CS21", "2.1", router=Router()) as cs:
        answer = await cs.call(
            "Get15118EVCertificate",
            {
                "iso15118SchemaVersion": "x",
                "action": "Install",
                "exiRequest": "RVhJ",
                "maximumContractCertificateChains": 2,
            },
        )
    assert answer == {"status": "Accepted", "exiResponse": "RVhJ", "remainingContracts": 2}
