"""OCPP 2.0.1 block A, Security: security events, certificate signing through the
application's CA, and basic-auth password rotation.

Certificate signing (A02/A03): the station sends SignCertificate with a PEM CSR; the CSMS
answers Accepted (Rejected when no CA is configured or the CSR is not PEM), has the CA sign
it — ``sign_csr(cp, csr_pem, certificate_type)`` — and then sends CertificateSigned with the
chain and the same certificate type (and, on 2.1, the same ``requestId``). Signing runs
after the answer, so a slow CA never blocks the station's other messages.
``trigger_certificate_renewal`` makes a station start that flow (TriggerMessage
SignChargingStationCertificate / SignV2GCertificate).

Password rotation (A01): ``rotate_basic_auth_password`` writes
``SecurityCtrlr.BasicAuthPassword`` with SetVariables; when the station accepts, the
server's ``PasswordStore`` (``Server(authenticate=store)``) switches to the new password and
keeps the old one valid for ``password_grace_period`` seconds. Other credential stores are
updated by the ``on_password_rotated`` hook.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, ClassVar

import trio

from .. import v201
from .._auth import PasswordStore
from .._versions import V21, V201
from ..errors import CallTimeoutError, ConnectionClosedError, OcppError
from ._base import (
    V201Plugin,
    VariableRef,
    VariableResult,
    append_bounded,
    dump_record,
    load_record,
    text,
    variable_results,
    wire,
)

if TYPE_CHECKING:
    from .._session import ChargePoint

__all__ = [
    "BASIC_AUTH_PASSWORD",
    "CertificateRequest",
    "CsrSigner",
    "PasswordHook",
    "SecurityEventHook",
    "SecurityPlugin",
    "StationSecurityEvent",
]

log = logging.getLogger("ocpp_router")

BASIC_AUTH_PASSWORD = VariableRef("SecurityCtrlr", "BasicAuthPassword")


@dataclass(frozen=True, slots=True)
class StationSecurityEvent:
    """A SecurityEventNotification (type names from the 2.x security events list)."""

    type: str
    timestamp: str
    received_at: str
    tech_info: str | None = None


@dataclass(frozen=True, slots=True)
class CertificateRequest:
    """A SignCertificate from a station and how far it got.

    ``outcome``: ``rejected`` (answered Rejected), ``signing`` (the CA is working),
    ``signing_failed`` (``sign_csr`` raised), ``delivery_failed`` (CertificateSigned could not
    be sent or was refused), ``installed`` (CertificateSigned Accepted).
    """

    id: int
    csr: str
    requested_at: str
    outcome: str
    certificate_type: str | None = None
    """ChargingStationCertificate, V2GCertificate (2.1 also V2G20Certificate); None: not given."""
    request_id: int | None = None
    """2.1: the station's requestId, echoed in CertificateSigned."""
    certificate_chain: str | None = None
    detail: str | None = None


#: ``async (cp, csr_pem, certificate_type) -> PEM certificate chain`` (the application's CA).
CsrSigner = Callable[["ChargePoint", str, "str | None"], Awaitable[str]]
SecurityEventHook = Callable[["ChargePoint", StationSecurityEvent], Awaitable[None]]
#: ``async (identity, new_password)``: update a credential store that is not a ``PasswordStore``.
PasswordHook = Callable[[str, str], Awaitable[None]]

_CSR_HEADERS = ("-----BEGIN CERTIFICATE REQUEST-----", "-----BEGIN NEW CERTIFICATE REQUEST-----")
#: certificate use -> TriggerMessage requestedMessage that makes the station send a new CSR.
_RENEWAL_TRIGGERS = {
    "ChargingStationCertificate": "SignChargingStationCertificate",
    "V2GCertificate": "SignV2GCertificate",
    "CombinedCertificate": "SignCombinedCertificate",
    "V2G20Certificate": "SignV2G20Certificate",  # 2.1
}


