"""The charge-point side: open a connection to a CSMS and speak OCPP on it."""

from __future__ import annotations

import base64
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING
from urllib.parse import quote

import trio
import trio_websocket

from . import _core, _transport_trio_ws
from ._router import Router
from ._session import ChargePoint, SessionOptions
from ._transport import CloseCode
from ._versions import ALL_VERSIONS, SUBPROTOCOLS, VERSION_OF_SUBPROTOCOL, normalize_version
from .errors import OcppError

if TYPE_CHECKING:
    import ssl
    from collections.abc import AsyncIterator, Iterable

    from ._hooks import Hooks

from ._groups import single_error

__all__ = ["ConnectError", "basic_auth_header", "connect"]


class ConnectError(OcppError):
    """The CSMS refused the connection (HTTP status before the upgrade) or chose no OCPP version."""

    def __init__(self, description: str, status_code: int | None = None) -> None:
        super().__init__(description)
        self.status_code = status_code


def basic_auth_header(identity: str, password: str | bytes) -> tuple[str, str]:
    """The ``Authorization`` header for security profiles 1 and 2."""
    secret = password if isinstance(password, bytes) else password.encode()
    token = base64.b64encode(identity.encode() + b":" + secret).decode("ascii")
    return ("Authorization", f"Basic {token}")


@asynccontextmanager
async def connect(
    url: str,
    identity: str,
    router: Router | None = None,
    *,
    versions: Iterable[str] = ALL_VERSIONS,
    password: str | bytes | None = None,
    ssl_context: ssl.SSLContext | None = None,
    headers: Iterable[tuple[str, str]] = (),
    options: SessionOptions | None = None,
    hooks: Hooks | None = None,
    registry: _core.SchemaRegistry | None = None,
    connect_timeout: float = 10.0,
    local_address: str | None = None,
) -> AsyncIterator[ChargePoint]:
    """Connect to ``url + "/" + identity`` as a charge point; yields the running session.

    ``router`` answers the CSMS's calls (RemoteStart, Reset, ...). The session closes
    (code 1000) when the block exits. ``local_address`` binds the source IP address.
    """
    wanted = [normalize_version(v) for v in versions]
    full_url = url.rstrip("/") + "/" + quote(identity, safe="")
    extra = list(headers)
    if password is not None:
        extra.append(basic_auth_header(identity, password))
    with single_error():
        async with trio.open_nursery() as nursery:
            try:
                transport = await _transport_trio_ws.connect(
                    full_url,
                    [SUBPROTOCOLS[v] for v in wanted],
                    headers=extra,
                    ssl_context=ssl_context,
                    connect_timeout=connect_timeout,
                    local_address=local_address,
                    nursery=nursery,
                )
            except trio_websocket.ConnectionRejected as exc:
                raise ConnectError(
                    f"{full_url} refused the connection: HTTP {exc.status_code}", exc.status_code
                ) from None
            except (trio_websocket.HandshakeError, OSError, trio.TooSlowError, trio.BrokenResourceError) as exc:
                cause = f" ({exc.__cause__})" if exc.__cause__ is not None else ""
                raise ConnectError(f"cannot connect to {full_url}: {exc!r}{cause}") from None
            version = VERSION_OF_SUBPROTOCOL.get(transport.subprotocol or "")
            if version is None or version not in wanted:
                await transport.close(CloseCode.PROTOCOL_ERROR, "no OCPP subprotocol agreed")
                nursery.cancel_scope.cancel()
                raise ConnectError(f"{full_url} accepted none of the offered versions ({', '.join(wanted)})")
            cp = ChargePoint(
                identity,
                version,
                transport,
                router or Router(),
                options=options,
                hooks=hooks,
                path=full_url,
                registry=registry,
            )
            nursery.start_soon(cp.run)
            try:
                yield cp
            finally:
                with trio.CancelScope(shield=True):
                    await cp.close(CloseCode.NORMAL)
                nursery.cancel_scope.cancel()
