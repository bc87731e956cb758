"""Gateway mode: a local controller between wallboxes and an upstream CSMS.

Wallboxes connect to the gateway over OCPP (``ws://<gateway>:19520/<identity>``); for each
one the gateway opens its own upstream charge-point connection (per-wallbox URL, identity,
password, TLS, version) and relays messages both ways. Interceptors see every relayed
message (pass, change, answer locally, drop); built in are a local charging cap and an
id-tag allow-list. While the upstream is unreachable, transaction messages are queued in
SQLite and replayed in order afterwards (1.6 provisional transaction ids mapped to the
upstream's); boot, heartbeat and status are answered locally. A 1.6 wallbox can appear
upstream as a 2.0.1 station. ``ocpp-router gateway --config site.toml`` runs it; see
docs/gateway.md.
"""

from __future__ import annotations

from ._config import AllowListSettings as AllowListSettings
from ._config import CapSettings as CapSettings
from ._config import ConfigError as ConfigError
from ._config import GatewayConfig as GatewayConfig
from ._config import ListenSettings as ListenSettings
from ._config import ReconnectPolicy as ReconnectPolicy
from ._config import TlsFiles as TlsFiles
from ._config import WallboxConfig as WallboxConfig
from ._config import load_config as load_config
from ._config import parse_config as parse_config
from ._gateway import Gateway as Gateway
from ._intercept import AllowList as AllowList
from ._intercept import Answer as Answer
from ._intercept import Decision as Decision
from ._intercept import Drop as Drop
from ._intercept import Interceptor as Interceptor
from ._intercept import LocalCap as LocalCap
from ._intercept import Relayed as Relayed
from ._link import Link as Link
from ._store import DeadLetter as DeadLetter
from ._store import GatewayStore as GatewayStore
from ._store import QueuedMessage as QueuedMessage

__all__ = [
    "AllowList",
    "AllowListSettings",
    "Answer",
    "CapSettings",
    "ConfigError",
    "DeadLetter",
    "Decision",
    "Drop",
    "Gateway",
    "GatewayConfig",
    "GatewayStore",
    "Interceptor",
    "Link",
    "ListenSettings",
    "LocalCap",
    "QueuedMessage",
    "ReconnectPolicy",
    "Relayed",
    "TlsFiles",
    "WallboxConfig",
    "load_config",
    "parse_config",
]
