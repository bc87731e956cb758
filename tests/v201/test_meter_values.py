"""Block J (Metering): MeterValues outside transactions from a real ``ocpp`` 2.0.1 station."""

from __future__ import annotations

from typing import Any

import trio
from ocpp_router import ChargePoint
from ocpp_router.v201.meter_values import SampledValue
from ocpp_router.v201.plugins import plugins

from ._peer import Peer, Station21, at, run_peer, start_server

TIMEOUT = 20

SIGNED = {
    "signed_meter_data": "T0NNRnwxMjM0NTY3OHw=",  # as the station sends it, base64, untouched
    "signing_method": "ECDSA-secp256r1-SHA256",
    "encoding_method": "OCMF",
    "public_key": "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE",
}


async def test_sampled_values_with_defaults_units_phases_and_signatures(nursery: trio.Nursery) -> None:
    hooked: list[tuple[int, int]] = []

    async def on_meter_values(cp: ChargePoint, evse_id: int, samples: list[SampledValue]) -> None:
        hooked.append((evse_id, len(samples)))

    p = plugins(on_meter_values=on_meter_values)
    meters = p.meter_values
    server = await start_server(nursery, p)
    main_meter = [
        {
            "timestamp": at(0),
            "sampled_value": [
                {"value": 1234.5, "unit_of_measure": {"unit": "kWh", "multiplier": 0}, "signed_meter_value": SIGNED},
                {"value": 230.1, "measurand": "Voltage", "phase": "L1-N", "unit_of_measure": {"unit": "V"}},
                {"value": 229.8, "measurand": "Voltage", "phase": "L2-N", "unit_of_measure": {"unit": "V"}},
                {"value": 11, "measurand": "Power.Active.Import", "unit_of_measure": {"unit": "W", "multiplier": 3}},
                {"value": 50.0, "measurand": "Frequency", "location": "Inlet", "unit_of_measure": {"unit": "Hz"}},
            ],
        }
    ]

    async def scenario(peer: Peer) -> Any:
        async with peer.connect("CS1") as cs:
            await cs.boot()
            await cs.send(cs._call.MeterValues(evse_id=0, meter_value=main_meter))
            await cs.send(cs._call.MeterValues(evse_id=0, meter_value=main_meter))  # a resend adds nothing
            later = [
                {
                    "timestamp": at(15),
                    "sampled_value": [
                        {"value": 1240.0, "context": "Sample.Clock", "unit_of_measure": {"unit": "kWh"}},
                        {"value": 12.0, "measurand": "Current.Import", "phase": "L1", "unit_of_measure": {"unit": "A"}},
                    ],
                }
            ]
            await cs.send(cs._call.MeterValues(evse_id=0, meter_value=later))
            await cs.send(
                cs._call.MeterValues(evse_id=1, meter_value=[{"timestamp": at(20), "sampled_value": [{"value": 5}]}])
            )

    with trio.fail_after(TIMEOUT):
        await run_peer(server, scenario)
    assert hooked == [(0, 5), (0, 2), (1, 1)]  # the resend brought nothing new
    assert await meters.evse_ids("CS1") == [0, 1]
    energy = await meters.meter_values("CS1", evse_id=0, measurand="Energy.Active.Import.Register")
    assert [(s.timestamp, s.wh, s.context) for s in energy] == [
        (at(0), 1_234_500.0, "Sample.Periodic"),
        (at(15), 1_240_000.0, "Sample.Clock"),
    ]
    signed = energy[0]
    assert signed.signed and signed.signed_meter_value == {
        "signedMeterData": SIGNED["signed_meter_data"],
        "signingMethod": "ECDSA-secp256r1-SHA256",
        "encodingMethod": "OCMF",
        "publicKey": SIGNED["public_key"],
    }
    assert (signed.signed_meter_data, signed.encoding_method) == (SIGNED["signed_meter_data"], "OCMF")
    assert (signed.signing_method, signed.public_key) == ("ECDSA-secp256r1-SHA256", SIGNED["public_key"])
    assert [s.timestamp for s in await meters.signed_values("CS1")] == [at(0)]
    voltages = await meters.meter_values("CS1", measurand="Voltage")
    assert [(s.phase, s.value, s.unit) for s in voltages] == [("L1-N", 230.1, "V"), ("L2-N", 229.8, "V")]
    power = await meters.latest("CS1", 0, "Power.Active.Import")
    assert power is not None and (power.scaled, power.wh) == (11000.0, None)
    inlet = await meters.meter_values("CS1", location="Inlet")
    assert [(s.measurand, s.unit) for s in inlet] == [("Frequency", "Hz")]
    window = await meters.meter_values("CS1", since=at(10), until=at(20))
    assert {s.measurand for s in window} == {"Energy.Active.Import.Register", "Current.Import"}
    default = await meters.latest("CS1", 1)
    assert default is not None and (default.measurand, default.location, default.unit, default.wh) == (
        "Energy.Active.Import.Register",
        "Outlet",
        "Wh",
        5.0,
    )


async def test_2_1_signed_value_without_public_key_and_new_measurands(nursery: trio.Nursery) -> None:
    p = plugins()
    server = await start_server(nursery, p)

    async def scenario(peer: Peer) -> Any:
        async with peer.connect("CS21", Station21) as cs:
            await cs.boot()
            sampled = [
                {"value": 80, "measurand": "Display.PresentSOC", "unit_of_measure": {"unit": "Percent"}},
                {
                    "value": 5000,
                    "location": "Upstream",
                    "signed_meter_value": {"signed_meter_data": "abc", "encoding_method": "OCMF"},
                },
            ]
            await cs.send(cs._call.MeterValues(evse_id=1, meter_value=[{"timestamp": at(0), "sampled_value": sampled}]))

    with trio.fail_after(TIMEOUT):
        await run_peer(server, scenario)
    soc = await p.meter_values.latest("CS21", 1, "Display.PresentSOC")
    upstream = await p.meter_values.latest("CS21", 1, location="Upstream")
    assert soc is not None and soc.value == 80
    assert upstream is not None and upstream.signed_meter_value == {"signedMeterData": "abc", "encodingMethod": "OCMF"}
