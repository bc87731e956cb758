"""OCPP 2.0.1 block K, Smart Charging: charging-profile builders that refuse invalid
profiles before anything is sent, SetChargingProfile / GetChargingProfiles (with the
ReportChargingProfiles parts assembled by requestId) / ClearChargingProfile /
GetCompositeSchedule helpers, and the station's notifications (NotifyEVChargingNeeds,
NotifyEVChargingSchedule, NotifyChargingLimit, ClearedChargingLimit) stored per EVSE.

A station answers an invalid profile with a bare ``Rejected`` (or applies something else
than intended); ``validate_charging_profile`` checks the 2.0.1 rules first and raises
``InvalidChargingProfileError`` naming every broken rule. The plugin remembers the
profiles each station accepted (``charging_profiles``): a profile with the same id replaces
the old one, an Accepted ClearChargingProfile drops what its criteria select, and a
TxProfile goes when its transaction ends.

OCPP 2.1 adds purposes (PriorityCharging, LocalGeneration), the Dynamic kind and many
optional fields: a wire dict profile keeps them, and validation takes ``version="2.1"``
(the helpers use the connection's version). The 2.1 messages UsePriorityCharging,
UpdateDynamicSchedule (helpers), NotifyPriorityCharging and PullDynamicScheduleUpdate
(handlers) are served on 2.1 connections.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any, ClassVar

from .. import v21, v201
from .._versions import V21, V201
from ._base import (
    Assembled,
    PartsAssembler,
    V201Plugin,
    dump_record,
    format_time,
    load_record,
    parse_time,
    text,
    utc_datetime,
    wire,
)

if TYPE_CHECKING:
    from datetime import datetime

    from .._session import ChargePoint

__all__ = [
    "ChargingLimit",
    "ChargingNeeds",
    "ChargingProfilesReport",
    "EVChargingSchedule",
    "InstalledProfile",
    "InvalidChargingProfileError",
    "Period",
    "ReportedProfile",
    "SmartChargingPlugin",
    "charging_profile",
    "charging_schedule",
    "charging_station_max_profile",
    "tx_default_profile",
    "tx_profile",
    "validate_charging_profile",
]

log = logging.getLogger("ocpp_router")

#: A schedule period: the generated class, a wire dict, or
#: ``(start_period, limit[, number_phases[, phase_to_use]])``.
Period = (
    v201.ChargingSchedulePeriodType
    | Mapping[str, Any]
    | tuple[int, float]
    | tuple[int, float, int]
    | tuple[int, float, int, int]
)

_TENTH = Decimal("0.1")
_RECURRENCE_SECONDS = {"Daily": 24 * 3600, "Weekly": 7 * 24 * 3600}
_PURPOSES = {V201: {p.value for p in v201.ChargingProfilePurposeEnumType}}
_PURPOSES[V21] = _PURPOSES[V201] | {"PriorityCharging", "LocalGeneration"}
_KINDS = {V201: {k.value for k in v201.ChargingProfileKindEnumType}}
_KINDS[V21] = _KINDS[V201] | {"Dynamic"}
_MAX_SCHEDULES = 3
_MAX_PERIODS = 1024


class InvalidChargingProfileError(ValueError):
    """A charging profile breaks OCPP 2.0.1 rules; ``problems`` lists each broken rule."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__("invalid charging profile: " + "; ".join(self.problems))


# -- validation ---------------------------------------------------------------------------


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _number_problem(name: str, value: object, *, tenths: bool) -> str | None:
    """A finite number >= 0 (with at most one fractional digit when ``tenths``)."""
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
    if tenths and exact % _TENTH != 0:
        return f"{name} accepts at most one fractional digit, not {value!r}"
    return None


def _periods_problems(where: str, periods: object, duration: Any, version: str, *, limit_required: bool) -> list[str]:
    problems: list[str] = []
    if not isinstance(periods, list) or not periods:
        return [f"{where}needs at least one chargingSchedulePeriod"]
    if len(periods) > _MAX_PERIODS:
        problems.append(f"{where}has {len(periods)} periods; at most {_MAX_PERIODS} are allowed")
    previous: int | None = None
    for index, period in enumerate(periods):
        at = f"{where}period {index}: "
        if not isinstance(period, Mapping):
            problems.append(f"{at}not an object")
            continue
        start: Any = period.get("startPeriod")
        if not _is_int(start) or start < 0:
            problems.append(f"{at}startPeriod must be an integer >= 0, not {start!r}")
        elif index == 0 and start != 0:
            problems.append(f"{where}the first period must start at 0, not {start}")
        elif previous is not None and start <= previous:
            problems.append(f"{at}startPeriod {start} must be greater than the previous {previous}")
        elif _is_int(duration) and start >= duration:
            problems.append(f"{at}startPeriod {start} is not within the duration {duration}")
        if _is_int(start):
            previous = start
        limit_problem = _number_problem(f"{at}limit", period.get("limit"), tenths=version == V201)
        if ("limit" in period or limit_required) and limit_problem:
            problems.append(limit_problem)
        phases = period.get("numberPhases")
        if phases is not None and (not _is_int(phases) or not 1 <= phases <= 3):
            problems.append(f"{at}numberPhases must be 1, 2 or 3, not {phases!r}")
        phase_to_use = period.get("phaseToUse")
        if phase_to_use is not None:
            if phases != 1:
                problems.append(f"{at}phaseToUse is only allowed with numberPhases 1, not {phases!r}")
            if not _is_int(phase_to_use) or not 1 <= phase_to_use <= 3:
                problems.append(f"{at}phaseToUse must be 1, 2 or 3, not {phase_to_use!r}")
    return problems


