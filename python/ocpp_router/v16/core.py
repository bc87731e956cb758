"""OCPP 1.6 Core profile: registration, heartbeats, connector states, authorisation,
transactions, meter values and data transfer, plus typed helpers for the Core operations a
CSMS initiates (ChangeAvailability, ChangeConfiguration, GetConfiguration, ClearCache,
RemoteStart/StopTransaction, Reset, UnlockConnector, DataTransfer).

Transaction messages are always answered with a CALLRESULT (OCPP 1.6 §6.1 of the protocol
notes): a resent StartTransaction gets its first transaction id back, ``transactionId = -1``
is matched to a transaction by connector and time, unknown or duplicate StopTransactions are
recorded for reconciliation instead of being refused.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from .. import v16
from .._versions import V16
from ..errors import PropertyConstraintViolationError, SecurityError
from ._base import (
    EPOCH,
    NS_CORE,
    NS_METER_VALUES,
    NS_TRANSACTIONS,
    NotAcceptedError,
    V16Plugin,
    append_bounded,
    dump_record,
    format_time,
    load_record,
    normalize_time,
    parse_time,
    registration_status,
    text,
    utc_datetime,
    was_triggered,
)
from .smart_charging import validate_charging_profile

if TYPE_CHECKING:
    from datetime import datetime

    from .._session import ChargePoint

__all__ = [
    "Authorizer",
    "BootDecision",
    "BootPolicy",
    "ConnectorStatus",
    "CorePlugin",
    "DataTransferHandler",
    "IdTagList",
    "MeterSample",
    "NotAcceptedError",
    "Registration",
    "Transaction",
    "UnmatchedMessage",
]

#: What a boot policy returns: a status, or a status and the interval to send with it.
BootDecision = v16.RegistrationStatus | str | tuple[v16.RegistrationStatus | str, int]
BootPolicy = Callable[["ChargePoint", v16.BootNotificationRequest], Awaitable[BootDecision]]
#: ``async (cp, id_tag) -> IdTagInfo`` (or just an ``AuthorizationStatus``).
Authorizer = Callable[["ChargePoint", str], Awaitable["v16.IdTagInfo | v16.AuthorizationStatus | str"]]
DataTransferHandler = Callable[["ChargePoint", v16.DataTransferRequest], Awaitable[v16.DataTransferResponse]]
H = TypeVar("H", bound=DataTransferHandler)

_ENERGY = "Energy.Active.Import.Register"
#: Unit of a sample that names none: the measurand's natural unit (the spec's default,
#: Wh, is only meaningful for energy registers).
_NATURAL_UNITS = (
    ("Energy.Active", "Wh"),
    ("Energy.Reactive", "varh"),
    ("Power.Active", "W"),
    ("Power.Offered", "W"),
    ("Power.Reactive", "var"),
    ("Current", "A"),
    ("Voltage", "V"),
    ("Temperature", "Celsius"),
    ("SoC", "Percent"),
)
_MAX_UNMATCHED = 1000


# -- records ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Registration:
    """The last BootNotification answer given to a charge point."""

    status: str
    interval: int
    updated_at: str
    boot: dict[str, Any] = field(default_factory=dict)
    """The BootNotification payload as received (vendor, model, firmware, serials)."""


@dataclass(frozen=True, slots=True)
class ConnectorStatus:
    """The last StatusNotification of one connector (0 is the charge point itself)."""

    connector_id: int
    status: str
    error_code: str
    received_at: str
    info: str | None = None
    vendor_id: str | None = None
    vendor_error_code: str | None = None
    timestamp: str | None = None
    """The charge point's own time of the status change, as sent."""


@dataclass(frozen=True, slots=True)
class Transaction:
    """A 1.6 transaction as reported by StartTransaction and StopTransaction."""

    id: int
    connector_id: int
    id_tag: str
    meter_start: int
    start_time: str
    id_tag_info: dict[str, Any]
    """The idTagInfo answered to the StartTransaction (wire form)."""
    started_at: str
    reservation_id: int | None = None
    meter_stop: int | None = None
    stop_time: str | None = None
    stop_reason: str | None = None
    """Exactly as received (``PowerLoss``, ``EVDisconnected``, ...); None when the charge
    point sent none, which the spec defines as ``Local``."""
    stop_id_tag: str | None = None
    stopped_at: str | None = None
    stopped_as_unknown: bool = False
    """The StopTransaction carried ``transactionId = -1`` and was matched by connector/time."""

    @property
    def active(self) -> bool:
        return self.stop_time is None

    @property
    def id_tag_status(self) -> str:
        """The authorisation status answered to the StartTransaction."""
        return str(self.id_tag_info.get("status", ""))

    @property
    def energy_wh(self) -> int | None:
        """Meter stop minus meter start, once stopped."""
        return None if self.meter_stop is None else self.meter_stop - self.meter_start


