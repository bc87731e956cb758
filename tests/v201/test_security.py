"""Block A (Security) against a real ``ocpp`` 2.0.1/2.1 station over WebSockets."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import trio
from ocpp_router import ChargePoint, PasswordStore, Router, testing, v201
from ocpp_router.errors import CallTimeoutError
from ocpp_router.v201.plugins import plugins
from ocpp_router.v201.security import StationSecurityEvent
from websockets.exceptions import InvalidStatus

from ._peer import CHAIN, CSR, Peer, Station21, run_peer, start_server

TIMEOUT = 20
OLD = "the-first-password-0001"
NEW = "the-rotated-password-02"


async def test_security_events_are_stored_and_passed_to_the_hook(nursery: trio.Nursery) -> None:
    seen: list[tuple[str, StationSecurityEvent]] = []

    async def hook(cp: ChargePoint, event: StationSecurityEvent) -> None:
        seen.append((cp.id, event))
        if event.type == "InvalidTLSVersion":
            raise RuntimeError("a broken hook does not break the answer")

    p = plugins(on_security_event=hook)
    server = await start_server(nursery, p)

    async def scenario(peer: Peer) -> None:
        async with peer.connect("CS1") as cs:
            await cs.boot()
            await cs.security_event("StartupOfTheDevice")
            await cs.security_event("InvalidTLSVersion", tech_info="TLS 1.0 offered")

    with trio.fail_after(TIMEOUT):
        await run_peer(server, scenario)
    events = await p.security.security_events("CS1")
    assert [(e.type, e.tech_info) for e in events] == [
        ("StartupOfTheDevice", None),
        ("InvalidTLSVersion", "TLS 1.0 offered"),
    ]
    assert [identity for identity, _ in seen] == ["CS1", "CS1"]
    assert all(e.received_at for e in events)


async def test_sign_certificate_through_the_ca_then_certificate_signed(nursery: trio.Nursery) -> None:
    signed: list[tuple[str, str, str | None]] = []

    async def sign_csr(cp: ChargePoint, csr: str, certificate_type: str | None) -> str:
        signed.append((cp.id, csr, certificate_type))
        if certificate_type == "V2GCertificate":
            raise RuntimeError("no V2G CA here")
        return CHAIN

    p = plugins(sign_csr=sign_csr)
    server = await start_server(nursery, p)

    async def scenario(peer: Peer) -> Any:
        async with peer.connect("CS1") as cs:
            await cs.boot()
            answer = await cs.send(cs._call.SignCertificate(csr=CSR, certificate_type="ChargingStationCertificate"))
            await cs.wait_for(lambda: len(cs.received["CertificateSigned"]) == 1)
            not_pem = await cs.send(cs._call.SignCertificate(csr="garbage"))
            # The CSMS asks for a renewal; the station's CSR follows and is signed.
            trigger = await peer.csms(p.security.trigger_certificate_renewal, "CS1")
            await cs.wait_for(lambda: len(cs.received["CertificateSigned"]) == 2)
            # The station refuses the chain: recorded as a failed delivery.
            cs.answers["CertificateSigned"] = {"status": "Rejected"}
            await cs.send(cs._call.SignCertificate(csr=CSR))
            await cs.wait_for(lambda: len(cs.received["CertificateSigned"]) == 3)
            # The CA fails: nothing is delivered.
            await peer.csms(p.security.trigger_certificate_renewal, "CS1", "V2GCertificate")
            await cs.wait_for(lambda: len(signed) == 4)
            return (
                answer.status,
                not_pem.status,
                trigger.status,
                cs.received["CertificateSigned"],
                cs.received["TriggerMessage"],
            )

    with trio.fail_after(TIMEOUT):
        answer, not_pem, trigger, delivered, triggers = await run_peer(server, scenario)
    assert (answer, not_pem, trigger) == ("Accepted", "Rejected", "Accepted")
    assert delivered[0] == {"certificate_chain": CHAIN, "certificate_type": "ChargingStationCertificate"}
    assert [t["requested_message"] for t in triggers] == ["SignChargingStationCertificate", "SignV2GCertificate"]
    assert [s[2] for s in signed] == [
        "ChargingStationCertificate",
        "ChargingStationCertificate",
        None,
        "V2GCertificate",
    ]
    with trio.fail_after(5):
        while (await p.security.certificate_requests("CS1"))[-1].outcome == "signing":
            await trio.sleep(0.01)
    outcomes = [(r.outcome, r.certificate_type) for r in await p.security.certificate_requests("CS1")]
    assert outcomes == [
        ("installed", "ChargingStationCertificate"),
        ("rejected", None),
        ("installed", "ChargingStationCertificate"),
        ("delivery_failed", None),
        ("signing_failed", "V2GCertificate"),
    ]


async def test_without_a_ca_sign_certificate_is_rejected(nursery: trio.Nursery) -> None:
    p = plugins()
    server = await start_server(nursery, p)

    async def scenario(peer: Peer) -> Any:
        async with peer.connect("CS1") as cs:
            await cs.boot()
            answer = await cs.send(cs._call.SignCertificate(csr=CSR))
            chain = await peer.csms(p.security.certificate_signed, "CS1", CHAIN, certificate_type="V2GCertificate")
            return answer.status, chain, cs.received["CertificateSigned"]

    with trio.fail_after(TIMEOUT):
        answer, chain, delivered = await run_peer(server, scenario)
    assert answer == "Rejected"
    assert chain.status == v201.CertificateSignedStatusEnumType.Accepted
    assert delivered == [{"certificate_chain": CHAIN, "certificate_type": "V2GCertificate"}]
    assert (await p.security.certificate_requests("CS1"))[0].detail == "no CA configured"


async def test_2_1_sign_certificate_request_id_is_echoed(nursery: trio.Nursery) -> None:
    async def sign_csr(cp: ChargePoint, csr: str, certificate_type: str | None) -> str:
        return CHAIN

    p = plugins(sign_csr=sign_csr)
    server = await start_server(nursery, p)

    async def scenario(peer: Peer) -> Any:
        async with peer.connect("CS21", Station21) as cs:
            assert (await cs.boot()).status == "Accepted"
            await cs.send(cs._call.SignCertificate(csr=CSR, certificate_type="V2G20Certificate", request_id=77))
            await cs.wait_for(lambda: bool(cs.received["CertificateSigned"]))
            return cs.received["CertificateSigned"][0]

    with trio.fail_after(TIMEOUT):
        delivered = await run_peer(server, scenario)
    assert delivered == {"certificate_chain": CHAIN, "certificate_type": "V2G20Certificate", "request_id": 77}
    assert (await p.security.certificate_requests("CS21"))[0].request_id == 77


async def test_basic_auth_password_rotation_with_a_grace_window(nursery: trio.Nursery) -> None:
    store = PasswordStore()
    store.set("CS1", OLD, security_profile=1)
    rotated: list[tuple[str, str]] = []

    async def on_rotated(identity: str, password: str) -> None:
        rotated.append((identity, password))

    p = plugins(on_password_rotated=on_rotated)
    p.security.password_grace_period = 0.5
    server = await start_server(nursery, p, authenticate=store)

    async def scenario(peer: Peer) -> Any:
        async with peer.connect("CS1", password=OLD) as cs:
            await cs.boot()
            with pytest.raises(ValueError, match="16 to 40"):
                await peer.csms(p.security.rotate_basic_auth_password, "CS1", "short")
            result = await peer.csms(p.security.rotate_basic_auth_password, "CS1", NEW)
            secret = cs.secrets["SecurityCtrlr.BasicAuthPassword"]
        async with peer.connect("CS1", password=NEW) as cs:
            await cs.heartbeat()
        async with peer.connect("CS1", password=OLD) as cs:  # still inside the grace window
            await cs.heartbeat()
        await asyncio.sleep(0.6)
        with pytest.raises(InvalidStatus) as refused:
            async with peer.connect("CS1", password=OLD):
                pass
        return result, secret, refused.value.response.status_code

    with trio.fail_after(TIMEOUT):
        result, secret, status = await run_peer(server, scenario)
    assert (result.key, result.status, result.ok) == ("SecurityCtrlr.BasicAuthPassword", "Accepted", True)
    assert result.value == "********"  # the secret never appears in results or storage
    assert secret == NEW
    assert status == 401
    assert rotated == [("CS1", NEW)]
    assert store.security_profile("CS1") == 1  # the pinned profile survives the rotation
    assert (await p.security.password_rotation("CS1") or {}).get("status") == "Accepted"


async def test_rejected_or_unanswered_password_rotation(nursery: trio.Nursery) -> None:
    store = PasswordStore()
    store.set("CS1", OLD)
    p = plugins()
    server = await start_server(nursery, p, authenticate=store)

    def reject(kwargs: dict[str, Any]) -> dict[str, Any]:
        item = kwargs["set_variable_data"][0]
        result = {"attribute_status": "Rejected", "component": item["component"], "variable": item["variable"]}
        return {"set_variable_result": [result]}

    async def scenario(peer: Peer) -> Any:
        async with peer.connect("CS1", password=OLD) as cs:
            await cs.boot()
            cs.answers["SetVariables"] = reject
            rejected = await peer.csms(p.security.rotate_basic_auth_password, "CS1", NEW)
        async with peer.connect("CS1", password=OLD):  # Rejected: the old password stays
            pass
        with pytest.raises(InvalidStatus):
            async with peer.connect("CS1", password=NEW):
                pass
        return rejected

    with trio.fail_after(TIMEOUT):
        rejected = await run_peer(server, scenario)
    assert (rejected.status, rejected.ok) == ("Rejected", False)
    assert store.check("CS1", OLD.encode()) and not store.check("CS1", NEW.encode())

    # No answer at all: both passwords work for the grace period, the error is re-raised.
    station_router = Router()

    @station_router.on("SetVariables")
    async def never(cp: ChargePoint, payload: dict[str, Any]) -> Any:
        await trio.sleep_forever()

    async with testing.connect(server, "CS1", "2.0.1", router=station_router):
        with pytest.raises(CallTimeoutError):
            await p.security.rotate_basic_auth_password("CS1", NEW, timeout=0.2)
    assert store.check("CS1", OLD.encode()) and store.check("CS1", NEW.encode())
    assert (await p.security.password_rotation("CS1") or {}).get("status") == "unknown"


def test_password_store_grace_period() -> None:
    store = PasswordStore()
    store.set("CS1", OLD)
    store.set("CS1", NEW, grace_period=60)
    assert store.check("CS1", OLD.encode()) and store.check("CS1", NEW.encode())
    store.set("CS1", "a-third-password-000003")  # no grace: only the newest works
    assert not store.check("CS1", NEW.encode())
    assert store.check("CS1", b"a-third-password-000003")
