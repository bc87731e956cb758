"""Block I (Tariff and Cost): tariff texts, running and final cost in TransactionEvent
answers, CostUpdated, and the 2.1 tariff messages."""

from __future__ import annotations

from typing import Any

import pytest
import trio
from ocpp_router import ChargePoint, Router, Server, testing
from ocpp_router.errors import LocalProtocolError
from ocpp_router.v201.plugins import plugins
from ocpp_router.v201.tariff_and_cost import Tariff, TariffAndCostPlugin, TransactionCost
from ocpp_router.v201.transactions import Transaction, TransactionEventRecord, TransactionsPlugin

from ._peer import Peer, at, run_peer, start_server

TIMEOUT = 20
TOKEN = {"idToken": "RFID-1", "type": "ISO14443"}


def event(event_type: str, seq_no: int, minute: int, wh: float | None, **extra: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "eventType": event_type,
        "timestamp": f"2024-05-01T10:{minute:02d}:00Z",
        "triggerReason": {"Started": "Authorized", "Ended": "EVDeparted"}.get(event_type, "MeterValuePeriodic"),
        "seqNo": seq_no,
        "transactionInfo": {"transactionId": "TX-1"},
        **extra,
    }
    if wh is not None:
        payload["meterValue"] = [
            {"timestamp": payload["timestamp"], "sampledValue": [{"value": wh, "unitOfMeasure": {"unit": "Wh"}}]}
        ]
    return payload


def test_tariff_prices_and_texts() -> None:
    tariff = Tariff(currency="EUR", energy_price=0.35, time_price=1.2, session_fee=0.5)
    assert tariff.describe() == "0.35 EUR/kWh + 1.20 EUR/h + 0.50 EUR/session"
    assert tariff.cost(12_345, 1800) == 0.5 + 4.32 + 0.6  # 4.32075 rounds half-up to 4.32
    assert Tariff(energy_price=0.125).cost(1000) == 0.13
    assert Tariff(text="Free parking, 0.30/kWh", language="en").message() == {
        "format": "UTF8",
        "content": "Free parking, 0.30/kWh",
        "language": "en",
    }
    v21_tariff = tariff.to_v21("T-1")
    assert v21_tariff["energy"] == {"prices": [{"priceKwh": 0.35}]}
    assert v21_tariff["chargingTime"] == {"prices": [{"priceMinute": 0.02}]}
    assert v21_tariff["fixedFee"] == {"prices": [{"priceFixed": 0.5}]}


async def test_running_and_final_cost_in_answers_and_cost_updated() -> None:
    p = plugins(id_tokens={"RFID-1": "Accepted"}, default_tariff=Tariff(energy_price=0.4, text="0.40 EUR/kWh"))
    server = Server(versions=["2.0.1", "2.1"])
    server.install(*p)
    await p.tariff_and_cost.set_tariff("CS2", Tariff(energy_price=0.5, currency="CHF"))
    station = Router()
    shown: list[dict[str, Any]] = []

    @station.on("CostUpdated")
    async def cost_updated(cp: ChargePoint, payload: dict[str, Any]) -> dict[str, Any]:
        shown.append(payload)
        return {}

    async with testing.connect(server, "CS1", "2.0.1", router=station) as cs:
        authorized = await cs.call("Authorize", {"idToken": TOKEN})
        started = await cs.call("TransactionEvent", event("Started", 0, 0, 1000, idToken=TOKEN, evse={"id": 1}))
        updated = await cs.call("TransactionEvent", event("Updated", 1, 15, 3500))
        pushed = await p.tariff_and_cost.cost_updated("CS1", "TX-1")
        await p.tariff_and_cost.set_tariff("CS1", Tariff(energy_price=9.99))  # the running transaction keeps its price
        ended = await cs.call("TransactionEvent", event("Ended", 2, 30, 6000, idToken=TOKEN))
        resent = await cs.call("TransactionEvent", event("Ended", 2, 30, 6000, idToken=TOKEN))
        await p.tariff_and_cost.cost_updated("CS1", "TX-1", 2.5)
    message = {"format": "UTF8", "content": "0.40 EUR/kWh"}
    assert authorized["idTokenInfo"] == {"status": "Accepted", "personalMessage": message}
    assert started["idTokenInfo"]["personalMessage"] == message
    assert (started["totalCost"], updated["totalCost"], ended["totalCost"]) == (0.0, 1.0, 2.0)
    assert updated["updatedPersonalMessage"] == {"format": "UTF8", "content": "1.00 EUR (2.50 kWh)"}
    assert resent == ended  # a resend gets the first answer, the energy is not counted twice
    assert pushed is not None and shown == [
        {"totalCost": 1.0, "transactionId": "TX-1"},
        {"totalCost": 2.5, "transactionId": "TX-1"},
    ]
    cost = await p.tariff_and_cost.transaction_cost("CS1", "TX-1")
    assert cost is not None and (cost.total_cost, cost.final, cost.energy_wh, cost.currency) == (2.0, True, 5000, "EUR")
    assert cost.sent_at is not None
    assert (await p.tariff_and_cost.station_tariff("CS2")).currency == "CHF"  # type: ignore[union-attr]


