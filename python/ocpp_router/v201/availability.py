"""OCPP 2.0.1 block G, Availability: StatusNotification (the EVSE/connector state table),
Heartbeat, and the ChangeAvailability helper.

The state table keeps the last reported ``connectorStatus`` per (evseId, connectorId); a
late report of an older state (its ``timestamp`` is before the stored one) does not overwrite
a newer one. Heartbeats are answered with the current time and remembered
(``last_heartbeat``), also when another plugin answered them. OCPP 2.1 prefers
NotifyEvent (component Connector, variable AvailabilityState) over StatusNotification for
availability; that message belongs to block N.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from .. import v201
from ._base import V201Plugin, dump_record, load_record, parse_time, text

if TYPE_CHECKING:
    from .._session import ChargePoint

__all__ = ["AvailabilityPlugin", "ConnectorState", "RequestedAvailability"]


@dataclass(frozen=True, slots=True)
class ConnectorState:
    """The last StatusNotification of one connector."""

    evse_id: int
    connector_id: int
    status: str
    """Available, Occupied, Reserved, Unavailable or Faulted."""
    timestamp: str
    """The station's time of the change, as sent."""
    received_at: str


@dataclass(frozen=True, slots=True)
class RequestedAvailability:
    """A ChangeAvailability the station accepted (or scheduled)."""

    operational_status: str
    """Operative or Inoperative."""
    answer: str
    """Accepted or Scheduled (effective when the running transaction ends)."""
    requested_at: str
    evse_id: int | None = None
    connector_id: int | None = None


def _scope(evse_id: int | None, connector_id: int | None) -> str:
    return "station" if evse_id is None else f"{evse_id}" if connector_id is None else f"{evse_id}:{connector_id}"


class AvailabilityPlugin(V201Plugin):
    """OCPP 2.0.1/2.1 block G (Availability)."""

    name: ClassVar[str] = "v201.availability"

    def __init__(self) -> None:
        super().__init__()
        self.handle("StatusNotification", self._on_status)
        self.handle("Heartbeat", self._on_heartbeat)
        self.after("Heartbeat", self._after_heartbeat)

    # -- station-initiated ----------------------------------------------------------------

    async def _on_status(self, cp: ChargePoint, payload: dict[str, Any]) -> v201.StatusNotificationResponse:
        table: dict[str, Any] = await self.load(cp.id, "connectors", {})
        key = f"{payload['evseId']}:{payload['connectorId']}"
        previous = table.get(key)
        new_time, old_time = parse_time(payload["timestamp"]), parse_time((previous or {}).get("timestamp"))
        if new_time is not None and old_time is not None and new_time < old_time:
            return v201.StatusNotificationResponse()  # a late report of an older state
        record = ConnectorState(
            evse_id=payload["evseId"],
            connector_id=payload["connectorId"],
            status=str(text(payload["connectorStatus"])),
            timestamp=payload["timestamp"],
            received_at=self.now_text(),
        )
        table[key] = dump_record(record)
        await self.save(cp.id, "connectors", table)
        return v201.StatusNotificationResponse()

    async def _on_heartbeat(self, cp: ChargePoint, payload: dict[str, Any]) -> v201.HeartbeatResponse:
        return v201.HeartbeatResponse(current_time=self.now_text())

    async def _after_heartbeat(self, cp: ChargePoint, request: Any, response: Any) -> None:
        await self.save(cp.id, "last_heartbeat", self.now_text())

    # -- queries --------------------------------------------------------------------------

    async def connectors(self, identity: str) -> dict[tuple[int, int], ConnectorState]:
        """Every connector's last reported state by (evseId, connectorId)."""
        table: dict[str, Any] = await self.load(identity, "connectors", {})
        states = [load_record(ConnectorState, v) for v in table.values()]
        return {(s.evse_id, s.connector_id): s for s in sorted(states, key=lambda s: (s.evse_id, s.connector_id))}

    async def connector(self, identity: str, evse_id: int, connector_id: int) -> ConnectorState | None:
        return (await self.connectors(identity)).get((evse_id, connector_id))

    async def last_heartbeat(self, identity: str) -> str | None:
        """When the station's last Heartbeat arrived (CSMS time)."""
        value: str | None = await self.load(identity, "last_heartbeat")
        return value

    async def requested_availability(self, identity: str) -> dict[str, RequestedAvailability]:
        """Accepted/scheduled ChangeAvailability requests by scope (``station``, ``"<evse>"``,
        ``"<evse>:<connector>"``)."""
        table: dict[str, Any] = await self.load(identity, "requested", {})
        return {k: load_record(RequestedAvailability, v) for k, v in sorted(table.items())}

    # -- CSMS-initiated -------------------------------------------------------------------

    async def change_availability(
        self,
        identity: str,
        operational_status: v201.OperationalStatusEnumType | str,
        *,
        evse_id: int | None = None,
        connector_id: int | None = None,
        timeout: float | None = None,
    ) -> v201.ChangeAvailabilityResponse:
        """Make the station, an EVSE or one connector Operative or Inoperative (Accepted,
        Rejected, or Scheduled until a running transaction ends); remembered when not Rejected."""
        if connector_id is not None and evse_id is None:
            raise ValueError("connector_id needs an evse_id")
        status = v201.OperationalStatusEnumType(text(operational_status))
        evse = None if evse_id is None else v201.EVSEType(id=evse_id, connector_id=connector_id)
        request = v201.ChangeAvailabilityRequest(operational_status=status, evse=evse)
        response = await self.request_typed(identity, request, v201.ChangeAvailabilityResponse, timeout=timeout)
        answer = str(text(response.status))
        if answer != "Rejected":
            table: dict[str, Any] = await self.load(identity, "requested", {})
            record = RequestedAvailability(
                operational_status=status.value,
                answer=answer,
                requested_at=self.now_text(),
                evse_id=evse_id,
                connector_id=connector_id,
            )
            table[_scope(evse_id, connector_id)] = dump_record(record)
            await self.save(identity, "requested", table)
        return response
