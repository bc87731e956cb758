"""Cluster settings, URL parsing, errors on the wire; single-node mode never imports glide."""

from __future__ import annotations

import subprocess
import sys

import pytest

pytest.importorskip("glide", reason="cluster mode needs valkey-glide (the `cluster` extra)")

from ocpp_router import Server
from ocpp_router.cluster import ClusterConfig, ClusterUnavailableError
from ocpp_router.cluster._config import parse_url
from ocpp_router.cluster._wire import error_from_wire, error_to_wire
from ocpp_router.errors import (
    CallError,
    CallTimeoutError,
    ConnectionClosedError,
    LocalProtocolError,
    NotConnectedError,
    RemoteProtocolError,
)


def test_parse_url() -> None:
    address = parse_url("rediss://user:p%40ss@valkey.example:6380/2")
    assert (address.host, address.port, address.tls, address.username, address.password, address.database) == (
        "valkey.example",
        6380,
        True,
        "user",
        "p@ss",
        2,
    )
    assert parse_url("redis://127.0.0.1").port == 6379
    assert parse_url("valkey://:secret@h:1").password == "secret"
    for bad in ("http://h:1", "redis://", "redis://h:1/x"):
        with pytest.raises(ValueError, match="cluster URL"):
            parse_url(bad)


def test_config_defaults_and_validation() -> None:
    config = ClusterConfig(url="redis://:secret@h:7000", node_id="n1", node_ttl=6, registry_ttl=30)
    assert (config.heartbeat_interval, config.refresh_interval) == (2.0, 10.0)
    assert config.safe_url == "redis://h:7000"  # no password in logs
    assert ClusterConfig().node_id  # generated
    with pytest.raises(ValueError, match="node_id"):
        ClusterConfig(node_id="has|bar")
    with pytest.raises(ValueError, match="interval < ttl"):
        ClusterConfig(node_ttl=1, heartbeat_interval=2)


def test_server_with_cluster_uses_shared_storage() -> None:
    server = Server(cluster=ClusterConfig(node_id="n1"))
    assert server.cluster is not None
    assert server.storage is server.cluster.storage
    assert Server(cluster=ClusterConfig(node_id="n1", shared_storage=False)).storage is not server.storage
    assert Server().cluster is None


async def test_call_before_serve_is_not_connected() -> None:
    server = Server(cluster=ClusterConfig(node_id="n1"))
    with pytest.raises(ClusterUnavailableError) as failed:
        await server.call("CP", "Reset", {"type": "Soft"})
    assert isinstance(failed.value, NotConnectedError)
    assert failed.value.identity == "CP"


@pytest.mark.parametrize(
    "error",
    [
        CallError("PropertyConstraintViolation", "bad", {"field": "x"}, action="Reset", message_id="m1"),
        CallError("OccurenceConstraintViolation", "1.6 spelling", {}, action="Reset", message_id="m2"),
        CallTimeoutError("Reset timed out", action="Reset", message_id="m3"),
        RemoteProtocolError("invalid Reset response", "FormatViolation", action="Reset", message_id="m4"),
        LocalProtocolError("payload invalid", "PropertyConstraintViolation"),
        ConnectionClosedError("connection closed"),
        NotConnectedError("CP"),
    ],
    ids=lambda error: type(error).__name__,
)
def test_errors_survive_the_trip_between_nodes(error: Exception) -> None:
    rebuilt = error_from_wire(error_to_wire(error, "CP"), "CP")
    assert type(rebuilt) is type(error)
    assert str(rebuilt) == str(error)
    for attribute in ("code", "description", "details", "action", "message_id", "identity"):
        assert getattr(rebuilt, attribute, None) == getattr(error, attribute, None)


def test_single_node_mode_does_not_import_the_engine_client() -> None:
    code = "import sys, ocpp_router; ocpp_router.Server(); assert 'glide' not in sys.modules, 'glide imported'"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_cli_refuses_cluster_flags_without_url() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "ocpp_router", "serve", "--node-id", "n1"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode != 0
    assert "--cluster-url" in result.stderr
