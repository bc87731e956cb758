"""OCPP 2.0.1 block B, Provisioning: registration (BootNotification policy with the Pending
flow and the SecurityError guard), heartbeats, the device model (GetVariables/SetVariables
with per-variable results, GetBaseReport/GetReport with multi-part NotifyReport assembly),
SetNetworkProfile and Reset.

Registration: ``boot_policy(cp, request)`` answers each BootNotification (Accepted, Pending
or Rejected, optionally with an interval); the state is stored per identity and survives
reconnects. While a station is Pending or Rejected, everything but BootNotification is
answered ``SecurityError`` — except, while Pending, what the CSMS asked for (a triggered
message, the NotifyReport parts of our GetBaseReport/GetReport). A station the CSMS has no
state for (its store was lost) is served normally. ``on_pending(cp, request)`` runs after a
Pending answer was sent, the place to configure the station; ``accept(identity)`` then
accepts it (a TriggerMessage BootNotification makes it boot again right away).

Reports: NotifyReport parts are stored by ``requestId`` and ``seqNo`` (any order, resends
ignored); a report is complete when the part with ``tbc`` false arrived and every seqNo from
0 to it is there. ``fetch_base_report`` / ``fetch_report`` send the request and wait for the
assembled report. Completed reports update the stored device model.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

import trio

from .. import v201
from ..errors import OcppError, SecurityError
from ._base import (
    NS_PROVISIONING,
    NotAcceptedError,
    V201Plugin,
    VariableRef,
    VariableResult,
    dump_record,
    is_expected,
    load_record,
    registration_status,
    text,
    unexpect,
    variable_results,
    variable_value,
    wire,
)

if TYPE_CHECKING:
    from .._session import ChargePoint

__all__ = [
    "BootDecision",
    "BootPolicy",
    "KnownVariable",
    "NotAcceptedError",
    "PendingHook",
    "ProvisioningPlugin",
    "Registration",
    "Report",
    "ReportHook",
    "ReportRefusedError",
    "ReportTimeoutError",
    "VariableRef",
    "VariableResult",
]

log = logging.getLogger("ocpp_router")

#: What a boot policy returns: a status, or a status and the interval to send with it.
BootDecision = v201.RegistrationStatusEnumType | str | tuple[v201.RegistrationStatusEnumType | str, int]
BootPolicy = Callable[["ChargePoint", v201.BootNotificationRequest], Awaitable[BootDecision]]
PendingHook = Callable[["ChargePoint", v201.BootNotificationRequest], Awaitable[None]]

R = TypeVar("R")

#: Write-only variables whose values are never kept in the stored device model.
_SECRET_VARIABLES = frozenset({"BasicAuthPassword"})


# -- records ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Registration:
    """The last BootNotification answer given to a station."""

    status: str
    interval: int
    updated_at: str
    reason: str | None = None
    """The station's BootReason (PowerUp, Triggered, RemoteReset, ...)."""
    boot: dict[str, Any] = field(default_factory=dict)
    """The BootNotification payload as received (chargingStation: model, vendor, serial, firmware)."""

    @property
    def charging_station(self) -> dict[str, Any]:
        station = self.boot.get("chargingStation")
        return station if isinstance(station, dict) else {}


@dataclass(frozen=True, slots=True)
class KnownVariable:
    """What the CSMS knows about one variable attribute (from a report, GetVariables or an
    accepted SetVariables)."""

    key: str
    value: str | None
    updated_at: str
    source: str
    """``report``, ``get`` or ``set``."""
    mutability: str | None = None
    reboot_required: bool = False
    """Set with RebootRequired: the value is effective after the next reboot."""

    @property
    def ref(self) -> VariableRef:
        return VariableRef.parse(self.key)


