"""OCPP 2.0.1 block E, Transactions: TransactionEvent (Started/Updated/Ended) keyed by the
station's transactionId, and GetTransactionStatus.

Rules (protocol notes §6.2, §6.4):

* A TransactionEvent is always answered with a CALLRESULT; an unknown transaction is
  created on first sight of *any* of its events, so Updated/Ended before Started is fine.
* Resends are idempotent: events are deduplicated on (identity, transactionId, seqNo) and a
  duplicate gets the response the first copy got (same ``idTokenInfo``); a repeated
  Started never creates a second transaction. A resend with *different* content for a seen
  seqNo is answered the same way and listed in ``Transaction.conflicts``.
* ``seqNo`` is tracked per transaction: the Started event's seqNo is the base (not 0);
  ``missing_seq_nos`` lists the gaps; ``complete`` = Started + Ended + every seqNo between.
* Meter values inside events are stored once per (timestamp, measurand, phase, location,
  context): a resend or an Ended repeating earlier samples adds no energy.
* ``offline`` is kept per event (and ``Transaction.offline`` = any event was offline);
  the trigger reason of every event is kept.
* When the event carries an idToken the response carries ``idTokenInfo`` from the
  authorizer (``authorizer=`` or the installed ``AuthorizationPlugin``; neither: Accepted).
* ``remoteStartId`` (RequestStartTransaction) and ``reservationId`` are kept for
  correlation (see ``RemoteControlPlugin``, ``ReservationPlugin``).
* Response hooks (``add_response_hook``) add fields to the answer of a new event, e.g.
  ``totalCost`` / ``updatedPersonalMessage`` from ``TariffAndCostPlugin``; they run after
  the event's samples were stored, and the decorated answer is what a resend gets.

Everything needed for idempotency is stored before the answer is sent.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, ClassVar

import orjson

from .. import v201
from ._base import EPOCH, V201Plugin, dump_record, load_record, normalize_time, parse_time, text

if TYPE_CHECKING:
    from .._session import ChargePoint
    from .authorization import Authorizer

__all__ = [
    "MeterSample",
    "ResponseHook",
    "Transaction",
    "TransactionEventHook",
    "TransactionEventRecord",
    "TransactionsPlugin",
]

log = logging.getLogger("ocpp_router")

NS_TRANSACTIONS = "v201.transactions"
#: Samples live apart from the transaction records, so listing transactions stays cheap.
NS_METER_VALUES = "v201.transactions.meter_values"
_ENERGY = "Energy.Active.Import.Register"
_UNIT_SCALE = {"kWh": 1000.0, "Wh": 1.0}


# -- records ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TransactionEventRecord:
    """One TransactionEvent as received (first copy) and what it was answered."""

    seq_no: int
    event_type: str
    """Started, Updated or Ended."""
    trigger_reason: str
    timestamp: str
    received_at: str
    digest: str
    """Of the whole payload: a resend with other content is a conflict."""
    offline: bool = False
    charging_state: str | None = None
    stopped_reason: str | None = None
    remote_start_id: int | None = None
    reservation_id: int | None = None
    time_spent_charging: int | None = None
    evse: dict[str, Any] | None = None
    id_token: dict[str, Any] | None = None
    meter_values: int = 0
    """How many meterValue entries the event carried (the samples are stored separately)."""
    response: dict[str, Any] = field(default_factory=dict)
    """What the CSMS answered (wire form); a duplicate gets the same."""
    payload: dict[str, Any] = field(default_factory=dict)
    """The event as received without ``meterValue`` (2.1 extras such as ``costDetails`` too)."""


@dataclass(frozen=True, slots=True)
class Transaction:
    """A 2.x transaction as assembled from its TransactionEvents (in seqNo order)."""

    transaction_id: str
    first_seen_at: str
    events: dict[int, TransactionEventRecord]
    """By seqNo, in seqNo order."""
    duplicates: int = 0
    """Resent events (answered from the first copy)."""
    conflicts: tuple[int, ...] = ()
    """seqNos that were resent with different content."""
    station_status: dict[str, Any] | None = None
    """The last GetTransactionStatus answer for this transaction (plus ``checkedAt``)."""

    def _ordered(self) -> list[TransactionEventRecord]:
        return [self.events[n] for n in sorted(self.events)]

    def _first(self, event_type: str) -> TransactionEventRecord | None:
        return next((e for e in self._ordered() if e.event_type == event_type), None)

    def _latest(self, name: str) -> Any:
        for event in reversed(self._ordered()):
            value = getattr(event, name)
            if value is not None:
                return value
        return None

    @property
    def seq_nos(self) -> list[int]:
        return sorted(self.events)

    @property
    def started(self) -> bool:
        return self._first("Started") is not None

    @property
    def ended(self) -> bool:
        return self._first("Ended") is not None

    @property
    def active(self) -> bool:
        """Not ended (as far as the CSMS knows)."""
        return not self.ended

    @property
    def started_seq_no(self) -> int | None:
        event = self._first("Started")
        return event.seq_no if event is not None else None

    @property
    def ended_seq_no(self) -> int | None:
        event = self._first("Ended")
        return event.seq_no if event is not None else None

    @property
    def missing_seq_nos(self) -> list[int]:
        """Gaps between the base (Started's seqNo, else the lowest seen) and the Ended's
        seqNo (else the highest seen)."""
        if not self.events:
            return []
        low = self.started_seq_no if self.started_seq_no is not None else min(self.events)
        high = self.ended_seq_no if self.ended_seq_no is not None else max(self.events)
        return [n for n in range(low, high + 1) if n not in self.events]

    @property
    def complete(self) -> bool:
        """Started, Ended and every seqNo in between arrived."""
        return self.started and self.ended and not self.missing_seq_nos

    @property
    def started_at(self) -> str | None:
        event = self._first("Started")
        return event.timestamp if event is not None else None

    @property
    def ended_at(self) -> str | None:
        event = self._first("Ended")
        return event.timestamp if event is not None else None

    @property
    def offline(self) -> bool:
        """Any of its events happened while the station was offline."""
        return any(e.offline for e in self.events.values())

    @property
    def trigger_reasons(self) -> list[str]:
        """The trigger reason of each event, in seqNo order."""
        return [e.trigger_reason for e in self._ordered()]

    @property
    def evse_id(self) -> int | None:
        evse = next((e.evse for e in self._ordered() if e.evse), None)
        return evse.get("id") if evse else None

    @property
    def connector_id(self) -> int | None:
        evse = next((e.evse for e in self._ordered() if e.evse and "connectorId" in e.evse), None)
        return evse.get("connectorId") if evse else None

    @property
    def id_token(self) -> dict[str, Any] | None:
        """The first idToken reported (who started it)."""
        return next((e.id_token for e in self._ordered() if e.id_token), None)

    @property
    def id_token_info(self) -> dict[str, Any] | None:
        """What the CSMS answered for that idToken."""
        event = next((e for e in self._ordered() if e.id_token), None)
        return event.response.get("idTokenInfo") if event is not None else None

    @property
    def stop_id_token(self) -> dict[str, Any] | None:
        """The idToken carried by the Ended event (who stopped it), if any."""
        event = self._first("Ended")
        return event.id_token if event is not None else None

    @property
    def remote_start_id(self) -> int | None:
        return next((e.remote_start_id for e in self._ordered() if e.remote_start_id is not None), None)

    @property
    def reservation_id(self) -> int | None:
        return next((e.reservation_id for e in self._ordered() if e.reservation_id is not None), None)

    @property
    def charging_state(self) -> str | None:
        """The latest charging state reported (by seqNo)."""
        state: str | None = self._latest("charging_state")
        return state

    @property
    def stopped_reason(self) -> str | None:
        """As reported (the spec's default when absent is Local)."""
        reason: str | None = self._latest("stopped_reason")
        return reason

    @property
    def time_spent_charging(self) -> int | None:
        seconds: int | None = self._latest("time_spent_charging")
        return seconds


@dataclass(frozen=True, slots=True)
class MeterSample:
    """One sampled value of a transaction, with the spec's defaults applied."""

    transaction_id: str
    seq_no: int
    """The event that first brought it."""
    timestamp: str
    value: float
    measurand: str = _ENERGY
    phase: str | None = None
    location: str = "Outlet"
    context: str = "Sample.Periodic"
    unit: str = "Wh"
    multiplier: int = 0
    signed: bool = False

    @property
    def scaled(self) -> float:
        """``value * 10^multiplier`` in ``unit``."""
        return float(self.value) * 10.0**self.multiplier

    @property
    def wh(self) -> float | None:
        """An energy value in Wh (None for other units)."""
        scale = _UNIT_SCALE.get(self.unit)
        return None if scale is None else self.scaled * scale


TransactionEventHook = Callable[["ChargePoint", Transaction, TransactionEventRecord], Awaitable[None]]
#: ``async (cp, transaction, event) -> fields | None``: wire fields to add to the answer of a
#: new TransactionEvent (``transaction`` already includes ``event``).
ResponseHook = Callable[["ChargePoint", Transaction, TransactionEventRecord], Awaitable["Mapping[str, Any] | None"]]


def _digest(payload: Mapping[str, Any]) -> str:
    return hashlib.sha256(orjson.dumps(payload, option=orjson.OPT_SORT_KEYS)).hexdigest()[:32]


def _load_transaction(data: Mapping[str, Any]) -> Transaction:
    events = {int(n): load_record(TransactionEventRecord, e) for n, e in data.get("events", {}).items()}
    events = dict(sorted(events.items()))  # seqNo order, whatever the arrival order
    return Transaction(
        transaction_id=data["transaction_id"],
        first_seen_at=data["first_seen_at"],
        events=events,
        duplicates=data.get("duplicates", 0),
        conflicts=tuple(data.get("conflicts", ())),
        station_status=data.get("station_status"),
    )


# -- the plugin ---------------------------------------------------------------------------


class TransactionsPlugin(V201Plugin):
    """OCPP 2.0.1/2.1 block E (Transactions).

    Args:
        authorizer: ``async (cp, id_token) -> IdTokenInfo | status`` for the idTokenInfo of
            events with an idToken; default: the installed ``AuthorizationPlugin``, else
            Accepted.
        on_event: ``async (cp, transaction, event)`` for every new (not resent) event, after
            it was stored and before it is answered; an exception is logged.
    """

    name: ClassVar[str] = NS_TRANSACTIONS

    def __init__(self, *, authorizer: Authorizer | None = None, on_event: TransactionEventHook | None = None) -> None:
        super().__init__()
        self.authorizer = authorizer
        self.on_event = on_event
        #: Hooks that add fields to the answers of new events (``add_response_hook``).
        self.response_hooks: list[ResponseHook] = []
        self.handle("TransactionEvent", self._on_transaction_event)

    def add_response_hook(self, hook: ResponseHook) -> ResponseHook:
        """Register ``async (cp, transaction, event) -> fields | None`` (usable as a decorator).

        The returned wire fields (e.g. ``{"totalCost": 4.2}``) are merged into the answer of
        every new event, later hooks winning; a resend gets the decorated first answer. A
        failing hook is logged and skipped. Registering the same hook twice is a no-op.
        """
        if hook not in self.response_hooks:
            self.response_hooks.append(hook)
        return hook

    async def _id_token_info(self, cp: ChargePoint, id_token: Mapping[str, Any]) -> dict[str, Any]:
        if self.authorizer is not None:
            verdict = await self.authorizer(cp, v201.IdTokenType.from_wire(id_token))
            if isinstance(verdict, v201.IdTokenInfoType):
                return verdict.to_wire()
            return {"status": text(verdict)}
        from .authorization import AuthorizationPlugin  # a sibling block, only when installed

        authorization = self.plugin(AuthorizationPlugin)
        if authorization is None:
            return {"status": "Accepted"}
        return (await authorization.authorize(cp, id_token)).to_wire()

    async def _on_transaction_event(self, cp: ChargePoint, payload: dict[str, Any]) -> dict[str, Any]:
        storage = self.storage
        info = payload["transactionInfo"]
        transaction_id = str(info["transactionId"])
        seq_no = int(payload["seqNo"])
        key = f"tx:{transaction_id}"
        digest = _digest(payload)
        stored: dict[str, Any] | None = await storage.get(self.name, cp.id, key)
        if stored is not None and (first := stored["events"].get(str(seq_no))) is not None:
            stored["duplicates"] = stored.get("duplicates", 0) + 1
            if first["digest"] != digest and seq_no not in stored.setdefault("conflicts", []):
                stored["conflicts"].append(seq_no)
                log.warning("%s: TransactionEvent %s seqNo %s resent with other content", cp.id, transaction_id, seq_no)
            await storage.set(self.name, cp.id, key, stored)
            response: dict[str, Any] = first["response"]
            return response
        response = {}
        if isinstance(payload.get("idToken"), dict):
            response["idTokenInfo"] = await self._id_token_info(cp, payload["idToken"])
        meter_values = payload.get("meterValue") or []
        event = TransactionEventRecord(
            seq_no=seq_no,
            event_type=str(text(payload["eventType"])),
            trigger_reason=str(text(payload["triggerReason"])),
            timestamp=payload["timestamp"],
            received_at=self.now_text(),
            digest=digest,
            offline=bool(payload.get("offline", False)),
            charging_state=text(info.get("chargingState")),
            stopped_reason=text(info.get("stoppedReason")),
            remote_start_id=info.get("remoteStartId"),
            reservation_id=payload.get("reservationId"),
            time_spent_charging=info.get("timeSpentCharging"),
            evse=payload.get("evse"),
            id_token=payload.get("idToken"),
            meter_values=len(meter_values),
            response=response,
            payload={k: v for k, v in payload.items() if k != "meterValue"},
        )
        if stored is None:
            stored = {
                "transaction_id": transaction_id,
                "first_seen_at": event.received_at,
                "events": {},
                "duplicates": 0,
                "conflicts": [],
            }
        # Samples first, the event last: the event is the commit point of the dedupe, and a
        # crash in between only makes the resend store the (deduplicated) samples again.
        await self._store_samples(cp.id, transaction_id, seq_no, meter_values)
        if self.response_hooks:
            stored["events"][str(seq_no)] = dump_record(event)
            response = await self._decorate(cp, _load_transaction(stored), event, response)
            event = replace(event, response=response)
        stored["events"][str(seq_no)] = dump_record(event)
        await storage.set(self.name, cp.id, key, stored)
        if self.on_event is not None:
            try:
                await self.on_event(cp, _load_transaction(stored), event)
            except Exception:
                log.exception("%s: on_event hook failed", cp.id)
        return response

    async def _decorate(
        self, cp: ChargePoint, transaction: Transaction, event: TransactionEventRecord, response: dict[str, Any]
    ) -> dict[str, Any]:
        decorated = dict(response)
        for hook in list(self.response_hooks):
            try:
                fields = await hook(cp, transaction, event)
            except Exception:
                log.exception("%s: TransactionEvent response hook failed", cp.id)
                continue
            if fields:
                decorated.update(fields)
        return decorated

    async def _store_samples(
        self, identity: str, transaction_id: str, seq_no: int, meter_values: list[dict[str, Any]]
    ) -> None:
        if not meter_values:
            return
        samples: dict[str, Any] = await self.storage.get(NS_METER_VALUES, identity, transaction_id) or {}
        added = False
        for meter_value in meter_values:
            timestamp = meter_value["timestamp"]
            for sampled in meter_value.get("sampledValue", []):
                unit = sampled.get("unitOfMeasure") or {}
                sample = {
                    "transaction_id": transaction_id,
                    "seq_no": seq_no,
                    "timestamp": timestamp,
                    "value": sampled["value"],
                    "measurand": text(sampled.get("measurand")) or _ENERGY,
                    "phase": text(sampled.get("phase")),
                    "location": text(sampled.get("location")) or "Outlet",
                    "context": text(sampled.get("context")) or "Sample.Periodic",
                    "unit": unit.get("unit") or "Wh",
                    "multiplier": unit.get("multiplier") or 0,
                    "signed": "signedMeterValue" in sampled,
                }
                sample_key = "|".join(
                    str(part)
                    for part in (
                        normalize_time(timestamp),
                        sample["measurand"],
                        sample["phase"],
                        sample["location"],
                        sample["context"],
                    )
                )
                if sample_key not in samples:
                    samples[sample_key] = sample
                    added = True
        if added:
            await self.storage.set(NS_METER_VALUES, identity, transaction_id, samples)

    # -- queries --------------------------------------------------------------------------

    async def transaction(self, identity: str, transaction_id: str) -> Transaction | None:
        data = await self.storage.get(self.name, identity, f"tx:{transaction_id}")
        return _load_transaction(data) if data else None

    async def transactions(self, identity: str, *, active: bool | None = None) -> list[Transaction]:
        """The station's transactions by start time (``active=True``: not ended)."""
        items = await self.storage.items(self.name, identity)
        found = [_load_transaction(v) for k, v in items.items() if k.startswith("tx:")]
        if active is not None:
            found = [tx for tx in found if tx.active is active]
        return sorted(found, key=lambda tx: (parse_time(tx.started_at or tx.first_seen_at) or EPOCH, tx.transaction_id))

    async def active_transaction(self, identity: str, evse_id: int) -> Transaction | None:
        """The latest running transaction on an EVSE."""
        running = [tx for tx in await self.transactions(identity, active=True) if tx.evse_id == evse_id]
        return running[-1] if running else None

    async def transaction_by_remote_start_id(self, identity: str, remote_start_id: int) -> Transaction | None:
        """The transaction that a RequestStartTransaction with this remoteStartId started."""
        for tx in await self.transactions(identity):
            if tx.remote_start_id == remote_start_id:
                return tx
        return None

    async def meter_values(
        self, identity: str, transaction_id: str, *, measurand: str | None = None
    ) -> list[MeterSample]:
        """The transaction's samples in time order (each stored once)."""
        samples = await self.storage.get(NS_METER_VALUES, identity, transaction_id) or {}
        found = [load_record(MeterSample, s) for s in samples.values()]
        if measurand is not None:
            found = [s for s in found if s.measurand == measurand]
        return sorted(found, key=lambda s: (parse_time(s.timestamp) or EPOCH, s.measurand, s.phase or ""))

    async def energy_wh(self, identity: str, transaction_id: str) -> float | None:
        """Energy delivered: last minus first ``Energy.Active.Import.Register`` reading
        (all phases, at the outlet), in Wh; None with fewer than two readings."""
        readings = [
            s
            for s in await self.meter_values(identity, transaction_id, measurand=_ENERGY)
            if s.phase is None and s.location == "Outlet" and s.wh is not None
        ]
        if len(readings) < 2:
            return None
        return float(readings[-1].wh or 0.0) - float(readings[0].wh or 0.0)

    # -- CSMS-initiated -------------------------------------------------------------------

    async def get_transaction_status(
        self, identity: str, transaction_id: str | None = None, *, timeout: float | None = None
    ) -> v201.GetTransactionStatusResponse:
        """Whether the station still queues messages (for one transaction or any) and whether
        the transaction is ongoing; remembered on the transaction (``station_status``)."""
        request = v201.GetTransactionStatusRequest(transaction_id=transaction_id)
        data = await self.request(identity, request, timeout=timeout)
        if transaction_id is not None:
            key = f"tx:{transaction_id}"
            stored = await self.storage.get(self.name, identity, key)
            if stored is not None:
                stored["station_status"] = {**data, "checkedAt": self.now_text()}
                await self.storage.set(self.name, identity, key, stored)
        return v201.GetTransactionStatusResponse.from_wire(data)