def _schedule_problems(
    where: str, schedule: Mapping[str, Any], kind: str | None, recurrency: str | None, version: str
) -> list[str]:
    problems: list[str] = []
    if not _is_int(schedule.get("id")):
        problems.append(f"{where}id must be an integer, not {schedule.get('id')!r}")
    unit = schedule.get("chargingRateUnit")
    if unit not in ("A", "W"):
        problems.append(f"{where}chargingRateUnit must be A or W, not {unit!r}")
    duration = schedule.get("duration")
    if duration is not None:
        if not _is_int(duration) or duration <= 0:
            problems.append(f"{where}duration must be a positive number of seconds, not {duration!r}")
        elif recurrency in _RECURRENCE_SECONDS and duration > _RECURRENCE_SECONDS[recurrency]:
            problems.append(f"{where}duration {duration} s is longer than one {recurrency} recurrence")
    start = schedule.get("startSchedule")
    if start is not None and parse_time(start) is None:
        problems.append(f"{where}startSchedule is not a date-time: {start!r}")
    if kind == "Relative" and start is not None:
        problems.append(f"{where}a Relative profile must not have a startSchedule")
    if kind in ("Absolute", "Recurring") and start is None:
        problems.append(f"{where}an {kind} profile needs a startSchedule")
    rate = schedule.get("minChargingRate")
    if rate is not None and (p := _number_problem(f"{where}minChargingRate", rate, tenths=version == V201)):
        problems.append(p)
    problems += _periods_problems(
        where, schedule.get("chargingSchedulePeriod"), duration, version, limit_required=version == V201
    )
    return problems


def _profile_wire(profile: v201.ChargingProfileType | Mapping[str, Any]) -> dict[str, Any]:
    return profile.to_wire() if isinstance(profile, v201.ChargingProfileType) else dict(profile)