@dataclass(frozen=True, slots=True)
class Report:
    """A GetBaseReport/GetReport answer assembled from its NotifyReport parts."""

    request_id: int
    status: str | None
    """The station's answer to the request (Accepted, EmptyResultSet, ...); None when the
    parts came without a request of ours (e.g. sent before a restart of the CSMS)."""
    complete: bool
    parts: int
    missing: tuple[int, ...]
    """seqNos not received yet (below the highest seqNo known)."""
    generated_at: str | None
    report_data: tuple[v201.ReportDataType, ...]

    def values(self) -> dict[str, str | None]:
        """Every reported attribute value by variable key (``Component.Variable[/Attribute]``)."""
        found: dict[str, str | None] = {}
        for item in self.report_data:
            for attribute in item.variable_attribute:
                ref = VariableRef.from_wire(item.component.to_wire(), item.variable.to_wire(), attribute.type)
                found[ref.key] = attribute.value
        return found


ReportHook = Callable[["ChargePoint", Report], Awaitable[None]]


class ReportRefusedError(OcppError):
    """The station answered the report request with Rejected or NotSupported."""

    def __init__(self, request_id: int, status: str) -> None:
        super().__init__(f"report request {request_id} answered {status}")
        self.request_id = request_id
        self.status = status


class ReportTimeoutError(OcppError, trio.TooSlowError):
    """The report did not complete in time; ``report`` holds the parts received so far."""

    def __init__(self, report: Report) -> None:
        super().__init__(f"report {report.request_id} incomplete: missing parts {list(report.missing) or 'last'}")
        self.report = report


def _component_variable(item: str | VariableRef | v201.ComponentVariableType) -> v201.ComponentVariableType:
    if isinstance(item, v201.ComponentVariableType):
        return item
    if isinstance(item, str) and "." not in item:
        return v201.ComponentVariableType(component=v201.ComponentType(name=item))
    ref = VariableRef.parse(item)
    return v201.ComponentVariableType(component=ref.component_type(), variable=ref.variable_type())


# -- the plugin ---------------------------------------------------------------------------


