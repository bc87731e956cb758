"""OCPP 2.0.1 block N, Diagnostics: log uploads (GetLog with the LogStatusNotification
history per requestId), events (NotifyEvent, multi-part by seqNo/tbc), variable monitoring
(SetVariableMonitoring, SetMonitoringBase, SetMonitoringLevel, ClearVariableMonitoring,
GetMonitoringReport with the NotifyMonitoringReport parts assembled by requestId/seqNo)
and customer information (CustomerInformation with NotifyCustomerInformation assembly).

The messages a request triggers (LogStatusNotification, NotifyMonitoringReport,
NotifyCustomerInformation) pass the Pending guard for that requestId ("expected" marks,
set before the request is sent and withdrawn once the answer is complete).

NotifyEvent carries no requestId: its parts are grouped by arrival (seqNo 0 opens a new
group, the part with ``tbc`` false and every seqNo below it complete it) and each event is
stored once (by eventId and timestamp) as soon as it arrives; ``on_events`` gets a complete
group. OCPP 2.1's periodic event streams are served on 2.1 connections:
OpenPeriodicEventStream / ClosePeriodicEventStream (handlers), the NotifyPeriodicEventStream
SEND (values stored per stream) and the GetPeriodicEventStream / AdjustPeriodicEventStream
helpers.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import TYPE_CHECKING, Any, ClassVar

from .. import v21, v201
from ._base import (
    EPOCH,
    Assembled,
    Notifier,
    PartsAssembler,
    StatusEvent,
    V201Plugin,
    VariableRef,
    append_bounded,
    dump_record,
    expect,
    format_time,
    id_token_wire,
    load_record,
    parse_time,
    text,
    unexpect,
)

if TYPE_CHECKING:
    from datetime import datetime

    from .._session import ChargePoint

__all__ = [
    "FINAL_LOG_STATUSES",
    "CustomerData",
    "DiagnosticsPlugin",
    "EventsHook",
    "KnownMonitor",
    "LogRequest",
    "MonitorResult",
    "MonitorSpec",
    "MonitoringReport",
    "PeriodicEventStream",
    "StationEvent",
]

log = logging.getLogger("ocpp_router")

#: LogStatusNotification statuses after which an upload is over.
FINAL_LOG_STATUSES = frozenset(
    {"Uploaded", "UploadFailure", "BadMessage", "NotSupportedOperation", "PermissionDenied", "AcceptedCanceled"}
)
_MONITOR_TYPES = {t.value for t in v201.MonitorEnumType} | {"TargetDelta", "TargetDeltaRelative"}  # 2.1


# -- records ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LogRequest:
    """A GetLog the CSMS sent and the station's upload reports."""

    request_id: int
    log_type: str
    """DiagnosticsLog or SecurityLog (2.1 also DataCollectorLog)."""
    remote_location: str
    requested_at: str
    answer: str
    """``Requested`` until answered, then Accepted, Rejected or AcceptedCanceled (an
    earlier upload was cancelled for this one)."""
    filename: str | None = None
    """The file the station uploads (from its answer)."""
    oldest_timestamp: str | None = None
    latest_timestamp: str | None = None
    statuses: tuple[StatusEvent, ...] = ()

    @property
    def status(self) -> str | None:
        return self.statuses[-1].status if self.statuses else None

    @property
    def finished(self) -> bool:
        return self.answer == "Rejected" or self.status in FINAL_LOG_STATUSES

    @property
    def uploaded(self) -> bool:
        return self.status == "Uploaded"


@dataclass(frozen=True, slots=True)
class StationEvent:
    """One event of a NotifyEvent (a monitor triggered, or a hard-wired notification)."""

    event_id: int
    timestamp: str
    trigger: str
    """Alerting, Delta or Periodic."""
    actual_value: str
    event_notification_type: str
    """HardWiredNotification, HardWiredMonitor, PreconfiguredMonitor or CustomMonitor."""
    ref: str
    """The variable as ``VariableRef`` text (``"EVSE@1.AvailabilityState"``)."""
    generated_at: str
    received_at: str
    cause: int | None = None
    """The eventId of the event that caused this one."""
    tech_code: str | None = None
    tech_info: str | None = None
    cleared: bool | None = None
    transaction_id: str | None = None
    variable_monitoring_id: int | None = None
    severity: int | None = None
    """2.1: the monitor's severity."""

    @property
    def variable_ref(self) -> VariableRef:
        return VariableRef.parse(self.ref)


