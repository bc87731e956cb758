"""ocpp-router: fast, strict OCPP-J (1.6, 2.0.1, 2.1) for CSMS builders.

The hot path (frames, schema validation, call correlation) runs in a sans-IO Rust core;
the trio API on top serves charge points over WebSockets::

    router = Router()

    @router.on("BootNotification")
    async def boot(cp, payload):
        return {"status": "Accepted", "currentTime": utc_now(), "interval": 300}

    server = await nursery.start(Server(router).serve, "0.0.0.0", 9000)
"""

from __future__ import annotations

from . import errors as errors
from ._auth import PasswordStore as PasswordStore
from ._client import ConnectError as ConnectError
from ._client import basic_auth_header as basic_auth_header
from ._client import connect as connect
from ._core import Connection as Connection
from ._core import SchemaRegistry as SchemaRegistry
from ._core import ValidationFailure as ValidationFailure
from ._core import __version__ as __version__
from ._defaults import DefaultHandlers as DefaultHandlers
from ._defaults import default_router as default_router
from ._hooks import Hooks as Hooks
from ._hooks import Refuse as Refuse
from ._identity import identity_from_path as identity_from_path
from ._plugin import Plugin as Plugin
from ._router import Route as Route
from ._router import Router as Router
from ._schemas import load_schema_directory as load_schema_directory
from ._security import Limits as Limits
from ._security import ProxyHeaders as ProxyHeaders
from ._security import SecurityEvent as SecurityEvent
from ._server import Server as Server
from ._server import serve as serve
from ._session import ChargePoint as ChargePoint
from ._session import SessionOptions as SessionOptions
from ._storage import MemoryStorage as MemoryStorage
from ._storage import Storage as Storage
from ._time import utc_now as utc_now
from ._tls import client_ssl_context as client_ssl_context
from ._tls import cn_equals_identity as cn_equals_identity
from ._tls import server_ssl_context as server_ssl_context
from ._transport import CloseCode as CloseCode
from ._transport import Handshake as Handshake
from ._validation_rules import ValidationRule as ValidationRule
from ._versions import ALL_VERSIONS as ALL_VERSIONS

__all__ = [
    "ALL_VERSIONS",
    "ChargePoint",
    "CloseCode",
    "ConnectError",
    "Connection",
    "DefaultHandlers",
    "Handshake",
    "Hooks",
    "Limits",
    "MemoryStorage",
    "PasswordStore",
    "Plugin",
    "ProxyHeaders",
    "Refuse",
    "Route",
    "Router",
    "SchemaRegistry",
    "SecurityEvent",
    "Server",
    "SessionOptions",
    "Storage",
    "ValidationFailure",
    "ValidationRule",
    "__version__",
    "basic_auth_header",
    "client_ssl_context",
    "cn_equals_identity",
    "connect",
    "default_router",
    "errors",
    "identity_from_path",
    "load_schema_directory",
    "serve",
    "server_ssl_context",
    "utc_now",
]