class ProvisioningPlugin(V201Plugin):
    """OCPP 2.0.1/2.1 block B (Provisioning).

    Args:
        boot_policy: ``async (cp, request) -> status | (status, interval)`` decides each
            BootNotification (unless an operator decision was set with ``set_decision`` /
            ``accept``); default: accept every station.
        heartbeat_interval: seconds sent with Accepted.
        retry_interval: seconds sent with Pending/Rejected (the earliest next BootNotification).
        on_pending: ``async (cp, request)`` run after a Pending answer was sent (configure the
            station, then ``accept``); an exception is logged.
        on_report: ``async (cp, report)`` run when a report completed.
        report_window: seconds a report request lets its NotifyReport parts through the
            Pending guard.
        trigger_window: seconds a triggered BootNotification is expected (``accept``).
        max_reports: reports kept per station (the oldest are dropped).
    """

    name: ClassVar[str] = NS_PROVISIONING

    def __init__(
        self,
        *,
        boot_policy: BootPolicy | None = None,
        heartbeat_interval: int = 300,
        retry_interval: int = 60,
        on_pending: PendingHook | None = None,
        on_report: ReportHook | None = None,
        report_window: float = 600.0,
        trigger_window: float = 60.0,
        max_reports: int = 10,
    ) -> None:
        super().__init__()
        self.boot_policy = boot_policy
        self.heartbeat_interval = heartbeat_interval
        self.retry_interval = retry_interval
        self.on_pending = on_pending
        self.on_report = on_report
        self.report_window = report_window
        self.trigger_window = trigger_window
        self.max_reports = max_reports
        self._report_waiters: dict[tuple[str, int], trio.Event] = {}
        self.router.guard(self._registration_guard)
        self.handle("BootNotification", self._on_boot)
        self.after("BootNotification", self._after_boot)
        self.handle("Heartbeat", self._on_heartbeat)
        self.handle("NotifyReport", self._on_notify_report)

    # -- registration ---------------------------------------------------------------------

    async def _registration_guard(self, cp: ChargePoint, action: str, payload: Any) -> None:
        """Pending/Rejected stations may send only BootNotification, and while Pending what
        the CSMS asked for (B02/B03: others get SecurityError). Unknown state: served."""
        if cp.version not in self.versions or action == "BootNotification":
            return
        status = await registration_status(self.storage, cp.id)
        if status is None or status == "Accepted":
            return
        if status == "Pending" and await is_expected(self.storage, cp.id, action, payload):
            return
        raise SecurityError(f"{action} is not allowed while the registration is {status}; send BootNotification")

    async def _on_boot(self, cp: ChargePoint, payload: dict[str, Any]) -> v201.BootNotificationResponse:
        request = v201.BootNotificationRequest.from_wire(payload)
        decision: BootDecision | None = await self.load(cp.id, "decision")
        if decision is None:
            decision = "Accepted" if self.boot_policy is None else await self.boot_policy(cp, request)
        interval: int | None = None
        if isinstance(decision, tuple):
            decision, interval = decision
        status = v201.RegistrationStatusEnumType(text(decision))
        if interval is None:
            accepted = status == v201.RegistrationStatusEnumType.Accepted
            interval = self.heartbeat_interval if accepted else self.retry_interval
        record = Registration(
            status=status.value,
            interval=interval,
            updated_at=self.now_text(),
            reason=text(request.reason),
            boot=payload,
        )
        await self.save(cp.id, "registration", dump_record(record))
        return v201.BootNotificationResponse(current_time=self.now_text(), interval=interval, status=status)

    async def _after_boot(self, cp: ChargePoint, request: Any, response: Any) -> None:
        if self.on_pending is None or wire(response).get("status") != "Pending":
            return
        try:
            await self.on_pending(cp, v201.BootNotificationRequest.from_wire(wire(request)))
        except Exception:
            log.exception("%s: on_pending hook failed", cp.id)

    async def registration(self, identity: str) -> Registration | None:
        """The stored registration state, or None when the station never booted here."""
        data = await self.load(identity, "registration")
        return load_record(Registration, data) if data else None

    async def set_decision(self, identity: str, status: v201.RegistrationStatusEnumType | str | None) -> None:
        """Answer this station's next BootNotifications with ``status`` regardless of the
        boot policy (None: back to the policy)."""
        if status is None:
            await self.storage.delete(self.name, identity, "decision")
        else:
            await self.save(identity, "decision", v201.RegistrationStatusEnumType(text(status)).value)

    async def accept(
        self, identity: str, *, trigger: bool = True, timeout: float | None = None
    ) -> v201.TriggerMessageResponse | None:
        """Accept a (Pending) station from now on; with ``trigger`` and the station connected,
        send TriggerMessage BootNotification so it registers again right away (a Rejected
        station is not called: it is accepted at its next BootNotification)."""
        await self.set_decision(identity, v201.RegistrationStatusEnumType.Accepted)
        if not trigger or self.server.get(identity) is None:
            return None
        if await registration_status(self.storage, identity) == "Rejected":
            return None
        request = v201.TriggerMessageRequest(requested_message=v201.MessageTriggerEnumType.BootNotification)
        return await self.triggered_request(
            identity, request, v201.TriggerMessageResponse, ("BootNotification",), self.trigger_window, timeout=timeout
        )

    async def _on_heartbeat(self, cp: ChargePoint, payload: dict[str, Any]) -> v201.HeartbeatResponse:
        return v201.HeartbeatResponse(current_time=self.now_text())

    # -- device model ---------------------------------------------------------------------

    async def _remember(self, identity: str, values: Mapping[str, KnownVariable]) -> None:
        if not values:
            return
        known: dict[str, Any] = await self.load(identity, "device_model", {})
        for key, item in values.items():
            if VariableRef.parse(key).variable in _SECRET_VARIABLES:
                continue
            known[key] = dump_record(item)
        await self.save(identity, "device_model", known)

    async def device_model(self, identity: str) -> dict[str, KnownVariable]:
        """Every variable attribute the CSMS knows for a station, by key."""
        known: dict[str, Any] = await self.load(identity, "device_model", {})
        return {k: load_record(KnownVariable, v) for k, v in sorted(known.items())}

    async def variable(self, identity: str, ref: str | VariableRef) -> KnownVariable | None:
        """One known variable attribute (``"OCPPCommCtrlr.HeartbeatInterval"``)."""
        return (await self.device_model(identity)).get(VariableRef.parse(ref).key)

    async def get_variables(
        self, identity: str, refs: Iterable[str | VariableRef], *, timeout: float | None = None
    ) -> dict[str, VariableResult]:
        """Read variables; one result per variable (by key), values read are remembered."""
        wanted = [VariableRef.parse(ref) for ref in refs]
        request = v201.GetVariablesRequest(
            get_variable_data=[
                v201.GetVariableDataType(
                    component=ref.component_type(), variable=ref.variable_type(), attribute_type=ref.attribute_type()
                )
                for ref in wanted
            ]
        )
        response = await self.request(identity, request, timeout=timeout)
        results = variable_results(response.get("getVariableResult", []))
        now = self.now_text()
        await self._remember(
            identity,
            {
                key: KnownVariable(key=key, value=result.value, updated_at=now, source="get")
                for key, result in results.items()
                if result.status == "Accepted"
            },
        )
        return results

    async def set_variables(
        self, identity: str, values: Mapping[str | VariableRef, object], *, timeout: float | None = None
    ) -> dict[str, VariableResult]:
        """Write variables (booleans as true/false); one result per variable (by key).
        Accepted and RebootRequired values are remembered (write-only secrets are not)."""
        written = {VariableRef.parse(ref).key: variable_value(value) for ref, value in values.items()}
        request = v201.SetVariablesRequest(
            set_variable_data=[
                v201.SetVariableDataType(
                    attribute_value=value,
                    component=(ref := VariableRef.parse(key)).component_type(),
                    variable=ref.variable_type(),
                    attribute_type=ref.attribute_type(),
                )
                for key, value in written.items()
            ]
        )
        response = await self.request(identity, request, timeout=timeout)
        results = variable_results(response.get("setVariableResult", []), written)
        now = self.now_text()
        await self._remember(
            identity,
            {
                key: KnownVariable(
                    key=key,
                    value=result.value,
                    updated_at=now,
                    source="set",
                    reboot_required=result.status == "RebootRequired",
                )
                for key, result in results.items()
                if result.ok
            },
        )
        return results

    # -- reports --------------------------------------------------------------------------

    async def _new_request_id(self) -> int:
        return await self.storage.next_id("v201.request_id")

    async def get_base_report(
        self,
        identity: str,
        report_base: v201.ReportBaseEnumType | str = v201.ReportBaseEnumType.FullInventory,
        *,
        request_id: int | None = None,
        timeout: float | None = None,
    ) -> v201.GetBaseReportResponse:
        """Ask for a base report (ConfigurationInventory, FullInventory, SummaryInventory);
        the parts arrive as NotifyReport (see ``report`` / ``fetch_base_report``)."""
        if request_id is None:
            request_id = await self._new_request_id()
        request = v201.GetBaseReportRequest(request_id=request_id, report_base=v201.ReportBaseEnumType(report_base))
        return await self._report_request(identity, request, v201.GetBaseReportResponse, request_id, timeout)

    async def get_report(
        self,
        identity: str,
        *,
        component_variables: Iterable[str | VariableRef | v201.ComponentVariableType] | None = None,
        component_criteria: Iterable[v201.ComponentCriterionEnumType | str] | None = None,
        request_id: int | None = None,
        timeout: float | None = None,
    ) -> v201.GetReportResponse:
        """Ask for a custom report: components (a name without a dot) or variables
        (``Component.Variable``), and/or criteria (Active, Available, Enabled, Problem)."""
        if request_id is None:
            request_id = await self._new_request_id()
        variables = [_component_variable(item) for item in component_variables or ()]
        criteria = [v201.ComponentCriterionEnumType(text(c)) for c in component_criteria or ()]
        request = v201.GetReportRequest(
            request_id=request_id, component_variable=variables or None, component_criteria=criteria or None
        )
        return await self._report_request(identity, request, v201.GetReportResponse, request_id, timeout)

    async def _report_request(
        self, identity: str, request: Any, response_type: type[R], request_id: int, timeout: float | None
    ) -> R:
        response = await self.triggered_request(
            identity,
            request,
            response_type,
            ("NotifyReport",),
            self.report_window,
            request_id=request_id,
            timeout=timeout,
        )
        # A key of its own: parts may be arriving concurrently (no read-modify-write race).
        meta = {
            "status": text(getattr(response, "status", None)),
            "requested_at": self.now_text(),
            "action": type(request).__name__,
        }
        await self.save(identity, f"report_request:{request_id}", meta)
        return response

    async def fetch_base_report(
        self,
        identity: str,
        report_base: v201.ReportBaseEnumType | str = v201.ReportBaseEnumType.FullInventory,
        *,
        wait: float = 60.0,
        request_id: int | None = None,
        timeout: float | None = None,
    ) -> Report:
        """GetBaseReport and the assembled report. Raises ``ReportRefusedError`` (Rejected,
        NotSupported) or ``ReportTimeoutError`` (not complete within ``wait`` seconds);
        EmptyResultSet gives a complete empty report."""
        rid = request_id if request_id is not None else await self._new_request_id()
        return await self._fetch(
            identity, rid, wait, self.get_base_report(identity, report_base, request_id=rid, timeout=timeout)
        )

    async def fetch_report(
        self,
        identity: str,
        *,
        component_variables: Iterable[str | VariableRef | v201.ComponentVariableType] | None = None,
        component_criteria: Iterable[v201.ComponentCriterionEnumType | str] | None = None,
        wait: float = 60.0,
        request_id: int | None = None,
        timeout: float | None = None,
    ) -> Report:
        """GetReport and the assembled report (errors as ``fetch_base_report``)."""
        rid = request_id if request_id is not None else await self._new_request_id()
        sent = self.get_report(
            identity,
            component_variables=component_variables,
            component_criteria=component_criteria,
            request_id=rid,
            timeout=timeout,
        )
        return await self._fetch(identity, rid, wait, sent)

    async def _fetch(self, identity: str, request_id: int, wait: float, sent: Awaitable[Any]) -> Report:
        key = (identity, request_id)
        done = self._report_waiters[key] = trio.Event()  # before sending: parts may overtake the answer
        try:
            response = await sent
            status = str(text(response.status))
            if status == "EmptyResultSet":
                return Report(request_id, status, True, 0, (), None, ())
            if status != "Accepted":
                raise ReportRefusedError(request_id, status)
            with trio.move_on_after(wait):
                while True:
                    report = await self.report(identity, request_id)
                    if report is not None and report.complete:
                        return report
                    with trio.move_on_after(1.0):  # also notices parts stored by another node
                        await done.wait()
                    if done.is_set():
                        done = self._report_waiters[key] = trio.Event()
            partial = await self.report(identity, request_id)
            raise ReportTimeoutError(partial or Report(request_id, status, False, 0, (), None, ()))
        finally:
            if self._report_waiters.get(key) is done:
                del self._report_waiters[key]

    async def _on_notify_report(self, cp: ChargePoint, payload: dict[str, Any]) -> v201.NotifyReportResponse:
        request_id = int(payload["requestId"])
        seq_no = int(payload["seqNo"])
        key = f"report:{request_id}"
        stored = await self.load(cp.id, key)
        if stored is None:
            stored = {"request_id": request_id, "parts": {}, "last_seq_no": None, "first_at": self.now_text()}
            await self._track_report(cp.id, request_id)
        parts: dict[str, Any] = stored["parts"]
        if str(seq_no) in parts:
            return v201.NotifyReportResponse()  # a resend: the first copy stands
        parts[str(seq_no)] = {
            "generatedAt": payload.get("generatedAt"),
            "reportData": payload.get("reportData", []),
        }
        if not payload.get("tbc", False):
            stored["last_seq_no"] = seq_no
        await self.save(cp.id, key, stored)
        report = await self.report(cp.id, request_id)
        if report is not None and report.complete:
            await self._completed(cp, report)
        return v201.NotifyReportResponse()

    async def _track_report(self, identity: str, request_id: int) -> None:
        order: list[int] = await self.load(identity, "reports", [])
        order.append(request_id)
        for old in order[: -self.max_reports]:
            await self.storage.delete(self.name, identity, f"report:{old}")
            await self.storage.delete(self.name, identity, f"report_request:{old}")
        await self.save(identity, "reports", order[-self.max_reports :])

    async def _completed(self, cp: ChargePoint, report: Report) -> None:
        await unexpect(self.storage, cp.id, "NotifyReport", request_id=report.request_id)
        now = self.now_text()
        values: dict[str, KnownVariable] = {}
        for item in report.report_data:
            for attribute in item.variable_attribute:
                ref = VariableRef.from_wire(item.component.to_wire(), item.variable.to_wire(), attribute.type)
                values[ref.key] = KnownVariable(
                    key=ref.key,
                    value=attribute.value,
                    updated_at=now,
                    source="report",
                    mutability=text(attribute.mutability),
                )
        await self._remember(cp.id, values)
        waiter = self._report_waiters.get((cp.id, report.request_id))
        if waiter is not None:
            waiter.set()
        if self.on_report is not None:
            try:
                await self.on_report(cp, report)
            except Exception:
                log.exception("%s: on_report hook failed", cp.id)

    async def report(self, identity: str, request_id: int) -> Report | None:
        """The report with this requestId as received so far (None: nothing known)."""
        stored = await self.load(identity, f"report:{request_id}")
        meta = await self.load(identity, f"report_request:{request_id}")
        if stored is None:
            if meta is None:
                return None
            status = meta.get("status")
            return Report(request_id, status, status == "EmptyResultSet", 0, (), None, ())
        parts: dict[str, Any] = stored["parts"]
        numbers = sorted(int(n) for n in parts)
        last = stored["last_seq_no"]
        top = last if last is not None else (numbers[-1] if numbers else -1)
        missing = tuple(n for n in range(top + 1) if str(n) not in parts)
        data = tuple(
            v201.ReportDataType.from_wire(item) for n in numbers for item in parts[str(n)].get("reportData") or ()
        )
        generated = [parts[str(n)].get("generatedAt") for n in numbers]
        return Report(
            request_id=request_id,
            status=meta.get("status") if meta else None,
            complete=last is not None and not missing,
            parts=len(numbers),
            missing=missing,
            generated_at=generated[0] if generated else None,
            report_data=data,
        )

    # -- network profile and reset --------------------------------------------------------

    async def set_network_profile(
        self,
        identity: str,
        configuration_slot: int,
        connection_data: v201.NetworkConnectionProfileType | Mapping[str, Any],
        *,
        timeout: float | None = None,
    ) -> v201.SetNetworkProfileResponse:
        """Store a network connection profile in a slot (activate it with SetVariables
        ``OCPPCommCtrlr.NetworkConfigurationPriority`` and a reset). A dict (wire form) may
        carry the 2.1 fields ``basicAuthPassword`` and ``identity``."""
        data = (
            connection_data.to_wire()
            if isinstance(connection_data, v201.NetworkConnectionProfileType)
            else dict(connection_data)
        )
        payload = {"configurationSlot": configuration_slot, "connectionData": data}
        response = await self.request(identity, ("SetNetworkProfile", payload), timeout=timeout)
        return v201.SetNetworkProfileResponse.from_wire(response)

    async def reset(
        self,
        identity: str,
        type: v201.ResetEnumType | str = v201.ResetEnumType.Immediate,
        *,
        evse_id: int | None = None,
        timeout: float | None = None,
    ) -> v201.ResetResponse:
        """Reset the station (or one EVSE): Immediate, OnIdle (2.1 also ImmediateAndResume)."""
        payload: dict[str, Any] = {"type": text(type)}
        if evse_id is not None:
            payload["evseId"] = evse_id
        response = await self.request(identity, ("Reset", payload), timeout=timeout)
        return v201.ResetResponse.from_wire(response)