def validate_charging_profile(
    profile: v201.ChargingProfileType | Mapping[str, Any],
    *,
    evse_id: int | None = None,
    remote_start: bool = False,
    version: str = V201,
) -> None:
    """Raise ``InvalidChargingProfileError`` unless ``profile`` obeys the OCPP rules.

    Checked: the purpose (ChargingStationExternalConstraints is set by external systems,
    never by the CSMS), ``stackLevel >= 0``, a TxProfile's ``transactionId`` (and only a
    TxProfile's), Recurring with ``recurrencyKind``, ``validFrom < validTo``, 1-3 schedules
    with distinct ids, rate unit A/W, 1-1024 periods starting at 0 with strictly increasing
    ``startPeriod``, limits >= 0 (one fractional digit in 2.0.1), ``numberPhases`` 1-3,
    ``phaseToUse`` only with one phase, a startSchedule for Absolute/Recurring and none for
    Relative.

    ``evse_id`` is where it is going to be set: a ChargingStationMaxProfile only on 0, a
    TxProfile only on an EVSE > 0. ``remote_start`` checks a TxProfile sent inside
    RequestStartTransaction (no transactionId exists yet). ``version="2.1"`` also allows
    the 2.1 purposes and the Dynamic kind.
    """
    data = _profile_wire(profile)
    version = V21 if version == V21 else V201
    problems: list[str] = []
    purpose, kind, recurrency = (
        text(data.get("chargingProfilePurpose")),
        text(data.get("chargingProfileKind")),
        text(data.get("recurrencyKind")),
    )
    if not _is_int(data.get("id")) or data["id"] < 0:
        problems.append(f"id must be an integer >= 0, not {data.get('id')!r}")
    if not _is_int(data.get("stackLevel")) or data["stackLevel"] < 0:
        problems.append(f"stackLevel must be an integer >= 0, not {data.get('stackLevel')!r}")
    if purpose == "ChargingStationExternalConstraints":
        problems.append("a ChargingStationExternalConstraints profile is set by external systems, not by the CSMS")
    elif purpose not in _PURPOSES[version]:
        problems.append(f"unknown chargingProfilePurpose {purpose!r}")
    if kind not in _KINDS[version]:
        problems.append(f"unknown chargingProfileKind {kind!r}")
    transaction_id = data.get("transactionId")
    if purpose == "TxProfile":
        if remote_start and transaction_id is not None:
            problems.append("a TxProfile in RequestStartTransaction must not have a transactionId (none exists yet)")
        if not remote_start and transaction_id is None:
            problems.append("a TxProfile needs the transactionId of the running transaction")
    elif transaction_id is not None:
        problems.append(f"only a TxProfile may name a transactionId, not a {purpose}")
    if remote_start and purpose != "TxProfile":
        problems.append(f"RequestStartTransaction takes only a TxProfile, not a {purpose}")
    if purpose == "ChargingStationMaxProfile" and kind == "Relative":
        problems.append("a ChargingStationMaxProfile cannot be Relative (there is no transaction to be relative to)")
    if evse_id is not None:
        if not _is_int(evse_id) or evse_id < 0:
            problems.append(f"evseId must be an integer >= 0, not {evse_id!r}")
        elif purpose == "ChargingStationMaxProfile" and evse_id != 0:
            problems.append(f"a ChargingStationMaxProfile can only be set on evseId 0, not {evse_id}")
        elif purpose == "TxProfile" and evse_id == 0:
            problems.append("a TxProfile can only be set on an EVSE (evseId > 0)")
    if kind == "Recurring" and recurrency is None:
        problems.append("a Recurring profile needs a recurrencyKind (Daily or Weekly)")
    if recurrency is not None and kind != "Recurring":
        problems.append(f"recurrencyKind is only allowed with a Recurring profile, not {kind}")
    if recurrency is not None and recurrency not in _RECURRENCE_SECONDS:
        problems.append(f"unknown recurrencyKind {recurrency!r}")
    valid_from, valid_to = parse_time(data.get("validFrom")), parse_time(data.get("validTo"))
    if data.get("validFrom") is not None and valid_from is None:
        problems.append(f"validFrom is not a date-time: {data.get('validFrom')!r}")
    if data.get("validTo") is not None and valid_to is None:
        problems.append(f"validTo is not a date-time: {data.get('validTo')!r}")
    if valid_from is not None and valid_to is not None and valid_to <= valid_from:
        problems.append("validTo must be after validFrom")
    schedules = data.get("chargingSchedule")
    if not isinstance(schedules, list) or not schedules:
        problems.append("a profile needs at least one chargingSchedule")
    else:
        if len(schedules) > _MAX_SCHEDULES:
            problems.append(f"a profile has at most {_MAX_SCHEDULES} chargingSchedules, not {len(schedules)}")
        ids = [s.get("id") for s in schedules if isinstance(s, Mapping)]
        if len(set(map(repr, ids))) != len(ids):
            problems.append(f"chargingSchedule ids must be distinct, not {ids}")
        for index, schedule in enumerate(schedules):
            where = f"schedule {index}: " if len(schedules) > 1 else ""
            if not isinstance(schedule, Mapping):
                problems.append(f"{where}not an object")
                continue
            problems += _schedule_problems(where, schedule, kind, recurrency, version)
    if problems:
        raise InvalidChargingProfileError(problems)


# -- builders -----------------------------------------------------------------------------


def _period(period: Period) -> v201.ChargingSchedulePeriodType:
    if isinstance(period, v201.ChargingSchedulePeriodType):
        return period
    if isinstance(period, Mapping):
        return v201.ChargingSchedulePeriodType.from_wire(period)
    start, limit, *rest = period
    return v201.ChargingSchedulePeriodType(
        start_period=start,
        limit=limit,
        number_phases=rest[0] if rest else None,
        phase_to_use=rest[1] if len(rest) > 1 else None,
    )


def charging_schedule(
    periods: Sequence[Period],
    *,
    schedule_id: int = 1,
    unit: v201.ChargingRateUnitEnumType | str = v201.ChargingRateUnitEnumType.A,
    duration: int | None = None,
    start_schedule: datetime | str | None = None,
    min_charging_rate: float | None = None,
    sales_tariff: v201.SalesTariffType | Mapping[str, Any] | None = None,
) -> v201.ChargingScheduleType:
    """A schedule from ``(start_period, limit[, number_phases[, phase_to_use]])`` tuples
    (checked together with its profile)."""
    try:
        rate_unit = v201.ChargingRateUnitEnumType(text(unit))
    except ValueError:
        raise InvalidChargingProfileError([f"chargingRateUnit must be A or W, not {unit!r}"]) from None
    tariff = sales_tariff
    if isinstance(tariff, Mapping):
        tariff = v201.SalesTariffType.from_wire(tariff)
    return v201.ChargingScheduleType(
        id=schedule_id,
        charging_rate_unit=rate_unit,
        charging_schedule_period=[_period(p) for p in periods],
        duration=duration,
        start_schedule=None if start_schedule is None else format_time(start_schedule),
        min_charging_rate=min_charging_rate,
        sales_tariff=tariff,
    )


