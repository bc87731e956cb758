"""OCPP 1.6 Reservation profile: ReserveNow / CancelReservation with CSMS-allocated
reservation ids and a record of each reservation's fate.

States: ``active`` (Accepted by the charge point), ``used`` (a StartTransaction named it),
``cancelled`` (CancelReservation Accepted), ``expired`` (its expiry date passed unused),
``rejected`` (the charge point answered Occupied, Faulted, Unavailable or Rejected).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from .. import v16
from ._base import V16Plugin, dump_record, format_time, load_record, parse_time, wire

if TYPE_CHECKING:
    from .._session import ChargePoint

__all__ = ["Reservation", "ReservationPlugin", "ReservationState"]

ReservationState = Literal["active", "used", "cancelled", "expired", "rejected"]


@dataclass(frozen=True, slots=True)
class Reservation:
    """One ReserveNow and what became of it."""

    id: int
    connector_id: int
    id_tag: str
    expiry_date: str
    state: ReservationState
    response_status: str
    """The ReserveNow answer: Accepted, Occupied, Faulted, Unavailable or Rejected."""
    created_at: str
    parent_id_tag: str | None = None
    transaction_id: int | None = None
    """The transaction that used the reservation."""
    ended_at: str | None = None


class ReservationPlugin(V16Plugin):
    """The OCPP 1.6 Reservation profile (CSMS-initiated; StartTransaction marks use)."""

    name: ClassVar[str] = "v16.reservation"

    def __init__(self) -> None:
        super().__init__()
        self.after("StartTransaction", self._after_start_transaction, shielded=True)

    def _key(self, reservation_id: int) -> str:
        return f"reservation:{reservation_id}"

    def _current(self, record: Reservation) -> Reservation:
        """An active reservation past its expiry date reads as expired."""
        expiry = parse_time(record.expiry_date)
        if record.state == "active" and expiry is not None and expiry <= self.now():
            return replace(record, state="expired")
        return record

    async def reserve_now(
        self,
        identity: str,
        connector_id: int,
        id_tag: str,
        expiry_date: datetime | timedelta | str,
        *,
        parent_id_tag: str | None = None,
        reservation_id: int | None = None,
        timeout: float | None = None,
    ) -> Reservation:
        """Reserve a connector (0: any connector, if the charge point supports it) for an id tag.

        ``expiry_date`` may be a ``timedelta`` from now. A new reservation id is allocated
        unless ``reservation_id`` names an existing reservation to replace. The returned
        record says whether the charge point accepted (``state == "active"``).
        """
        if isinstance(connector_id, bool) or not isinstance(connector_id, int) or connector_id < 0:
            raise ValueError(f"connector_id must be an integer >= 0, not {connector_id!r}")
        now = self.now()
        expiry = now + expiry_date if isinstance(expiry_date, timedelta) else expiry_date
        expiry_time = parse_time(format_time(expiry))
        if expiry_time is None or expiry_time <= now:
            raise ValueError(f"expiry_date must be in the future, not {expiry_date!r}")
        if reservation_id is None:
            reservation_id = await self.storage.next_id("v16.reservation")
        request = v16.ReserveNowRequest(
            connector_id=connector_id,
            expiry_date=format_time(expiry),
            id_tag=id_tag,
            reservation_id=reservation_id,
            parent_id_tag=parent_id_tag,
        )
        response: v16.ReserveNowResponse = await self.request(identity, request, timeout=timeout)
        accepted = response.status == v16.ReservationStatus.Accepted
        record = Reservation(
            id=reservation_id,
            connector_id=connector_id,
            id_tag=id_tag,
            expiry_date=request.expiry_date,
            state="active" if accepted else "rejected",
            response_status=str(getattr(response.status, "value", response.status)),
            created_at=self.now_text(),
            parent_id_tag=parent_id_tag,
        )
        if accepted or await self.reservation(identity, reservation_id) is None:
            await self.save(identity, self._key(reservation_id), dump_record(record))
        return record

    async def cancel_reservation(
        self, identity: str, reservation_id: int, *, timeout: float | None = None
    ) -> v16.CancelReservationResponse:
        """Cancel a reservation; Accepted marks it cancelled (Rejected: the charge point had
        no such reservation any more; the record is left as it was)."""
        request = v16.CancelReservationRequest(reservation_id=reservation_id)
        response: v16.CancelReservationResponse = await self.request(identity, request, timeout=timeout)
        if response.status == v16.GenericStatus.Accepted:
            await self._end(identity, reservation_id, "cancelled")
        return response

    async def _end(self, identity: str, reservation_id: int, state: ReservationState, **changes: Any) -> None:
        data = await self.load(identity, self._key(reservation_id))
        if data:
            ended = replace(load_record(Reservation, data), state=state, ended_at=self.now_text(), **changes)
            await self.save(identity, self._key(reservation_id), dump_record(ended))

    async def _after_start_transaction(self, cp: ChargePoint, request: Any, response: Any) -> None:
        reservation_id = wire(request).get("reservationId")
        if reservation_id is not None:
            await self._end(cp.id, reservation_id, "used", transaction_id=wire(response).get("transactionId"))

    async def reservation(self, identity: str, reservation_id: int) -> Reservation | None:
        data = await self.load(identity, self._key(reservation_id))
        return self._current(load_record(Reservation, data)) if data else None

    async def reservations(self, identity: str, *, state: ReservationState | None = None) -> list[Reservation]:
        """The charge point's reservations by id, optionally only those in ``state``."""
        items = await self.storage.items(self.name, identity)
        found = [self._current(load_record(Reservation, v)) for k, v in items.items() if k.startswith("reservation:")]
        return sorted((r for r in found if state is None or r.state == state), key=lambda r: r.id)