class SecurityPlugin(V201Plugin):
    """OCPP 2.0.1/2.1 block A (Security).

    Args:
        sign_csr: the CA hook; without it SignCertificate is answered Rejected.
        on_security_event: called for each SecurityEventNotification (after it is stored;
            an exception is logged, the station is answered anyway).
        on_password_rotated: called after an accepted password rotation (for credential
            stores other than ``PasswordStore``).
        password_grace_period: seconds the replaced basic-auth password stays valid.
        trigger_window: seconds a triggered SignCertificate passes the Pending guard.
        max_history: events and certificate requests kept per station.
    """

    name: ClassVar[str] = "v201.security"

    def __init__(
        self,
        *,
        sign_csr: CsrSigner | None = None,
        on_security_event: SecurityEventHook | None = None,
        on_password_rotated: PasswordHook | None = None,
        password_grace_period: float = 300.0,
        trigger_window: float = 60.0,
        max_history: int = 1000,
    ) -> None:
        super().__init__()
        self.sign_csr = sign_csr
        self.on_security_event = on_security_event
        self.on_password_rotated = on_password_rotated
        self.password_grace_period = password_grace_period
        self.trigger_window = trigger_window
        self.max_history = max_history
        self.handle("SecurityEventNotification", self._on_security_event)
        self.handle("SignCertificate", self._on_sign_certificate)
        self.after("SignCertificate", self._after_sign_certificate)

    async def _append(self, identity: str, key: str, record: Any) -> None:
        await append_bounded(self.storage, self.name, identity, key, dump_record(record), self.max_history)

    # -- station-initiated ----------------------------------------------------------------

    async def _on_security_event(
        self, cp: ChargePoint, payload: dict[str, Any]
    ) -> v201.SecurityEventNotificationResponse:
        event = StationSecurityEvent(
            type=payload["type"],
            timestamp=payload["timestamp"],
            received_at=self.now_text(),
            tech_info=payload.get("techInfo"),
        )
        await self._append(cp.id, "security_events", event)
        if self.on_security_event is not None:
            try:
                await self.on_security_event(cp, event)
            except Exception:
                log.exception("%s: on_security_event hook failed", cp.id)
        return v201.SecurityEventNotificationResponse()

    async def _on_sign_certificate(self, cp: ChargePoint, payload: dict[str, Any]) -> v201.SignCertificateResponse:
        csr = str(payload["csr"])
        accepted = self.sign_csr is not None and csr.strip().startswith(_CSR_HEADERS)
        record = CertificateRequest(
            id=await self.storage.next_id("v201.security.csr"),
            csr=csr,
            requested_at=self.now_text(),
            outcome="signing" if accepted else "rejected",
            certificate_type=text(payload.get("certificateType")),
            request_id=payload.get("requestId"),
            detail=None if accepted else ("no CA configured" if self.sign_csr is None else "not a PEM CSR"),
        )
        await self._append(cp.id, "certificate_requests", record)
        status = v201.GenericStatusEnumType.Accepted if accepted else v201.GenericStatusEnumType.Rejected
        return v201.SignCertificateResponse(status=status)

    async def _after_sign_certificate(self, cp: ChargePoint, request: Any, response: Any) -> None:
        """Sign and deliver, once the Accepted answer is on its way."""
        if self.sign_csr is None or wire(response).get("status") != "Accepted":
            return
        payload = wire(request)
        csr = payload.get("csr", "")
        pending = [r for r in await self.certificate_requests(cp.id) if r.csr == csr and r.outcome == "signing"]
        certificate_type = text(payload.get("certificateType"))
        try:
            chain = await self.sign_csr(cp, csr, certificate_type)
        except Exception as exc:
            log.exception("%s: signing the CSR failed", cp.id)
            await self._settle(cp.id, pending, "signing_failed", detail=repr(exc))
            return
        try:
            result = await self.certificate_signed(
                cp.id, chain, certificate_type=certificate_type, request_id=payload.get("requestId")
            )
        except OcppError as exc:
            log.warning("%s: CertificateSigned could not be delivered: %s", cp.id, exc)
            await self._settle(cp.id, pending, "delivery_failed", chain, detail=str(exc))
            return
        accepted = text(result.status) == "Accepted"
        detail = None if accepted else "station answered Rejected"
        await self._settle(cp.id, pending, "installed" if accepted else "delivery_failed", chain, detail=detail)

    async def _settle(
        self,
        identity: str,
        pending: list[CertificateRequest],
        outcome: str,
        chain: str | None = None,
        *,
        detail: str | None = None,
    ) -> None:
        if not pending:
            return
        target = pending[-1].id
        items = await self.load(identity, "certificate_requests", [])
        for index, item in enumerate(items):
            if item["id"] == target:
                updated = replace(
                    load_record(CertificateRequest, item), outcome=outcome, certificate_chain=chain, detail=detail
                )
                items[index] = dump_record(updated)
        await self.save(identity, "certificate_requests", items)

    # -- queries --------------------------------------------------------------------------

    async def security_events(self, identity: str) -> list[StationSecurityEvent]:
        return await self.load_list(StationSecurityEvent, identity, "security_events")

    async def certificate_requests(self, identity: str) -> list[CertificateRequest]:
        return await self.load_list(CertificateRequest, identity, "certificate_requests")

    # -- CSMS-initiated -------------------------------------------------------------------

    async def certificate_signed(
        self,
        identity: str,
        certificate_chain: str,
        *,
        certificate_type: v201.CertificateSigningUseEnumType | str | None = None,
        request_id: int | None = None,
        timeout: float | None = None,
    ) -> v201.CertificateSignedResponse:
        """Send a signed certificate chain (PEM). ``request_id`` (the SignCertificate's) is
        sent on 2.1 connections only (2.0.1 has no such field)."""
        payload: dict[str, Any] = {"certificateChain": certificate_chain}
        if certificate_type is not None:
            payload["certificateType"] = text(certificate_type)
        cp = self.server.get(identity)
        if request_id is not None and cp is not None and cp.version == V21:
            payload["requestId"] = request_id
        response = await self.request(identity, ("CertificateSigned", payload), timeout=timeout)
        return v201.CertificateSignedResponse.from_wire(response)

    async def trigger_certificate_renewal(
        self,
        identity: str,
        certificate_type: v201.CertificateSigningUseEnumType
        | str = v201.CertificateSigningUseEnumType.ChargingStationCertificate,
        *,
        timeout: float | None = None,
    ) -> v201.TriggerMessageResponse:
        """Ask the station for a new CSR (it follows as SignCertificate, signed by ``sign_csr``)."""
        trigger = _RENEWAL_TRIGGERS[str(text(certificate_type))]
        response = await self.triggered_request(
            identity,
            ("TriggerMessage", {"requestedMessage": trigger}),
            v201.TriggerMessageResponse,
            ("SignCertificate",),
            self.trigger_window,
            timeout=timeout,
        )
        return response

    async def rotate_basic_auth_password(
        self,
        identity: str,
        new_password: str,
        *,
        grace_period: float | None = None,
        timeout: float | None = None,
    ) -> VariableResult:
        """Set ``SecurityCtrlr.BasicAuthPassword`` (16-40 characters on 2.0.1; 2.1 allows
        more up to the station's maxLimit) and, when the station answers Accepted or
        RebootRequired, switch the server's ``PasswordStore`` to it, keeping the old password
        valid for ``grace_period`` seconds (default ``password_grace_period``).

        Rejected (or another status): nothing changes. No answer (time-out, connection
        lost): the station may or may not have switched, so the new password becomes
        current and the old one stays valid for the grace period; the error is re-raised
        (rotate again once the station is back if it still uses the old one).
        """
        cp = self.server.get(identity)
        version = cp.version if cp is not None else V201
        if len(new_password) < 16 or (version == V201 and len(new_password) > 40):
            raise ValueError("an OCPP 2.0.1 BasicAuthPassword has 16 to 40 characters (2.1: at least 16)")
        grace = self.password_grace_period if grace_period is None else grace_period
        payload = {
            "setVariableData": [
                {
                    "attributeValue": new_password,
                    "component": {"name": BASIC_AUTH_PASSWORD.component},
                    "variable": {"name": BASIC_AUTH_PASSWORD.variable},
                }
            ]
        }
        try:
            response = await self.request(identity, ("SetVariables", payload), timeout=timeout)
        except (CallTimeoutError, ConnectionClosedError):
            with trio.CancelScope(shield=True):
                await self._switch_password(identity, new_password, grace, "unknown")
            raise
        results = variable_results(response.get("setVariableResult", []), {BASIC_AUTH_PASSWORD.key: "********"})
        result = results.get(BASIC_AUTH_PASSWORD.key) or VariableResult(BASIC_AUTH_PASSWORD, "Rejected")
        if result.ok:
            await self._switch_password(identity, new_password, grace, result.status)
        else:
            await self.save(identity, "password_rotation", {"at": self.now_text(), "status": result.status})
        return result

    async def _switch_password(self, identity: str, password: str, grace: float, status: str) -> None:
        store = self.server.authenticate
        if isinstance(store, PasswordStore):
            update = functools.partial(
                store.set,
                identity,
                password,
                check_rules=False,
                security_profile=store.security_profile(identity),
                grace_period=grace,
            )
            await trio.to_thread.run_sync(update)  # scrypt: keep it off the event loop
        if self.on_password_rotated is not None:
            await self.on_password_rotated(identity, password)
        await self.save(identity, "password_rotation", {"at": self.now_text(), "status": status})

    async def password_rotation(self, identity: str) -> dict[str, str] | None:
        """When the password was last rotated and the station's answer (``unknown``: no answer)."""
        rotation: dict[str, str] | None = await self.load(identity, "password_rotation")
        return rotation
