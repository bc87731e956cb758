"""Configuration of the reference CSMS: defaults < TOML file < ``OCPP_ROUTER_*`` environment
variables < command-line flags.

Every setting has one dotted name (``port``, ``tls.cert``, ``limits.max_connections``). In
the TOML file it is a key (sections for the dotted prefixes), in the environment
``OCPP_ROUTER_`` plus the name in upper case with dots as underscores
(``OCPP_ROUTER_TLS_CERT``), on the command line a flag (``--tls-cert``). Two settings are
lists of tables and live in files only: ``[[charge_points]]`` (also in the ``credentials``
file) and ``[id_tokens]`` (also ``--id-tag TOKEN[=STATUS]`` and
``OCPP_ROUTER_ID_TOKENS="TOKEN=STATUS,..."``). Unknown keys are errors, so a typo is never
silently ignored.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._core import SchemaRegistry
from .._versions import ALL_VERSIONS, normalize_version
from ..v16._base import format_time, parse_time

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

__all__ = [
    "BOOT_STATUSES",
    "ENV_PREFIX",
    "TOKEN_STATUSES",
    "ChargePointEntry",
    "ConfigError",
    "CsmsConfig",
    "IdTokenEntry",
    "add_serve_arguments",
    "load_config",
]

ENV_PREFIX = "OCPP_ROUTER_"
BOOT_STATUSES = ("Accepted", "Pending", "Rejected")
#: Statuses an operator gives an id token; valid in 1.6 and 2.x alike.
TOKEN_STATUSES = ("Accepted", "Blocked", "Expired", "Invalid")
VALIDATION_MODES = ("strict", "lenient", "off")


class ConfigError(ValueError):
    """A setting has a wrong type or value, or the file cannot be read."""


@dataclass(frozen=True, slots=True)
class ChargePointEntry:
    """A charge point known to the CSMS (``[[charge_points]]``; the admin API's registry)."""

    identity: str
    password: str | None = None
    """HTTP Basic password (security profiles 1 and 2), 16 to 40 characters; stored hashed."""
    security_profile: int | None = None
    """The only profile this charge point may use (0-3); None: any allowed by the server."""
    boot_status: str = "Accepted"
    """The BootNotification answer: Accepted, Pending or Rejected."""
    description: str | None = None


@dataclass(frozen=True, slots=True)
class IdTokenEntry:
    """An id tag (1.6) / IdToken (2.x) and its authorisation status."""

    id_token: str
    status: str = "Accepted"
    expiry_date: str | None = None
    """RFC 3339; an Accepted token past it is answered Expired."""
    parent_id_tag: str | None = None
    """1.6 parentIdTag / 2.x groupIdToken (a Central token)."""
    type: str | None = None
    """2.x IdTokenEnumType the token must be presented as; None: any type."""


@dataclass(slots=True)
class CsmsConfig:
    """Every setting of ``ocpp-router serve`` (see docs/csms.md for the reference)."""

    host: str = "0.0.0.0"
    port: int = 9000
    versions: tuple[str, ...] = ALL_VERSIONS
    heartbeat_interval: int = 300
    log_level: str = "INFO"
    security_profile: int = 0
    """The minimum security profile a charge point must use (0-3)."""
    db: str = ":memory:"
    """SQLite file of the operator records; ``:memory:`` keeps them until the process ends."""
    accept_unknown_charge_points: bool = True
    unknown_id_tokens: str = "Invalid"
    """The answer for id tokens that are not in the list: Invalid (or Accepted, Blocked)."""
    credentials: str | None = None
    """A TOML file with ``[[charge_points]]`` entries (identities, passwords, profiles)."""
    tls_port: int | None = None
    tls_host: str | None = None
    """Address of the TLS listener; default: ``host``."""
    tls_cert: str | None = None
    tls_key: str | None = None
    client_ca: str | None = None
    """CA bundle verifying charge-point certificates (security profile 3)."""
    admin_port: int | None = None
    admin_host: str = "127.0.0.1"
    admin_token: str | None = None
    """When set, admin requests need ``Authorization: Bearer <token>`` (health checks excepted)."""
    validation: str = "strict"
    """Validation of incoming payloads: strict, lenient (logged, let through) or off."""
    date_time: str = "strict"
    relaxations: tuple[str, ...] = ()
    """Named schema relaxations (``SchemaRegistry.relaxation_names()``) for every station."""
    max_message_size: int = 1 << 20
    handshake_timeout: float = 10.0
    max_connections: int = 50_000
    max_concurrent_handlers: int = 2_000
    max_messages_per_second: float = 50.0
    message_burst: int = 200
    call_timeout: float = 30.0
    ping_interval: float = 60.0
    idle_timeout: float = 0.0
    frames_per_charge_point: int = 200
    """Frames kept per charge point for ``GET /charge-points/{id}/frames``."""
    charge_points: list[ChargePointEntry] = field(default_factory=list)
    id_tokens: list[IdTokenEntry] = field(default_factory=list)
    source: str = "defaults"
    """Where the settings came from (for the start-up log)."""


# -- the settings table -------------------------------------------------------------------------


def _int(value: object) -> int:
    if isinstance(value, bool):
        raise ValueError("a whole number")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("+-").isdigit():
        return int(value.strip())
    raise ValueError("a whole number")


def _float(value: object) -> float:
    if isinstance(value, bool):
        raise ValueError("a number")
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            pass
    raise ValueError("a number")


def _bool(value: object) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("1", "true", "yes", "on"):
        return True
    if isinstance(value, str) and value.strip().lower() in ("0", "false", "no", "off"):
        return False
    raise ValueError("true or false")


def _str(value: object) -> str:
    if isinstance(value, str):
        return value
    raise ValueError("a string")


def _list(value: object) -> tuple[str, ...]:
    if isinstance(value, str):
        return tuple(item.strip() for item in value.split(",") if item.strip())
    if isinstance(value, (list, tuple)) and all(isinstance(item, str) for item in value):
        return tuple(item.strip() for item in value if item.strip())
    raise ValueError("a list of strings (or a comma-separated string)")


def _choice(*choices: str) -> Callable[[object], str]:
    def check(value: object) -> str:
        text = _str(value)
        for choice in choices:
            if text.lower() == choice.lower():
                return choice
        raise ValueError("one of " + ", ".join(choices))

    return check


def _profile(value: object) -> int:
    number = _int(value)
    if not 0 <= number <= 3:
        raise ValueError("a security profile 0 to 3")
    return number


def _port(value: object) -> int:
    number = _int(value)
    if not 0 <= number <= 65535:
        raise ValueError("a TCP port 0 to 65535")
    return number


def _positive(convert: Callable[[object], Any]) -> Callable[[object], Any]:
    def check(value: object) -> Any:
        number = convert(value)
        if number < 0:
            raise ValueError("zero or more")
        return number

    return check


def _versions(value: object) -> tuple[str, ...]:
    try:
        versions = tuple(normalize_version(v) for v in _list(value))
    except ValueError:
        raise ValueError("OCPP versions from " + ", ".join(ALL_VERSIONS)) from None
    if not versions:
        raise ValueError("at least one OCPP version")
    return versions


def _relaxations(value: object) -> tuple[str, ...]:
    names = _list(value)
    known = SchemaRegistry.relaxation_names()
    unknown = [name for name in names if name not in known]
    if unknown:
        raise ValueError(f"relaxation names from: {', '.join(known)} (unknown: {', '.join(unknown)})")
    return names


@dataclass(frozen=True, slots=True)
class _Setting:
    name: str
    """Dotted name (TOML section.key)."""
    attribute: str
    convert: Callable[[object], Any]
    flag: str
    help: str
    metavar: str | None = None


_SETTINGS: tuple[_Setting, ...] = (
    _Setting("host", "host", _str, "--host", "address to listen on (default 0.0.0.0)", "HOST"),
    _Setting("port", "port", _port, "--port", "TCP port (default 9000; 0 picks a free one)", "PORT"),
    _Setting(
        "versions", "versions", _versions, "--versions", "comma-separated OCPP versions (default 2.1,2.0.1,1.6)", "LIST"
    ),
    _Setting(
        "heartbeat_interval",
        "heartbeat_interval",
        _positive(_int),
        "--heartbeat-interval",
        "seconds, sent in BootNotification",
        "S",
    ),
    _Setting("log_level", "log_level", _str, "--log-level", "DEBUG, INFO (default), WARNING, ERROR", "LEVEL"),
    _Setting(
        "security_profile", "security_profile", _profile, "--security-profile", "minimum profile 0-3 (default 0)", "N"
    ),
    _Setting("db", "db", _str, "--db", "SQLite file for operator records (default :memory:)", "PATH"),
    _Setting(
        "accept_unknown_charge_points",
        "accept_unknown_charge_points",
        _bool,
        "--accept-unknown-charge-points",
        "let identities that are not in the registry connect (default true)",
        "BOOL",
    ),
    _Setting(
        "unknown_id_tokens",
        "unknown_id_tokens",
        _choice("Invalid", "Accepted", "Blocked"),
        "--unknown-id-tokens",
        "answer for id tokens not in the list (default Invalid)",
        "STATUS",
    ),
    _Setting("credentials", "credentials", _str, "--credentials", "TOML file with [[charge_points]] entries", "FILE"),
    _Setting("tls.port", "tls_port", _port, "--tls-port", "also listen for wss:// on this port (profiles 2/3)", "PORT"),
    _Setting("tls.host", "tls_host", _str, "--tls-host", "address of the TLS listener (default: --host)", "HOST"),
    _Setting("tls.cert", "tls_cert", _str, "--tls-cert", "server certificate (PEM, chain after it)", "FILE"),
    _Setting("tls.key", "tls_key", _str, "--tls-key", "server private key (PEM)", "FILE"),
    _Setting("tls.client_ca", "client_ca", _str, "--client-ca", "CA verifying charge-point certificates", "FILE"),
    _Setting("admin.port", "admin_port", _port, "--admin-port", "serve the admin HTTP API on this port", "PORT"),
    _Setting("admin.host", "admin_host", _str, "--admin-host", "address of the admin API (default 127.0.0.1)", "HOST"),
    _Setting("admin.token", "admin_token", _str, "--admin-token", "require 'Authorization: Bearer TOKEN'", "TOKEN"),
    _Setting(
        "validation.mode",
        "validation",
        _choice(*VALIDATION_MODES),
        "--validation",
        "incoming payloads: strict (default), lenient or off",
        "MODE",
    ),
    _Setting(
        "validation.date_time",
        "date_time",
        _choice(*VALIDATION_MODES),
        "--date-time",
        "timestamps: strict (default), lenient (no offset ok) or off",
        "MODE",
    ),
    _Setting(
        "validation.relaxations",
        "relaxations",
        _relaxations,
        "--relax",
        "comma-separated schema relaxations: " + ", ".join(SchemaRegistry.relaxation_names()),
        "NAMES",
    ),
    _Setting("limits.max_message_size", "max_message_size", _positive(_int), "--max-message-size", "bytes", "N"),
    _Setting("limits.handshake_timeout", "handshake_timeout", _positive(_float), "--handshake-timeout", "s", "S"),
    _Setting("limits.max_connections", "max_connections", _positive(_int), "--max-connections", "sessions", "N"),
    _Setting(
        "limits.max_concurrent_handlers",
        "max_concurrent_handlers",
        _positive(_int),
        "--max-concurrent-handlers",
        "handlers running at once",
        "N",
    ),
    _Setting(
        "limits.max_messages_per_second",
        "max_messages_per_second",
        _positive(_float),
        "--max-messages-per-second",
        "per connection (0: unlimited)",
        "N",
    ),
    _Setting("limits.message_burst", "message_burst", _positive(_int), "--message-burst", "messages", "N"),
    _Setting("limits.call_timeout", "call_timeout", _positive(_float), "--call-timeout", "seconds per call", "S"),
    _Setting("limits.ping_interval", "ping_interval", _positive(_float), "--ping-interval", "s (0: off)", "S"),
    _Setting("limits.idle_timeout", "idle_timeout", _positive(_float), "--idle-timeout", "s (0: off)", "S"),
    _Setting(
        "limits.frames_per_charge_point",
        "frames_per_charge_point",
        _positive(_int),
        "--frames-per-charge-point",
        "recent frames kept per charge point for the admin API",
        "N",
    ),
)
_BY_NAME = {s.name: s for s in _SETTINGS}
_SECTIONS = ("tls", "admin", "validation", "limits")


def env_name(name: str) -> str:
    """``tls.cert`` -> ``OCPP_ROUTER_TLS_CERT``."""
    return ENV_PREFIX + name.replace(".", "_").upper()


def add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``serve`` flags. Their defaults are *absent* (so the file and environment apply)."""
    parser.add_argument(
        "--config", default=argparse.SUPPRESS, metavar="FILE", help="TOML file of settings (also OCPP_ROUTER_CONFIG)"
    )
    for setting in _SETTINGS:
        parser.add_argument(
            setting.flag,
            dest=setting.name,
            default=argparse.SUPPRESS,
            metavar=setting.metavar,
            help=f"{setting.help} [{env_name(setting.name)}]",
        )
    parser.add_argument(
        "--id-tag",
        dest="id_tokens",
        action="append",
        default=argparse.SUPPRESS,
        metavar="TOKEN[=STATUS]",
        help="an id tag / IdToken (repeatable; status Accepted by default) [OCPP_ROUTER_ID_TOKENS]",
    )


# -- loading ------------------------------------------------------------------------------------


def _read_toml(path: str) -> dict[str, Any]:
    try:
        with open(path, "rb") as file:
            data: dict[str, Any] = tomllib.load(file)
            return data
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from None


def _flatten(data: Mapping[str, Any], where: str) -> tuple[dict[str, Any], list[Any], Any]:
    """Settings by dotted name, the ``charge_points`` list and the ``id_tokens`` table."""
    flat: dict[str, Any] = {}
    charge_points: list[Any] = []
    id_tokens: Any = None
    for key, value in data.items():
        if key == "charge_points":
            if not isinstance(value, list):
                raise ConfigError(f"{where}: charge_points must be a list of tables ([[charge_points]])")
            charge_points = value
        elif key == "id_tokens":
            id_tokens = value
        elif key in _SECTIONS and isinstance(value, dict):
            for sub, sub_value in value.items():
                name = f"{key}.{sub}"
                if name not in _BY_NAME:
                    raise ConfigError(f"{where}: unknown setting [{key}] {sub}")
                flat[name] = sub_value
        elif key in _BY_NAME:
            flat[key] = value
        else:
            raise ConfigError(f"{where}: unknown setting {key!r}")
    return flat, charge_points, id_tokens


def _charge_point(item: object, where: str) -> ChargePointEntry:
    if not isinstance(item, dict) or not isinstance(item.get("identity"), str) or not item["identity"]:
        raise ConfigError(f"{where}: each [[charge_points]] entry needs an identity")
    known = {"identity", "password", "security_profile", "boot_status", "description"}
    unknown = sorted(set(item) - known)
    if unknown:
        raise ConfigError(f"{where}: charge point {item['identity']!r}: unknown keys {', '.join(unknown)}")
    try:
        password = item.get("password")
        if password is not None:
            password = _str(password)
            if not 16 <= len(password) <= 40:
                raise ValueError("a password of 16 to 40 characters")
        profile = item.get("security_profile")
        return ChargePointEntry(
            identity=item["identity"],
            password=password,
            security_profile=None if profile is None else _profile(profile),
            boot_status=_choice(*BOOT_STATUSES)(item.get("boot_status", "Accepted")),
            description=None if item.get("description") is None else _str(item["description"]),
        )
    except ValueError as exc:
        raise ConfigError(f"{where}: charge point {item['identity']!r}: expected {exc}") from None


def _expiry(value: object, token: str) -> str | None:
    """An expiry date (TOML date-time or RFC 3339 text) as RFC 3339 UTC text."""
    if value is None:
        return None
    parsed = parse_time(value.isoformat() if isinstance(value, datetime) else value)
    if parsed is None:
        raise ValueError(f"an RFC 3339 date-time as expiry_date of {token!r}")
    return format_time(parsed)


def _id_tokens(value: object, where: str) -> list[IdTokenEntry]:
    """``{"TOKEN": "Accepted"}`` / ``{"TOKEN": {status = ..., expiry_date = ...}}`` or
    ``"TOKEN=STATUS,TOKEN"`` / ``["TOKEN=STATUS", ...]``."""
    status = _choice(*TOKEN_STATUSES)
    entries: list[IdTokenEntry] = []
    try:
        if isinstance(value, str):
            value = [part for part in value.split(",") if part.strip()]
        if isinstance(value, list):
            for item in value:
                token, _, given = _str(item).strip().partition("=")
                entries.append(IdTokenEntry(token.strip(), status(given.strip() or "Accepted")))
        elif isinstance(value, dict):
            for token, spec in value.items():
                if isinstance(spec, str):
                    entries.append(IdTokenEntry(token, status(spec)))
                elif isinstance(spec, dict):
                    unknown = sorted(set(spec) - {"status", "expiry_date", "parent_id_tag", "type"})
                    if unknown:
                        raise ValueError(f"known keys only (not {', '.join(unknown)}) for {token!r}")
                    entries.append(
                        IdTokenEntry(
                            token,
                            status(spec.get("status", "Accepted")),
                            expiry_date=_expiry(spec.get("expiry_date"), token),
                            parent_id_tag=None if spec.get("parent_id_tag") is None else _str(spec["parent_id_tag"]),
                            type=None if spec.get("type") is None else _str(spec["type"]),
                        )
                    )
                else:
                    raise ValueError(f"a status or a table for {token!r}")
        elif value is not None:
            raise ValueError("a table of TOKEN = STATUS")
    except ValueError as exc:
        raise ConfigError(f"{where}: id_tokens: expected {exc}") from None
    for entry in entries:
        if not 1 <= len(entry.id_token) <= 36:
            raise ConfigError(f"{where}: id token {entry.id_token!r} must have 1 to 36 characters")
    return entries


def load_config(
    args: Mapping[str, Any] | argparse.Namespace | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    config_file: str | None = None,
) -> CsmsConfig:
    """Merge defaults, the TOML file (``--config`` / ``OCPP_ROUTER_CONFIG`` / ``config_file``),
    the environment and the given command-line values; raise ``ConfigError`` on bad input.

    ``args`` may hold other keys (other subsystems' flags); only known settings are read.
    """
    given = dict(vars(args) if isinstance(args, argparse.Namespace) else (args or {}))
    env = dict(os.environ if environ is None else environ)
    path = given.get("config") or env.get(ENV_PREFIX + "CONFIG") or config_file
    layers: list[tuple[str, dict[str, Any]]] = []
    charge_points: list[ChargePointEntry] = []
    tokens: list[IdTokenEntry] = []
    if path:
        file_values, file_charge_points, file_tokens = _flatten(_read_toml(path), path)
        layers.append((path, file_values))
        charge_points += [_charge_point(item, path) for item in file_charge_points]
        tokens += _id_tokens(file_tokens, path)
    env_values = {s.name: env[env_name(s.name)] for s in _SETTINGS if env_name(s.name) in env}
    layers.append(("environment", env_values))
    if ENV_PREFIX + "ID_TOKENS" in env:
        tokens += _id_tokens(env[ENV_PREFIX + "ID_TOKENS"], ENV_PREFIX + "ID_TOKENS")
    layers.append(("command line", {s.name: given[s.name] for s in _SETTINGS if s.name in given}))
    if given.get("id_tokens"):
        tokens += _id_tokens(list(given["id_tokens"]), "--id-tag")
    config = CsmsConfig(source=path or "defaults")
    for where, values in layers:
        for name, raw in values.items():
            setting = _BY_NAME[name]
            try:
                setattr(config, setting.attribute, setting.convert(raw))
            except ValueError as exc:
                label = setting.flag if where == "command line" else name
                raise ConfigError(f"{where}: {label} must be {exc}, not {raw!r}") from None
    if config.credentials:
        data = _read_toml(config.credentials)
        unknown = sorted(set(data) - {"charge_points"})
        if unknown:
            raise ConfigError(f"{config.credentials}: only [[charge_points]] entries belong here, not {unknown}")
        _, file_charge_points, _ = _flatten(data, config.credentials)
        charge_points += [_charge_point(item, config.credentials) for item in file_charge_points]
    config.charge_points = charge_points
    config.id_tokens = tokens
    _check(config)
    return config


def _check(config: CsmsConfig) -> None:
    tls_files = (config.tls_cert, config.tls_key)
    if config.tls_port is not None and config.tls_cert is None:
        raise ConfigError("the TLS listener (tls.port / --tls-port) needs a certificate (tls.cert / --tls-cert)")
    if config.tls_port is None and any(f is not None for f in (*tls_files, config.client_ca)):
        raise ConfigError("TLS files are given but no TLS port (tls.port / --tls-port)")
    for name in (config.tls_cert, config.tls_key, config.client_ca, config.credentials):
        if name is not None and not Path(name).is_file():
            raise ConfigError(f"no such file: {name}")
    if config.security_profile >= 2 and config.tls_port is None:
        raise ConfigError(f"security profile {config.security_profile} needs the TLS listener (--tls-port)")
    if config.security_profile == 3 and config.client_ca is None:
        raise ConfigError("security profile 3 needs a CA for client certificates (--client-ca)")
    if config.admin_port is not None and not all(importlib.util.find_spec(m) for m in ("fastapi", "hypercorn")):
        raise ConfigError('the admin API needs FastAPI and hypercorn: pip install "ocpp-router[csms]"')
    seen: set[str] = set()
    for entry in config.charge_points:
        if entry.identity in seen:
            raise ConfigError(f"charge point {entry.identity!r} is configured twice")
        seen.add(entry.identity)