@dataclass(frozen=True, slots=True)
class MonitorSpec:
    """A monitor to set with ``set_variable_monitoring``."""

    ref: str | VariableRef
    """The variable (``"EVSE@1.Power"``)."""
    type: v201.MonitorEnumType | str
    """UpperThreshold, LowerThreshold, Delta, Periodic, PeriodicClockAligned (2.1 also
    TargetDelta, TargetDeltaRelative)."""
    value: float
    """The threshold, the delta, or the period in seconds."""
    severity: int = 5
    """0 (Danger) .. 9 (Debug)."""
    id: int | None = None
    """An existing monitor's id to replace it."""
    transaction: bool = False
    """Only while a transaction runs on the monitored EVSE."""

    def problems(self) -> list[str]:
        out = []
        kind = text(self.type)
        if kind not in _MONITOR_TYPES:
            out.append(f"unknown monitor type {kind!r}")
        if isinstance(self.severity, bool) or not isinstance(self.severity, int) or not 0 <= self.severity <= 9:
            out.append(f"severity must be 0..9, not {self.severity!r}")
        if isinstance(self.value, bool) or not isinstance(self.value, (int, float)):
            out.append(f"value must be a number, not {self.value!r}")
        elif kind in ("Periodic", "PeriodicClockAligned") and self.value <= 0:
            out.append(f"a {kind} monitor needs a period > 0 seconds, not {self.value!r}")
        elif kind == "Delta" and self.value < 0:
            out.append(f"a Delta monitor needs a value >= 0, not {self.value!r}")
        return out

    def to_wire(self) -> dict[str, Any]:
        ref = VariableRef.parse(self.ref)
        data: dict[str, Any] = {
            "value": self.value,
            "type": text(self.type),
            "severity": self.severity,
            "component": ref.component_type().to_wire(),
            "variable": ref.variable_type().to_wire(),
        }
        if self.id is not None:
            data["id"] = self.id
        if self.transaction:
            data["transaction"] = True
        return data


@dataclass(frozen=True, slots=True)
class MonitorResult:
    """The station's answer for one monitor of a SetVariableMonitoring."""

    ref: str
    status: str
    """Accepted, UnknownComponent, UnknownVariable, UnsupportedMonitorType, Rejected, Duplicate."""
    type: str
    severity: int
    id: int | None = None
    """The monitor's id (assigned by the station when Accepted)."""
    reason_code: str | None = None
    additional_info: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == "Accepted"


@dataclass(frozen=True, slots=True)
class KnownMonitor:
    """A monitor the CSMS knows a station has (set and accepted, or reported)."""

    id: int
    ref: str
    type: str
    value: float
    severity: int
    transaction: bool
    source: str
    """``set`` or ``report``."""
    updated_at: str


@dataclass(frozen=True, slots=True)
class MonitoringReport:
    """A GetMonitoringReport answer assembled from its NotifyMonitoringReport parts."""

    request_id: int
    status: str | None
    """Accepted, EmptyResultSet (complete and empty), or None (parts without a request of ours)."""
    complete: bool
    parts: int
    missing: tuple[int, ...]
    monitors: tuple[KnownMonitor, ...]

    @classmethod
    def from_assembled(cls, assembled: Assembled, received_at: str) -> MonitoringReport:
        monitors = []
        for part in assembled.payloads:
            for item in part.get("monitor") or ():
                ref = VariableRef.from_wire(item["component"], item["variable"]).key
                for monitor in item["variableMonitoring"]:
                    monitors.append(
                        KnownMonitor(
                            id=int(monitor["id"]),
                            ref=ref,
                            type=str(monitor["type"]),
                            value=monitor["value"],
                            severity=int(monitor["severity"]),
                            transaction=bool(monitor["transaction"]),
                            source="report",
                            updated_at=received_at,
                        )
                    )
        return cls(
            assembled.request_id,
            assembled.status,
            assembled.complete,
            assembled.parts,
            assembled.missing,
            tuple(monitors),
        )


@dataclass(frozen=True, slots=True)
class CustomerData:
    """A CustomerInformation answer assembled from its NotifyCustomerInformation parts."""

    request_id: int
    status: str | None
    complete: bool
    parts: int
    missing: tuple[int, ...]
    data: str
    """The parts' ``data`` joined in seqNo order."""
    generated_at: str | None = None

    @classmethod
    def from_assembled(cls, assembled: Assembled) -> CustomerData:
        text_data = "".join(str(p.get("data", "")) for p in assembled.payloads)
        return cls(
            assembled.request_id,
            assembled.status,
            assembled.complete,
            assembled.parts,
            assembled.missing,
            text_data,
            assembled.generated_at,
        )