async def test_final_cost_only_custom_pricing_and_no_tariff() -> None:
    async def pricing(identity: str, tx: Transaction, tariff: Tariff | None, energy_wh: float | None) -> float | None:
        return None if energy_wh is None else round(energy_wh / 1000 * 0.3 + 1, 2)

    tariffs = TariffAndCostPlugin(cost=pricing, running_cost=False, cost_message=None)
    transactions = TransactionsPlugin()
    server = Server(versions=["2.0.1"])
    server.install(transactions, tariffs)
    async with testing.connect(server, "CS1", "2.0.1") as cs:
        started = await cs.call("TransactionEvent", event("Started", 0, 0, 1000))
        updated = await cs.call("TransactionEvent", event("Updated", 1, 10, 2000))
        ended = await cs.call("TransactionEvent", event("Ended", 2, 20, 11000))
    assert started == updated == {}  # no running cost, no message
    assert ended == {"totalCost": 4.0}

    bare = Server(versions=["2.0.1"])
    bare_tx, bare_cost = TransactionsPlugin(), TariffAndCostPlugin()
    bare.install(bare_tx, bare_cost)
    async with testing.connect(bare, "CS1", "2.0.1") as cs:
        ended = await cs.call("TransactionEvent", event("Ended", 0, 20, 11000))
        with pytest.raises(ValueError, match="no cost known"):
            await bare_cost.cost_updated("CS1", "TX-1")
    assert ended == {}  # no tariff: the cost is unknown, not free (no totalCost at all)


async def test_a_failing_response_hook_does_not_break_the_answer() -> None:
    transactions = TransactionsPlugin()
    server = Server(versions=["2.0.1"])
    server.install(transactions)

    @transactions.add_response_hook
    async def broken(cp: ChargePoint, tx: Transaction, ev: TransactionEventRecord) -> dict[str, Any]:
        raise RuntimeError("boom")

    @transactions.add_response_hook
    async def priority(cp: ChargePoint, tx: Transaction, ev: TransactionEventRecord) -> dict[str, Any]:
        return {"chargingPriority": 3}

    transactions.add_response_hook(priority)  # registering twice is a no-op
    async with testing.connect(server, "CS1", "2.0.1") as cs:
        answer = await cs.call("TransactionEvent", event("Started", 0, 0, 1000))
    assert answer == {"chargingPriority": 3} and len(transactions.response_hooks) == 2


async def test_2_1_tariff_messages(nursery: trio.Nursery) -> None:
    p = plugins()
    tariffs = p.tariff_and_cost
    server = await start_server(nursery, p)
    tariff = Tariff(energy_price=0.3, session_fee=1.0).to_v21("T-1")

    async def scenario(peer: Peer) -> Any:
        from ._peer import Station21

        async with peer.connect("CS21", Station21) as cs:
            await cs.boot()
            cs.answers["SetDefaultTariff"] = {"status": "Accepted"}
            cs.answers["GetTariffs"] = {
                "status": "Accepted",
                "tariff_assignments": [{"tariff_id": "T-1", "tariff_kind": "DefaultTariff", "evse_ids": [0]}],
            }
            cs.answers["ClearTariffs"] = {"clear_tariffs_result": [{"tariff_id": "T-1", "status": "Accepted"}]}
            cs.answers["ChangeTransactionTariff"] = {"status": "TxNotFound"}
            set_ = await peer.csms(tariffs.set_default_tariff, "CS21", tariff)
            installed = await peer.csms(tariffs.default_tariffs, "CS21")
            got = await peer.csms(tariffs.get_tariffs, "CS21")
            cleared = await peer.csms(tariffs.clear_tariffs, "CS21", tariff_ids=["T-1"])
            changed = await peer.csms(tariffs.change_transaction_tariff, "CS21", "TX-X", tariff)
            return set_, installed, got, cleared, changed, cs.received["SetDefaultTariff"]

    with trio.fail_after(TIMEOUT):
        set_, installed, got, cleared, changed, received = await run_peer(server, scenario)
    assert set_.status == "Accepted" and installed == {0: tariff}
    assert received[0]["tariff"]["tariff_id"] == "T-1"
    assert got.tariff_assignments is not None and got.tariff_assignments[0].tariff_id == "T-1"
    assert cleared.clear_tariffs_result[0].status == "Accepted"
    assert await tariffs.default_tariffs("CS21") == {}
    assert changed.status == "TxNotFound"


async def test_2_1_messages_are_refused_on_2_0_1(nursery: trio.Nursery) -> None:
    p = plugins()
    server = await start_server(nursery, p)

    async def scenario(peer: Peer) -> Any:
        async with peer.connect("CS1") as cs:
            await cs.boot()
            with pytest.raises(LocalProtocolError, match=r"OCPP 2\.1 message"):
                await peer.csms(p.tariff_and_cost.get_tariffs, "CS1")
            return cs.received

    with trio.fail_after(TIMEOUT):
        received = await run_peer(server, scenario)
    assert "GetTariffs" not in received


def test_cost_record_is_json_compatible() -> None:
    import json

    from ocpp_router.v201._base import dump_record

    record = TransactionCost("TX", 1.5, "EUR", at(0), tariff={"currency": "EUR"})
    assert json.loads(json.dumps(dump_record(record)))["total_cost"] == 1.5