def charging_profile(
    *,
    profile_id: int,
    purpose: v201.ChargingProfilePurposeEnumType | str,
    periods: Sequence[Period] | None = None,
    schedules: Sequence[v201.ChargingScheduleType] | None = None,
    unit: v201.ChargingRateUnitEnumType | str = v201.ChargingRateUnitEnumType.A,
    stack_level: int = 0,
    kind: v201.ChargingProfileKindEnumType | str | None = None,
    transaction_id: str | None = None,
    recurrency_kind: v201.RecurrencyKindEnumType | str | None = None,
    start_schedule: datetime | str | None = None,
    duration: int | None = None,
    min_charging_rate: float | None = None,
    valid_from: datetime | str | None = None,
    valid_to: datetime | str | None = None,
    evse_id: int | None = None,
    remote_start: bool = False,
) -> v201.ChargingProfileType:
    """Build and check a charging profile (``InvalidChargingProfileError`` lists every problem).

    One schedule from ``periods`` (its id is the profile id) or up to three ready
    ``schedules``. ``kind`` defaults to Recurring when a ``recurrency_kind`` is given, else
    Absolute for a ChargingStationMaxProfile or when a ``start_schedule`` is given, else
    Relative (to the start of each transaction). An Absolute profile without
    ``start_schedule`` starts now. ``evse_id`` / ``remote_start`` check where it is going
    (see ``validate_charging_profile``).
    """
    if (periods is None) == (schedules is None):
        raise InvalidChargingProfileError(["give either periods (one schedule) or schedules"])
    purpose_value = text(purpose)
    if kind is None:
        if recurrency_kind is not None:
            kind = "Recurring"
        elif start_schedule is not None or purpose_value == "ChargingStationMaxProfile":
            kind = "Absolute"
        else:
            kind = "Relative"
    kind_value = text(kind)
    if kind_value in ("Absolute", "Recurring") and start_schedule is None and periods is not None:
        start_schedule = utc_datetime()
    if periods is not None:
        schedules = [
            charging_schedule(
                periods,
                schedule_id=profile_id,
                unit=unit,
                duration=duration,
                start_schedule=start_schedule,
                min_charging_rate=min_charging_rate,
            )
        ]
    data = {
        "id": profile_id,
        "stackLevel": stack_level,
        "chargingProfilePurpose": purpose_value,
        "chargingProfileKind": kind_value,
        "chargingSchedule": [s.to_wire() for s in schedules or ()],
    }
    if transaction_id is not None:
        data["transactionId"] = transaction_id
    if recurrency_kind is not None:
        data["recurrencyKind"] = text(recurrency_kind)
    if valid_from is not None:
        data["validFrom"] = format_time(valid_from)
    if valid_to is not None:
        data["validTo"] = format_time(valid_to)
    validate_charging_profile(data, evse_id=evse_id, remote_start=remote_start)
    return v201.ChargingProfileType.from_wire(data)


def tx_profile(
    profile_id: int, transaction_id: str | None, periods: Sequence[Period], **options: Any
) -> v201.ChargingProfileType:
    """A TxProfile: limits for one running transaction (set on its EVSE). ``transaction_id``
    None with ``remote_start=True``: a profile for RequestStartTransaction."""
    return charging_profile(
        profile_id=profile_id, purpose="TxProfile", transaction_id=transaction_id, periods=periods, **options
    )


def tx_default_profile(profile_id: int, periods: Sequence[Period], **options: Any) -> v201.ChargingProfileType:
    """A TxDefaultProfile: limits for every new transaction (evseId 0 = every EVSE)."""
    return charging_profile(profile_id=profile_id, purpose="TxDefaultProfile", periods=periods, **options)


def charging_station_max_profile(
    profile_id: int, periods: Sequence[Period], **options: Any
) -> v201.ChargingProfileType:
    """A ChargingStationMaxProfile: the limit of the whole station (evseId 0 only)."""
    return charging_profile(profile_id=profile_id, purpose="ChargingStationMaxProfile", periods=periods, **options)


# -- records ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class InstalledProfile:
    """A profile the station accepted, on an EVSE (0: the whole station)."""

    evse_id: int
    profile: dict[str, Any]
    """Wire form (2.1 fields included)."""
    set_at: str

    @property
    def id(self) -> int:
        return int(self.profile["id"])

    @property
    def purpose(self) -> str:
        return str(self.profile["chargingProfilePurpose"])

    @property
    def stack_level(self) -> int:
        return int(self.profile["stackLevel"])

    @property
    def transaction_id(self) -> str | None:
        return self.profile.get("transactionId")

    @property
    def typed(self) -> v201.ChargingProfileType:
        return v201.ChargingProfileType.from_wire(self.profile)


@dataclass(frozen=True, slots=True)
class ReportedProfile:
    """One profile of a ReportChargingProfiles part."""

    evse_id: int
    charging_limit_source: str
    """CSO (set by the CSMS), EMS, SO or Other."""
    profile: dict[str, Any]

    @property
    def id(self) -> int:
        return int(self.profile["id"])

    @property
    def purpose(self) -> str:
        return str(self.profile["chargingProfilePurpose"])


