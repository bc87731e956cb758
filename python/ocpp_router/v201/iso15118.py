"""OCPP 2.0.1 block M, ISO 15118 Certificate Management: the EV contract-certificate
exchange (Get15118EVCertificate) and OCSP checks (GetCertificateStatus) through the
application's PKI hooks, and the InstallCertificate / DeleteCertificate /
GetInstalledCertificateIds helpers with a record of the station's certificates.

The CSMS only relays here: the EXI request goes to the hook as received (base64), the
hook's EXI response goes back unchanged. Without a hook (or when it fails) the station is
answered ``Failed``, which makes the EV fall back, never a made-up certificate.
OCPP 2.1's GetCertificateChainStatus is answered through ``chain_status`` (default: every
certificate ``Failed``: the status could not be determined).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from .. import v201
from ._base import V201Plugin, append_bounded, dump_record, text

if TYPE_CHECKING:
    from .._session import ChargePoint

__all__ = [
    "CertificateExchange",
    "ChainStatusHook",
    "EVCertificateHook",
    "EVCertificateRequest",
    "ISO15118Plugin",
    "OcspHook",
]

log = logging.getLogger("ocpp_router")


@dataclass(frozen=True, slots=True)
class EVCertificateRequest:
    """A Get15118EVCertificate: the EV asks for (a new) contract certificate."""

    iso15118_schema_version: str
    action: str
    """Install or Update."""
    exi_request: str
    """Base64 EXI (CertificateInstallationReq / CertificateUpdateReq), to hand to the PKI."""
    payload: dict[str, Any]
    """As received (2.1: ``maximumContractCertificateChains``, ``prioritizedEMAIDs``)."""


@dataclass(frozen=True, slots=True)
class CertificateExchange:
    """One certificate operation (either direction) and its outcome."""

    action: str
    """Get15118EVCertificate, GetCertificateStatus, GetCertificateChainStatus (2.1),
    InstallCertificate or DeleteCertificate."""
    received_at: str
    status: str
    """The answer's status (chain status: the statuses joined by ``,``)."""
    detail: str | None = None
    """Why it failed, the certificate type installed, or the serial number deleted."""


#: ``async (cp, request) -> (status, exi_response) | response dict`` (the eMSP/PKI side).
EVCertificateHook = Callable[["ChargePoint", EVCertificateRequest], Awaitable["tuple[str, str] | Mapping[str, Any]"]]
#: ``async (cp, ocsp_request_data) -> base64 OCSPResponse | None`` (None: Failed).
OcspHook = Callable[["ChargePoint", dict[str, Any]], Awaitable["str | None"]]
#: 2.1 ``async (cp, certificate_status_requests) -> certificateStatus list``.
ChainStatusHook = Callable[["ChargePoint", list[dict[str, Any]]], Awaitable["list[dict[str, Any]]"]]


def _hash_data(value: v201.CertificateHashDataType | Mapping[str, Any]) -> dict[str, Any]:
    data = value.to_wire() if isinstance(value, v201.CertificateHashDataType) else dict(value)
    missing = {"hashAlgorithm", "issuerNameHash", "issuerKeyHash", "serialNumber"} - set(data)
    if missing:
        raise ValueError(f"certificate hash data needs {sorted(missing)}")
    return data


