"""The SQLite file: queue order, provisional ids, id mappings and state survive reopening."""

from __future__ import annotations

from pathlib import Path

from ocpp_router.gateway import GatewayStore


async def test_queue_survives_reopening(tmp_path: Path) -> None:
    path = str(tmp_path / "q.sqlite3")
    store = await GatewayStore.open(path)
    start = await store.enqueue(
        "WB1",
        "StartTransaction",
        {"connectorId": 1, "idTag": "T", "meterStart": 0, "timestamp": "2024-05-01T10:00:00Z"},
        local_action="StartTransaction",
        local_answer={"idTagInfo": {"status": "Accepted"}},
        queued_at="2024-05-01T10:00:00Z",
        provisional_from=1_900_000_000,
    )
    assert start.provisional_id == 1_900_000_000 and start.local_answer["transactionId"] == 1_900_000_000
    meter = await store.enqueue(
        "WB1",
        "MeterValues",
        {"transactionId": 1_900_000_000},
        local_action="MeterValues",
        local_answer={},
        queued_at="t",
    )
    await store.enqueue(
        "WB2", "TransactionEvent", {"seqNo": 0}, local_action="TransactionEvent", local_answer={}, queued_at="t"
    )
    await store.mark_answered_locally(start.seq)
    await store.set("WB1", "status:1", {"action": "StatusNotification", "payload": {"status": "Available"}})
    await store.close()

    store = await GatewayStore.open(path)
    try:
        head = await store.head("WB1")
        assert head is not None and head.seq == start.seq and head.answered_locally
        assert [m.action for m in await store.queued("WB1")] == ["StartTransaction", "MeterValues"]
        assert await store.count("WB2") == 1
        await store.delivered(head, (1_900_000_000, "41"))
        assert await store.transaction_ids("WB1") == {1_900_000_000: "41"}
        assert [m.seq for m in await store.queued("WB1")] == [meter.seq]
        assert await store.count_attempt(meter.seq) == 1
        await store.dead_letter(meter, "CALLERROR: nope")
        assert await store.queued("WB1") == []
        [dead] = await store.dead_letters("WB1")
        assert (dead.action, dead.error) == ("MeterValues", "CALLERROR: nope")
        assert await store.items("WB1", "status:") == {
            "status:1": {"action": "StatusNotification", "payload": {"status": "Available"}}
        }
        # The provisional counter continues where it was.
        again = await store.enqueue(
            "WB1",
            "StartTransaction",
            {},
            local_action="StartTransaction",
            local_answer={},
            queued_at="t",
            provisional_from=1_900_000_000,
        )
        assert again.provisional_id == 1_900_000_001
        assert await store.next_id("other", 5) == 5 and await store.next_id("other", 5) == 6
    finally:
        await store.close()
