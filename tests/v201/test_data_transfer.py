"""Block P (Data Transfer): routing by vendorId/messageId, user schemas, both directions."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import trio
from ocpp_router import ChargePoint, Server, testing
from ocpp_router.errors import CallError, RemoteProtocolError
from ocpp_router.v201.data_transfer import (
    DataTransferPlugin,
    DataTransferRequest,
    DataTransferResult,
    InvalidDataError,
)
from ocpp_router.v201.plugins import plugins

from ._peer import Peer, run_peer, start_server

TIMEOUT = 20

STATUS_SCHEMA = {
    "$schema": "http://json-schema.org/draft-06/schema#",
    "type": "object",
    "properties": {"temperature": {"type": "number"}, "door": {"enum": ["open", "closed"]}},
    "required": ["temperature"],
    "additionalProperties": False,
}
ANSWER_SCHEMA = {"type": "object", "properties": {"ack": {"type": "integer"}}, "required": ["ack"]}


async def test_routing_schemas_and_answers_from_a_real_station(nursery: trio.Nursery, tmp_path: Path) -> None:
    schema_file = tmp_path / "CabinetStatus.json"
    schema_file.write_text(json.dumps(STATUS_SCHEMA))
    p = plugins(data_transfer_schemas={("com.acme", "CabinetStatus"): (schema_file, ANSWER_SCHEMA)})
    transfers = p.data_transfer
    server = await start_server(nursery, p)
    seen: list[DataTransferRequest] = []

    @transfers.on_data_transfer("com.acme", "CabinetStatus")
    async def cabinet(cp: ChargePoint, request: DataTransferRequest) -> tuple[str, Any]:
        seen.append(request)
        return "Accepted", {"ack": len(seen)}

    @transfers.on_data_transfer("com.acme")
    async def anything_else(cp: ChargePoint, request: DataTransferRequest) -> str:
        return "Rejected" if request.message_id == "Reboot" else "Accepted"

    @transfers.on_data_transfer("org.other", "Ping")
    async def ping(cp: ChargePoint, request: DataTransferRequest) -> dict[str, Any]:
        return {"status": "Accepted", "data": "pong"}

    async def scenario(peer: Peer) -> Any:
        async with peer.connect("CS1") as cs:
            await cs.boot()
            call = cs._call.DataTransfer
            answers = [
                await cs.send(call(vendor_id="com.acme", message_id="CabinetStatus", data={"temperature": 41.5})),
                await cs.send(call(vendor_id="com.acme", message_id="CabinetStatus", data={"temperature": "hot"})),
                await cs.send(call(vendor_id="com.acme", message_id="Reboot")),
                await cs.send(call(vendor_id="org.other", message_id="Ping")),
                await cs.send(call(vendor_id="org.other", message_id="Pong")),
                await cs.send(call(vendor_id="com.unknown", data=[1, 2, 3])),
            ]
            out = await peer.csms(transfers.data_transfer, "CS1", "com.acme", message_id="Display", data=["hello"])
            with pytest.raises(InvalidDataError, match="temperature"):
                await peer.csms(
                    transfers.data_transfer, "CS1", "com.acme", message_id="CabinetStatus", data={"door": "open"}
                )
            with pytest.raises(RemoteProtocolError, match="ack"):  # the station's echo breaks the answer schema
                await peer.csms(
                    transfers.data_transfer, "CS1", "com.acme", message_id="CabinetStatus", data={"temperature": 20}
                )
            return answers, out, cs.received["DataTransfer"]

    with trio.fail_after(TIMEOUT):
        answers, out, received = await run_peer(server, scenario)
    assert [(a.status, a.data) for a in answers] == [
        ("Accepted", {"ack": 1}),
        ("Rejected", None),
        ("Rejected", None),
        ("Accepted", "pong"),
        ("UnknownMessageId", None),
        ("UnknownVendorId", None),
    ]
    assert answers[1].status_info["reason_code"] == "InvalidData"
    assert "temperature" in answers[1].status_info["additional_info"]
    assert [r.data for r in seen] == [{"temperature": 41.5}]  # the invalid one never reached the handler
    assert (out.status, out.data, out.accepted) == ("Accepted", {"echo": ["hello"]}, True)
    assert received[0] == {"vendor_id": "com.acme", "message_id": "Display", "data": ["hello"]}
    assert len(received) == 2  # the invalid outgoing data was never sent


async def test_a_handler_answer_that_breaks_its_schema_is_an_internal_error() -> None:
    transfers = DataTransferPlugin()
    transfers.register_schema("com.acme", "Count", request={"type": "integer"}, response={"type": "integer"})
    server = Server(versions=["2.0.1", "2.1"])
    server.install(transfers)

    @transfers.on_data_transfer("com.acme", "Count")
    async def count(cp: ChargePoint, request: DataTransferRequest) -> DataTransferResult:
        return DataTransferResult("Accepted", data="not a number")

    async with testing.connect(server, "CS1", "2.1") as cs:
        with pytest.raises(CallError) as failed:
            await cs.call("DataTransfer", {"vendorId": "com.acme", "messageId": "Count", "data": 3})
        missing = await cs.call("DataTransfer", {"vendorId": "com.acme", "messageId": "Count"})
    assert failed.value.code == "InternalError"
    assert missing["status"] == "Rejected"  # absent data is validated as null
    with pytest.raises(ValueError, match="unknown type"):
        transfers.register_schema("com.acme", "Broken", request={"type": "bogus"})