@dataclass(frozen=True, slots=True)
class PeriodicEventStream:
    """2.1: a periodic event stream the station opened and the values it sent."""

    id: int
    variable_monitoring_id: int
    opened_at: str
    interval: int | None = None
    values: int | None = None
    closed_at: str | None = None
    data: tuple[tuple[str, str], ...] = ()
    """``(timestamp, value)`` pairs (basetime + t), oldest first."""
    pending: int | None = None
    """Values the station still has to send (from the last NotifyPeriodicEventStream)."""


#: ``async (cp, events)`` for each complete NotifyEvent (all its parts' events).
EventsHook = Callable[["ChargePoint", list[StationEvent]], Awaitable[None]]


def _check_retries(retries: int | None, retry_interval: int | None) -> None:
    for name, value in (("retries", retries), ("retry_interval", retry_interval)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
            raise ValueError(f"{name} must be an integer >= 0, not {value!r}")


def _component_variable(item: str | VariableRef | Mapping[str, Any]) -> dict[str, Any]:
    if isinstance(item, Mapping):
        return dict(item)
    if isinstance(item, str) and "." not in item:
        return {"component": {"name": item}}
    ref = VariableRef.parse(item)
    return {"component": ref.component_type().to_wire(), "variable": ref.variable_type().to_wire()}


# -- the plugin ---------------------------------------------------------------------------


class DiagnosticsPlugin(V201Plugin):
    """OCPP 2.0.1/2.1 block N (Diagnostics).

    Args:
        on_events: ``async (cp, events)`` for each complete NotifyEvent (an exception is
            logged).
        report_window: seconds the parts of a monitoring report or customer information
            pass the Pending guard.
        log_window: seconds the LogStatusNotifications of an upload pass it.
        max_events: events kept per station; max_history: log requests kept per station.
        max_stream_values: values kept per periodic event stream (2.1).
    """

    name: ClassVar[str] = "v201.diagnostics"

    def __init__(
        self,
        *,
        on_events: EventsHook | None = None,
        report_window: float = 600.0,
        log_window: float = 3600.0,
        max_events: int = 1000,
        max_history: int = 50,
        max_stream_values: int = 10_000,
    ) -> None:
        super().__init__()
        self.on_events = on_events
        self.log_window = log_window
        self.max_events = max_events
        self.max_history = max_history
        self.max_stream_values = max_stream_values
        self._notifier = Notifier()
        self.monitoring_reports = PartsAssembler(
            self, "NotifyMonitoringReport", sequenced=True, empty=("EmptyResultSet",), window=report_window
        )
        self.customer_reports = PartsAssembler(self, "NotifyCustomerInformation", sequenced=True, window=report_window)
        self.handle("LogStatusNotification", self._on_log_status)
        self.handle("NotifyEvent", self._on_notify_event)
        self.handle("NotifyMonitoringReport", self._on_monitoring_report)
        self.handle("NotifyCustomerInformation", self._on_customer_information)
        self.handle_21("OpenPeriodicEventStream", self._on_open_stream)
        self.handle_21("ClosePeriodicEventStream", self._on_close_stream)
        self.handle_21("NotifyPeriodicEventStream", self._on_stream_data)

    # -- logs -----------------------------------------------------------------------------

    async def get_log(
        self,
        identity: str,
        remote_location: str,
        log_type: v201.LogEnumType | str = v201.LogEnumType.DiagnosticsLog,
        *,
        oldest_timestamp: datetime | str | None = None,
        latest_timestamp: datetime | str | None = None,
        retries: int | None = None,
        retry_interval: int | None = None,
        request_id: int | None = None,
        timeout: float | None = None,
    ) -> LogRequest:
        """Ask the station to upload a log to ``remote_location`` (an ftp/http(s) URL); the
        record carries its answer and file name, its ``statuses`` fill as it reports
        (``log_request``, ``wait_for_log``)."""
        if not remote_location:
            raise ValueError("remote_location must be a URL")
        _check_retries(retries, retry_interval)
        if request_id is None:
            request_id = await self.new_request_id()
        parameters: dict[str, Any] = {"remoteLocation": remote_location}
        if oldest_timestamp is not None:
            parameters["oldestTimestamp"] = format_time(oldest_timestamp)
        if latest_timestamp is not None:
            parameters["latestTimestamp"] = format_time(latest_timestamp)
        payload: dict[str, Any] = {"log": parameters, "logType": text(log_type), "requestId": request_id}
        if retries is not None:
            payload["retries"] = retries
        if retry_interval is not None:
            payload["retryInterval"] = retry_interval
        record = LogRequest(
            request_id=request_id,
            log_type=str(text(log_type)),
            remote_location=remote_location,
            requested_at=self.now_text(),
            answer="Requested",
            oldest_timestamp=parameters.get("oldestTimestamp"),
            latest_timestamp=parameters.get("latestTimestamp"),
        )
        key = f"log:{request_id}"
        await self.save(identity, key, dump_record(record))
        order: list[int] = await self.load(identity, "logs", [])
        order.append(request_id)
        for old in order[: -self.max_history]:
            await self.storage.delete(self.name, identity, f"log:{old}")
            await self.storage.delete(self.name, identity, f"log:{old}:statuses")
        await self.save(identity, "logs", order[-self.max_history :])
        mark = await expect(self.storage, identity, "LogStatusNotification", self.log_window, request_id=request_id)
        try:
            response = await self.request(identity, ("GetLog", payload), timeout=timeout)
        except BaseException:
            await unexpect(self.storage, identity, "LogStatusNotification", mark, request_id=request_id)
            raise
        answer = str(text(response.get("status")))
        if answer == "Rejected":
            await unexpect(self.storage, identity, "LogStatusNotification", mark, request_id=request_id)
        await self.save(identity, key, dump_record(replace(record, answer=answer, filename=response.get("filename"))))
        self._notifier.notify((identity, "log", request_id))
        found = await self.log_request(identity, request_id)
        assert found is not None
        return found

    async def _on_log_status(self, cp: ChargePoint, payload: dict[str, Any]) -> v201.LogStatusNotificationResponse:
        status = str(text(payload["status"]))
        request_id = payload.get("requestId")
        event = StatusEvent(status=status, received_at=self.now_text(), request_id=request_id)
        key = f"log:{request_id}:statuses" if request_id is not None else "log:none:statuses"
        await append_bounded(self.storage, self.name, cp.id, key, dump_record(event), 100)
        await self.save(cp.id, "log_status", dump_record(event))
        if request_id is not None and status in FINAL_LOG_STATUSES:
            await unexpect(self.storage, cp.id, "LogStatusNotification", request_id=request_id)
        self._notifier.notify((cp.id, "log", request_id))
        return v201.LogStatusNotificationResponse()

    async def log_request(self, identity: str, request_id: int) -> LogRequest | None:
        """One GetLog with its status history."""
        data = await self.load(identity, f"log:{request_id}")
        if not data:
            return None
        statuses = await self.load_list(StatusEvent, identity, f"log:{request_id}:statuses")
        return replace(load_record(LogRequest, data), statuses=tuple(statuses))

    async def log_requests(self, identity: str) -> list[LogRequest]:
        """The station's log requests, oldest first."""
        found = [await self.log_request(identity, rid) for rid in await self.load(identity, "logs", [])]
        return [r for r in found if r is not None]

    async def log_status(self, identity: str) -> StatusEvent | None:
        """The station's last LogStatusNotification (any request, or a triggered one)."""
        data = await self.load(identity, "log_status")
        return load_record(StatusEvent, data) if data else None

    async def wait_for_log(
        self, identity: str, request_id: int, statuses: Iterable[str] | None = None, *, timeout: float = 600.0
    ) -> LogRequest:
        """Until the upload reported one of ``statuses`` (default: a final one) or was
        refused; ``trio.TooSlowError`` after ``timeout``."""
        wanted = frozenset(statuses) if statuses is not None else None

        async def check() -> LogRequest | None:
            found = await self.log_request(identity, request_id)
            if found is None:
                return None
            if wanted is None:
                return found if found.finished else None
            return found if any(s.status in wanted for s in found.statuses) else None

        return await self._notifier.wait_for((identity, "log", request_id), check, timeout)

    # -- events ---------------------------------------------------------------------------

    async def _on_notify_event(self, cp: ChargePoint, payload: dict[str, Any]) -> v201.NotifyEventResponse:
        now = self.now_text()
        generated_at = payload["generatedAt"]
        events = [
            StationEvent(
                event_id=int(item["eventId"]),
                timestamp=item["timestamp"],
                trigger=str(text(item["trigger"])),
                actual_value=item["actualValue"],
                event_notification_type=str(text(item["eventNotificationType"])),
                ref=VariableRef.from_wire(item["component"], item["variable"]).key,
                generated_at=generated_at,
                received_at=now,
                cause=item.get("cause"),
                tech_code=item.get("techCode"),
                tech_info=item.get("techInfo"),
                cleared=item.get("cleared"),
                transaction_id=item.get("transactionId"),
                variable_monitoring_id=item.get("variableMonitoringId"),
                severity=item.get("severity"),
            )
            for item in payload["eventData"]
        ]
        stored: list[dict[str, Any]] = await self.load(cp.id, "events", [])
        seen = {(e["event_id"], e["timestamp"]) for e in stored}
        new = [e for e in events if (e.event_id, e.timestamp) not in seen]
        if new:
            await self.save(cp.id, "events", [*stored, *map(dump_record, new)][-self.max_events :])
        complete = await self._add_event_part(cp.id, int(payload["seqNo"]), bool(payload.get("tbc", False)), events)
        if complete is not None and self.on_events is not None:
            try:
                await self.on_events(cp, complete)
            except Exception:
                log.exception("%s: on_events hook failed", cp.id)
        return v201.NotifyEventResponse()

    async def _add_event_part(
        self, identity: str, seq_no: int, tbc: bool, events: list[StationEvent]
    ) -> list[StationEvent] | None:
        """Group the parts of one NotifyEvent; the group's events once it is complete."""
        group: dict[str, Any] = await self.load(identity, "event_group") or {"parts": {}, "last": None}
        if str(seq_no) in group["parts"]:
            if seq_no != 0:
                return None  # a resend of a part of this group
            group = {"parts": {}, "last": None}  # a new NotifyEvent
        group["parts"][str(seq_no)] = [dump_record(e) for e in events]
        if not tbc:
            group["last"] = seq_no
        last = group["last"]
        if last is not None and all(str(n) in group["parts"] for n in range(last + 1)):
            await self.storage.delete(self.name, identity, "event_group")
            return [load_record(StationEvent, e) for n in range(last + 1) for e in group["parts"][str(n)]]
        await self.save(identity, "event_group", group)
        return None

    async def events(
        self,
        identity: str,
        *,
        ref: str | VariableRef | None = None,
        trigger: v201.EventTriggerEnumType | str | None = None,
        since: datetime | str | None = None,
    ) -> list[StationEvent]:
        """Stored events in time order: of one variable (component + variable, any
        attribute; ``"Connector.AvailabilityState"`` matches every EVSE unless one is
        given), of one trigger, from ``since`` on."""
        wanted = VariableRef.parse(ref) if ref is not None else None
        low = parse_time(format_time(since)) if since is not None else None
        found = []
        for data in await self.load(identity, "events", []):
            event = load_record(StationEvent, data)
            if wanted is not None:
                got = event.variable_ref
                if (got.component, got.variable) != (wanted.component, wanted.variable):
                    continue
                if wanted.evse_id is not None and got.evse_id != wanted.evse_id:
                    continue
                if wanted.component_instance is not None and got.component_instance != wanted.component_instance:
                    continue
            if trigger is not None and event.trigger != text(trigger):
                continue
            if low is not None and (parse_time(event.timestamp) or EPOCH) < low:
                continue
            found.append(event)
        return sorted(found, key=lambda e: (parse_time(e.timestamp) or EPOCH, e.event_id))

    # -- monitoring -----------------------------------------------------------------------

    async def _remember_monitors(self, identity: str, monitors: Iterable[KnownMonitor]) -> None:
        known: dict[str, Any] = await self.load(identity, "monitors", {})
        for monitor in monitors:
            previous = known.get(str(monitor.id))
            if previous is not None and previous["source"] == "set":  # still the CSMS's custom monitor
                monitor = replace(monitor, source="set")
            known[str(monitor.id)] = dump_record(monitor)
        await self.save(identity, "monitors", known)

    async def monitors(self, identity: str) -> dict[int, KnownMonitor]:
        """Monitors the CSMS knows the station has, by id (set and accepted, or reported)."""
        known: dict[str, Any] = await self.load(identity, "monitors", {})
        return {int(k): load_record(KnownMonitor, v) for k, v in sorted(known.items(), key=lambda kv: int(kv[0]))}

    async def set_variable_monitoring(
        self, identity: str, monitors: Iterable[MonitorSpec | Mapping[str, Any]], *, timeout: float | None = None
    ) -> list[MonitorResult]:
        """Set monitors (``MonitorSpec`` or ``SetMonitoringDataType`` wire dicts); one result
        per monitor in order. ``ValueError`` lists invalid specs before anything is sent;
        Accepted monitors are remembered with the id the station gave them."""
        data: list[dict[str, Any]] = []
        problems: list[str] = []
        for index, monitor in enumerate(monitors):
            if isinstance(monitor, MonitorSpec):
                problems += [f"monitor {index}: {p}" for p in monitor.problems()]
                if not monitor.problems():
                    data.append(monitor.to_wire())
            else:
                data.append(dict(monitor))
        if problems:
            raise ValueError("invalid monitors: " + "; ".join(problems))
        if not data:
            raise ValueError("no monitors given")
        response = await self.request(identity, ("SetVariableMonitoring", {"setMonitoringData": data}), timeout=timeout)
        results = []
        accepted = []
        now = self.now_text()
        for sent, item in zip(data, response.get("setMonitoringResult", []), strict=False):
            info = item.get("statusInfo") or {}
            result = MonitorResult(
                ref=VariableRef.from_wire(item["component"], item["variable"]).key,
                status=str(text(item["status"])),
                type=str(text(item["type"])),
                severity=int(item["severity"]),
                id=item.get("id"),
                reason_code=info.get("reasonCode"),
                additional_info=info.get("additionalInfo"),
            )
            results.append(result)
            if result.ok and result.id is not None:
                accepted.append(
                    KnownMonitor(
                        id=result.id,
                        ref=result.ref,
                        type=result.type,
                        value=sent["value"],
                        severity=result.severity,
                        transaction=bool(sent.get("transaction", False)),
                        source="set",
                        updated_at=now,
                    )
                )
        if accepted:
            await self._remember_monitors(identity, accepted)
        return results

    async def set_monitoring_base(
        self, identity: str, monitoring_base: v201.MonitoringBaseEnumType | str, *, timeout: float | None = None
    ) -> v201.SetMonitoringBaseResponse:
        """All (every pre-configured monitor), FactoryDefault or HardWiredOnly (both drop
        the custom monitors: forgotten when Accepted)."""
        base = v201.MonitoringBaseEnumType(text(monitoring_base))
        request = v201.SetMonitoringBaseRequest(monitoring_base=base)
        response = await self.request_typed(identity, request, v201.SetMonitoringBaseResponse, timeout=timeout)
        if text(response.status) == "Accepted":
            await self.save(identity, "monitoring_base", base.value)
            if base != v201.MonitoringBaseEnumType.All:
                known: dict[str, Any] = await self.load(identity, "monitors", {})
                await self.save(identity, "monitors", {k: v for k, v in known.items() if v["source"] != "set"})
        return response

    async def set_monitoring_level(
        self, identity: str, severity: int, *, timeout: float | None = None
    ) -> v201.SetMonitoringLevelResponse:
        """Report only events of this severity or more severe (0 Danger .. 9 Debug)."""
        if isinstance(severity, bool) or not isinstance(severity, int) or not 0 <= severity <= 9:
            raise ValueError(f"severity must be 0..9, not {severity!r}")
        request = v201.SetMonitoringLevelRequest(severity=severity)
        response = await self.request_typed(identity, request, v201.SetMonitoringLevelResponse, timeout=timeout)
        if text(response.status) == "Accepted":
            await self.save(identity, "monitoring_level", severity)
        return response

    async def monitoring_settings(self, identity: str) -> dict[str, Any]:
        """The accepted ``monitoring_base`` and ``monitoring_level`` (None: never set)."""
        return {
            "monitoring_base": await self.load(identity, "monitoring_base"),
            "monitoring_level": await self.load(identity, "monitoring_level"),
        }

    async def clear_variable_monitoring(
        self, identity: str, ids: Iterable[int], *, timeout: float | None = None
    ) -> dict[int, str]:
        """Remove monitors by id; the station's status per id (Accepted, Rejected,
        NotFound). Accepted and NotFound ones are forgotten."""
        wanted = list(ids)
        if not wanted:
            raise ValueError("no monitor ids given")
        response = await self.request(identity, ("ClearVariableMonitoring", {"id": wanted}), timeout=timeout)
        results = {int(r["id"]): str(text(r["status"])) for r in response.get("clearMonitoringResult", [])}
        gone = {str(i) for i, status in results.items() if status in ("Accepted", "NotFound")}
        if gone:
            known: dict[str, Any] = await self.load(identity, "monitors", {})
            await self.save(identity, "monitors", {k: v for k, v in known.items() if k not in gone})
        return results

    async def get_monitoring_report(
        self,
        identity: str,
        *,
        component_variables: Iterable[str | VariableRef | Mapping[str, Any]] | None = None,
        criteria: Iterable[v201.MonitoringCriterionEnumType | str] | None = None,
        request_id: int | None = None,
        timeout: float | None = None,
    ) -> v201.GetMonitoringReportResponse:
        """Ask for the monitors (of components — a name without a dot — or variables, and/or
        of the criteria ThresholdMonitoring, DeltaMonitoring, PeriodicMonitoring); they
        follow as NotifyMonitoringReport parts (``monitoring_report``)."""
        if request_id is None:
            request_id = await self.new_request_id()
        payload: dict[str, Any] = {"requestId": request_id}
        variables = [_component_variable(item) for item in component_variables or ()]
        if variables:
            payload["componentVariable"] = variables
        wanted = [text(c) for c in criteria or ()]
        if wanted:
            payload["monitoringCriteria"] = wanted
        return await self.monitoring_reports.request(
            identity, ("GetMonitoringReport", payload), v201.GetMonitoringReportResponse, request_id, timeout=timeout
        )

    async def fetch_monitoring_report(
        self,
        identity: str,
        *,
        component_variables: Iterable[str | VariableRef | Mapping[str, Any]] | None = None,
        criteria: Iterable[v201.MonitoringCriterionEnumType | str] | None = None,
        wait: float = 60.0,
        request_id: int | None = None,
        timeout: float | None = None,
    ) -> MonitoringReport:
        """GetMonitoringReport and the assembled report (EmptyResultSet: complete and
        empty). Raises ``MultipartRefusedError`` / ``MultipartTimeoutError``."""
        rid = request_id if request_id is not None else await self.new_request_id()
        sent = self.get_monitoring_report(
            identity, component_variables=component_variables, criteria=criteria, request_id=rid, timeout=timeout
        )
        assembled = await self.monitoring_reports.fetch(identity, rid, wait, sent)
        return MonitoringReport.from_assembled(assembled, self.now_text())

    async def monitoring_report(self, identity: str, request_id: int) -> MonitoringReport | None:
        """The monitoring report for ``request_id`` as received so far."""
        assembled = await self.monitoring_reports.get(identity, request_id)
        return MonitoringReport.from_assembled(assembled, self.now_text()) if assembled is not None else None

    async def _on_monitoring_report(
        self, cp: ChargePoint, payload: dict[str, Any]
    ) -> v201.NotifyMonitoringReportResponse:
        assembled, completed = await self.monitoring_reports.add(cp.id, payload)
        if completed:
            await self._remember_monitors(cp.id, MonitoringReport.from_assembled(assembled, self.now_text()).monitors)
        return v201.NotifyMonitoringReportResponse()

    # -- customer information -------------------------------------------------------------

    async def customer_information(
        self,
        identity: str,
        *,
        report: bool = True,
        clear: bool = False,
        customer_identifier: str | None = None,
        id_token: str | v201.IdTokenType | Mapping[str, Any] | None = None,
        token_type: v201.IdTokenEnumType | str = v201.IdTokenEnumType.ISO14443,
        customer_certificate: v201.CertificateHashDataType | Mapping[str, Any] | None = None,
        request_id: int | None = None,
        timeout: float | None = None,
    ) -> v201.CustomerInformationResponse:
        """Ask for (``report``) and/or erase (``clear``) what the station keeps about a
        customer, named by ``customer_identifier``, ``id_token`` (a string is a token of
        ``token_type``) or ``customer_certificate``. The data follows as
        NotifyCustomerInformation parts (``customer_data``)."""
        if not (report or clear):
            raise ValueError("ask to report and/or to clear")
        if customer_identifier is None and id_token is None and customer_certificate is None:
            raise ValueError("name the customer: customer_identifier, id_token or customer_certificate")
        if request_id is None:
            request_id = await self.new_request_id()
        payload: dict[str, Any] = {"requestId": request_id, "report": report, "clear": clear}
        if customer_identifier is not None:
            payload["customerIdentifier"] = customer_identifier
        if id_token is not None:
            payload["idToken"] = id_token_wire(id_token, token_type)
        if customer_certificate is not None:
            payload["customerCertificate"] = (
                customer_certificate.to_wire()
                if isinstance(customer_certificate, v201.CertificateHashDataType)
                else dict(customer_certificate)
            )
        return await self.customer_reports.request(
            identity, ("CustomerInformation", payload), v201.CustomerInformationResponse, request_id, timeout=timeout
        )

    async def fetch_customer_information(
        self,
        identity: str,
        *,
        clear: bool = False,
        customer_identifier: str | None = None,
        id_token: str | v201.IdTokenType | Mapping[str, Any] | None = None,
        token_type: v201.IdTokenEnumType | str = v201.IdTokenEnumType.ISO14443,
        customer_certificate: v201.CertificateHashDataType | Mapping[str, Any] | None = None,
        wait: float = 60.0,
        request_id: int | None = None,
        timeout: float | None = None,
    ) -> CustomerData:
        """CustomerInformation (report) and the assembled data. Raises
        ``MultipartRefusedError`` (Rejected, Invalid) / ``MultipartTimeoutError``."""
        rid = request_id if request_id is not None else await self.new_request_id()
        sent = self.customer_information(
            identity,
            report=True,
            clear=clear,
            customer_identifier=customer_identifier,
            id_token=id_token,
            token_type=token_type,
            customer_certificate=customer_certificate,
            request_id=rid,
            timeout=timeout,
        )
        return CustomerData.from_assembled(await self.customer_reports.fetch(identity, rid, wait, sent))

    async def customer_data(self, identity: str, request_id: int) -> CustomerData | None:
        """The customer information for ``request_id`` as received so far."""
        assembled = await self.customer_reports.get(identity, request_id)
        return CustomerData.from_assembled(assembled) if assembled is not None else None

    async def _on_customer_information(
        self, cp: ChargePoint, payload: dict[str, Any]
    ) -> v201.NotifyCustomerInformationResponse:
        await self.customer_reports.add(cp.id, payload)
        return v201.NotifyCustomerInformationResponse()

    # -- OCPP 2.1 periodic event streams --------------------------------------------------

    async def _on_open_stream(self, cp: ChargePoint, payload: dict[str, Any]) -> dict[str, Any]:
        data = payload["constantStreamData"]
        params = data.get("params") or {}
        stream = PeriodicEventStream(
            id=int(data["id"]),
            variable_monitoring_id=int(data["variableMonitoringId"]),
            opened_at=self.now_text(),
            interval=params.get("interval"),
            values=params.get("values"),
        )
        await self.save(cp.id, f"stream:{stream.id}", dump_record(stream))
        return {"status": "Accepted"}

    async def _on_close_stream(self, cp: ChargePoint, payload: dict[str, Any]) -> dict[str, Any]:
        key = f"stream:{int(payload['id'])}"
        current = await self.load(cp.id, key)
        if current is not None:
            await self.save(cp.id, key, {**current, "closed_at": self.now_text()})
        return {}

    async def _on_stream_data(self, cp: ChargePoint, payload: dict[str, Any]) -> None:
        """NotifyPeriodicEventStream (a SEND: no answer)."""
        key = f"stream:{int(payload['id'])}"
        current = await self.load(cp.id, key)
        if current is None:  # values of a stream opened before our state was lost
            current = dump_record(
                PeriodicEventStream(id=int(payload["id"]), variable_monitoring_id=-1, opened_at=self.now_text())
            )
        base = parse_time(payload["basetime"]) or EPOCH
        values = [[format_time(base + timedelta(seconds=float(item["t"]))), str(item["v"])] for item in payload["data"]]
        data = [*current.get("data", []), *values][-self.max_stream_values :]
        await self.save(cp.id, key, {**current, "data": data, "pending": payload.get("pending")})

    async def periodic_event_streams(self, identity: str) -> list[PeriodicEventStream]:
        """2.1: the streams the station opened (closed ones too), with their values."""
        items = await self.storage.items(self.name, identity)
        found = []
        for key, value in items.items():
            if key.startswith("stream:"):
                stream = load_record(PeriodicEventStream, value)
                found.append(replace(stream, data=tuple((t, v) for t, v in stream.data)))
        return sorted(found, key=lambda s: s.id)

    async def get_periodic_event_streams(
        self, identity: str, *, timeout: float | None = None
    ) -> v21.GetPeriodicEventStreamResponse:
        """2.1: the streams the station has open (GetPeriodicEventStream)."""
        response = await self.request_21(identity, "GetPeriodicEventStream", {}, timeout=timeout)
        return v21.GetPeriodicEventStreamResponse.from_wire(response)

    async def adjust_periodic_event_stream(
        self,
        identity: str,
        stream_id: int,
        *,
        interval: int | None = None,
        values: int | None = None,
        timeout: float | None = None,
    ) -> v21.AdjustPeriodicEventStreamResponse:
        """2.1: change how often (``interval`` seconds) / in how big batches (``values``) a
        stream sends; remembered when Accepted."""
        params: dict[str, Any] = {}
        if interval is not None:
            params["interval"] = interval
        if values is not None:
            params["values"] = values
        payload = {"id": stream_id, "params": params}
        response = await self.request_21(identity, "AdjustPeriodicEventStream", payload, timeout=timeout)
        if response.get("status") == "Accepted":
            key = f"stream:{stream_id}"
            current = await self.load(identity, key)
            if current is not None:
                await self.save(identity, key, {**current, **params})
        return v21.AdjustPeriodicEventStreamResponse.from_wire(response)
