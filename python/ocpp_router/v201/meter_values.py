"""OCPP 2.0.1 block J, Metering: MeterValues, the station's measurements *outside*
transactions (transaction meter data travels in TransactionEvents, see
``TransactionsPlugin.meter_values``).

Every sampled value is kept with the spec's defaults applied (measurand
``Energy.Active.Import.Register``, location ``Outlet``, context ``Sample.Periodic``, unit
``Wh``, multiplier 0) and its signed meter value untouched (``signedMeterData``,
``signingMethod``, ``encodingMethod``, ``publicKey``: kept byte for byte for
eichrecht/legal verification). A sample is stored once per (EVSE, timestamp, measurand,
phase, location, context): a resent MeterValues adds nothing. EVSE 0 is the main meter of
the station. The newest ``max_samples`` samples are kept per EVSE.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from .. import v201
from ._base import EPOCH, V201Plugin, format_time, load_record, normalize_time, parse_time, text

if TYPE_CHECKING:
    from datetime import datetime

    from .._session import ChargePoint

__all__ = ["MeterValuesHook", "MeterValuesPlugin", "SampledValue"]

log = logging.getLogger("ocpp_router")

_ENERGY = "Energy.Active.Import.Register"
#: Units an energy reading may be converted to Wh from.
_WH_SCALE = {"Wh": 1.0, "kWh": 1000.0, "varh": 1.0, "kvarh": 1000.0}


@dataclass(frozen=True, slots=True)
class SampledValue:
    """One sampled value of a MeterValues message, with the spec's defaults applied."""

    evse_id: int
    """0: the station's main meter."""
    timestamp: str
    value: float
    measurand: str = _ENERGY
    phase: str | None = None
    location: str = "Outlet"
    context: str = "Sample.Periodic"
    unit: str = "Wh"
    multiplier: int = 0
    signed_meter_value: dict[str, Any] | None = None
    """``signedMeterData``, ``signingMethod``, ``encodingMethod``, ``publicKey`` as sent."""
    received_at: str | None = None

    @property
    def scaled(self) -> float:
        """``value * 10^multiplier`` in ``unit``."""
        return float(self.value) * 10.0**self.multiplier

    @property
    def wh(self) -> float | None:
        """An energy value in Wh (varh for reactive energy); None for other units."""
        scale = _WH_SCALE.get(self.unit)
        return None if scale is None else self.scaled * scale

    @property
    def signed(self) -> bool:
        return self.signed_meter_value is not None

    @property
    def signed_meter_data(self) -> str | None:
        return None if self.signed_meter_value is None else self.signed_meter_value.get("signedMeterData")

    @property
    def signing_method(self) -> str | None:
        return None if self.signed_meter_value is None else self.signed_meter_value.get("signingMethod")

    @property
    def encoding_method(self) -> str | None:
        return None if self.signed_meter_value is None else self.signed_meter_value.get("encodingMethod")

    @property
    def public_key(self) -> str | None:
        return None if self.signed_meter_value is None else self.signed_meter_value.get("publicKey")


#: ``async (cp, evse_id, new_samples)`` after a MeterValues was stored (resent samples left out).
MeterValuesHook = Callable[["ChargePoint", int, list[SampledValue]], Awaitable[None]]


def _samples(evse_id: int, meter_values: list[dict[str, Any]], received_at: str) -> list[dict[str, Any]]:
    found = []
    for meter_value in meter_values:
        timestamp = meter_value["timestamp"]
        for sampled in meter_value.get("sampledValue", []):
            unit = sampled.get("unitOfMeasure") or {}
            found.append(
                {
                    "evse_id": evse_id,
                    "timestamp": timestamp,
                    "value": sampled["value"],
                    "measurand": text(sampled.get("measurand")) or _ENERGY,
                    "phase": text(sampled.get("phase")),
                    "location": text(sampled.get("location")) or "Outlet",
                    "context": text(sampled.get("context")) or "Sample.Periodic",
                    "unit": unit.get("unit") or "Wh",
                    "multiplier": unit.get("multiplier") or 0,
                    "signed_meter_value": sampled.get("signedMeterValue"),
                    "received_at": received_at,
                }
            )
    return found


