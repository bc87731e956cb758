"""Gateway settings: dataclasses, and ``load_config`` for the ``site.toml`` file.

Every table and key is checked: an unknown key (a typo) is an error naming the key, not a
silently ignored setting. See docs/gateway.md for the file format.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from .._versions import ALL_VERSIONS, normalize_version

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

__all__ = [
    "AllowListSettings",
    "CapSettings",
    "ConfigError",
    "GatewayConfig",
    "ListenSettings",
    "ReconnectPolicy",
    "TlsFiles",
    "WallboxConfig",
    "load_config",
    "parse_config",
]

#: Upstream version for each local version the gateway can relay (same version, or 1.6
#: wallboxes shown upstream as 2.0.1 stations).
COMPATIBLE: dict[str, tuple[str, ...]] = {
    "1.6": ("1.6", "2.0.1"),
    "2.0.1": ("2.0.1",),
    "2.1": ("2.1",),
}


class ConfigError(ValueError):
    """The gateway configuration is invalid (the message names the setting)."""


@dataclass(frozen=True, slots=True)
class TlsFiles:
    """PEM files: ``ca`` verifies the peer, ``cert``/``key`` are our own certificate."""

    ca: str | None = None
    cert: str | None = None
    key: str | None = None


@dataclass(frozen=True, slots=True)
class WallboxConfig:
    """One local wallbox and the upstream charge point it appears as."""

    identity: str
    """The identity the wallbox connects to the gateway with (last path segment)."""
    upstream_url: str
    """The upstream CSMS endpoint (``ws://`` or ``wss://``); the upstream identity is appended."""
    upstream_identity: str | None = None
    """The identity shown to the upstream CSMS (default: ``identity``)."""
    password: str | None = None
    """HTTP Basic password for the upstream CSMS (security profiles 1 and 2)."""
    version: str = "1.6"
    """The OCPP version spoken upstream."""
    tls: TlsFiles = field(default_factory=TlsFiles)
    """``ca``: CA bundle to verify a ``wss://`` CSMS; ``cert``/``key``: client certificate (profile 3)."""
    local_password: str | None = None
    """HTTP Basic password the wallbox must present to the gateway (None: none asked)."""

    @property
    def upstream_id(self) -> str:
        return self.upstream_identity or self.identity


@dataclass(frozen=True, slots=True)
class ListenSettings:
    """The local endpoint wallboxes connect to."""

    host: str = "0.0.0.0"
    port: int = 19520
    versions: tuple[str, ...] = ("1.6", "2.0.1")
    tls: TlsFiles = field(default_factory=TlsFiles)
    """``cert``/``key``: serve ``wss://``; ``ca``: verify wallbox client certificates against it."""


@dataclass(frozen=True, slots=True)
class ReconnectPolicy:
    """Exponential back-off with jitter between upstream connection attempts.

    Attempt ``n`` (0-based) waits ``d = min(maximum, initial * multiplier**n)`` reduced by a
    random part of up to ``jitter * d``: with the default ``jitter = 0.5`` between ``d/2`` and
    ``d``. The wait never exceeds ``maximum``. The attempt count starts again once a connection
    stayed up for ``stable_after`` seconds.
    """

    initial: float = 1.0
    maximum: float = 60.0
    multiplier: float = 2.0
    jitter: float = 0.5
    stable_after: float = 10.0

    def __post_init__(self) -> None:
        if not 0 < self.initial <= self.maximum:
            raise ConfigError("reconnect: need 0 < initial <= maximum")
        if self.multiplier < 1:
            raise ConfigError("reconnect: multiplier must be >= 1")
        if not 0 <= self.jitter <= 1:
            raise ConfigError("reconnect: jitter must be between 0 and 1")

    def delay(self, attempt: int, random: float) -> float:
        """Seconds to wait before attempt ``attempt + 1``; ``random`` is uniform in [0, 1)."""
        base = min(self.maximum, self.initial * self.multiplier ** min(attempt, 64))
        return base * (1.0 - self.jitter * random)


@dataclass(frozen=True, slots=True)
class CapSettings:
    """The local load manager's limit per wallbox (``LocalCap``)."""

    amps: float | None = None
    watts: float | None = None
    voltage: float = 230.0
    """For converting between A and W schedules."""
    phases: int = 3
    """Phases assumed when a schedule period names none."""


@dataclass(frozen=True, slots=True)
class AllowListSettings:
    """Id tags the gateway authorises itself (``AllowList``)."""

    id_tags: tuple[str, ...] = ()
    mode: Literal["offline", "always"] = "offline"
    """``offline``: answer Authorize locally only while the upstream CSMS is unreachable;
    ``always``: never ask the upstream CSMS."""


@dataclass(frozen=True, slots=True)
class GatewayConfig:
    """Everything ``Gateway`` needs."""

    wallboxes: tuple[WallboxConfig, ...]
    local: ListenSettings = field(default_factory=ListenSettings)
    queue_path: str = "gateway-queue.sqlite3"
    """SQLite file of the durable queue, id mappings and offline state."""
    reconnect: ReconnectPolicy = field(default_factory=ReconnectPolicy)
    upstream_timeout: float = 20.0
    """Seconds a relayed wallbox message waits for the upstream CSMS (then CALLERROR, or for
    transaction messages a local answer while the message stays queued)."""
    wallbox_timeout: float = 30.0
    """Seconds a relayed CSMS call waits for the wallbox (then CALLERROR upstream)."""
    delivery_attempts: int = 5
    """Time-outs a queued message may get upstream before it is set aside as a dead letter."""
    heartbeat_interval: int = 300
    """The interval answered to an offline BootNotification before the upstream ever told one."""
    provisional_id_base: int = 1_900_000_000
    """First provisional 1.6 transactionId answered while the upstream is unreachable."""
    local_cap: CapSettings | None = None
    allow_list: AllowListSettings | None = None
    log_level: str = "INFO"

    def __post_init__(self) -> None:
        seen: set[str] = set()
        for wallbox in self.wallboxes:
            if wallbox.identity in seen:
                raise ConfigError(f"wallbox {wallbox.identity!r} is configured twice")
            seen.add(wallbox.identity)
        if self.upstream_timeout <= 0 or self.wallbox_timeout <= 0:
            raise ConfigError("timeouts must be positive")
        if self.delivery_attempts < 1:
            raise ConfigError("delivery_attempts must be >= 1")


# -- TOML -----------------------------------------------------------------------------------


def _check_keys(table: dict[str, Any], allowed: set[str], where: str) -> None:
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise ConfigError(f"{where}: unknown setting(s) {', '.join(unknown)} (known: {', '.join(sorted(allowed))})")


def _table(data: dict[str, Any], key: str, where: str) -> dict[str, Any]:
    value = data.get(key, {})
    if not isinstance(value, dict):
        raise ConfigError(f"{where}{key} must be a table")
    return value


def _str(table: dict[str, Any], key: str, where: str, default: str | None = None) -> str | None:
    value = table.get(key, default)
    if value is not None and not isinstance(value, str):
        raise ConfigError(f"{where}{key} must be a string")
    return value


def _number(table: dict[str, Any], key: str, where: str, default: float | None) -> float | None:
    value = table.get(key, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"{where}{key} must be a number")
    return float(value)


def _float(table: dict[str, Any], key: str, where: str, default: float) -> float:
    value = _number(table, key, where, default)
    return default if value is None else value


def _int(table: dict[str, Any], key: str, where: str, default: int) -> int:
    value = table.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{where}{key} must be an integer")
    return value


def _version(value: object, where: str) -> str:
    if not isinstance(value, str):
        raise ConfigError(f'{where} must be a version string such as "1.6"')
    try:
        version = normalize_version(value)
    except (KeyError, ValueError):
        raise ConfigError(f"{where}: unknown OCPP version {value!r} (known: {', '.join(ALL_VERSIONS)})") from None
    return version


def _tls(table: dict[str, Any], where: str, base: Path) -> TlsFiles:
    _check_keys(table, {"ca", "cert", "key"}, where)

    def path(key: str) -> str | None:
        value = _str(table, key, f"{where}.")
        return None if value is None else str(base / value)

    files = TlsFiles(ca=path("ca"), cert=path("cert"), key=path("key"))
    if files.key is not None and files.cert is None:
        raise ConfigError(f"{where}: key given without cert")
    return files


def _wallbox(entry: object, index: int, base: Path) -> WallboxConfig:
    where = f"wallboxes[{index}]"
    if not isinstance(entry, dict):
        raise ConfigError(f"{where} must be a table")
    _check_keys(
        entry,
        {"identity", "upstream_url", "upstream_identity", "password", "version", "tls", "local_password"},
        where,
    )
    identity = _str(entry, "identity", f"{where}.")
    url = _str(entry, "upstream_url", f"{where}.")
    if not identity:
        raise ConfigError(f"{where}.identity is required")
    if not url:
        raise ConfigError(f"{where} ({identity}): upstream_url is required")
    if urlsplit(url).scheme not in ("ws", "wss"):
        raise ConfigError(f"{where} ({identity}): upstream_url must start with ws:// or wss://")
    tls = _tls(_table(entry, "tls", f"{where}."), f"{where}.tls", base)
    if (tls.ca or tls.cert) and urlsplit(url).scheme != "wss":
        raise ConfigError(f"{where} ({identity}): tls settings need a wss:// upstream_url")
    return WallboxConfig(
        identity=identity,
        upstream_url=url,
        upstream_identity=_str(entry, "upstream_identity", f"{where}."),
        password=_str(entry, "password", f"{where}."),
        version=_version(entry.get("version", "1.6"), f"{where}.version"),
        tls=tls,
        local_password=_str(entry, "local_password", f"{where}."),
    )


def parse_config(data: dict[str, Any], *, base: Path | None = None) -> GatewayConfig:
    """A ``GatewayConfig`` from parsed TOML; relative paths are resolved against ``base``."""
    base = base or Path.cwd()
    _check_keys(
        data,
        {
            "queue_path",
            "upstream_timeout",
            "wallbox_timeout",
            "delivery_attempts",
            "heartbeat_interval",
            "provisional_id_base",
            "log_level",
            "local",
            "reconnect",
            "local_cap",
            "allow_list",
            "wallboxes",
        },
        "site configuration",
    )
    local = _table(data, "local", "")
    _check_keys(local, {"host", "port", "versions", "tls"}, "local")
    versions = local.get("versions", ["1.6", "2.0.1"])
    if not isinstance(versions, list) or not versions:
        raise ConfigError('local.versions must be a non-empty list such as ["1.6", "2.0.1"]')
    listen = ListenSettings(
        host=_str(local, "host", "local.", "0.0.0.0") or "0.0.0.0",
        port=_int(local, "port", "local.", 19520),
        versions=tuple(_version(v, "local.versions") for v in versions),
        tls=_tls(_table(local, "tls", "local."), "local.tls", base),
    )
    if listen.tls.ca is not None and listen.tls.cert is None:
        raise ConfigError("local.tls: ca (client certificates) needs cert and key")

    reconnect_table = _table(data, "reconnect", "")
    _check_keys(reconnect_table, {"initial", "maximum", "multiplier", "jitter", "stable_after"}, "reconnect")
    defaults = ReconnectPolicy()
    reconnect = ReconnectPolicy(
        initial=_float(reconnect_table, "initial", "reconnect.", defaults.initial),
        maximum=_float(reconnect_table, "maximum", "reconnect.", defaults.maximum),
        multiplier=_float(reconnect_table, "multiplier", "reconnect.", defaults.multiplier),
        jitter=_float(reconnect_table, "jitter", "reconnect.", defaults.jitter),
        stable_after=_float(reconnect_table, "stable_after", "reconnect.", defaults.stable_after),
    )

    cap: CapSettings | None = None
    if "local_cap" in data:
        cap_table = _table(data, "local_cap", "")
        _check_keys(cap_table, {"amps", "watts", "voltage", "phases"}, "local_cap")
        cap = CapSettings(
            amps=_number(cap_table, "amps", "local_cap.", None),
            watts=_number(cap_table, "watts", "local_cap.", None),
            voltage=_float(cap_table, "voltage", "local_cap.", 230.0),
            phases=_int(cap_table, "phases", "local_cap.", 3),
        )
        if cap.amps is None and cap.watts is None:
            raise ConfigError("local_cap needs amps or watts")
        if (cap.amps is not None and cap.amps < 0) or (cap.watts is not None and cap.watts < 0):
            raise ConfigError("local_cap limits must be >= 0")

    allow: AllowListSettings | None = None
    if "allow_list" in data:
        allow_table = _table(data, "allow_list", "")
        _check_keys(allow_table, {"id_tags", "mode"}, "allow_list")
        tags = allow_table.get("id_tags", [])
        if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            raise ConfigError("allow_list.id_tags must be a list of strings")
        mode = allow_table.get("mode", "offline")
        if mode not in ("offline", "always"):
            raise ConfigError('allow_list.mode must be "offline" or "always"')
        allow = AllowListSettings(id_tags=tuple(tags), mode=mode)

    entries = data.get("wallboxes", [])
    if not isinstance(entries, list) or not entries:
        raise ConfigError("configure at least one [[wallboxes]] entry")
    wallboxes = tuple(_wallbox(entry, i, base) for i, entry in enumerate(entries))
    for wallbox in wallboxes:
        if not any(wallbox.version in COMPATIBLE.get(v, ()) for v in listen.versions):
            raise ConfigError(
                f"wallbox {wallbox.identity!r}: upstream version {wallbox.version} cannot be relayed from any of "
                f"the local versions {', '.join(listen.versions)}"
            )

    queue_path = _str(data, "queue_path", "", "gateway-queue.sqlite3") or "gateway-queue.sqlite3"
    return GatewayConfig(
        wallboxes=wallboxes,
        local=listen,
        queue_path=str(base / queue_path),
        reconnect=reconnect,
        upstream_timeout=_float(data, "upstream_timeout", "", 20.0),
        wallbox_timeout=_float(data, "wallbox_timeout", "", 30.0),
        delivery_attempts=_int(data, "delivery_attempts", "", 5),
        heartbeat_interval=_int(data, "heartbeat_interval", "", 300),
        provisional_id_base=_int(data, "provisional_id_base", "", 1_900_000_000),
        local_cap=cap,
        allow_list=allow,
        log_level=_str(data, "log_level", "", "INFO") or "INFO",
    )


def load_config(path: str | Path) -> GatewayConfig:
    """Read a ``site.toml``; relative file names in it are relative to the file's folder."""
    path = Path(path)
    try:
        with path.open("rb") as file:
            data: dict[str, Any] = tomllib.load(file)
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from None
    return parse_config(data, base=path.resolve().parent)