@dataclass(frozen=True, slots=True)
class ChargingProfilesReport:
    """A GetChargingProfiles answer assembled from its ReportChargingProfiles parts."""

    request_id: int
    status: str | None
    """Accepted, NoProfiles (complete and empty), or None (parts without a request of ours)."""
    complete: bool
    parts: int
    profiles: tuple[ReportedProfile, ...]

    @classmethod
    def from_assembled(cls, assembled: Assembled) -> ChargingProfilesReport:
        profiles = tuple(
            ReportedProfile(int(part["evseId"]), str(part["chargingLimitSource"]), profile)
            for part in assembled.payloads
            for profile in part.get("chargingProfile", [])
        )
        return cls(assembled.request_id, assembled.status, assembled.complete, assembled.parts, profiles)


@dataclass(frozen=True, slots=True)
class ChargingNeeds:
    """A NotifyEVChargingNeeds (ISO 15118: what the EV asks for) and the CSMS's answer."""

    evse_id: int
    requested_energy_transfer: str
    received_at: str
    status: str
    """What the CSMS answered: Accepted, Rejected or Processing (2.1 also NoChargingProfile)."""
    departure_time: str | None = None
    ac_charging_parameters: dict[str, Any] | None = None
    dc_charging_parameters: dict[str, Any] | None = None
    max_schedule_tuples: int | None = None
    payload: dict[str, Any] | None = None
    """As received (2.1 extras such as ``v2xChargingParameters`` too)."""


@dataclass(frozen=True, slots=True)
class EVChargingSchedule:
    """A NotifyEVChargingSchedule: the schedule the EV chose (ISO 15118)."""

    evse_id: int
    time_base: str
    charging_schedule: dict[str, Any]
    received_at: str
    status: str
    """What the CSMS answered: Accepted or Rejected."""


@dataclass(frozen=True, slots=True)
class ChargingLimit:
    """An external charging limit (NotifyChargingLimit) and whether it was cleared."""

    charging_limit_source: str
    received_at: str
    evse_id: int | None = None
    """None: the whole station."""
    is_grid_critical: bool | None = None
    charging_schedule: tuple[dict[str, Any], ...] = ()
    cleared_at: str | None = None

    @property
    def active(self) -> bool:
        return self.cleared_at is None


#: ``async (cp, needs) -> status`` (Accepted: a schedule will follow; Processing; Rejected).
ChargingNeedsHook = Callable[
    ["ChargePoint", ChargingNeeds], Awaitable["v201.NotifyEVChargingNeedsStatusEnumType | str"]
]
#: ``async (cp, schedule) -> status`` (Accepted or Rejected: the EV renegotiates).
EVScheduleHook = Callable[["ChargePoint", EVChargingSchedule], Awaitable["v201.GenericStatusEnumType | str"]]
#: 2.1 ``async (cp, charging_profile_id) -> scheduleUpdate | None`` for PullDynamicScheduleUpdate.
DynamicScheduleHook = Callable[["ChargePoint", int], Awaitable["Mapping[str, Any] | None"]]


def _cleared_by(installed: Mapping[str, Any], profile_id: int | None, criteria: Mapping[str, Any]) -> bool:
    """An id selects exactly that profile; otherwise every given criterion must match."""
    profile = installed["profile"]
    if profile_id is not None:
        return bool(profile["id"] == profile_id)
    checks = (
        ("evseId", installed["evse_id"]),
        ("chargingProfilePurpose", profile["chargingProfilePurpose"]),
        ("stackLevel", profile["stackLevel"]),
    )
    return all(criteria[key] == value for key, value in checks if key in criteria)


# -- the plugin ---------------------------------------------------------------------------


