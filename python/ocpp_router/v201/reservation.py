"""OCPP 2.0.1 block H, Reservation: ReserveNow / CancelReservation with CSMS-allocated
reservation ids, ReservationStatusUpdate, and the fate of each reservation.

States: ``active`` (Accepted by the station), ``used`` (a TransactionEvent carried its
``reservationId``), ``cancelled`` (CancelReservation Accepted), ``expired`` (the station
reported Expired, or the expiry time passed unused), ``removed`` (the station reported
Removed), ``no_transaction`` (2.1: reported NoTransaction), ``rejected`` (the station
answered Faulted, Occupied, Rejected or Unavailable).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from .. import v201
from ._base import V201Plugin, dump_record, format_time, id_token_wire, load_record, parse_time, text, wire

if TYPE_CHECKING:
    from collections.abc import Mapping

    from .._session import ChargePoint

__all__ = ["Reservation", "ReservationPlugin", "ReservationState"]

ReservationState = Literal["active", "used", "cancelled", "expired", "removed", "no_transaction", "rejected"]

_UPDATE_STATES: dict[str, ReservationState] = {
    "Expired": "expired",
    "Removed": "removed",
    "NoTransaction": "no_transaction",  # 2.1
}


@dataclass(frozen=True, slots=True)
class Reservation:
    """One ReserveNow and what became of it."""

    id: int
    id_token: dict[str, Any]
    expiry_date_time: str
    state: ReservationState
    response_status: str
    """The ReserveNow answer: Accepted, Faulted, Occupied, Rejected or Unavailable."""
    created_at: str
    evse_id: int | None = None
    connector_type: str | None = None
    group_id_token: dict[str, Any] | None = None
    transaction_id: str | None = None
    """The transaction that used the reservation."""
    ended_at: str | None = None


class ReservationPlugin(V201Plugin):
    """OCPP 2.0.1/2.1 block H (Reservation)."""

    name: ClassVar[str] = "v201.reservation"

    def __init__(self) -> None:
        super().__init__()
        self.handle("ReservationStatusUpdate", self._on_status_update)
        self.after("TransactionEvent", self._after_transaction_event)

    @staticmethod
    def _key(reservation_id: int) -> str:
        return f"reservation:{reservation_id}"

    def _current(self, record: Reservation) -> Reservation:
        """An active reservation past its expiry time reads as expired."""
        expiry = parse_time(record.expiry_date_time)
        if record.state == "active" and expiry is not None and expiry <= self.now():
            return replace(record, state="expired")
        return record

    async def reserve_now(
        self,
        identity: str,
        id_token: str | v201.IdTokenType | Mapping[str, Any],
        expiry_date_time: datetime | timedelta | str,
        *,
        token_type: v201.IdTokenEnumType | str = v201.IdTokenEnumType.ISO14443,
        evse_id: int | None = None,
        connector_type: v201.ConnectorEnumType | str | None = None,
        group_id_token: str | v201.IdTokenType | Mapping[str, Any] | None = None,
        reservation_id: int | None = None,
        timeout: float | None = None,
    ) -> Reservation:
        """Reserve an EVSE (or any EVSE, optionally of a connector type) for an id token
        (a string is a token of ``token_type``).

        ``expiry_date_time`` may be a ``timedelta`` from now. A new reservation id is
        allocated unless ``reservation_id`` names an existing reservation to replace. The
        returned record says whether the station accepted (``state == "active"``).
        """
        if evse_id is not None and (isinstance(evse_id, bool) or evse_id < 0):
            raise ValueError(f"evse_id must be >= 0 when given, not {evse_id!r}")
        now = self.now()
        expiry = now + expiry_date_time if isinstance(expiry_date_time, timedelta) else expiry_date_time
        expiry_time = parse_time(format_time(expiry))
        if expiry_time is None or expiry_time <= now:
            raise ValueError(f"expiry_date_time must be in the future, not {expiry_date_time!r}")
        if reservation_id is None:
            reservation_id = await self.storage.next_id("v201.reservation")
        payload: dict[str, Any] = {
            "id": reservation_id,
            "expiryDateTime": format_time(expiry),
            "idToken": id_token_wire(id_token, token_type),
        }
        if evse_id is not None:
            payload["evseId"] = evse_id
        if connector_type is not None:
            payload["connectorType"] = text(connector_type)
        if group_id_token is not None:
            payload["groupIdToken"] = id_token_wire(group_id_token, v201.IdTokenEnumType.Central)
        response = await self.request(identity, ("ReserveNow", payload), timeout=timeout)
        status = str(text(response.get("status")))
        accepted = status == "Accepted"
        record = Reservation(
            id=reservation_id,
            id_token=payload["idToken"],
            expiry_date_time=payload["expiryDateTime"],
            state="active" if accepted else "rejected",
            response_status=status,
            created_at=self.now_text(),
            evse_id=evse_id,
            connector_type=payload.get("connectorType"),
            group_id_token=payload.get("groupIdToken"),
        )
        if accepted or await self.reservation(identity, reservation_id) is None:
            await self.save(identity, self._key(reservation_id), dump_record(record))
        return record

    async def cancel_reservation(
        self, identity: str, reservation_id: int, *, timeout: float | None = None
    ) -> v201.CancelReservationResponse:
        """Cancel a reservation; Accepted marks it cancelled (Rejected: the station had no
        such reservation any more; the record is left as it was)."""
        request = v201.CancelReservationRequest(reservation_id=reservation_id)
        response = await self.request_typed(identity, request, v201.CancelReservationResponse, timeout=timeout)
        if text(response.status) == "Accepted":
            await self._end(identity, reservation_id, "cancelled")
        return response

    async def _end(self, identity: str, reservation_id: int, state: ReservationState, **changes: Any) -> None:
        data = await self.load(identity, self._key(reservation_id))
        if data:
            ended = replace(load_record(Reservation, data), state=state, ended_at=self.now_text(), **changes)
            await self.save(identity, self._key(reservation_id), dump_record(ended))

    async def _on_status_update(self, cp: ChargePoint, payload: dict[str, Any]) -> v201.ReservationStatusUpdateResponse:
        state = _UPDATE_STATES.get(str(text(payload["reservationUpdateStatus"])))
        record = await self.reservation(cp.id, payload["reservationId"])
        if state is not None and record is not None and record.state in ("active", "expired"):
            await self._end(cp.id, record.id, state)
        return v201.ReservationStatusUpdateResponse()

    async def _after_transaction_event(self, cp: ChargePoint, request: Any, response: Any) -> None:
        payload = wire(request)
        reservation_id = payload.get("reservationId")
        if not isinstance(reservation_id, int):
            return
        record = await self.reservation(cp.id, reservation_id)
        if record is not None and record.state in ("active", "expired"):
            transaction_id = payload["transactionInfo"]["transactionId"]
            await self._end(cp.id, reservation_id, "used", transaction_id=transaction_id)

    async def reservation(self, identity: str, reservation_id: int) -> Reservation | None:
        data = await self.load(identity, self._key(reservation_id))
        return self._current(load_record(Reservation, data)) if data else None

    async def reservations(self, identity: str, *, state: ReservationState | None = None) -> list[Reservation]:
        """The station's reservations by id, optionally only those in ``state``."""
        items = await self.storage.items(self.name, identity)
        found = [self._current(load_record(Reservation, v)) for k, v in items.items() if k.startswith("reservation:")]
        return sorted((r for r in found if state is None or r.state == state), key=lambda r: r.id)
