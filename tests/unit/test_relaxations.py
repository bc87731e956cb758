"""Named schema relaxations, per-session registries and the nesting limit, through the
Python API."""

from __future__ import annotations

import json

import pytest
from ocpp_router import Connection, Router, SchemaRegistry, Server, SessionOptions, testing
from ocpp_router._core import IncomingCall, Transmit
from ocpp_router.errors import CallError

ERROR_STATUS = {"connectorId": 1, "errorCode": "Error", "status": "Faulted"}


def test_relaxation_names_and_unknown_names() -> None:
    names = SchemaRegistry.relaxation_names()
    assert {
        "unit-spellings",
        "long-serial-numbers",
        "numeric-strings",
        "status-error-codes",
        "datatransfer-data-any",
        "signed-meter-data-length",
    } <= set(names)
    with pytest.raises(ValueError, match="unknown relaxation"):
        SchemaRegistry.bundled("1.6").relaxed(["unit-spellings", "no-such-thing"])
    with pytest.raises(TypeError):
        SchemaRegistry.bundled("1.6").relaxed("unit-spellings")  # type: ignore[arg-type]


def test_relaxed_copy_leaves_the_original_alone() -> None:
    original = SchemaRegistry.bundled("1.6")
    relaxed = original.relaxed(["status-error-codes", "numeric-strings"])
    assert relaxed.relaxations == ["numeric-strings", "status-error-codes"]
    assert original.relaxations == []
    assert "relaxations" in repr(relaxed)
    failure = original.validate("StatusNotification", "request", ERROR_STATUS)
    assert failure is not None and failure.path == "errorCode"
    assert relaxed.validate("StatusNotification", "request", ERROR_STATUS) is None
    assert relaxed.validate("StatusNotification", "request", {**ERROR_STATUS, "status": "Nope"}) is not None
    sample = {"connectorId": 1, "meterValue": [{"timestamp": "2024-01-01T00:00:00Z", "sampledValue": [{"value": 5}]}]}
    assert original.validate("MeterValues", "request", sample) is not None
    assert relaxed.validate("MeterValues", "request", sample) is None
    # Not applicable to 2.x: same verdicts.
    v201 = SchemaRegistry.bundled("2.0.1").relaxed(["unit-spellings", "status-error-codes"])
    assert v201.validate("Heartbeat", "request", {}) is None


def test_set_registry_swaps_validation_and_checks_the_version() -> None:
    conn = Connection("1.6")
    text = json.dumps([2, "s1", "StatusNotification", ERROR_STATUS])
    events = conn.receive(text, 0.0)
    assert isinstance(events[0], Transmit) and json.loads(events[0].text)[2] == "PropertyConstraintViolation"
    conn.set_registry(conn.registry.relaxed(["status-error-codes"]))
    assert conn.registry.relaxations == ["status-error-codes"]
    assert isinstance(conn.receive(text.replace("s1", "s2"), 0.0)[0], IncomingCall)
    with pytest.raises(ValueError, match=r"OCPP 2\.0\.1"):
        conn.set_registry(SchemaRegistry.bundled("2.0.1"))


def test_max_depth_option() -> None:
    assert Connection("2.0.1").max_depth == 32
    with pytest.raises(ValueError, match="max_depth"):
        Connection("2.0.1", max_depth=1)
    conn = Connection("2.0.1", max_depth=3)
    events = conn.receive('[2,"d","Heartbeat",{"a":[[1]]}]', 0.0)
    assert isinstance(events[0], Transmit)
    assert json.loads(events[0].text) == [4, "d", "RpcFrameworkError", "message nests deeper than 3 levels", {}]
    assert SessionOptions().max_depth == 32


async def test_session_relaxes_validation_after_boot_notification(nursery: object) -> None:
    """An application picks relaxations from the station's vendor/model at boot."""
    router = Router()
    quirky_models = {("Acme", "X1"): ["status-error-codes"]}
    relaxed_by_model: dict[tuple[str, str], SchemaRegistry] = {}

    @router.on("BootNotification")
    async def boot(cp, payload):  # type: ignore[no-untyped-def]
        model = (payload["chargePointVendor"], payload["chargePointModel"])
        names = quirky_models.get(model)
        if names:
            if model not in relaxed_by_model:
                relaxed_by_model[model] = cp.connection.registry.relaxed(names)
            cp.connection.set_registry(relaxed_by_model[model])
        return {"status": "Accepted", "currentTime": "2024-01-01T00:00:00Z", "interval": 300}

    @router.on("StatusNotification")
    async def status(cp, payload):  # type: ignore[no-untyped-def]
        return {}

    server = Server(router, options=SessionOptions(max_depth=16))
    client_options = SessionOptions(outgoing_validation="off")
    async with testing.connect(server, "CP1", "1.6", options=client_options) as cp:
        session = server.charge_points["CP1"]
        assert session.connection.max_depth == 16
        with pytest.raises(CallError):
            await cp.call("StatusNotification", ERROR_STATUS)
        await cp.call("BootNotification", {"chargePointVendor": "Acme", "chargePointModel": "X1"})
        assert await cp.call("StatusNotification", ERROR_STATUS) == {}
        assert session.connection.registry.relaxations == ["status-error-codes"]