class SmartChargingPlugin(V201Plugin):
    """OCPP 2.0.1/2.1 block K (Smart Charging).

    Args:
        on_charging_needs: ``async (cp, needs) -> status`` answers NotifyEVChargingNeeds
            (Accepted promises a schedule: send it with ``set_charging_profile``); default
            Rejected (no schedule will be provided).
        on_ev_schedule: ``async (cp, schedule) -> status`` answers NotifyEVChargingSchedule;
            default Accepted.
        dynamic_schedule: 2.1 ``async (cp, charging_profile_id) -> scheduleUpdate | None``
            answers PullDynamicScheduleUpdate (None or no hook: Rejected).
        report_window: seconds a GetChargingProfiles lets its parts through the Pending guard.
    """

    name: ClassVar[str] = "v201.smart_charging"

    def __init__(
        self,
        *,
        on_charging_needs: ChargingNeedsHook | None = None,
        on_ev_schedule: EVScheduleHook | None = None,
        dynamic_schedule: DynamicScheduleHook | None = None,
        report_window: float = 600.0,
    ) -> None:
        super().__init__()
        self.on_charging_needs = on_charging_needs
        self.on_ev_schedule = on_ev_schedule
        self.dynamic_schedule = dynamic_schedule
        self.reports = PartsAssembler(
            self, "ReportChargingProfiles", sequenced=False, empty=("NoProfiles",), window=report_window
        )
        self.handle("ReportChargingProfiles", self._on_report)
        self.handle("NotifyEVChargingNeeds", self._on_charging_needs)
        self.handle("NotifyEVChargingSchedule", self._on_ev_schedule)
        self.handle("NotifyChargingLimit", self._on_charging_limit)
        self.handle("ClearedChargingLimit", self._on_cleared_limit)
        self.after("TransactionEvent", self._after_transaction_event)
        self.handle_21("NotifyPriorityCharging", self._on_priority_charging)
        self.handle_21("PullDynamicScheduleUpdate", self._on_pull_dynamic_schedule)

    def _version(self, identity: str) -> str:
        cp = self.server.get(identity)
        return cp.version if cp is not None else V201

    async def _installed(self, identity: str) -> list[dict[str, Any]]:
        installed: list[dict[str, Any]] = await self.load(identity, "profiles", [])
        return installed

    # -- profiles -------------------------------------------------------------------------

    async def set_charging_profile(
        self,
        identity: str,
        evse_id: int,
        profile: v201.ChargingProfileType | Mapping[str, Any],
        *,
        timeout: float | None = None,
    ) -> v201.SetChargingProfileResponse:
        """Check and send a profile (a wire dict may carry 2.1 fields); an Accepted one is
        remembered, replacing the profile with the same id."""
        data = _profile_wire(profile)
        validate_charging_profile(data, evse_id=evse_id, version=self._version(identity))
        response = await self.request(
            identity, ("SetChargingProfile", {"evseId": evse_id, "chargingProfile": data}), timeout=timeout
        )
        if response.get("status") == "Accepted":
            new = {"evse_id": evse_id, "profile": data, "set_at": self.now_text()}
            kept = [p for p in await self._installed(identity) if p["profile"]["id"] != data["id"]]
            await self.save(identity, "profiles", [*kept, new])
        return v201.SetChargingProfileResponse.from_wire(response)

    async def charging_profiles(self, identity: str, *, evse_id: int | None = None) -> list[InstalledProfile]:
        """Profiles the station accepted and still has, as far as the CSMS knows."""
        return [
            load_record(InstalledProfile, p)
            for p in await self._installed(identity)
            if evse_id is None or p["evse_id"] == evse_id
        ]

    async def clear_charging_profile(
        self,
        identity: str,
        *,
        profile_id: int | None = None,
        evse_id: int | None = None,
        purpose: v201.ChargingProfilePurposeEnumType | str | None = None,
        stack_level: int | None = None,
        timeout: float | None = None,
    ) -> v201.ClearChargingProfileResponse:
        """Clear profiles: by id, or by every given criterion (none given: every profile the
        CSMS may clear). Accepted drops them from ``charging_profiles``."""
        if text(purpose) == "ChargingStationExternalConstraints":
            raise ValueError("ChargingStationExternalConstraints profiles cannot be cleared by the CSMS")
        payload: dict[str, Any] = {}
        criteria: dict[str, Any] = {}
        if evse_id is not None:
            criteria["evseId"] = evse_id
        if purpose is not None:
            criteria["chargingProfilePurpose"] = text(purpose)
        if stack_level is not None:
            criteria["stackLevel"] = stack_level
        if profile_id is not None:
            payload["chargingProfileId"] = profile_id
        if criteria:
            payload["chargingProfileCriteria"] = criteria
        response = await self.request(identity, ("ClearChargingProfile", payload), timeout=timeout)
        if response.get("status") == "Accepted":
            kept = [p for p in await self._installed(identity) if not _cleared_by(p, profile_id, criteria)]
            await self.save(identity, "profiles", kept)
        return v201.ClearChargingProfileResponse.from_wire(response)

    async def _after_transaction_event(self, cp: ChargePoint, request: Any, response: Any) -> None:
        """The station discards a TxProfile when its transaction ends."""
        payload = wire(request)
        if text(payload.get("eventType")) != "Ended":
            return
        transaction_id = payload.get("transactionInfo", {}).get("transactionId")
        installed = await self._installed(cp.id)
        kept = [p for p in installed if p["profile"].get("transactionId") != transaction_id]
        if len(kept) != len(installed):
            await self.save(cp.id, "profiles", kept)

    # -- reports --------------------------------------------------------------------------

    async def get_charging_profiles(
        self,
        identity: str,
        *,
        evse_id: int | None = None,
        purpose: v201.ChargingProfilePurposeEnumType | str | None = None,
        stack_level: int | None = None,
        profile_ids: Iterable[int] | None = None,
        sources: Iterable[v201.ChargingLimitSourceEnumType | str] | None = None,
        request_id: int | None = None,
        timeout: float | None = None,
    ) -> v201.GetChargingProfilesResponse:
        """Ask for the installed profiles matching every criterion given (evseId 0: the
        station's own; none: all); they follow as ReportChargingProfiles (``report``)."""
        if request_id is None:
            request_id = await self.new_request_id()
        criterion: dict[str, Any] = {}
        if purpose is not None:
            criterion["chargingProfilePurpose"] = text(purpose)
        if stack_level is not None:
            criterion["stackLevel"] = stack_level
        if profile_ids is not None:
            criterion["chargingProfileId"] = list(profile_ids)
        if sources is not None:
            criterion["chargingLimitSource"] = [text(s) for s in sources]
        payload: dict[str, Any] = {"requestId": request_id, "chargingProfile": criterion}
        if evse_id is not None:
            payload["evseId"] = evse_id
        return await self.reports.request(
            identity, ("GetChargingProfiles", payload), v201.GetChargingProfilesResponse, request_id, timeout=timeout
        )

    async def fetch_charging_profiles(
        self,
        identity: str,
        *,
        evse_id: int | None = None,
        purpose: v201.ChargingProfilePurposeEnumType | str | None = None,
        stack_level: int | None = None,
        profile_ids: Iterable[int] | None = None,
        sources: Iterable[v201.ChargingLimitSourceEnumType | str] | None = None,
        wait: float = 60.0,
        request_id: int | None = None,
        timeout: float | None = None,
    ) -> ChargingProfilesReport:
        """GetChargingProfiles and the assembled report (NoProfiles: complete and empty).
        Raises ``MultipartRefusedError`` / ``MultipartTimeoutError``."""
        rid = request_id if request_id is not None else await self.new_request_id()
        sent = self.get_charging_profiles(
            identity,
            evse_id=evse_id,
            purpose=purpose,
            stack_level=stack_level,
            profile_ids=profile_ids,
            sources=sources,
            request_id=rid,
            timeout=timeout,
        )
        return ChargingProfilesReport.from_assembled(await self.reports.fetch(identity, rid, wait, sent))

    async def report(self, identity: str, request_id: int) -> ChargingProfilesReport | None:
        """The profiles reported for ``request_id`` so far (None: nothing known)."""
        assembled = await self.reports.get(identity, request_id)
        return ChargingProfilesReport.from_assembled(assembled) if assembled is not None else None

    async def _on_report(self, cp: ChargePoint, payload: dict[str, Any]) -> v201.ReportChargingProfilesResponse:
        await self.reports.add(cp.id, payload)
        return v201.ReportChargingProfilesResponse()

    # -- composite schedule ---------------------------------------------------------------

    async def get_composite_schedule(
        self,
        identity: str,
        evse_id: int,
        duration: int,
        *,
        charging_rate_unit: v201.ChargingRateUnitEnumType | str | None = None,
        timeout: float | None = None,
    ) -> v201.GetCompositeScheduleResponse:
        """The schedule the station computed from all its profiles and limits for
        ``duration`` seconds (evseId 0: the grid connection); an Accepted one is remembered."""
        if not _is_int(evse_id) or evse_id < 0:
            raise ValueError(f"evse_id must be an integer >= 0, not {evse_id!r}")
        if not _is_int(duration) or duration <= 0:
            raise ValueError(f"duration must be a positive number of seconds, not {duration!r}")
        payload: dict[str, Any] = {"evseId": evse_id, "duration": duration}
        if charging_rate_unit is not None:
            unit = text(charging_rate_unit)
            if unit not in ("A", "W"):
                raise ValueError(f"charging_rate_unit must be A or W, not {unit!r}")
            payload["chargingRateUnit"] = unit
        response = await self.request(identity, ("GetCompositeSchedule", payload), timeout=timeout)
        if response.get("status") == "Accepted" and response.get("schedule"):
            await self.save(identity, f"composite:{evse_id}", {**response["schedule"], "receivedAt": self.now_text()})
        return v201.GetCompositeScheduleResponse.from_wire(response)

    async def composite_schedule(self, identity: str, evse_id: int) -> dict[str, Any] | None:
        """The last composite schedule received for an EVSE (wire form plus ``receivedAt``)."""
        schedule: dict[str, Any] | None = await self.load(identity, f"composite:{evse_id}")
        return schedule

    # -- station notifications ------------------------------------------------------------

    async def _on_charging_needs(self, cp: ChargePoint, payload: dict[str, Any]) -> dict[str, Any]:
        needs = payload["chargingNeeds"]
        record = ChargingNeeds(
            evse_id=int(payload["evseId"]),
            requested_energy_transfer=str(text(needs["requestedEnergyTransfer"])),
            received_at=self.now_text(),
            status="Rejected",
            departure_time=needs.get("departureTime"),
            ac_charging_parameters=needs.get("acChargingParameters"),
            dc_charging_parameters=needs.get("dcChargingParameters"),
            max_schedule_tuples=payload.get("maxScheduleTuples"),
            payload=payload,
        )
        status = "Rejected"
        if self.on_charging_needs is not None:
            status = str(text(await self.on_charging_needs(cp, record)))
        await self.save(cp.id, f"needs:{record.evse_id}", {**dump_record(record), "status": status})
        return {"status": status}

    async def charging_needs(self, identity: str, evse_id: int) -> ChargingNeeds | None:
        """The last NotifyEVChargingNeeds of an EVSE."""
        data = await self.load(identity, f"needs:{evse_id}")
        return load_record(ChargingNeeds, data) if data else None

    async def _on_ev_schedule(self, cp: ChargePoint, payload: dict[str, Any]) -> dict[str, Any]:
        record = EVChargingSchedule(
            evse_id=int(payload["evseId"]),
            time_base=payload["timeBase"],
            charging_schedule=payload["chargingSchedule"],
            received_at=self.now_text(),
            status="Accepted",
        )
        status = "Accepted"
        if self.on_ev_schedule is not None:
            status = str(text(await self.on_ev_schedule(cp, record)))
        await self.save(cp.id, f"ev_schedule:{record.evse_id}", {**dump_record(record), "status": status})
        return {"status": status}

    async def ev_charging_schedule(self, identity: str, evse_id: int) -> EVChargingSchedule | None:
        """The last NotifyEVChargingSchedule of an EVSE."""
        data = await self.load(identity, f"ev_schedule:{evse_id}")
        return load_record(EVChargingSchedule, data) if data else None

    async def _on_charging_limit(self, cp: ChargePoint, payload: dict[str, Any]) -> v201.NotifyChargingLimitResponse:
        limit = payload["chargingLimit"]
        record = ChargingLimit(
            charging_limit_source=str(text(limit["chargingLimitSource"])),
            received_at=self.now_text(),
            evse_id=payload.get("evseId"),
            is_grid_critical=limit.get("isGridCritical"),
            charging_schedule=tuple(payload.get("chargingSchedule") or ()),
        )
        limits: dict[str, Any] = await self.load(cp.id, "limits", {})
        limits[f"{record.charging_limit_source}@{record.evse_id}"] = dump_record(record)
        await self.save(cp.id, "limits", limits)
        return v201.NotifyChargingLimitResponse()

    async def _on_cleared_limit(self, cp: ChargePoint, payload: dict[str, Any]) -> v201.ClearedChargingLimitResponse:
        source, evse_id = str(text(payload["chargingLimitSource"])), payload.get("evseId")
        limits: dict[str, Any] = await self.load(cp.id, "limits", {})
        for record in limits.values():
            if record["charging_limit_source"] == source and (evse_id is None or record["evse_id"] == evse_id):
                record["cleared_at"] = record["cleared_at"] or self.now_text()
        await self.save(cp.id, "limits", limits)
        return v201.ClearedChargingLimitResponse()

    async def charging_limits(self, identity: str, *, active: bool | None = None) -> list[ChargingLimit]:
        """External limits reported by the station (one per source and EVSE; ``active``:
        not cleared)."""
        limits: dict[str, Any] = await self.load(identity, "limits", {})
        found = [load_record(ChargingLimit, v) for _, v in sorted(limits.items())]
        found = [replace(limit, charging_schedule=tuple(limit.charging_schedule)) for limit in found]
        return [limit for limit in found if active is None or limit.active is active]

    # -- OCPP 2.1 -------------------------------------------------------------------------

    async def _on_priority_charging(self, cp: ChargePoint, payload: dict[str, Any]) -> dict[str, Any]:
        priority: dict[str, Any] = await self.load(cp.id, "priority_charging", {})
        priority[str(payload["transactionId"])] = {"activated": bool(payload["activated"]), "at": self.now_text()}
        await self.save(cp.id, "priority_charging", priority)
        return {}

    async def priority_charging(self, identity: str) -> dict[str, bool]:
        """2.1: whether priority charging is active, by transactionId (NotifyPriorityCharging)."""
        priority: dict[str, Any] = await self.load(identity, "priority_charging", {})
        return {tx: bool(v["activated"]) for tx, v in priority.items()}

    async def _on_pull_dynamic_schedule(self, cp: ChargePoint, payload: dict[str, Any]) -> dict[str, Any]:
        update = None
        if self.dynamic_schedule is not None:
            update = await self.dynamic_schedule(cp, int(payload["chargingProfileId"]))
        if update is None:
            return {"status": "Rejected"}
        return {"status": "Accepted", "scheduleUpdate": dict(update)}

    async def use_priority_charging(
        self, identity: str, transaction_id: str, activate: bool = True, *, timeout: float | None = None
    ) -> v21.UsePriorityChargingResponse:
        """2.1: switch priority charging of a transaction on or off."""
        payload = {"transactionId": transaction_id, "activate": activate}
        response = await self.request_21(identity, "UsePriorityCharging", payload, timeout=timeout)
        return v21.UsePriorityChargingResponse.from_wire(response)

    async def update_dynamic_schedule(
        self,
        identity: str,
        charging_profile_id: int,
        schedule_update: Mapping[str, Any],
        *,
        timeout: float | None = None,
    ) -> v21.UpdateDynamicScheduleResponse:
        """2.1: new values (``limit``, ``setpoint``, ...) for a Dynamic profile."""
        payload = {"chargingProfileId": charging_profile_id, "scheduleUpdate": dict(schedule_update)}
        response = await self.request_21(identity, "UpdateDynamicSchedule", payload, timeout=timeout)
        return v21.UpdateDynamicScheduleResponse.from_wire(response)
