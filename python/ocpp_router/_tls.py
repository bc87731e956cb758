"""TLS for security profiles 2 and 3 (protocol notes §3.3-3.4).

``server_ssl_context`` builds the server context the profiles want: TLS 1.2 minimum (1.3
allowed), the OCPP cipher suites plus the rest of AWS's ``ELBSecurityPolicy-TLS-1-2-Ext-2018-06``
list (what many operators' charge points are tested against), no TLS compression, optional
client-certificate verification against the CPO's CA. ``cn_equals_identity`` is the default
rule binding a client certificate to the identity in the URL.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable, Mapping
from typing import Any

__all__ = [
    "OCPP_TLS12_CIPHERS",
    "CertificateBinding",
    "certificate_common_name",
    "certificate_from_pem",
    "client_ssl_context",
    "cn_equals_identity",
    "server_ssl_context",
]

#: OpenSSL names. The four suites OCPP requires come first; the ECDHE-RSA, CBC-SHA and
#: SHA256/384 ones complete ELBSecurityPolicy-TLS-1-2-Ext-2018-06.
OCPP_TLS12_CIPHERS: tuple[str, ...] = (
    "ECDHE-ECDSA-AES128-GCM-SHA256",
    "ECDHE-ECDSA-AES256-GCM-SHA384",
    "AES128-GCM-SHA256",
    "AES256-GCM-SHA384",
    "ECDHE-RSA-AES128-GCM-SHA256",
    "ECDHE-RSA-AES256-GCM-SHA384",
    "ECDHE-ECDSA-AES128-SHA256",
    "ECDHE-RSA-AES128-SHA256",
    "ECDHE-ECDSA-AES256-SHA384",
    "ECDHE-RSA-AES256-SHA384",
    "ECDHE-ECDSA-AES128-SHA",
    "ECDHE-RSA-AES128-SHA",
    "ECDHE-ECDSA-AES256-SHA",
    "ECDHE-RSA-AES256-SHA",
    "AES128-SHA256",
    "AES256-SHA256",
    "AES128-SHA",
    "AES256-SHA",
)

#: ``(peer_certificate, identity) -> bool``; certificates in ``SSLSocket.getpeercert()`` form.
CertificateBinding = Callable[[Mapping[str, Any], str], bool]


def server_ssl_context(
    certfile: str,
    keyfile: str | None = None,
    *,
    client_ca: str | None = None,
    require_client_certificate: bool = False,
    ciphers: tuple[str, ...] = OCPP_TLS12_CIPHERS,
    password: str | None = None,
) -> ssl.SSLContext:
    """A server context for OCPP over TLS.

    ``certfile`` holds the server certificate (followed by its chain, if any). With
    ``client_ca`` the server asks for client certificates and verifies them against that CA
    bundle (security profile 3); stations without one may still use profile 2 on the same
    port unless ``require_client_certificate`` is set.
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.options |= ssl.OP_NO_COMPRESSION | ssl.OP_CIPHER_SERVER_PREFERENCE
    context.set_ciphers(":".join(ciphers))
    context.load_cert_chain(certfile, keyfile, password=password)
    if client_ca is not None:
        context.load_verify_locations(cafile=client_ca)
        context.verify_mode = ssl.CERT_REQUIRED if require_client_certificate else ssl.CERT_OPTIONAL
    return context


def client_ssl_context(
    cafile: str | None = None,
    *,
    certfile: str | None = None,
    keyfile: str | None = None,
) -> ssl.SSLContext:
    """A charge-point-side context: verifies the CSMS, TLS 1.2+, optional client certificate."""
    context = ssl.create_default_context(cafile=cafile)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if certfile is not None:
        context.load_cert_chain(certfile, keyfile)
    return context


def certificate_common_name(certificate: Mapping[str, Any]) -> str | None:
    """The subject CN of a ``getpeercert()`` dict."""
    for rdn in certificate.get("subject", ()):
        for key, value in rdn:
            if key == "commonName":
                return str(value)
    return None


def cn_equals_identity(certificate: Mapping[str, Any], identity: str) -> bool:
    """Default binding: the certificate's subject CN is the charge point identity."""
    return certificate_common_name(certificate) == identity


def certificate_from_pem(pem: str) -> dict[str, Any]:
    """A PEM certificate in ``getpeercert()`` form (subject, issuer, serialNumber).

    Used for client certificates forwarded by a trusted TLS-terminating proxy; needs the
    ``cryptography`` package (``pip install ocpp-router[proxy]``).
    """
    try:
        from cryptography import x509
        from cryptography.x509.oid import NameOID
    except ImportError as exc:  # pragma: no cover - depends on the installation
        raise RuntimeError("reading proxy-forwarded certificates needs the cryptography package") from exc
    cert = x509.load_pem_x509_certificate(pem.encode("ascii"))
    names = {NameOID.COMMON_NAME: "commonName", NameOID.ORGANIZATION_NAME: "organizationName"}

    def rdns(name: x509.Name) -> tuple[tuple[tuple[str, str], ...], ...]:
        return tuple(((names.get(attr.oid, attr.oid.dotted_string), str(attr.value)),) for attr in name)

    return {
        "subject": rdns(cert.subject),
        "issuer": rdns(cert.issuer),
        "serialNumber": format(cert.serial_number, "X"),
    }
