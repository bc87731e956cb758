"""OCPP 1.6 Security extension (Security Whitepaper edition 3): security events, certificate
signing through the application's CA, certificate management, extended triggers, log upload
and signed firmware updates.

Certificate signing follows the whitepaper's flow: the charge point sends SignCertificate
with a PEM CSR, the CSMS answers Accepted (or Rejected when it has no CA or the CSR is not a
PEM CSR), has the CA sign it — ``sign_csr(cp, csr_pem)`` — and then sends CertificateSigned
with the chain. The signing runs after the answer, so a slow CA never blocks the charge
point's other messages.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, ClassVar

import trio

from .. import v16
from ..errors import OcppError
from ._base import StatusEvent, V16Plugin, append_bounded, dump_record, format_time, load_record, text, wire

if TYPE_CHECKING:
    from datetime import datetime

    from .._session import ChargePoint

__all__ = [
    "CertificateRequest",
    "CsrSigner",
    "SecurityEventHook",
    "SecurityPlugin",
    "StationSecurityEvent",
    "StatusEvent",
]

log = logging.getLogger("ocpp_router")


@dataclass(frozen=True, slots=True)
class StationSecurityEvent:
    """A SecurityEventNotification (type names from the whitepaper's security event list)."""

    type: str
    timestamp: str
    received_at: str
    tech_info: str | None = None


@dataclass(frozen=True, slots=True)
class CertificateRequest:
    """A SignCertificate from a charge point and how far it got.

    ``outcome``: ``rejected`` (answered Rejected), ``signing`` (the CA is working),
    ``signing_failed`` (``sign_csr`` raised), ``delivery_failed`` (CertificateSigned could not
    be sent or was refused), ``installed`` (CertificateSigned Accepted).
    """

    id: int
    csr: str
    requested_at: str
    outcome: str
    certificate_chain: str | None = None
    detail: str | None = None


#: ``async (cp, csr_pem) -> PEM certificate chain`` (the application's CA).
CsrSigner = Callable[["ChargePoint", str], Awaitable[str]]
SecurityEventHook = Callable[["ChargePoint", StationSecurityEvent], Awaitable[None]]

#: ExtendedTriggerMessage → the message(s) it makes the charge point send. FirmwareStatus
#: may come as the signed variant on security-extension firmware.
_EXTENDED_TRIGGERS = {
    "BootNotification": ("BootNotification",),
    "LogStatusNotification": ("LogStatusNotification",),
    "FirmwareStatusNotification": ("FirmwareStatusNotification", "SignedFirmwareStatusNotification"),
    "Heartbeat": ("Heartbeat",),
    "MeterValues": ("MeterValues",),
    "SignChargePointCertificate": ("SignCertificate",),
    "StatusNotification": ("StatusNotification",),
}
_CSR_HEADERS = ("-----BEGIN CERTIFICATE REQUEST-----", "-----BEGIN NEW CERTIFICATE REQUEST-----")


class SecurityPlugin(V16Plugin):
    """The OCPP 1.6 security extension.

    Args:
        sign_csr: the CA hook; without it SignCertificate is answered Rejected.
        on_security_event: called for each SecurityEventNotification (after it is stored;
            an exception is logged, the charge point is answered anyway).
        trigger_window: seconds an ExtendedTriggerMessage lets the triggered message
            through the Pending guard.
        max_history: events and status reports kept per charge point and kind.
    """

    name: ClassVar[str] = "v16.security"

    def __init__(
        self,
        *,
        sign_csr: CsrSigner | None = None,
        on_security_event: SecurityEventHook | None = None,
        trigger_window: float = 60.0,
        max_history: int = 1000,
    ) -> None:
        super().__init__()
        self.sign_csr = sign_csr
        self.on_security_event = on_security_event
        self.trigger_window = trigger_window
        self.max_history = max_history
        self.handle("SecurityEventNotification", self._on_security_event)
        self.handle("SignCertificate", self._on_sign_certificate)
        self.after("SignCertificate", self._after_sign_certificate)
        self.handle("LogStatusNotification", self._on_log_status)
        self.handle("SignedFirmwareStatusNotification", self._on_signed_firmware_status)

    async def _append(self, identity: str, key: str, record: Any) -> None:
        await append_bounded(self.storage, self.name, identity, key, dump_record(record), self.max_history)

    # -- charge-point-initiated -----------------------------------------------------------

    async def _on_security_event(
        self, cp: ChargePoint, request: v16.SecurityEventNotificationRequest
    ) -> v16.SecurityEventNotificationResponse:
        event = StationSecurityEvent(
            type=request.type, timestamp=request.timestamp, received_at=self.now_text(), tech_info=request.tech_info
        )
        await self._append(cp.id, "security_events", event)
        if self.on_security_event is not None:
            try:
                await self.on_security_event(cp, event)
            except Exception:
                log.exception("%s: on_security_event hook failed", cp.id)
        return v16.SecurityEventNotificationResponse()

    async def _on_sign_certificate(
        self, cp: ChargePoint, request: v16.SignCertificateRequest
    ) -> v16.SignCertificateResponse:
        csr = request.csr.strip()
        accepted = self.sign_csr is not None and csr.startswith(_CSR_HEADERS)
        record = CertificateRequest(
            id=await self.storage.next_id("v16.security.csr"),
            csr=request.csr,
            requested_at=self.now_text(),
            outcome="signing" if accepted else "rejected",
            detail=None if accepted else ("no CA configured" if self.sign_csr is None else "not a PEM CSR"),
        )
        await self._append(cp.id, "certificate_requests", record)
        status = v16.GenericStatus.Accepted if accepted else v16.GenericStatus.Rejected
        return v16.SignCertificateResponse(status=status)

    async def _after_sign_certificate(self, cp: ChargePoint, request: Any, response: Any) -> None:
        """Sign and deliver, once the Accepted answer is on its way."""
        if self.sign_csr is None or wire(response).get("status") != "Accepted":
            return
        csr = wire(request).get("csr", "")
        pending = [r for r in await self.certificate_requests(cp.id) if r.csr == csr and r.outcome == "signing"]
        try:
            chain = await self.sign_csr(cp, csr)
        except Exception as exc:
            log.exception("%s: signing the CSR failed", cp.id)
            await self._settle(cp.id, pending, "signing_failed", detail=repr(exc))
            return
        try:
            result = await self.certificate_signed(cp.id, chain)
        except trio.Cancelled:
            await self._settle(cp.id, pending, "delivery_failed", chain, detail="connection closed")
            raise
        except OcppError as exc:
            log.warning("%s: CertificateSigned could not be delivered: %s", cp.id, exc)
            await self._settle(cp.id, pending, "delivery_failed", chain, detail=str(exc))
            return
        accepted = result.status == v16.GenericStatus.Accepted
        outcome = "installed" if accepted else "delivery_failed"
        await self._settle(
            cp.id, pending, outcome, chain, detail=None if accepted else "charge point answered Rejected"
        )

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
        with trio.CancelScope(shield=True):  # record the outcome even if the connection is going away
            items = await self.load(identity, "certificate_requests", [])
            for index, item in enumerate(items):
                if item["id"] == target:
                    updated = replace(
                        load_record(CertificateRequest, item), outcome=outcome, certificate_chain=chain, detail=detail
                    )
                    items[index] = dump_record(updated)
            await self.save(identity, "certificate_requests", items)

    async def _on_log_status(
        self, cp: ChargePoint, request: v16.LogStatusNotificationRequest
    ) -> v16.LogStatusNotificationResponse:
        event = StatusEvent(
            status=str(text(request.status)), received_at=self.now_text(), request_id=request.request_id
        )
        await self._append(cp.id, "log_status", event)
        return v16.LogStatusNotificationResponse()

    async def _on_signed_firmware_status(
        self, cp: ChargePoint, request: v16.SignedFirmwareStatusNotificationRequest
    ) -> v16.SignedFirmwareStatusNotificationResponse:
        event = StatusEvent(
            status=str(text(request.status)), received_at=self.now_text(), request_id=request.request_id
        )
        await self._append(cp.id, "signed_firmware_status", event)
        return v16.SignedFirmwareStatusNotificationResponse()

    # -- queries --------------------------------------------------------------------------

    async def security_events(self, identity: str) -> list[StationSecurityEvent]:
        return await self.load_list(StationSecurityEvent, identity, "security_events")

    async def certificate_requests(self, identity: str) -> list[CertificateRequest]:
        return await self.load_list(CertificateRequest, identity, "certificate_requests")

    async def log_status_history(self, identity: str) -> list[StatusEvent]:
        return await self.load_list(StatusEvent, identity, "log_status")

    async def signed_firmware_status_history(self, identity: str) -> list[StatusEvent]:
        return await self.load_list(StatusEvent, identity, "signed_firmware_status")

    async def installed_certificates(
        self, identity: str, certificate_type: v16.CertificateUse | str
    ) -> list[v16.CertificateHashData]:
        """What GetInstalledCertificateIds last reported (minus certificates deleted since)."""
        items = await self.load(identity, f"certificates:{v16.CertificateUse(certificate_type).value}", [])
        return [v16.CertificateHashData.from_wire(item) for item in items]

    # -- CSMS-initiated operations --------------------------------------------------------

    async def certificate_signed(
        self, identity: str, certificate_chain: str, *, timeout: float | None = None
    ) -> v16.CertificateSignedResponse:
        """Send a signed certificate chain (PEM) to the charge point."""
        request = v16.CertificateSignedRequest(certificate_chain=certificate_chain)
        response: v16.CertificateSignedResponse = await self.request(identity, request, timeout=timeout)
        return response

    async def install_certificate(
        self,
        identity: str,
        certificate_type: v16.CertificateUse | str,
        certificate: str,
        *,
        timeout: float | None = None,
    ) -> v16.InstallCertificateResponse:
        """Install a root certificate (CentralSystemRootCertificate / ManufacturerRootCertificate)."""
        request = v16.InstallCertificateRequest(
            certificate_type=v16.CertificateUse(certificate_type), certificate=certificate
        )
        response: v16.InstallCertificateResponse = await self.request(identity, request, timeout=timeout)
        return response

    async def get_installed_certificate_ids(
        self, identity: str, certificate_type: v16.CertificateUse | str, *, timeout: float | None = None
    ) -> v16.GetInstalledCertificateIdsResponse:
        """List installed root certificates of a type; remembered (``installed_certificates``)."""
        use = v16.CertificateUse(certificate_type)
        request = v16.GetInstalledCertificateIdsRequest(certificate_type=use)
        response: v16.GetInstalledCertificateIdsResponse = await self.request(identity, request, timeout=timeout)
        found = [item.to_wire() for item in response.certificate_hash_data or ()]
        await self.save(identity, f"certificates:{use.value}", found)
        return response

    async def delete_certificate(
        self, identity: str, certificate_hash_data: v16.CertificateHashData, *, timeout: float | None = None
    ) -> v16.DeleteCertificateResponse:
        request = v16.DeleteCertificateRequest(certificate_hash_data=certificate_hash_data)
        response: v16.DeleteCertificateResponse = await self.request(identity, request, timeout=timeout)
        if response.status == v16.DeleteCertificateStatus.Accepted:
            gone = certificate_hash_data.to_wire()
            for use in v16.CertificateUse:
                key = f"certificates:{use.value}"
                items = await self.load(identity, key, [])
                if gone in items:
                    await self.save(identity, key, [item for item in items if item != gone])
        return response

    async def extended_trigger_message(
        self,
        identity: str,
        requested_message: v16.ExtendedMessageTrigger | str,
        *,
        connector_id: int | None = None,
        timeout: float | None = None,
    ) -> v16.ExtendedTriggerMessageResponse:
        """Like TriggerMessage, plus LogStatusNotification and SignChargePointCertificate
        (which makes the charge point send a new SignCertificate)."""
        trigger = v16.ExtendedMessageTrigger(requested_message)
        if connector_id is not None and (isinstance(connector_id, bool) or connector_id < 1):
            raise ValueError(f"connector_id must be > 0 when given, not {connector_id!r}")
        request = v16.ExtendedTriggerMessageRequest(requested_message=trigger, connector_id=connector_id)
        response: v16.ExtendedTriggerMessageResponse = await self.triggered_request(
            identity, request, _EXTENDED_TRIGGERS[trigger.value], self.trigger_window, timeout=timeout
        )
        return response

    async def get_log(
        self,
        identity: str,
        log_type: v16.Log | str,
        remote_location: str,
        *,
        request_id: int | None = None,
        oldest_timestamp: datetime | str | None = None,
        latest_timestamp: datetime | str | None = None,
        retries: int | None = None,
        retry_interval: int | None = None,
        timeout: float | None = None,
    ) -> v16.GetLogResponse:
        """Ask for a DiagnosticsLog or SecurityLog upload; progress arrives as
        LogStatusNotification with the same ``request_id`` (allocated when not given)."""
        if request_id is None:
            request_id = await self.storage.next_id("v16.security.request")
        request = v16.GetLogRequest(
            log=v16.LogParameters(
                remote_location=remote_location,
                oldest_timestamp=None if oldest_timestamp is None else format_time(oldest_timestamp),
                latest_timestamp=None if latest_timestamp is None else format_time(latest_timestamp),
            ),
            log_type=v16.Log(log_type),
            request_id=request_id,
            retries=retries,
            retry_interval=retry_interval,
        )
        response: v16.GetLogResponse = await self.request(identity, request, timeout=timeout)
        return response

    async def signed_update_firmware(
        self,
        identity: str,
        location: str,
        retrieve_date_time: datetime | str,
        signing_certificate: str,
        signature: str,
        *,
        install_date_time: datetime | str | None = None,
        request_id: int | None = None,
        retries: int | None = None,
        retry_interval: int | None = None,
        timeout: float | None = None,
    ) -> v16.SignedUpdateFirmwareResponse:
        """Send a signed firmware update; progress arrives as SignedFirmwareStatusNotification
        with the same ``request_id`` (allocated when not given)."""
        if request_id is None:
            request_id = await self.storage.next_id("v16.security.request")
        request = v16.SignedUpdateFirmwareRequest(
            request_id=request_id,
            firmware=v16.Firmware(
                location=location,
                retrieve_date_time=format_time(retrieve_date_time),
                signing_certificate=signing_certificate,
                signature=signature,
                install_date_time=None if install_date_time is None else format_time(install_date_time),
            ),
            retries=retries,
            retry_interval=retry_interval,
        )
        response: v16.SignedUpdateFirmwareResponse = await self.request(identity, request, timeout=timeout)
        return response
