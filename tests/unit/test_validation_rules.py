"""Per-charge-point validation rules: by identity, and by BootNotification vendor/model
(remembered across reconnects)."""

from __future__ import annotations

import pytest
from ocpp_router import Server, SessionOptions, ValidationRule, default_router, testing
from ocpp_router.errors import CallError

LONG_SERIAL = {"chargePointVendor": "Acme", "chargePointModel": "X1", "chargePointSerialNumber": "S" * 30}
BAD_STATUS = {"connectorId": 1, "errorCode": "Error", "status": "Faulted"}
SLOPPY = SessionOptions(outgoing_validation="off")  # our test client plays a deviating station


async def test_identity_rule_applies_from_the_first_message() -> None:
    rules = [ValidationRule(identity="OLD-.*", relaxations=["long-serial-numbers"])]
    server = Server(default_router(), validation_rules=rules)
    async with testing.connect(server, "OLD-1", "1.6", options=SLOPPY) as cp:
        assert (await cp.call("BootNotification", LONG_SERIAL))["status"] == "Accepted"
    async with testing.connect(server, "NEW-1", "1.6", options=SLOPPY) as cp:
        with pytest.raises(CallError) as info:
            await cp.call("BootNotification", LONG_SERIAL)
        assert info.value.code == "TypeConstraintViolation"


async def test_vendor_model_rule_applies_after_boot_and_is_remembered() -> None:
    rules = [
        ValidationRule(vendor="Acme", model="X.*", relaxations=["status-error-codes"]),
        ValidationRule(vendor="Acme", actions={"MeterValues": "off"}),
    ]
    server = Server(default_router(), validation_rules=rules)
    boot = {"chargePointVendor": "Acme", "chargePointModel": "X2"}
    async with testing.connect(server, "CP1", "1.6", options=SLOPPY) as cp:
        with pytest.raises(CallError):  # before the station said who it is
            await cp.call("StatusNotification", BAD_STATUS)
        await cp.call("BootNotification", boot)
        assert await cp.call("StatusNotification", BAD_STATUS) == {}
        assert await cp.call("MeterValues", {"connectorId": "not a number", "meterValue": []}) == {}
    # A reconnect without BootNotification keeps the station's rules.
    async with testing.connect(server, "CP1", "1.6", options=SLOPPY) as cp:
        assert await cp.call("StatusNotification", BAD_STATUS) == {}
    # Another model gets only the vendor-wide rule.
    async with testing.connect(server, "CP2", "1.6", options=SLOPPY) as cp:
        await cp.call("BootNotification", {"chargePointVendor": "Acme", "chargePointModel": "Y"})
        with pytest.raises(CallError):
            await cp.call("StatusNotification", BAD_STATUS)


def test_unknown_relaxation_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown relaxations"):
        ValidationRule(relaxations=["nope"])