@dataclass(frozen=True, slots=True)
class MeterSample:
    """One sampled value, with the spec's defaults applied to fields the charge point left out."""

    connector_id: int
    transaction_id: int | None
    timestamp: str
    value: str
    measurand: str = _ENERGY
    phase: str | None = None
    unit: str | None = "Wh"
    context: str = "Sample.Periodic"
    location: str = "Outlet"
    format: str = "Raw"

    @property
    def number(self) -> float | None:
        """The value as a number (None for ``SignedData`` or unreadable values)."""
        if self.format != "Raw":
            return None
        try:
            return float(self.value)
        except ValueError:
            return None


@dataclass(frozen=True, slots=True)
class UnmatchedMessage:
    """A transaction message that could not be tied to a known transaction (answered anyway)."""

    action: str
    reason: str
    received_at: str
    payload: dict[str, Any] = field(default_factory=dict)


# -- authorisation ------------------------------------------------------------------------


class IdTagList:
    """The default authorizer: id tags in memory, compared case-insensitively (CiString20).

    Unknown tags are ``Invalid``; an ``Accepted`` tag past its expiry date is ``Expired``.
    """

    def __init__(
        self,
        tags: Mapping[str, v16.IdTagInfo | v16.AuthorizationStatus | str] | None = None,
        *,
        clock: Callable[[], datetime] = utc_datetime,
    ) -> None:
        self._tags: dict[str, v16.IdTagInfo] = {}
        self.clock = clock
        for id_tag, info in (tags or {}).items():
            if isinstance(info, v16.IdTagInfo):
                self._tags[id_tag.casefold()] = info
            else:
                self.add(id_tag, info)

    def add(
        self,
        id_tag: str,
        status: v16.AuthorizationStatus | str = v16.AuthorizationStatus.Accepted,
        *,
        expiry_date: datetime | str | None = None,
        parent_id_tag: str | None = None,
    ) -> None:
        self._tags[id_tag.casefold()] = v16.IdTagInfo(
            status=v16.AuthorizationStatus(status),
            expiry_date=None if expiry_date is None else format_time(expiry_date),
            parent_id_tag=parent_id_tag,
        )

    def remove(self, id_tag: str) -> None:
        self._tags.pop(id_tag.casefold(), None)

    def __contains__(self, id_tag: object) -> bool:
        return isinstance(id_tag, str) and id_tag.casefold() in self._tags

    def __len__(self) -> int:
        return len(self._tags)

    def lookup(self, id_tag: str) -> v16.IdTagInfo:
        info = self._tags.get(id_tag.casefold())
        if info is None:
            return v16.IdTagInfo(status=v16.AuthorizationStatus.Invalid)
        expiry = parse_time(info.expiry_date)
        if info.status == v16.AuthorizationStatus.Accepted and expiry is not None and expiry <= self.clock():
            return replace(info, status=v16.AuthorizationStatus.Expired)
        return replace(info)

    async def __call__(self, cp: ChargePoint, id_tag: str) -> v16.IdTagInfo:
        return self.lookup(id_tag)


# -- the plugin ---------------------------------------------------------------------------