class MeterValuesPlugin(V201Plugin):
    """OCPP 2.0.1/2.1 block J (Metering: MeterValues outside transactions).

    Args:
        on_meter_values: ``async (cp, evse_id, new_samples)`` after each MeterValues was
            stored (an exception is logged).
        max_samples: samples kept per station and EVSE (the oldest are dropped).
    """

    name: ClassVar[str] = "v201.meter_values"

    def __init__(self, *, on_meter_values: MeterValuesHook | None = None, max_samples: int = 10_000) -> None:
        super().__init__()
        self.on_meter_values = on_meter_values
        self.max_samples = max_samples
        self.handle("MeterValues", self._on_meter_values)

    async def _on_meter_values(self, cp: ChargePoint, payload: dict[str, Any]) -> v201.MeterValuesResponse:
        evse_id = int(payload["evseId"])
        key = f"evse:{evse_id}"
        stored: dict[str, Any] = await self.load(cp.id, key, {})
        new = []
        for sample in _samples(evse_id, payload.get("meterValue", []), self.now_text()):
            sample_key = "|".join(
                str(part)
                for part in (
                    normalize_time(sample["timestamp"]),
                    sample["measurand"],
                    sample["phase"],
                    sample["location"],
                    sample["context"],
                )
            )
            if sample_key not in stored:
                stored[sample_key] = sample
                new.append(sample)
        if new:
            if len(stored) > self.max_samples:
                ordered = sorted(stored.items(), key=lambda kv: parse_time(kv[1]["timestamp"]) or EPOCH)
                stored = dict(ordered[-self.max_samples :])
            await self.save(cp.id, key, stored)
        if new and self.on_meter_values is not None:
            try:
                await self.on_meter_values(cp, evse_id, [load_record(SampledValue, s) for s in new])
            except Exception:
                log.exception("%s: on_meter_values hook failed", cp.id)
        return v201.MeterValuesResponse()

    # -- queries --------------------------------------------------------------------------

    async def evse_ids(self, identity: str) -> list[int]:
        """EVSEs with stored samples (0: the station's main meter)."""
        items = await self.storage.items(self.name, identity)
        return sorted(int(k.removeprefix("evse:")) for k in items if k.startswith("evse:"))

    async def meter_values(
        self,
        identity: str,
        *,
        evse_id: int | None = None,
        measurand: str | v201.MeasurandEnumType | None = None,
        phase: str | v201.PhaseEnumType | None = None,
        location: str | v201.LocationEnumType | None = None,
        context: str | v201.ReadingContextEnumType | None = None,
        since: datetime | str | None = None,
        until: datetime | str | None = None,
    ) -> list[SampledValue]:
        """Stored samples in time order, filtered by every criterion given (``since``
        inclusive, ``until`` exclusive)."""
        evses = [evse_id] if evse_id is not None else await self.evse_ids(identity)
        low = parse_time(format_time(since)) if since is not None else None
        high = parse_time(format_time(until)) if until is not None else None
        wanted = {
            "measurand": text(measurand),
            "phase": text(phase),
            "location": text(location),
            "context": text(context),
        }
        found = []
        for evse in evses:
            stored: dict[str, Any] = await self.load(identity, f"evse:{evse}", {})
            for data in stored.values():
                if any(value is not None and data.get(name) != value for name, value in wanted.items()):
                    continue
                when = parse_time(data["timestamp"]) or EPOCH
                if (low is not None and when < low) or (high is not None and when >= high):
                    continue
                found.append(load_record(SampledValue, data))
        return sorted(
            found, key=lambda s: (parse_time(s.timestamp) or EPOCH, s.evse_id, s.measurand, s.phase or "", s.location)
        )

    async def latest(
        self,
        identity: str,
        evse_id: int,
        measurand: str | v201.MeasurandEnumType = _ENERGY,
        *,
        phase: str | v201.PhaseEnumType | None = None,
        location: str | v201.LocationEnumType | None = None,
    ) -> SampledValue | None:
        """The newest sample of a measurand on an EVSE (any phase/location unless given)."""
        found = await self.meter_values(identity, evse_id=evse_id, measurand=measurand, phase=phase, location=location)
        return found[-1] if found else None

    async def signed_values(self, identity: str, *, evse_id: int | None = None) -> list[SampledValue]:
        """Samples that came with a signed meter value (for legal verification)."""
        return [s for s in await self.meter_values(identity, evse_id=evse_id) if s.signed]
