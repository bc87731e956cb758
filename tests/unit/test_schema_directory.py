"""Loading a schema directory gives the same verdicts as the bundled, reduced schemas."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from ocpp_router import Connection, Router, SchemaRegistry, Server, load_schema_directory, testing

SHARED = Path(__file__).resolve().parents[3] / "shared" / "ocpp-schemas"
FOLDERS = {"1.6": "v1.6", "2.0.1": "v2.0.1", "2.1": "v2.1"}
pytestmark = pytest.mark.skipif(not SHARED.is_dir(), reason="../shared/ocpp-schemas not beside the repo")

SAMPLES: list[tuple[str, str, str, Any]] = [
    ("1.6", "BootNotification", "request", {"chargePointVendor": "V", "chargePointModel": "M"}),
    ("1.6", "BootNotification", "request", {"chargePointVendor": "V"}),
    ("1.6", "SetChargingProfile", "request", {"connectorId": 1.0, "csChargingProfiles": {}}),
    ("2.0.1", "Heartbeat", "response", {"currentTime": "2024-01-01T00:00:00"}),
    ("2.0.1", "Heartbeat", "response", {"currentTime": "2024-01-01T00:00:00Z"}),
    (
        "2.1",
        "NotifyPeriodicEventStream",
        "send",
        {"id": 1, "pending": 0, "basetime": "2024-01-01T00:00:00Z", "data": []},
    ),
    ("2.1", "Authorize", "request", {"idToken": {"idToken": "x" * 256, "type": "Central"}}),
]


@pytest.mark.parametrize(("version", "action", "direction", "payload"), SAMPLES)
def test_directory_matches_bundled(version: str, action: str, direction: str, payload: Any) -> None:
    loaded = load_schema_directory(version, SHARED / FOLDERS[version])
    bundled = SchemaRegistry.bundled(version)
    assert sorted(loaded.actions()) == sorted(bundled.actions())
    ours = bundled.validate(action, direction, payload)
    theirs = loaded.validate(action, direction, payload)
    assert (ours is None) == (theirs is None)
    if ours is not None and theirs is not None:
        assert (ours.code, ours.path) == (theirs.code, theirs.path)


def test_vendor_message_from_own_directory(tmp_path: Path) -> None:
    schema = {
        "$schema": "http://json-schema.org/draft-06/schema#",
        "type": "object",
        "additionalProperties": False,
        "required": ["level"],
        "properties": {"level": {"type": "integer", "minimum": 0, "maximum": 10}},
    }
    (tmp_path / "VendorPingRequest.json").write_text(json.dumps(schema))
    (tmp_path / "VendorPingResponse.json").write_text(json.dumps({"type": "object"}))
    registry = load_schema_directory("2.0.1", tmp_path)
    conn = Connection("2.0.1", registry)
    [event] = conn.receive('[2,"1","VendorPing",{"level":3}]', 0.0)
    assert type(event).__name__ == "IncomingCall"
    [reply, _] = conn.receive('[2,"2","VendorPing",{"level":11}]', 0.0)
    assert '"PropertyConstraintViolation"' in reply.text  # type: ignore[union-attr]


async def test_server_uses_custom_registry(tmp_path: Path) -> None:
    (tmp_path / "HeartbeatRequest.json").write_text('{"type": "object", "additionalProperties": false}')
    (tmp_path / "HeartbeatResponse.json").write_text('{"type": "object", "required": ["currentTime"]}')
    router = Router()

    @router.on("Heartbeat")
    async def heartbeat(cp: Any, payload: dict[str, Any]) -> dict[str, Any]:
        return {"currentTime": "whenever"}  # no date-time format in this custom schema

    registry = load_schema_directory("2.0.1", tmp_path)
    server = Server(router, registries={"2.0.1": registry})
    async with testing.connect(server, "CP1", "2.0.1") as cp:
        cp.connection.set_incoming_mode("off")  # the client side uses the bundled schemas
        assert await cp.call("Heartbeat", {}) == {"currentTime": "whenever"}


def test_empty_or_broken_directory(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no"):
        load_schema_directory("1.6", tmp_path)
    (tmp_path / "Broken.json").write_text("{not json")
    with pytest.raises(ValueError, match="Broken"):
        load_schema_directory("1.6", tmp_path)
