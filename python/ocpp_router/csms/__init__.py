"""The reference CSMS behind ``ocpp-router serve``: every OCPP 1.6 and 2.0.1 plugin on one
server, the operator's records in SQLite, an optional ``wss://`` listener and an optional
admin HTTP API (``pip install "ocpp-router[csms]"`` for the latter). See docs/csms.md::

    config = load_config({"port": 9000, "admin.port": 8080})
    csms = Csms(config)
    async with trio.open_nursery() as nursery:
        await nursery.start(csms.run)
        ...
        await csms.aclose()
"""

from __future__ import annotations

from .app import Csms as Csms
from .app import Presence as Presence
from .app import RegistryAuthenticator as RegistryAuthenticator
from .config import ChargePointEntry as ChargePointEntry
from .config import ConfigError as ConfigError
from .config import CsmsConfig as CsmsConfig
from .config import IdTokenEntry as IdTokenEntry
from .config import add_serve_arguments as add_serve_arguments
from .config import load_config as load_config
from .store import OperatorStore as OperatorStore

__all__ = [
    "ChargePointEntry",
    "ConfigError",
    "Csms",
    "CsmsConfig",
    "IdTokenEntry",
    "OperatorStore",
    "Presence",
    "RegistryAuthenticator",
    "add_serve_arguments",
    "load_config",
]
