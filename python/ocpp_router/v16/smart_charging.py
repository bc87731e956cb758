"""OCPP 1.6 Smart Charging profile: charging-profile builders that refuse invalid profiles
before anything is sent, SetChargingProfile / ClearChargingProfile / GetCompositeSchedule
helpers, and a record of the profiles each charge point accepted.

A charge point answers an invalid profile with a bare ``Rejected`` (or worse, applies it);
checking the 1.6 rules here turns that into a ``InvalidChargingProfileError`` that names
every broken rule.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any, ClassVar

from .. import v16
from ._base import V16Plugin, format_time, parse_time, text, utc_datetime, wire

if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import datetime

    from .._session import ChargePoint

__all__ = [
    "InstalledProfile",
    "InvalidChargingProfileError",
    "Period",
    "SmartChargingPlugin",
    "charge_point_max_profile",
    "charging_profile",
    "charging_schedule",
    "tx_default_profile",
    "tx_profile",
    "validate_charging_profile",
]

#: A schedule period: the generated class, or ``(start_period, limit[, number_phases])``.
Period = v16.ChargingSchedulePeriod | tuple[int, float] | tuple[int, float, int]

_TENTH = Decimal("0.1")
_RECURRENCE_SECONDS = {"Daily": 24 * 3600, "Weekly": 7 * 24 * 3600}
_PURPOSES = {p.value for p in v16.ChargingProfilePurposeType}
_KINDS = {k.value for k in v16.ChargingProfileKindType}


class InvalidChargingProfileError(ValueError):
    """A charging profile breaks OCPP 1.6 rules; ``problems`` lists each broken rule."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__("invalid charging profile: " + "; ".join(self.problems))


