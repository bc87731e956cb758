"""The site file (TOML) and the reconnect back-off."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from ocpp_router.gateway import ConfigError, ReconnectPolicy, load_config

SITE = """
queue_path = "state/queue.sqlite3"
upstream_timeout = 15

[local]
host = "0.0.0.0"
port = 19520
versions = ["1.6", "2.0.1"]

[local.tls]
cert = "certs/gateway.pem"
key = "certs/gateway.key"

[reconnect]
initial = 2
maximum = 120
jitter = 0.25

[local_cap]
amps = 16

[allow_list]
id_tags = ["04A2B3C4", "FLEET-7"]

[[wallboxes]]
identity = "WB-1"
upstream_url = "wss://csms.example.com/ocpp"
upstream_identity = "SITE9-WB-1"
password = "a-16-to-40-char-secret"
version = "1.6"
tls = { ca = "certs/csms-ca.pem" }

[[wallboxes]]
identity = "WB-2"
upstream_url = "ws://10.0.0.5:9000/ocpp"
version = "ocpp2.0.1"
"""


def test_site_file(tmp_path: Path) -> None:
    path = tmp_path / "site.toml"
    path.write_text(SITE)
    config = load_config(path)
    assert config.queue_path == str(tmp_path / "state/queue.sqlite3")
    assert config.upstream_timeout == 15.0 and config.wallbox_timeout == 30.0
    assert (config.local.host, config.local.port, config.local.versions) == ("0.0.0.0", 19520, ("1.6", "2.0.1"))
    assert config.local.tls.cert == str(tmp_path / "certs/gateway.pem")
    assert (config.reconnect.initial, config.reconnect.maximum, config.reconnect.jitter) == (2.0, 120.0, 0.25)
    assert config.local_cap is not None and config.local_cap.amps == 16 and config.local_cap.watts is None
    assert config.allow_list is not None and config.allow_list.id_tags == ("04A2B3C4", "FLEET-7")
    wb1, wb2 = config.wallboxes
    assert (wb1.upstream_id, wb1.password, wb1.version) == ("SITE9-WB-1", "a-16-to-40-char-secret", "1.6")
    assert wb1.tls.ca == str(tmp_path / "certs/csms-ca.pem") and wb1.tls.cert is None
    assert (wb2.upstream_id, wb2.version, wb2.password) == ("WB-2", "2.0.1", None)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "at least one [[wallboxes]]"),
        ('[[wallboxes]]\nidentity = "A"\n', "upstream_url is required"),
        ('[[wallboxes]]\nidentity = "A"\nupstream_url = "http://x"\n', "must start with ws:// or wss://"),
        ('[[wallboxes]]\nidentity = "A"\nupstream_url = "ws://x"\npasword = "typo"\n', "unknown setting(s) pasword"),
        ('[[wallboxes]]\nidentity = "A"\nupstream_url = "ws://x"\nversion = "1.5"\n', "unknown OCPP version"),
        (
            '[[wallboxes]]\nidentity = "A"\nupstream_url = "ws://x"\ntls = { ca = "ca.pem" }\n',
            "tls settings need a wss:// upstream_url",
        ),
        (
            '[[wallboxes]]\nidentity = "A"\nupstream_url = "ws://x"\n[[wallboxes]]\nidentity = "A"\nupstream_url = "ws://y"\n',
            "configured twice",
        ),
        ('[local_cap]\n[[wallboxes]]\nidentity = "A"\nupstream_url = "ws://x"\n', "local_cap needs amps or watts"),
        ('[allow_list]\nmode = "sometimes"\n[[wallboxes]]\nidentity = "A"\nupstream_url = "ws://x"\n', "mode"),
        ('[reconnect]\ninitial = 10\nmaximum = 1\n[[wallboxes]]\nidentity = "A"\nupstream_url = "ws://x"\n', "initial"),
        (
            '[local]\nversions = ["2.0.1"]\n[[wallboxes]]\nidentity = "A"\nupstream_url = "ws://x"\nversion = "1.6"\n',
            "cannot be relayed",
        ),
        ('queue_path = 5\n[[wallboxes]]\nidentity = "A"\nupstream_url = "ws://x"\n', "queue_path must be a string"),
        ("this is not toml", "not valid TOML"),
    ],
)
def test_bad_site_files(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "site.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_config(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "nope.toml")


def test_backoff_is_exponential_bounded_and_jittered() -> None:
    policy = ReconnectPolicy(initial=1, maximum=30, multiplier=2, jitter=0.5)
    assert [policy.delay(n, 0.0) for n in range(7)] == [1, 2, 4, 8, 16, 30, 30]
    assert [policy.delay(n, 0.999999) for n in range(3)] == pytest.approx([0.5, 1, 2], rel=1e-5)
    assert policy.delay(10_000, 0.3) <= 30  # no overflow, never above the bound
    assert ReconnectPolicy(jitter=0).delay(3, 0.7) == 8
