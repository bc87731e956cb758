"""OCPP 2.0.1 block I, Tariff and Cost (central cost calculation): tariffs per charging
station, tariff texts shown at authorization, the running and final cost of each
transaction in TransactionEvent answers, and the CostUpdated helper.

OCPP 2.0.1 has no structured tariff: the CSMS computes the cost and the station only shows
texts and numbers. Here the cost of a transaction comes from its energy
(``TransactionsPlugin.energy_wh``: last minus first register reading, every sample counted
once, so resent or out-of-order events never add energy) and its duration, priced with a
``Tariff`` (per kWh, per hour, per session) or by the application's ``cost`` hook.

* I01 tariff texts: with the Authorization plugin installed, an Accepted ``idTokenInfo``
  (Authorize, and TransactionEvents with an idToken) gets the tariff text as
  ``personalMessage`` unless the verdict brought its own.
* I02 running cost: the answers to Started/Updated events carry ``totalCost`` (the running
  cost; ``running_cost=False`` keeps it for the Ended answer only) and
  ``updatedPersonalMessage`` (a cost text); ``cost_updated`` pushes it with CostUpdated.
* I03 final cost: the answer to the Ended event carries the final ``totalCost`` (0.00 for a
  free transaction; no field when no tariff applies, which tells the station the cost is
  unknown, not free).

The tariff that priced a transaction first stays its tariff (a later price change does not
reprice running transactions). OCPP 2.1's local cost calculation messages are sent by
``set_default_tariff``, ``get_tariffs``, ``clear_tariffs`` and ``change_transaction_tariff``
(2.1 connections only; ``Tariff.to_v21`` builds a 2.1 TariffType).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Any, ClassVar

from .. import v21, v201
from ._base import V201Plugin, dump_record, load_record, parse_time, text

if TYPE_CHECKING:
    from .._server import Server
    from .._session import ChargePoint
    from .transactions import Transaction, TransactionEventRecord, TransactionsPlugin

__all__ = [
    "CostFunction",
    "CostMessage",
    "Tariff",
    "TariffAndCostPlugin",
    "TariffSelector",
    "TransactionCost",
]

log = logging.getLogger("ocpp_router")

#: personalMessage / updatedPersonalMessage content limit of 2.0.1 (2.1 allows 1024).
_MESSAGE_LENGTH = 512


@dataclass(frozen=True, slots=True)
class Tariff:
    """A simple price: per kWh, per hour of transaction time and per session.

    ``text`` is what the station shows at authorization (default: ``describe()``).
    """

    currency: str = "EUR"
    energy_price: float = 0.0
    """Per kWh."""
    time_price: float = 0.0
    """Per hour from the first to the last event of the transaction."""
    session_fee: float = 0.0
    text: str | None = None
    language: str | None = None
    decimals: int = 2
    """Costs are rounded half-up to this many decimals."""

    def describe(self) -> str:
        """The display text: ``text``, else e.g. ``"0.35 EUR/kWh + 1.00 EUR/session"``."""
        if self.text is not None:
            return self.text
        parts = [f"{self.energy_price:.2f} {self.currency}/kWh"]
        if self.time_price:
            parts.append(f"{self.time_price:.2f} {self.currency}/h")
        if self.session_fee:
            parts.append(f"{self.session_fee:.2f} {self.currency}/session")
        return " + ".join(parts)

    def cost(self, energy_wh: float, seconds: float = 0.0) -> float:
        """``session_fee + kWh * energy_price + hours * time_price``, rounded."""
        total = (
            Decimal(repr(self.session_fee))
            + Decimal(repr(float(energy_wh))) / 1000 * Decimal(repr(self.energy_price))
            + Decimal(repr(float(seconds))) / 3600 * Decimal(repr(self.time_price))
        )
        return float(total.quantize(Decimal(1).scaleb(-self.decimals), rounding=ROUND_HALF_UP))

    def message(self) -> dict[str, Any]:
        """The display text as a ``MessageContentType`` (wire form)."""
        message: dict[str, Any] = {"format": "UTF8", "content": self.describe()[:_MESSAGE_LENGTH]}
        if self.language is not None:
            message["language"] = self.language
        return message

    def to_v21(self, tariff_id: str) -> dict[str, Any]:
        """This tariff as an OCPP 2.1 ``TariffType`` (wire form) for local cost calculation."""
        tariff: dict[str, Any] = {
            "tariffId": tariff_id,
            "currency": self.currency,
            "description": [self.message()],
            "energy": {"prices": [{"priceKwh": self.energy_price}]},
        }
        if self.time_price:
            tariff["chargingTime"] = {"prices": [{"priceMinute": self.time_price / 60}]}
        if self.session_fee:
            tariff["fixedFee"] = {"prices": [{"priceFixed": self.session_fee}]}
        return tariff


@dataclass(frozen=True, slots=True)
class TransactionCost:
    """The last cost the CSMS computed for a transaction."""

    transaction_id: str
    total_cost: float
    currency: str
    updated_at: str
    final: bool = False
    """Computed for the Ended event (the final cost)."""
    energy_wh: float | None = None
    seconds: float | None = None
    tariff: dict[str, Any] | None = None
    """The tariff that priced the transaction (kept for its whole life)."""
    sent_at: str | None = None
    """When the cost was last pushed with CostUpdated."""


#: ``async (identity, transaction, tariff, energy_wh) -> cost | None`` (None: no cost known).
CostFunction = Callable[[str, "Transaction", "Tariff | None", "float | None"], Awaitable["float | None"]]
#: ``async (identity, id_token | None) -> Tariff | None``: the tariff of a driver/station.
TariffSelector = Callable[[str, "Mapping[str, Any] | None"], Awaitable["Tariff | None"]]
#: ``(cost, tariff) -> text | None``: the running-cost text (``updatedPersonalMessage``).
CostMessage = Callable[[TransactionCost, "Tariff | None"], "str | None"]


def _default_cost_message(cost: TransactionCost, tariff: Tariff | None) -> str:
    out = f"{cost.total_cost:.2f} {cost.currency}"
    if cost.energy_wh is not None:
        out += f" ({cost.energy_wh / 1000:.2f} kWh)"
    return out


def _duration(transaction: Transaction) -> float:
    """Seconds from the first to the last event timestamp (Ended's when it ended)."""
    times = [t for e in transaction.events.values() if (t := parse_time(e.timestamp)) is not None]
    if len(times) < 2:
        return 0.0
    end = parse_time(transaction.ended_at) if transaction.ended else max(times)
    start = parse_time(transaction.started_at) or min(times)
    return max(0.0, ((end or max(times)) - start).total_seconds())


class TariffAndCostPlugin(V201Plugin):
    """OCPP 2.0.1/2.1 block I (Tariff and Cost, central cost calculation).

    Args:
        default_tariff: the tariff of stations without one of their own (``set_tariff``).
        tariff_for: ``async (identity, id_token | None) -> Tariff | None`` picks the tariff
            of a driver (I01 driver-specific tariffs); default: the station's tariff, else
            ``default_tariff``.
        cost: ``async (identity, transaction, tariff, energy_wh) -> cost | None`` replaces
            ``Tariff.cost`` (your own pricing); None means no cost is known.
        running_cost: put the running ``totalCost`` into Started/Updated answers too (I02);
            the Ended answer always gets the final cost (I03).
        cost_message: ``(cost, tariff) -> text | None`` for ``updatedPersonalMessage``;
            default ``"4.20 EUR (12.00 kWh)"``; return None for no message.
        tariff_texts: add the tariff text as ``personalMessage`` to Accepted idTokenInfo (I01).

    Install it after ``TransactionsPlugin`` and ``AuthorizationPlugin`` (``plugins()`` does):
    ``attach`` registers the TransactionEvent response hook and wraps the authorizer.
    """

    name: ClassVar[str] = "v201.tariff_and_cost"

    def __init__(
        self,
        *,
        default_tariff: Tariff | None = None,
        tariff_for: TariffSelector | None = None,
        cost: CostFunction | None = None,
        running_cost: bool = True,
        cost_message: CostMessage | None = _default_cost_message,
        tariff_texts: bool = True,
    ) -> None:
        super().__init__()
        self.default_tariff = default_tariff
        self.tariff_for = tariff_for
        self.cost_function = cost
        self.running_cost = running_cost
        self.cost_message = cost_message
        self.tariff_texts = tariff_texts

    def attach(self, server: Server) -> None:
        super().attach(server)
        from .authorization import AuthorizationPlugin  # sibling blocks, only when installed
        from .transactions import TransactionsPlugin

        transactions = self.plugin(TransactionsPlugin)
        if transactions is not None:
            transactions.add_response_hook(self._transaction_response)
        authorization = self.plugin(AuthorizationPlugin)
        if authorization is not None and self.tariff_texts:
            inner = authorization.authorizer

            async def with_tariff_text(cp: ChargePoint, id_token: v201.IdTokenType) -> v201.IdTokenInfoType:
                verdict = await inner(cp, id_token)
                return await self._with_tariff_text(cp.id, id_token.to_wire(), verdict)

            authorization.authorizer = with_tariff_text

    # -- tariffs --------------------------------------------------------------------------

    async def set_tariff(self, identity: str, tariff: Tariff | None) -> None:
        """The tariff of one station (None: back to ``default_tariff``)."""
        if tariff is None:
            await self.storage.delete(self.name, identity, "tariff")
        else:
            await self.save(identity, "tariff", dump_record(tariff))

    async def station_tariff(self, identity: str) -> Tariff | None:
        """The station's own tariff, else ``default_tariff``."""
        data = await self.load(identity, "tariff")
        return load_record(Tariff, data) if data else self.default_tariff

    async def tariff(self, identity: str, id_token: Mapping[str, Any] | None = None) -> Tariff | None:
        """The tariff that applies to a driver (``tariff_for``) at a station."""
        if self.tariff_for is not None:
            return await self.tariff_for(identity, id_token)
        return await self.station_tariff(identity)

    async def _with_tariff_text(self, identity: str, id_token: Mapping[str, Any], verdict: Any) -> v201.IdTokenInfoType:
        info = replace(verdict) if isinstance(verdict, v201.IdTokenInfoType) else None
        if info is None:
            info = v201.IdTokenInfoType(status=v201.AuthorizationStatusEnumType(text(verdict)))
        if text(info.status) == "Accepted" and info.personal_message is None:
            tariff = await self.tariff(identity, id_token)
            if tariff is not None:
                info.personal_message = v201.MessageContentType.from_wire(tariff.message())
        return info

    # -- cost -----------------------------------------------------------------------------

    async def _transactions(self) -> TransactionsPlugin:
        from .transactions import TransactionsPlugin

        plugin = self.plugin(TransactionsPlugin)
        if plugin is None:
            raise RuntimeError("TariffAndCostPlugin needs the TransactionsPlugin installed")
        return plugin

    async def transaction_cost(self, identity: str, transaction_id: str) -> TransactionCost | None:
        """The last cost computed for a transaction (None: never priced)."""
        data = await self.load(identity, f"cost:{transaction_id}")
        return load_record(TransactionCost, data) if data else None

    async def compute_cost(self, identity: str, transaction: Transaction) -> TransactionCost | None:
        """Price a transaction now (and remember it); None when no tariff or cost applies."""
        transactions = await self._transactions()
        previous = await self.transaction_cost(identity, transaction.transaction_id)
        if previous is not None and previous.tariff is not None:
            tariff: Tariff | None = load_record(Tariff, previous.tariff)
        else:
            tariff = await self.tariff(identity, transaction.id_token)
        energy = await transactions.energy_wh(identity, transaction.transaction_id)
        seconds = _duration(transaction)
        if self.cost_function is not None:
            total = await self.cost_function(identity, transaction, tariff, energy)
        elif tariff is not None:
            total = tariff.cost(energy or 0.0, seconds)
        else:
            total = None
        if total is None:
            return None
        record = TransactionCost(
            transaction_id=transaction.transaction_id,
            total_cost=float(total),
            currency=tariff.currency if tariff is not None else (previous.currency if previous else ""),
            updated_at=self.now_text(),
            final=transaction.ended,
            energy_wh=energy,
            seconds=seconds,
            tariff=dump_record(tariff) if tariff is not None else None,
            sent_at=previous.sent_at if previous is not None else None,
        )
        await self.save(identity, f"cost:{transaction.transaction_id}", dump_record(record))
        return record

    async def _transaction_response(
        self, cp: ChargePoint, transaction: Transaction, event: TransactionEventRecord
    ) -> dict[str, Any] | None:
        fields: dict[str, Any] = {}
        info = event.response.get("idTokenInfo")
        if (
            self.tariff_texts
            and isinstance(info, dict)
            and event.id_token is not None
            and "personalMessage" not in info
        ):
            decorated = await self._with_tariff_text(cp.id, event.id_token, v201.IdTokenInfoType.from_wire(info))
            if decorated.personal_message is not None:
                fields["idTokenInfo"] = {**info, "personalMessage": decorated.personal_message.to_wire()}
        final = event.event_type == "Ended"
        if not (final or self.running_cost or self.cost_message is not None):
            return fields or None
        cost = await self.compute_cost(cp.id, transaction)
        if cost is None:
            return fields or None
        if final or self.running_cost:
            fields["totalCost"] = cost.total_cost
        if self.cost_message is not None:
            tariff = load_record(Tariff, cost.tariff) if cost.tariff is not None else None
            message = self.cost_message(cost, tariff)
            if message:
                content: dict[str, Any] = {"format": "UTF8", "content": message[:_MESSAGE_LENGTH]}
                if tariff is not None and tariff.language is not None:
                    content["language"] = tariff.language
                fields["updatedPersonalMessage"] = content
        return fields

    async def cost_updated(
        self,
        identity: str,
        transaction_id: str,
        total_cost: float | None = None,
        *,
        timeout: float | None = None,
    ) -> v201.CostUpdatedResponse:
        """Push the running cost of a transaction (CostUpdated, I02); ``total_cost`` None:
        computed now from the transaction's energy and tariff (``ValueError`` when nothing
        can be priced)."""
        if total_cost is None:
            transaction = await (await self._transactions()).transaction(identity, transaction_id)
            cost = await self.compute_cost(identity, transaction) if transaction is not None else None
            if cost is None:
                raise ValueError(f"no cost known for transaction {transaction_id!r} of {identity!r}")
            total_cost = cost.total_cost
        request = v201.CostUpdatedRequest(total_cost=total_cost, transaction_id=transaction_id)
        response = await self.request_typed(identity, request, v201.CostUpdatedResponse, timeout=timeout)
        current = await self.transaction_cost(identity, transaction_id)
        if current is not None:
            await self.save(identity, f"cost:{transaction_id}", dump_record(replace(current, sent_at=self.now_text())))
        return response

    # -- OCPP 2.1 local cost calculation --------------------------------------------------

    async def set_default_tariff(
        self, identity: str, tariff: Mapping[str, Any], *, evse_id: int = 0, timeout: float | None = None
    ) -> v21.SetDefaultTariffResponse:
        """2.1: install a default tariff (a ``TariffType`` wire dict, e.g. ``Tariff.to_v21``)
        for the station (``evse_id`` 0) or one EVSE; remembered when Accepted."""
        payload = {"evseId": evse_id, "tariff": dict(tariff)}
        response = await self.request_21(identity, "SetDefaultTariff", payload, timeout=timeout)
        if response.get("status") == "Accepted":
            installed: dict[str, Any] = await self.load(identity, "default_tariffs", {})
            installed[str(evse_id)] = dict(tariff)
            await self.save(identity, "default_tariffs", installed)
        return v21.SetDefaultTariffResponse.from_wire(response)

    async def default_tariffs(self, identity: str) -> dict[int, dict[str, Any]]:
        """2.1 default tariffs the station accepted, by evseId (0: the station)."""
        installed: dict[str, Any] = await self.load(identity, "default_tariffs", {})
        return {int(evse): tariff for evse, tariff in sorted(installed.items())}

    async def get_tariffs(
        self, identity: str, *, evse_id: int = 0, timeout: float | None = None
    ) -> v21.GetTariffsResponse:
        """2.1: the tariffs installed on the station (``evse_id`` 0: all EVSEs)."""
        response = await self.request_21(identity, "GetTariffs", {"evseId": evse_id}, timeout=timeout)
        return v21.GetTariffsResponse.from_wire(response)

    async def clear_tariffs(
        self,
        identity: str,
        *,
        tariff_ids: list[str] | None = None,
        evse_id: int | None = None,
        timeout: float | None = None,
    ) -> v21.ClearTariffsResponse:
        """2.1: remove tariffs (by id, by EVSE, or all); forgotten when the station accepts."""
        payload: dict[str, Any] = {}
        if tariff_ids is not None:
            payload["tariffIds"] = list(tariff_ids)
        if evse_id is not None:
            payload["evseId"] = evse_id
        response = await self.request_21(identity, "ClearTariffs", payload, timeout=timeout)
        results = response.get("clearTariffsResult", [])
        accepted = {r.get("tariffId") for r in results if r.get("status") == "Accepted"}
        installed: dict[str, Any] = await self.load(identity, "default_tariffs", {})
        if tariff_ids is not None:
            kept = {evse: t for evse, t in installed.items() if t.get("tariffId") not in accepted}
        elif accepted:
            kept = {evse: t for evse, t in installed.items() if evse_id is not None and evse != str(evse_id)}
        else:
            kept = installed
        await self.save(identity, "default_tariffs", kept)
        return v21.ClearTariffsResponse.from_wire(response)

    async def change_transaction_tariff(
        self, identity: str, transaction_id: str, tariff: Mapping[str, Any], *, timeout: float | None = None
    ) -> v21.ChangeTransactionTariffResponse:
        """2.1: switch a running transaction to another tariff (``TariffType`` wire dict)."""
        payload = {"transactionId": transaction_id, "tariff": dict(tariff)}
        response = await self.request_21(identity, "ChangeTransactionTariff", payload, timeout=timeout)
        return v21.ChangeTransactionTariffResponse.from_wire(response)