def _same_certificate(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    keys = ("hashAlgorithm", "issuerNameHash", "issuerKeyHash")
    return all(a.get(k) == b.get(k) for k in keys) and str(a.get("serialNumber", "")).lower().lstrip("0") == str(
        b.get("serialNumber", "")
    ).lower().lstrip("0")


class ISO15118Plugin(V201Plugin):
    """OCPP 2.0.1/2.1 block M (ISO 15118 Certificate Management).

    Args:
        ev_certificate: ``async (cp, request) -> (status, exi_response)`` or a full
            Get15118EVCertificate response dict (statusInfo, 2.1 ``remainingContracts``):
            forwards the EXI request to the contract-certificate pool/eMSP.
        ocsp: ``async (cp, ocsp_request_data) -> base64 OCSPResponse | None`` asks the
            responder in ``ocsp_request_data["responderURL"]``.
        chain_status: 2.1 ``async (cp, requests) -> certificateStatus list``.
        max_history: exchanges kept per station.
    """

    name: ClassVar[str] = "v201.iso15118"

    def __init__(
        self,
        *,
        ev_certificate: EVCertificateHook | None = None,
        ocsp: OcspHook | None = None,
        chain_status: ChainStatusHook | None = None,
        max_history: int = 200,
    ) -> None:
        super().__init__()
        self.ev_certificate = ev_certificate
        self.ocsp = ocsp
        self.chain_status = chain_status
        self.max_history = max_history
        self.handle("Get15118EVCertificate", self._on_ev_certificate)
        self.handle("GetCertificateStatus", self._on_certificate_status)
        self.handle_21("GetCertificateChainStatus", self._on_chain_status)

    async def _log(self, identity: str, action: str, status: str, detail: str | None = None) -> None:
        record = CertificateExchange(action=action, received_at=self.now_text(), status=status, detail=detail)
        await append_bounded(self.storage, self.name, identity, "exchanges", dump_record(record), self.max_history)

    async def exchanges(self, identity: str) -> list[CertificateExchange]:
        """Certificate operations of a station, oldest first."""
        return await self.load_list(CertificateExchange, identity, "exchanges")

    # -- station-initiated ----------------------------------------------------------------

    async def _on_ev_certificate(self, cp: ChargePoint, payload: dict[str, Any]) -> dict[str, Any]:
        request = EVCertificateRequest(
            iso15118_schema_version=payload["iso15118SchemaVersion"],
            action=str(text(payload["action"])),
            exi_request=payload["exiRequest"],
            payload=payload,
        )
        response: dict[str, Any] = {"status": "Failed", "exiResponse": ""}
        detail: str | None = "no ev_certificate hook configured"
        if self.ev_certificate is not None:
            try:
                answer = await self.ev_certificate(cp, request)
            except Exception as exc:
                log.exception("%s: ev_certificate hook failed", cp.id)
                detail = repr(exc)
            else:
                if isinstance(answer, tuple):
                    status, exi_response = answer
                    response = {"status": text(status), "exiResponse": exi_response}
                else:
                    response = dict(answer)
                detail = None
        await self._log(cp.id, "Get15118EVCertificate", str(response.get("status")), detail)
        return response

    async def _on_certificate_status(self, cp: ChargePoint, payload: dict[str, Any]) -> dict[str, Any]:
        result: str | None = None
        detail: str | None = "no ocsp hook configured"
        if self.ocsp is not None:
            try:
                result = await self.ocsp(cp, dict(payload["ocspRequestData"]))
                detail = None if result is not None else "no OCSP result"
            except Exception as exc:
                log.exception("%s: ocsp hook failed", cp.id)
                detail = repr(exc)
        response: dict[str, Any] = (
            {"status": "Failed"} if result is None else {"status": "Accepted", "ocspResult": result}
        )
        await self._log(cp.id, "GetCertificateStatus", response["status"], detail)
        return response

    async def _on_chain_status(self, cp: ChargePoint, payload: dict[str, Any]) -> dict[str, Any]:
        requests = list(payload["certificateStatusRequests"])
        statuses: list[dict[str, Any]] | None = None
        if self.chain_status is not None:
            try:
                statuses = await self.chain_status(cp, requests)
            except Exception:
                log.exception("%s: chain_status hook failed", cp.id)
        if statuses is None:
            now = self.now_text()
            statuses = [
                {
                    "certificateHashData": r["certificateHashData"],
                    "source": r["source"],
                    "status": "Failed",
                    "nextUpdate": now,
                }
                for r in requests
            ]
        await self._log(cp.id, "GetCertificateChainStatus", ",".join(str(s.get("status")) for s in statuses))
        return {"certificateStatus": statuses}

    # -- CSMS-initiated -------------------------------------------------------------------

    async def install_certificate(
        self,
        identity: str,
        certificate_type: v201.InstallCertificateUseEnumType | str,
        certificate: str,
        *,
        timeout: float | None = None,
    ) -> v201.InstallCertificateResponse:
        """Install a root certificate (PEM): V2GRootCertificate, MORootCertificate,
        CSMSRootCertificate, ManufacturerRootCertificate (2.1 also OEMRootCertificate).
        Follow with ``get_installed_certificate_ids`` to learn its hash data."""
        if "-----BEGIN CERTIFICATE-----" not in certificate:
            raise ValueError("certificate must be PEM encoded")
        payload = {"certificateType": text(certificate_type), "certificate": certificate}
        response = await self.request(identity, ("InstallCertificate", payload), timeout=timeout)
        await self._log(identity, "InstallCertificate", str(response.get("status")), text(certificate_type))
        return v201.InstallCertificateResponse.from_wire(response)

    async def get_installed_certificate_ids(
        self,
        identity: str,
        certificate_types: Iterable[v201.GetCertificateIdUseEnumType | str] | None = None,
        *,
        timeout: float | None = None,
    ) -> v201.GetInstalledCertificateIdsResponse:
        """The installed certificates (of the given types; none given: all); remembered
        per type (``installed_certificates``)."""
        types = [str(text(t)) for t in certificate_types] if certificate_types is not None else None
        payload: dict[str, Any] = {} if not types else {"certificateType": types}
        response = await self.request(identity, ("GetInstalledCertificateIds", payload), timeout=timeout)
        chains = response.get("certificateHashDataChain") or []
        if response.get("status") in ("Accepted", "NotFound"):
            known: list[dict[str, Any]] = await self.load(identity, "certificates", [])
            known = [] if types is None else [c for c in known if c.get("certificateType") not in types]
            await self.save(identity, "certificates", [*known, *chains])
        return v201.GetInstalledCertificateIdsResponse.from_wire(response)

    async def installed_certificates(self, identity: str) -> list[v201.CertificateHashDataChainType]:
        """What the station reported it has installed (``get_installed_certificate_ids``),
        minus what was deleted since."""
        known: list[dict[str, Any]] = await self.load(identity, "certificates", [])
        return [v201.CertificateHashDataChainType.from_wire(c) for c in known]

    async def delete_certificate(
        self,
        identity: str,
        certificate_hash_data: v201.CertificateHashDataType | Mapping[str, Any],
        *,
        timeout: float | None = None,
    ) -> v201.DeleteCertificateResponse:
        """Delete an installed certificate by its hash data (Accepted, Failed, NotFound)."""
        data = _hash_data(certificate_hash_data)
        response = await self.request(identity, ("DeleteCertificate", {"certificateHashData": data}), timeout=timeout)
        if response.get("status") in ("Accepted", "NotFound"):
            known: list[dict[str, Any]] = await self.load(identity, "certificates", [])
            kept = [c for c in known if not _same_certificate(c["certificateHashData"], data)]
            await self.save(identity, "certificates", kept)
        await self._log(identity, "DeleteCertificate", str(response.get("status")), data.get("serialNumber"))
        return v201.DeleteCertificateResponse.from_wire(response)
