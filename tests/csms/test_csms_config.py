"""Settings of the reference CSMS: the docs' example file, precedence, errors; the operator
store's migrations."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import pytest
import trio
from ocpp_router.csms import ChargePointEntry, ConfigError, Csms, IdTokenEntry, OperatorStore, load_config
from ocpp_router.csms.store import MIGRATIONS, migrate

DOCS = Path(__file__).resolve().parents[2] / "docs" / "csms.md"


def docs_example(tmp_path: Path) -> Path:
    """The ``site.toml`` of docs/csms.md, its file paths moved into ``tmp_path``."""
    [example] = re.findall(r"### Example `site.toml`\n\n```toml\n(.*?)```", DOCS.read_text(), re.S)
    for name in ("server.pem", "server.key", "cpo-root.pem"):
        (tmp_path / name).write_text("not used\n")
    text = example.replace("/etc/ocpp-router/", f"{tmp_path}/").replace("/var/lib/ocpp-router/", f"{tmp_path}/")
    site = tmp_path / "site.toml"
    site.write_text(text)
    return site


def test_the_documented_example_loads(tmp_path: Path) -> None:
    config = load_config({"config": str(docs_example(tmp_path))}, environ={})
    assert (config.host, config.port, config.versions) == ("0.0.0.0", 9000, ("2.1", "2.0.1", "1.6"))
    assert (config.security_profile, config.accept_unknown_charge_points, config.unknown_id_tokens) == (
        1,
        False,
        "Invalid",
    )
    assert config.db == f"{tmp_path}/operator.sqlite"
    assert (config.tls_port, config.tls_cert, config.client_ca) == (
        9443,
        f"{tmp_path}/server.pem",
        f"{tmp_path}/cpo-root.pem",
    )
    assert (config.admin_port, config.admin_host) == (8080, "127.0.0.1")
    assert (config.validation, config.date_time) == ("strict", "lenient")
    assert config.relaxations == ("unit-spellings", "long-serial-numbers")
    assert (config.max_connections, config.call_timeout, config.ping_interval) == (10_000, 30.0, 60.0)
    assert config.charge_points == [
        ChargePointEntry("CP-0001", password="a-16-to-40-char-secret", security_profile=1),
        ChargePointEntry("CP-0002", security_profile=3, boot_status="Pending"),
    ]
    assert config.id_tokens == [
        IdTokenEntry("04A2B3C4"),
        IdTokenEntry("STOLEN01", "Blocked"),
        IdTokenEntry("VISITOR7", expiry_date="2030-01-01T00:00:00.000Z", parent_id_tag="FLEET-A"),
    ]


def test_flags_beat_environment_beat_file(tmp_path: Path) -> None:
    site = tmp_path / "site.toml"
    site.write_text('port = 1111\nheartbeat_interval = 10\nversions = "1.6"\n[limits]\ncall_timeout = 5\n')
    env = {
        "OCPP_ROUTER_CONFIG": str(site),
        "OCPP_ROUTER_PORT": "2222",
        "OCPP_ROUTER_LIMITS_CALL_TIMEOUT": "7.5",
        "OCPP_ROUTER_ID_TOKENS": "A=Blocked, B",
        "OCPP_ROUTER_ACCEPT_UNKNOWN_CHARGE_POINTS": "no",
    }
    config = load_config({"port": "3333", "id_tokens": ["C=Expired"], "audit_log": "ignored"}, environ=env)
    assert (config.port, config.heartbeat_interval, config.versions, config.call_timeout) == (3333, 10, ("1.6",), 7.5)
    assert config.accept_unknown_charge_points is False
    assert [(t.id_token, t.status) for t in config.id_tokens] == [("A", "Blocked"), ("B", "Accepted"), ("C", "Expired")]
    assert load_config({}, environ={}).port == 9000


def test_credentials_file(tmp_path: Path) -> None:
    secrets = tmp_path / "chargers.toml"
    secrets.write_text(
        '[[charge_points]]\nidentity = "CP-9"\npassword = "0123456789abcdef0123"\nsecurity_profile = 1\n'
    )
    config = load_config({"credentials": str(secrets)}, environ={})
    assert config.charge_points == [ChargePointEntry("CP-9", password="0123456789abcdef0123", security_profile=1)]


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"port": "nine"}, "command line: --port must be a whole number, not 'nine'"),
        ({"port": 70000}, "--port must be a TCP port 0 to 65535"),
        ({"versions": "1.5"}, "--versions must be OCPP versions from 2.1, 2.0.1, 1.6, not '1.5'"),
        ({"validation.mode": "sloppy"}, "--validation must be one of strict, lenient, off"),
        ({"validation.relaxations": "unit-spellings,bogus"}, "unknown: bogus"),
        ({"unknown_id_tokens": "Expired"}, "one of Invalid, Accepted, Blocked"),
        ({"tls.port": 0}, "needs a certificate"),
        ({"security_profile": 2}, "needs the TLS listener"),
        ({"id_tokens": ["X=Maybe"]}, "--id-tag: id_tokens: expected one of Accepted, Blocked, Expired, Invalid"),
    ],
)
def test_bad_values_are_named(values: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_config(values, environ={})


def test_bad_files_are_named(tmp_path: Path) -> None:
    site = tmp_path / "site.toml"
    for text, message in (
        ("prot = 9000\n", "unknown setting 'prot'"),
        ("[tls]\nprot = 1\n", "unknown setting [tls] prot"),
        ("port = \n", "is not valid TOML"),
        ('[[charge_points]]\nidentity = "A"\npassword = "short"\n', "a password of 16 to 40 characters"),
        ('[[charge_points]]\nidentity = "A"\n[[charge_points]]\nidentity = "A"\n', "configured twice"),
        ('[id_tokens]\nX = { status = "Accepted", colour = "red" }\n', "not colour"),
    ):
        site.write_text(text)
        with pytest.raises(ConfigError, match=re.escape(message)):
            load_config({"config": str(site)}, environ={})
    with pytest.raises(ConfigError, match="cannot read"):
        load_config({"config": str(tmp_path / "missing.toml")}, environ={})
    env_error = "environment: limits.max_connections must be a whole number"
    with pytest.raises(ConfigError, match=re.escape(env_error)):
        load_config({}, environ={"OCPP_ROUTER_LIMITS_MAX_CONNECTIONS": "lots"})


def test_relaxations_and_validation_reach_the_server() -> None:
    config = load_config({"validation.relaxations": "unit-spellings", "validation.mode": "lenient"}, environ={})
    csms = Csms(config)
    assert {v: r.relaxations for v, r in csms.server.registries.items()} == {
        "2.1": ["unit-spellings"],
        "2.0.1": ["unit-spellings"],
        "1.6": ["unit-spellings"],
    }
    assert csms.server.options.incoming_validation == "lenient"
    assert {p.name for p in (*csms.v16, *csms.v201)} <= set(csms.server.plugins)


async def test_store_migrations_are_versioned(tmp_path: Path) -> None:
    path = str(tmp_path / "ops.sqlite")
    with trio.fail_after(10):
        store = OperatorStore(path)
        await store.open()
        await store.put_charge_point("CP1", password="0123456789abcdef", security_profile=1)
        await store.put_id_token("Tag", status="Blocked")
        await store.close()

        conn = sqlite3.connect(path)
        assert conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
        row = conn.execute("SELECT password_hash FROM charge_points").fetchone()
        assert b"0123456789abcdef" not in row[0]  # only the scrypt digest is stored
        assert migrate(conn) == len(MIGRATIONS)  # nothing left to run
        conn.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
        conn.close()
        with pytest.raises(RuntimeError, match="schema version"):
            await OperatorStore(path).open()

        conn = sqlite3.connect(path)
        conn.execute(f"PRAGMA user_version = {len(MIGRATIONS)}")
        conn.close()
        store = OperatorStore(path)
        await store.open()
        record = store.charge_point("CP1")
        assert record is not None and record.security_profile == 1
        assert await trio.to_thread.run_sync(record.check_password, b"0123456789abcdef")
        assert not await trio.to_thread.run_sync(record.check_password, b"0123456789abcdeX")
        token = store.id_token("TAG")
        assert token is not None and token.status == "Blocked"
        await store.close()