# -- validation ---------------------------------------------------------------------------


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _tenths_problem(name: str, value: object) -> str | None:
    """Non-negative and a multiple of 0.1, checked in decimal (12.7 passes, 6.25 fails)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return f"{name} must be a number, not {value!r}"
    try:
        exact = Decimal(repr(value))
    except InvalidOperation:
        return f"{name} must be a finite number, not {value!r}"
    if not exact.is_finite():
        return f"{name} must be a finite number, not {value!r}"
    if exact < 0:
        return f"{name} must be >= 0, not {value!r}"
    if exact % _TENTH != 0:
        return f"{name} must be a multiple of 0.1, not {value!r}"
    return None


def _schedule_problems(schedule: v16.ChargingSchedule, kind: str, recurrency: str | None) -> list[str]:
    problems = []
    if text(schedule.charging_rate_unit) not in ("A", "W"):
        problems.append(f"chargingRateUnit must be A or W, not {text(schedule.charging_rate_unit)!r}")
    duration = schedule.duration
    if duration is not None:
        if not _is_int(duration) or duration <= 0:
            problems.append(f"duration must be a positive number of seconds, not {duration!r}")
        elif recurrency in _RECURRENCE_SECONDS and duration > _RECURRENCE_SECONDS[recurrency]:
            problems.append(f"duration {duration} s is longer than one {recurrency} recurrence")
    if schedule.start_schedule is not None and parse_time(schedule.start_schedule) is None:
        problems.append(f"startSchedule is not a date-time: {schedule.start_schedule!r}")
    if kind == "Relative" and schedule.start_schedule is not None:
        problems.append("a Relative profile must not have a startSchedule")
    if kind == "Recurring" and schedule.start_schedule is None:
        problems.append("a Recurring profile needs a startSchedule (the start of the recurrence)")
    if schedule.min_charging_rate is not None and (p := _tenths_problem("minChargingRate", schedule.min_charging_rate)):
        problems.append(p)
    periods = schedule.charging_schedule_period
    if not periods:
        problems.append("a schedule needs at least one period")
        return problems
    previous: int | None = None
    for index, period in enumerate(periods):
        where = f"period {index}"
        start = period.start_period
        if not _is_int(start) or start < 0:
            problems.append(f"{where}: startPeriod must be an integer >= 0, not {start!r}")
        elif index == 0 and start != 0:
            problems.append(f"the first period must start at 0, not {start}")
        elif previous is not None and start <= previous:
            problems.append(f"{where}: startPeriod {start} must be greater than the previous {previous}")
        elif duration is not None and _is_int(duration) and start >= duration:
            problems.append(f"{where}: startPeriod {start} is not within the duration {duration}")
        if _is_int(start):
            previous = start
        if p := _tenths_problem(f"{where}: limit", period.limit):
            problems.append(p)
        phases = period.number_phases
        if phases is not None and (not _is_int(phases) or not 1 <= phases <= 3):
            problems.append(f"{where}: numberPhases must be 1, 2 or 3, not {phases!r}")
    return problems


def validate_charging_profile(
    profile: v16.ChargingProfile, *, connector_id: int | None = None, remote_start: bool = False
) -> None:
    """Raise ``InvalidChargingProfileError`` unless ``profile`` obeys the OCPP 1.6 rules.

    ``connector_id`` is where it is going to be set (SetChargingProfile): a
    ChargePointMaxProfile only on 0, a TxProfile only on a connector > 0. ``remote_start``
    checks a profile sent inside RemoteStartTransaction (TxProfile without transactionId).
    """
    problems = []
    purpose, kind, recurrency = (
        text(profile.charging_profile_purpose),
        text(profile.charging_profile_kind),
        text(profile.recurrency_kind),
    )
    if not _is_int(profile.charging_profile_id) or profile.charging_profile_id < 0:
        problems.append(f"chargingProfileId must be an integer >= 0, not {profile.charging_profile_id!r}")
    if not _is_int(profile.stack_level) or profile.stack_level < 0:
        problems.append(f"stackLevel must be an integer >= 0, not {profile.stack_level!r}")
    if purpose not in _PURPOSES:
        problems.append(f"unknown chargingProfilePurpose {purpose!r}")
    if kind not in _KINDS:
        problems.append(f"unknown chargingProfileKind {kind!r}")
    if purpose == "TxProfile":
        if remote_start and profile.transaction_id is not None:
            problems.append("a TxProfile in RemoteStartTransaction must not have a transactionId (none exists yet)")
        if not remote_start and profile.transaction_id is None:
            problems.append("a TxProfile needs the transactionId of the running transaction")
    elif profile.transaction_id is not None:
        problems.append(f"only a TxProfile may name a transactionId, not a {purpose}")
    if remote_start and purpose != "TxProfile":
        problems.append(f"RemoteStartTransaction takes only a TxProfile, not a {purpose}")
    if purpose == "ChargePointMaxProfile" and kind == "Relative":
        problems.append("a ChargePointMaxProfile cannot be Relative (there is no transaction to be relative to)")
    if connector_id is not None:
        if not _is_int(connector_id) or connector_id < 0:
            problems.append(f"connectorId must be an integer >= 0, not {connector_id!r}")
        elif purpose == "ChargePointMaxProfile" and connector_id != 0:
            problems.append(f"a ChargePointMaxProfile can only be set on connector 0, not {connector_id}")
        elif purpose == "TxProfile" and connector_id == 0:
            problems.append("a TxProfile can only be set on a connector > 0")
    if kind == "Recurring" and recurrency is None:
        problems.append("a Recurring profile needs a recurrencyKind (Daily or Weekly)")
    if recurrency is not None and kind != "Recurring":
        problems.append(f"recurrencyKind is only allowed with a Recurring profile, not {kind}")
    if recurrency is not None and recurrency not in _RECURRENCE_SECONDS:
        problems.append(f"unknown recurrencyKind {recurrency!r}")
    valid_from, valid_to = parse_time(profile.valid_from), parse_time(profile.valid_to)
    if profile.valid_from is not None and valid_from is None:
        problems.append(f"validFrom is not a date-time: {profile.valid_from!r}")
    if profile.valid_to is not None and valid_to is None:
        problems.append(f"validTo is not a date-time: {profile.valid_to!r}")
    if valid_from is not None and valid_to is not None and valid_to <= valid_from:
        problems.append("validTo must be after validFrom")
    problems += _schedule_problems(profile.charging_schedule, str(kind), recurrency)
    if problems:
        raise InvalidChargingProfileError(problems)


# -- builders -----------------------------------------------------------------------------


def _period(period: Period) -> v16.ChargingSchedulePeriod:
    if isinstance(period, v16.ChargingSchedulePeriod):
        return period
    if len(period) == 2:
        return v16.ChargingSchedulePeriod(start_period=period[0], limit=period[1])
    return v16.ChargingSchedulePeriod(start_period=period[0], limit=period[1], number_phases=period[2])


def charging_schedule(
    periods: Sequence[Period],
    *,
    unit: v16.ChargingRateUnitType | str = v16.ChargingRateUnitType.A,
    duration: int | None = None,
    start_schedule: datetime | str | None = None,
    min_charging_rate: float | None = None,
) -> v16.ChargingSchedule:
    """A schedule from ``(start_period, limit[, number_phases])`` tuples (checked with its profile)."""
    try:
        rate_unit = v16.ChargingRateUnitType(unit)
    except ValueError:
        raise InvalidChargingProfileError([f"chargingRateUnit must be A or W, not {unit!r}"]) from None
    return v16.ChargingSchedule(
        charging_rate_unit=rate_unit,
        charging_schedule_period=[_period(p) for p in periods],
        duration=duration,
        start_schedule=None if start_schedule is None else format_time(start_schedule),
        min_charging_rate=min_charging_rate,
    )


def charging_profile(
    *,
    profile_id: int,
    purpose: v16.ChargingProfilePurposeType | str,
    periods: Sequence[Period],
    unit: v16.ChargingRateUnitType | str = v16.ChargingRateUnitType.A,
    stack_level: int = 0,
    kind: v16.ChargingProfileKindType | str | None = None,
    transaction_id: int | None = None,
    recurrency_kind: v16.RecurrencyKind | str | None = None,
    start_schedule: datetime | str | None = None,
    duration: int | None = None,
    min_charging_rate: float | None = None,
    valid_from: datetime | str | None = None,
    valid_to: datetime | str | None = None,
    connector_id: int | None = None,
) -> v16.ChargingProfile:
    """Build and check a charging profile (``InvalidChargingProfileError`` lists every problem).

    ``kind`` defaults to Recurring when a ``recurrency_kind`` is given, else Absolute for a
    ChargePointMaxProfile or when a ``start_schedule`` is given, else Relative (to the start
    of each transaction). An Absolute profile without ``start_schedule`` starts now.
    ``connector_id`` checks the connector rules of the purpose as well.
    """
    try:
        purpose_value = v16.ChargingProfilePurposeType(purpose)
        recurrency = None if recurrency_kind is None else v16.RecurrencyKind(recurrency_kind)
        if kind is None:
            if recurrency is not None:
                kind = v16.ChargingProfileKindType.Recurring
            elif start_schedule is not None or purpose_value == v16.ChargingProfilePurposeType.ChargePointMaxProfile:
                kind = v16.ChargingProfileKindType.Absolute
            else:
                kind = v16.ChargingProfileKindType.Relative
        kind_value = v16.ChargingProfileKindType(kind)
    except ValueError as exc:
        raise InvalidChargingProfileError([str(exc)]) from None
    if kind_value == v16.ChargingProfileKindType.Absolute and start_schedule is None:
        start_schedule = utc_datetime()
    profile = v16.ChargingProfile(
        charging_profile_id=profile_id,
        stack_level=stack_level,
        charging_profile_purpose=purpose_value,
        charging_profile_kind=kind_value,
        charging_schedule=charging_schedule(
            periods, unit=unit, duration=duration, start_schedule=start_schedule, min_charging_rate=min_charging_rate
        ),
        transaction_id=transaction_id,
        recurrency_kind=recurrency,
        valid_from=None if valid_from is None else format_time(valid_from),
        valid_to=None if valid_to is None else format_time(valid_to),
    )
    validate_charging_profile(profile, connector_id=connector_id)
    return profile


def tx_profile(profile_id: int, transaction_id: int, periods: Sequence[Period], **options: Any) -> v16.ChargingProfile:
    """A TxProfile: limits for one running transaction (set on its connector)."""
    return charging_profile(
        profile_id=profile_id,
        purpose=v16.ChargingProfilePurposeType.TxProfile,
        transaction_id=transaction_id,
        periods=periods,
        **options,
    )


def tx_default_profile(profile_id: int, periods: Sequence[Period], **options: Any) -> v16.ChargingProfile:
    """A TxDefaultProfile: limits for every new transaction (connector 0 = all connectors)."""
    return charging_profile(
        profile_id=profile_id, purpose=v16.ChargingProfilePurposeType.TxDefaultProfile, periods=periods, **options
    )


def charge_point_max_profile(profile_id: int, periods: Sequence[Period], **options: Any) -> v16.ChargingProfile:
    """A ChargePointMaxProfile: the limit of the whole charge point (connector 0 only)."""
    return charging_profile(
        profile_id=profile_id,
        purpose=v16.ChargingProfilePurposeType.ChargePointMaxProfile,
        periods=periods,
        **options,
    )


# -- the plugin ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class InstalledProfile:
    """A profile the charge point accepted, on a connector (0: the charge point)."""

    connector_id: int
    profile: v16.ChargingProfile
    set_at: str

    @property
    def id(self) -> int:
        return self.profile.charging_profile_id

    @property
    def purpose(self) -> str:
        return str(text(self.profile.charging_profile_purpose))


class SmartChargingPlugin(V16Plugin):
    """The OCPP 1.6 Smart Charging profile (CSMS-initiated only).

    Remembers the profiles each charge point accepted, replacing them as the charge point
    does (same id, or same connector + stack level + purpose), dropping them on an Accepted
    ClearChargingProfile with the same criteria, and dropping a TxProfile when its
    transaction stops.
    """

    name: ClassVar[str] = "v16.smart_charging"

    def __init__(self) -> None:
        super().__init__()
        self.after("StopTransaction", self._after_stop_transaction, shielded=True)

    async def _installed(self, identity: str) -> list[dict[str, Any]]:
        installed: list[dict[str, Any]] = await self.load(identity, "profiles", [])
        return installed

    async def set_charging_profile(
        self, identity: str, connector_id: int, profile: v16.ChargingProfile, *, timeout: float | None = None
    ) -> v16.SetChargingProfileResponse:
        """Check and send a profile; an Accepted one is remembered."""
        validate_charging_profile(profile, connector_id=connector_id)
        request = v16.SetChargingProfileRequest(connector_id=connector_id, cs_charging_profiles=profile)
        response: v16.SetChargingProfileResponse = await self.request(identity, request, timeout=timeout)
        if response.status == v16.ChargingProfileStatus.Accepted:
            new = {"connector_id": connector_id, "profile": profile.to_wire(), "set_at": self.now_text()}
            kept = [p for p in await self._installed(identity) if not _replaced_by(p, new)]
            await self.save(identity, "profiles", [*kept, new])
        return response

    async def clear_charging_profile(
        self,
        identity: str,
        *,
        profile_id: int | None = None,
        connector_id: int | None = None,
        purpose: v16.ChargingProfilePurposeType | str | None = None,
        stack_level: int | None = None,
        timeout: float | None = None,
    ) -> v16.ClearChargingProfileResponse:
        """Clear profiles: by id, or by every given criterion (none given: all profiles)."""
        request = v16.ClearChargingProfileRequest(
            id=profile_id,
            connector_id=connector_id,
            charging_profile_purpose=None if purpose is None else v16.ChargingProfilePurposeType(purpose),
            stack_level=stack_level,
        )
        response: v16.ClearChargingProfileResponse = await self.request(identity, request, timeout=timeout)
        if response.status == v16.ClearChargingProfileStatus.Accepted:
            criteria = request.to_wire()
            kept = [p for p in await self._installed(identity) if not _cleared_by(p, criteria)]
            await self.save(identity, "profiles", kept)
        return response

    async def get_composite_schedule(
        self,
        identity: str,
        connector_id: int,
        duration: int,
        *,
        charging_rate_unit: v16.ChargingRateUnitType | str | None = None,
        timeout: float | None = None,
    ) -> v16.GetCompositeScheduleResponse:
        """The schedule the charge point computed from all its profiles for ``duration`` seconds."""
        if not _is_int(connector_id) or connector_id < 0:
            raise ValueError(f"connector_id must be an integer >= 0, not {connector_id!r}")
        if not _is_int(duration) or duration <= 0:
            raise ValueError(f"duration must be a positive number of seconds, not {duration!r}")
        request = v16.GetCompositeScheduleRequest(
            connector_id=connector_id,
            duration=duration,
            charging_rate_unit=None if charging_rate_unit is None else v16.ChargingRateUnitType(charging_rate_unit),
        )
        response: v16.GetCompositeScheduleResponse = await self.request(identity, request, timeout=timeout)
        return response

    async def charging_profiles(self, identity: str, *, connector_id: int | None = None) -> list[InstalledProfile]:
        """Profiles the charge point accepted and still has, as far as the CSMS knows."""
        return [
            InstalledProfile(
                connector_id=p["connector_id"],
                profile=v16.ChargingProfile.from_wire(p["profile"]),
                set_at=p["set_at"],
            )
            for p in await self._installed(identity)
            if connector_id is None or p["connector_id"] == connector_id
        ]

    async def _after_stop_transaction(self, cp: ChargePoint, request: Any, response: Any) -> None:
        """The charge point discards a TxProfile when its transaction ends."""
        transaction_id = wire(request).get("transactionId")
        installed = await self._installed(cp.id)
        kept = [p for p in installed if p["profile"].get("transactionId") != transaction_id]
        if len(kept) != len(installed):
            await self.save(cp.id, "profiles", kept)


def _replaced_by(old: dict[str, Any], new: dict[str, Any]) -> bool:
    """The 1.6 SetChargingProfile rule: same id, or same stack level and purpose (on one connector)."""
    a, b = old["profile"], new["profile"]
    if a["chargingProfileId"] == b["chargingProfileId"]:
        return True
    return bool(
        old["connector_id"] == new["connector_id"]
        and a["stackLevel"] == b["stackLevel"]
        and a["chargingProfilePurpose"] == b["chargingProfilePurpose"]
    )


def _cleared_by(installed: dict[str, Any], criteria: dict[str, Any]) -> bool:
    """An id selects exactly that profile; otherwise every given criterion must match."""
    profile = installed["profile"]
    if "id" in criteria:
        return bool(profile["chargingProfileId"] == criteria["id"])
    checks = (
        ("connectorId", installed["connector_id"]),
        ("chargingProfilePurpose", profile["chargingProfilePurpose"]),
        ("stackLevel", profile["stackLevel"]),
    )
    return all(criteria[key] == value for key, value in checks if key in criteria)