class CorePlugin(V16Plugin):
    """The OCPP 1.6 Core profile.

    Args:
        boot_policy: ``async (cp, request) -> status | (status, interval)`` decides each
            BootNotification; default: accept every charge point.
        heartbeat_interval: seconds sent with Accepted.
        retry_interval: seconds sent with Pending/Rejected (the earliest next BootNotification).
        authorizer: ``async (cp, id_tag) -> IdTagInfo | status`` for Authorize and the
            idTagInfo of Start/StopTransaction; default: ``self.id_tags``.
        id_tags: initial content of the default in-memory ``IdTagList``.
    """

    name: ClassVar[str] = NS_CORE

    def __init__(
        self,
        *,
        boot_policy: BootPolicy | None = None,
        heartbeat_interval: int = 300,
        retry_interval: int = 60,
        authorizer: Authorizer | None = None,
        id_tags: Mapping[str, v16.IdTagInfo | v16.AuthorizationStatus | str] | None = None,
    ) -> None:
        super().__init__()
        if authorizer is not None and id_tags is not None:
            raise ValueError("give either an authorizer or id_tags for the default one, not both")
        self.boot_policy = boot_policy
        self.heartbeat_interval = heartbeat_interval
        self.retry_interval = retry_interval
        self.id_tags = IdTagList(id_tags, clock=lambda: self.clock())
        self.authorizer: Authorizer = authorizer or self.id_tags
        self._data_transfer: dict[tuple[str, str | None], DataTransferHandler] = {}
        self.router.guard(self._registration_guard)
        self.handle("BootNotification", self._on_boot)
        self.handle("Heartbeat", self._on_heartbeat)
        self.handle("StatusNotification", self._on_status)
        self.handle("Authorize", self._on_authorize)
        self.handle("StartTransaction", self._on_start_transaction)
        self.handle("StopTransaction", self._on_stop_transaction)
        self.handle("MeterValues", self._on_meter_values)
        self.handle("DataTransfer", self._on_data_transfer)

    # -- registration ---------------------------------------------------------------------

    async def _registration_guard(self, cp: ChargePoint, action: str, payload: Any) -> None:
        """Pending/Rejected charge points may send only BootNotification and triggered
        messages (OCPP-J 1.6 errata: others get SecurityError). A charge point whose state is
        unknown (e.g. the CSMS lost its store) is served normally."""
        if cp.version != V16 or action == "BootNotification":
            return
        status = await registration_status(self.storage, cp.id)
        if status is None or status == "Accepted" or await was_triggered(self.storage, cp.id, action):
            return
        raise SecurityError(f"{action} is not allowed while the registration is {status}; send BootNotification")

    async def _on_boot(self, cp: ChargePoint, request: v16.BootNotificationRequest) -> v16.BootNotificationResponse:
        decision: BootDecision = v16.RegistrationStatus.Accepted
        if self.boot_policy is not None:
            decision = await self.boot_policy(cp, request)
        interval: int | None = None
        if isinstance(decision, tuple):
            decision, interval = decision
        status = v16.RegistrationStatus(decision)
        if interval is None:
            interval = self.heartbeat_interval if status == v16.RegistrationStatus.Accepted else self.retry_interval
        now = self.now_text()
        record = Registration(status=status.value, interval=interval, updated_at=now, boot=request.to_wire())
        await self.save(cp.id, "registration", dump_record(record))  # persisted before answering
        return v16.BootNotificationResponse(status=status, current_time=now, interval=interval)

    async def registration(self, identity: str) -> Registration | None:
        """The stored registration state, or None when the charge point never booted here."""
        data = await self.load(identity, "registration")
        return load_record(Registration, data) if data else None

    async def _on_heartbeat(self, cp: ChargePoint, request: v16.HeartbeatRequest) -> v16.HeartbeatResponse:
        return v16.HeartbeatResponse(current_time=self.now_text())

    # -- connector states -----------------------------------------------------------------

    async def _on_status(
        self, cp: ChargePoint, request: v16.StatusNotificationRequest
    ) -> v16.StatusNotificationResponse:
        if request.connector_id < 0:  # the 1.6 errata's answer for an invalid connectorId
            raise PropertyConstraintViolationError(f"connectorId must be >= 0, not {request.connector_id}")
        table: dict[str, Any] = await self.load(cp.id, "connectors", {})
        key = str(request.connector_id)
        previous = table.get(key)
        new_time, old_time = parse_time(request.timestamp), parse_time((previous or {}).get("timestamp"))
        if new_time is not None and old_time is not None and new_time < old_time:
            return v16.StatusNotificationResponse()  # a late report of an older state: keep the newer one
        record = ConnectorStatus(
            connector_id=request.connector_id,
            status=str(text(request.status)),
            error_code=str(text(request.error_code)),
            received_at=self.now_text(),
            info=request.info,
            vendor_id=request.vendor_id,
            vendor_error_code=request.vendor_error_code,
            timestamp=request.timestamp,
        )
        table[key] = dump_record(record)
        await self.save(cp.id, "connectors", table)
        return v16.StatusNotificationResponse()

    async def connectors(self, identity: str) -> dict[int, ConnectorStatus]:
        """Every connector's last reported state, by connector id (0 = the charge point)."""
        table: dict[str, Any] = await self.load(identity, "connectors", {})
        return {int(k): load_record(ConnectorStatus, v) for k, v in sorted(table.items(), key=lambda kv: int(kv[0]))}

    async def connector(self, identity: str, connector_id: int) -> ConnectorStatus | None:
        return (await self.connectors(identity)).get(connector_id)

    # -- authorisation --------------------------------------------------------------------

    async def authorize_id_tag(self, cp: ChargePoint, id_tag: str) -> v16.IdTagInfo:
        """The authorizer's verdict as an ``IdTagInfo``."""
        verdict = await self.authorizer(cp, id_tag)
        if isinstance(verdict, v16.IdTagInfo):
            return verdict
        return v16.IdTagInfo(status=v16.AuthorizationStatus(verdict))

    async def _on_authorize(self, cp: ChargePoint, request: v16.AuthorizeRequest) -> v16.AuthorizeResponse:
        return v16.AuthorizeResponse(id_tag_info=await self.authorize_id_tag(cp, request.id_tag))

    # -- transactions ---------------------------------------------------------------------

    async def _on_start_transaction(
        self, cp: ChargePoint, request: v16.StartTransactionRequest
    ) -> v16.StartTransactionResponse:
        storage = self.storage
        key = f"start:{request.connector_id}|{request.id_tag}|{request.meter_start}|{normalize_time(request.timestamp)}"
        known = await storage.get(NS_TRANSACTIONS, cp.id, key)
        if known is not None:  # a resend (the answer got lost): same id, same verdict
            stored = await storage.get(NS_TRANSACTIONS, cp.id, f"tx:{known}")
            answered = stored["id_tag_info"] if stored else {"status": "Accepted"}
            return v16.StartTransactionResponse(transaction_id=known, id_tag_info=v16.IdTagInfo.from_wire(answered))
        info = await self.authorize_id_tag(cp, request.id_tag)
        candidate = await storage.next_id("v16.transaction")
        transaction_id: int = await storage.set_if_absent(NS_TRANSACTIONS, cp.id, key, candidate)
        if transaction_id == candidate:  # persisted before answering, so a resend finds it
            record = Transaction(
                id=transaction_id,
                connector_id=request.connector_id,
                id_tag=request.id_tag,
                meter_start=request.meter_start,
                start_time=request.timestamp,
                id_tag_info=info.to_wire(),
                started_at=self.now_text(),
                reservation_id=request.reservation_id,
            )
            await storage.set(NS_TRANSACTIONS, cp.id, f"tx:{transaction_id}", dump_record(record))
        return v16.StartTransactionResponse(transaction_id=transaction_id, id_tag_info=info)

    async def _on_stop_transaction(
        self, cp: ChargePoint, request: v16.StopTransactionRequest
    ) -> v16.StopTransactionResponse:
        reported = request.transaction_id
        if reported == -1:
            transaction = await self._match(cp.id, None, request.timestamp, request.id_tag)
        else:
            transaction = await self.transaction(cp.id, reported)
        if transaction is None:
            reason = "transactionId -1 matched no transaction" if reported == -1 else "unknown transaction"
            await self._unmatched(cp.id, "StopTransaction", reason, request.to_wire())
        elif transaction.active:
            stopped = replace(
                transaction,
                meter_stop=request.meter_stop,
                stop_time=request.timestamp,
                stop_reason=text(request.reason),
                stop_id_tag=request.id_tag,
                stopped_at=self.now_text(),
                stopped_as_unknown=reported == -1,
            )
            await self.storage.set(NS_TRANSACTIONS, cp.id, f"tx:{transaction.id}", dump_record(stopped))
        # else: a duplicate StopTransaction; the first one stands.
        if request.transaction_data:
            connector = transaction.connector_id if transaction is not None else 0
            tx_id = transaction.id if transaction is not None else reported
            await self._store_samples(cp.id, connector, tx_id, request.transaction_data)
        info = await self.authorize_id_tag(cp, request.id_tag) if request.id_tag else None
        return v16.StopTransactionResponse(id_tag_info=info)

    async def _match(
        self, identity: str, connector_id: int | None, when: str, id_tag: str | None
    ) -> Transaction | None:
        """The transaction a ``transactionId = -1`` message belongs to.

        Meter values (with a connector): the transaction on that connector running at the
        sample time. StopTransaction (no connector): an active transaction that started
        before the stop, preferring one with the same idTag. The latest start wins.
        """
        at = parse_time(when)
        candidates = []
        for tx in await self.transactions(identity):
            start = parse_time(tx.start_time)
            if at is not None and start is not None and start > at:
                continue
            if connector_id is None:
                if not tx.active:
                    continue
            else:
                stop = parse_time(tx.stop_time)
                if tx.connector_id != connector_id or (stop is not None and at is not None and stop < at):
                    continue
            candidates.append(tx)
        if id_tag is not None:
            same_tag = [tx for tx in candidates if tx.id_tag.casefold() == id_tag.casefold()]
            candidates = same_tag or candidates
        if not candidates:
            return None
        return max(candidates, key=lambda tx: (parse_time(tx.start_time) or EPOCH, tx.id))

    async def _unmatched(self, identity: str, action: str, reason: str, payload: dict[str, Any]) -> None:
        record = UnmatchedMessage(action=action, reason=reason, received_at=self.now_text(), payload=payload)
        await append_bounded(self.storage, NS_TRANSACTIONS, identity, "unmatched", dump_record(record), _MAX_UNMATCHED)

    async def transactions(self, identity: str, *, active: bool | None = None) -> list[Transaction]:
        """The charge point's transactions by id (``active=True``: only running ones)."""
        items = await self.storage.items(NS_TRANSACTIONS, identity)
        found = [load_record(Transaction, v) for k, v in items.items() if k.startswith("tx:")]
        if active is not None:
            found = [tx for tx in found if tx.active is active]
        return sorted(found, key=lambda tx: tx.id)

    async def transaction(self, identity: str, transaction_id: int) -> Transaction | None:
        data = await self.storage.get(NS_TRANSACTIONS, identity, f"tx:{transaction_id}")
        return load_record(Transaction, data) if data else None

    async def active_transaction(self, identity: str, connector_id: int) -> Transaction | None:
        """The latest running transaction on a connector."""
        running = [tx for tx in await self.transactions(identity, active=True) if tx.connector_id == connector_id]
        return running[-1] if running else None

    async def unmatched(self, identity: str) -> list[UnmatchedMessage]:
        """Transaction messages that referred to no known transaction (for reconciliation)."""
        items = await self.storage.get(NS_TRANSACTIONS, identity, "unmatched") or []
        return [load_record(UnmatchedMessage, item) for item in items]

    # -- meter values ---------------------------------------------------------------------

    async def _on_meter_values(self, cp: ChargePoint, request: v16.MeterValuesRequest) -> v16.MeterValuesResponse:
        tx_id = request.transaction_id
        if tx_id == -1 and request.meter_value:
            first = min(request.meter_value, key=lambda mv: parse_time(mv.timestamp) or EPOCH)
            matched = await self._match(cp.id, request.connector_id, first.timestamp, None)
            if matched is None:
                await self._unmatched(
                    cp.id, "MeterValues", "transactionId -1 matched no transaction", request.to_wire()
                )
            else:
                tx_id = matched.id
        await self._store_samples(cp.id, request.connector_id, tx_id, request.meter_value)
        return v16.MeterValuesResponse()

    async def _store_samples(
        self,
        identity: str,
        connector_id: int,
        transaction_id: int | None,
        meter_values: Sequence[v16.MeterValue | v16.StopTransactionMeterValue],
    ) -> None:
        """Store samples once per (connector, transaction, time, measurand, phase, context):
        one storage key per meter value, so a resend or a StopTransaction's transactionData
        repeating earlier samples adds nothing."""
        storage = self.storage
        for meter_value in meter_values:
            tx = "" if transaction_id is None else transaction_id
            key = f"{connector_id}|{tx}|{normalize_time(meter_value.timestamp)}"
            bucket = await storage.get(NS_METER_VALUES, identity, key) or {
                "connector_id": connector_id,
                "transaction_id": transaction_id,
                "timestamp": meter_value.timestamp,
                "samples": [],
            }
            seen = {(s["measurand"], s["phase"], s["context"]) for s in bucket["samples"]}
            added = False
            for sampled in meter_value.sampled_value:
                measurand = text(sampled.measurand) or _ENERGY
                sample = {
                    "value": sampled.value,
                    "measurand": measurand,
                    "phase": text(sampled.phase),
                    "unit": text(sampled.unit) or _natural_unit(measurand),
                    "context": text(sampled.context) or "Sample.Periodic",
                    "location": text(sampled.location) or "Outlet",
                    "format": text(sampled.format) or "Raw",
                }
                identity_key = (sample["measurand"], sample["phase"], sample["context"])
                if identity_key not in seen:
                    seen.add(identity_key)
                    bucket["samples"].append(sample)
                    added = True
            if added:
                await storage.set(NS_METER_VALUES, identity, key, bucket)

    async def meter_values(
        self,
        identity: str,
        *,
        transaction_id: int | None = None,
        connector_id: int | None = None,
        measurand: str | None = None,
    ) -> list[MeterSample]:
        """Stored samples in time order, optionally for one transaction/connector/measurand."""
        samples = []
        for bucket in (await self.storage.items(NS_METER_VALUES, identity)).values():
            if transaction_id is not None and bucket["transaction_id"] != transaction_id:
                continue
            if connector_id is not None and bucket["connector_id"] != connector_id:
                continue
            for s in bucket["samples"]:
                if measurand is None or s["measurand"] == measurand:
                    samples.append(
                        MeterSample(
                            connector_id=bucket["connector_id"],
                            transaction_id=bucket["transaction_id"],
                            timestamp=bucket["timestamp"],
                            **s,
                        )
                    )
        return sorted(samples, key=lambda s: (parse_time(s.timestamp) or EPOCH, s.measurand, s.phase or ""))

    # -- data transfer --------------------------------------------------------------------

    def on_data_transfer(self, vendor_id: str, message_id: str | None = None) -> Callable[[H], H]:
        """Register ``async (cp, request) -> DataTransferResponse`` for a vendor (and message).

        A (vendor, messageId) handler wins over the vendor's catch-all (``message_id=None``);
        a known vendor with no matching handler is answered ``UnknownMessageId``, an unknown
        vendor ``UnknownVendorId``.
        """

        def register(handler: H) -> H:
            self._data_transfer[(vendor_id, message_id)] = handler
            return handler

        return register

    async def _on_data_transfer(self, cp: ChargePoint, request: v16.DataTransferRequest) -> v16.DataTransferResponse:
        vendor = request.vendor_id
        handler = self._data_transfer.get((vendor, request.message_id)) or self._data_transfer.get((vendor, None))
        if handler is not None:
            return await handler(cp, request)
        if any(known == vendor for known, _ in self._data_transfer):
            return v16.DataTransferResponse(status=v16.DataTransferStatus.UnknownMessageId)
        return v16.DataTransferResponse(status=v16.DataTransferStatus.UnknownVendorId)

    # -- CSMS-initiated operations --------------------------------------------------------

    async def change_availability(
        self,
        identity: str,
        connector_id: int,
        type: v16.AvailabilityType | str,
        *,
        timeout: float | None = None,
    ) -> v16.ChangeAvailabilityResponse:
        """Make a connector (0: the whole charge point) Operative or Inoperative."""
        _check_connector(connector_id, minimum=0)
        request = v16.ChangeAvailabilityRequest(connector_id=connector_id, type=v16.AvailabilityType(type))
        response: v16.ChangeAvailabilityResponse = await self.request(identity, request, timeout=timeout)
        return response

    async def change_configuration(
        self, identity: str, key: str, value: str, *, timeout: float | None = None
    ) -> v16.ChangeConfigurationResponse:
        """Set a configuration key; an Accepted/RebootRequired value is remembered."""
        request = v16.ChangeConfigurationRequest(key=key, value=value)
        response: v16.ChangeConfigurationResponse = await self.request(identity, request, timeout=timeout)
        if response.status in (v16.ConfigurationStatus.Accepted, v16.ConfigurationStatus.RebootRequired):
            known: dict[str, Any] = await self.load(identity, "configuration", {})
            known[key] = {"key": key, "readonly": known.get(key, {}).get("readonly", False), "value": value}
            await self.save(identity, "configuration", known)
        return response

    async def get_configuration(
        self, identity: str, keys: Sequence[str] | None = None, *, timeout: float | None = None
    ) -> v16.GetConfigurationResponse:
        """Read configuration keys (all when ``keys`` is None); the answer is remembered."""
        request = v16.GetConfigurationRequest(key=list(keys) if keys is not None else None)
        response: v16.GetConfigurationResponse = await self.request(identity, request, timeout=timeout)
        known: dict[str, Any] = await self.load(identity, "configuration", {})
        for item in response.configuration_key or ():
            known[item.key] = item.to_wire()
        await self.save(identity, "configuration", known)
        return response

    async def configuration(self, identity: str) -> dict[str, v16.KeyValue]:
        """Configuration keys as last read or successfully changed."""
        known: dict[str, Any] = await self.load(identity, "configuration", {})
        return {k: v16.KeyValue.from_wire(v) for k, v in sorted(known.items())}

    async def clear_cache(self, identity: str, *, timeout: float | None = None) -> v16.ClearCacheResponse:
        response: v16.ClearCacheResponse = await self.request(identity, v16.ClearCacheRequest(), timeout=timeout)
        return response

    async def remote_start_transaction(
        self,
        identity: str,
        id_tag: str,
        *,
        connector_id: int | None = None,
        charging_profile: v16.ChargingProfile | None = None,
        timeout: float | None = None,
    ) -> v16.RemoteStartTransactionResponse:
        """Ask the charge point to start a transaction; it follows as a StartTransaction.

        A ``charging_profile`` must be a TxProfile without transactionId (checked before sending).
        """
        if connector_id is not None:
            _check_connector(connector_id, minimum=1)
        if charging_profile is not None:
            validate_charging_profile(charging_profile, remote_start=True)
        request = v16.RemoteStartTransactionRequest(
            id_tag=id_tag, connector_id=connector_id, charging_profile=charging_profile
        )
        response: v16.RemoteStartTransactionResponse = await self.request(identity, request, timeout=timeout)
        return response

    async def remote_stop_transaction(
        self, identity: str, transaction_id: int, *, timeout: float | None = None
    ) -> v16.RemoteStopTransactionResponse:
        request = v16.RemoteStopTransactionRequest(transaction_id=transaction_id)
        response: v16.RemoteStopTransactionResponse = await self.request(identity, request, timeout=timeout)
        return response

    async def reset(
        self, identity: str, type: v16.ResetType | str = v16.ResetType.Soft, *, timeout: float | None = None
    ) -> v16.ResetResponse:
        response: v16.ResetResponse = await self.request(
            identity, v16.ResetRequest(type=v16.ResetType(type)), timeout=timeout
        )
        return response

    async def unlock_connector(
        self, identity: str, connector_id: int, *, timeout: float | None = None
    ) -> v16.UnlockConnectorResponse:
        _check_connector(connector_id, minimum=1)
        request = v16.UnlockConnectorRequest(connector_id=connector_id)
        response: v16.UnlockConnectorResponse = await self.request(identity, request, timeout=timeout)
        return response

    async def data_transfer(
        self,
        identity: str,
        vendor_id: str,
        *,
        message_id: str | None = None,
        data: str | None = None,
        timeout: float | None = None,
    ) -> v16.DataTransferResponse:
        request = v16.DataTransferRequest(vendor_id=vendor_id, message_id=message_id, data=data)
        response: v16.DataTransferResponse = await self.request(identity, request, timeout=timeout)
        return response


def _natural_unit(measurand: str) -> str | None:
    for prefix, unit in _NATURAL_UNITS:
        if measurand.startswith(prefix):
            return unit
    return None


def _check_connector(connector_id: int, *, minimum: int) -> None:
    if isinstance(connector_id, bool) or not isinstance(connector_id, int) or connector_id < minimum:
        raise ValueError(f"connector_id must be an integer >= {minimum}, not {connector_id!r}")
