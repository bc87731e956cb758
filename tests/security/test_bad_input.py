"""The bad-input table: every hostile or broken input over real sockets gets its answer.

One TLS server (security profiles 2 and 3 on one port) runs the whole table while a
well-behaved bystander charge point keeps calls flowing in both directions; afterwards the
bystander lost nothing and a fresh charge point is served normally.
"""

from __future__ import annotations

import base64
import ssl
import warnings
from dataclasses import dataclass
from typing import Any

import pytest
import trio
from _certs import Pki
from _raw_http import http_upgrade_status
from _wire import WireClient
from ocpp_router import (
    ChargePoint,
    ConnectError,
    Hooks,
    Limits,
    PasswordStore,
    Router,
    SecurityEvent,
    Server,
    SessionOptions,
    client_ssl_context,
    connect,
    default_router,
    server_ssl_context,
)
from wsproto.frame_protocol import Opcode

PASSWORD = "correct-horse-battery-1"


@dataclass(frozen=True)
class Row:
    name: str
    frame: str
    reply: tuple[int, str | None, str | None] | None
    """(message type, id, error code) expected back, or None for "no answer"."""


ROWS = [
    Row("not JSON", "{nope", (4, "-1", "RpcFrameworkError")),
    Row("JSON but not an array", '{"a": 1}', (4, "-1", "RpcFrameworkError")),
    Row("empty array", "[]", (4, "-1", "RpcFrameworkError")),
    Row("type id as string", '["2","t1","Heartbeat",{}]', (4, "t1", "RpcFrameworkError")),
    Row("unknown type id", '[9,"t2","Heartbeat",{}]', (4, "t2", "MessageTypeNotSupported")),
    Row("2.1 SEND on 2.0.1", '[6,"t3","Heartbeat",{}]', (4, "t3", "MessageTypeNotSupported")),
    Row("id not a string", '[2,17,"Heartbeat",{}]', (4, "-1", "RpcFrameworkError")),
    Row("id longer than 36", '[2,"' + "x" * 37 + '","Heartbeat",{}]', (4, "-1", "RpcFrameworkError")),
    Row("wrong element count", '[2,"t4","Heartbeat"]', (4, "t4", "RpcFrameworkError")),
    Row("action not a string", '[2,"t5",5,{}]', (4, "t5", "RpcFrameworkError")),
    Row("unknown action", '[2,"t6","StartTransaction",{}]', (4, "t6", "NotImplemented")),
    Row("CSMS-only action sent by a station", '[2,"t7","Reset",{"type":"Immediate"}]', (4, "t7", "NotSupported")),
    Row("payload not an object", '[2,"t8","Heartbeat",[]]', (4, "t8", "FormatViolation")),
    Row("payload null is {}", '[2,"t9","Heartbeat",null]', (3, "t9", None)),
    Row(
        "required field missing",
        '[2,"s1","BootNotification",{"reason":"PowerUp"}]',
        (4, "s1", "OccurrenceConstraintViolation"),
    ),
    Row(
        "wrong type",
        '[2,"s2","BootNotification",{"reason":"PowerUp","chargingStation":{"model":5,"vendorName":"V"}}]',
        (4, "s2", "TypeConstraintViolation"),
    ),
    Row(
        "bad enum",
        '[2,"s3","BootNotification",{"reason":"Bored","chargingStation":{"model":"M","vendorName":"V"}}]',
        (4, "s3", "PropertyConstraintViolation"),
    ),
    Row(
        "string too long",
        '[2,"s4","BootNotification",{"reason":"PowerUp","chargingStation":{"model":"'
        + "M" * 21
        + '","vendorName":"V"}}]',
        (4, "s4", "TypeConstraintViolation"),
    ),
    Row(
        "extra property",
        '[2,"s5","BootNotification",{"reason":"PowerUp","x":1,"chargingStation":{"model":"M","vendorName":"V"}}]',
        (4, "s5", "FormatViolation"),
    ),
    Row(
        "bad date-time",
        '[2,"s6","StatusNotification",{"timestamp":"yesterday","connectorStatus":"Available","evseId":1,"connectorId":1}]',
        (4, "s6", "TypeConstraintViolation"),
    ),
    Row(
        "number below minimum",
        '[2,"s7","Authorize",{"idToken":{"idToken":"","type":"Bogus"}}]',
        (4, "s7", "PropertyConstraintViolation"),
    ),
    Row("CALLRESULT for unknown id", '[3,"nobody",{}]', None),
    Row("CALLERROR for unknown id", '[4,"nobody","GenericError","",{}]', None),
    Row("malformed CALLERROR", '[4,"nobody",5,null,"x"]', None),
    Row("huge number", '[2,"h1","Heartbeat",{"x":1e400}]', (4, "-1", "RpcFrameworkError")),
    Row(
        "nesting-depth bomb",
        '[2,"n1","Heartbeat",{"a":' + "[" * 5000 + "]" * 5000 + "}]",
        (4, None, "RpcFrameworkError"),
    ),
]


async def expect_reply(client: WireClient, row: Row) -> None:
    await client.send_text(row.frame)
    # A marker call after each row proves "no answer" rows were really not answered.
    await client.send_text('[2,"marker","Heartbeat",{}]')
    first = await client.reply()
    if row.reply is None:
        assert first[:2] == [3, "marker"], (row.name, first)
        return
    kind, message_id, code = row.reply
    assert first[0] == kind, (row.name, first)
    if message_id is not None:
        assert first[1] == message_id, (row.name, first)
    if code is not None:
        assert first[2] == code, (row.name, first)
        assert isinstance(first[3], str)
        assert len(first[3]) <= 255
        assert isinstance(first[4], dict)
    marker = await client.reply()
    assert marker[:2] == [3, "marker"], (row.name, marker)


@pytest.fixture
def tls11_context(pki: Pki) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.load_verify_locations(str(pki.ca_cert))
    context.set_ciphers("DEFAULT:@SECLEVEL=0")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        context.minimum_version = ssl.TLSVersion.TLSv1
        context.maximum_version = ssl.TLSVersion.TLSv1_1
    return context


async def test_bad_input_table(nursery: trio.Nursery, pki: Pki, tls11_context: ssl.SSLContext) -> None:
    store = PasswordStore()
    store.set("PW-CP", PASSWORD)
    events: list[SecurityEvent] = []
    router = Router()
    router.include(default_router())
    slow_release = trio.Event()

    @router.on("DataTransfer")
    async def slow(cp: ChargePoint, payload: dict[str, Any]) -> dict[str, Any]:
        with trio.move_on_after(2):
            await slow_release.wait()
        return {"status": "Accepted"}

    context = server_ssl_context(str(pki.server_cert), str(pki.server_key), client_ca=str(pki.ca_cert))
    server = Server(
        router,
        versions=["2.0.1", "1.6"],
        ssl_context=context,
        authenticate=store,
        minimum_security_profile=2,
        hooks=Hooks(on_security_event=events.append),
        limits=Limits(max_message_size=64 * 1024, handshake_timeout=0.5),
        options=SessionOptions(max_messages_per_second=300, message_burst=20, ping_interval=0),
    )
    await nursery.start(server.serve, "127.0.0.1", 0)
    port = server.port
    url = f"wss://127.0.0.1:{port}/ocpp"

    def mtls(identity: str) -> ssl.SSLContext:
        cert, key = pki.client(identity)
        return client_ssl_context(str(pki.ca_cert), certfile=str(cert), keyfile=str(key))

    # A well-behaved charge point that keeps working through the whole table.
    station = Router()

    @station.on("GetVariables")
    async def get_variables(cp: ChargePoint, payload: dict[str, Any]) -> dict[str, Any]:
        return {
            "getVariableResult": [
                {
                    "attributeStatus": "Accepted",
                    "component": {"name": "C"},
                    "variable": {"name": "V"},
                    "attributeValue": "1",
                }
            ]
        }

    counts = {"out": 0, "in": 0}
    stop = trio.Event()

    async def bystander() -> None:
        async with connect(url, "BYSTANDER", station, versions=["2.0.1"], ssl_context=mtls("BYSTANDER")) as cp:
            while not stop.is_set():
                await cp.call("Heartbeat", {})
                counts["out"] += 1
                await server.call(
                    "BYSTANDER",
                    "GetVariables",
                    {"getVariableData": [{"component": {"name": "C"}, "variable": {"name": "V"}}]},
                )
                counts["in"] += 1
                await trio.sleep(0.01)

    async with trio.open_nursery() as side:
        side.start_soon(bystander)
        with trio.fail_after(60):
            rows_ctx = mtls("ROWS")
            client = await WireClient.open(port, "ROWS", ["ocpp2.0.1"], ssl_context=rows_ctx)
            assert client.status == 101
            for row in ROWS:
                await expect_reply(client, row)

            # duplicate message id while the first is still being processed
            await client.send_text('[2,"dup","DataTransfer",{"vendorId":"slow"}]')
            await client.send_text('[2,"dup","DataTransfer",{"vendorId":"slow"}]')
            second = await client.reply()
            assert second[:3] == [4, "dup", "RpcFrameworkError"]
            slow_release.set()
            assert (await client.reply())[:2] == [3, "dup"]

            # message flood: throttled (reading slows down), every message still answered
            for i in range(150):
                await client.send_text(f'[2,"f{i}","Heartbeat",{{}}]')
            answered = {(await client.reply())[1] for _ in range(150)}
            assert answered == {f"f{i}" for i in range(150)}
            await client.aclose()

            # frames that end the connection, each on its own connection
            for name, action, code in (
                ("binary frame", "binary", 1003),
                ("invalid UTF-8", "utf8", 1007),
                ("oversized frame", "big", 1009),
            ):
                victim = await WireClient.open(port, "ROWS", ["ocpp2.0.1"], ssl_context=rows_ctx)
                if action == "binary":
                    await victim.send_binary(b"\x00\xff")
                elif action == "utf8":
                    await victim.send_raw_frame(Opcode.TEXT, b'[2,"u","Heartbeat",{"x":"\xff\xfe"}]')
                else:
                    await victim.send_text('[2,"b","DataTransfer",{"vendorId":"' + "v" * 70_000 + '"}]')
                assert await victim.closed() == code, name
                await victim.aclose()

            # handshake never finished: the server hangs up after the handshake timeout
            tcp = await trio.open_ssl_over_tcp_stream("127.0.0.1", port, ssl_context=rows_ctx, https_compatible=True)
            await tcp.send_all(b"GET /ocpp/SLOW HTTP/1.1\r\nHost: x\r\n")
            assert await tcp.receive_some(1024) == b""
            await trio.aclose_forcefully(tcp)

            # handshake-level refusals
            for offered in ([], ["ocpp1.5"]):
                no_proto = await WireClient.open(port, "ROWS", offered, ssl_context=rows_ctx)
                assert (no_proto.status, no_proto.subprotocol) == (101, None)
                assert await no_proto.closed() == 1002
                await no_proto.aclose()
            missing = await WireClient.open(port, "", ["ocpp2.0.1"], ssl_context=rows_ctx)
            assert missing.status == 404
            await missing.aclose()
            token = base64.b64encode(b"PW-CP:wrong-password-000").decode()
            plain_tls = client_ssl_context(str(pki.ca_cert))
            wrong = await WireClient.open(
                port, "PW-CP", ["ocpp2.0.1"], ssl_context=plain_tls, headers=[("Authorization", f"Basic {token}")]
            )
            assert wrong.status == 401
            await wrong.aclose()
            with pytest.raises(ConnectError):
                async with connect(url, "PW-CP", versions=["2.0.1"], ssl_context=tls11_context):
                    pass  # pragma: no cover
            with pytest.raises(ConnectError) as info:
                async with connect(url, "SOMEONE-ELSE", versions=["2.0.1"], ssl_context=mtls("ROWS")):
                    pass  # pragma: no cover
            assert info.value.status_code == 403
            # plain ws on the TLS port: not even a TLS handshake
            assert await _plain_on_tls_port(port) is None

            # afterwards: a well-behaved station is served, the bystander lost nothing
            async with connect(url, "PW-CP", versions=["2.0.1"], ssl_context=plain_tls, password=PASSWORD) as fresh:
                boot = await fresh.call(
                    "BootNotification", {"reason": "PowerUp", "chargingStation": {"model": "M", "vendorName": "V"}}
                )
                assert boot["status"] == "Accepted"
            stop.set()
    assert counts["out"] > 0
    assert counts["in"] > 0
    assert counts["out"] - counts["in"] in (0, 1)
    kinds = {e.kind for e in events}
    assert {"malformed_frame", "message_flood", "oversized_frame", "auth_failed", "certificate_mismatch"} <= kinds


async def _plain_on_tls_port(port: int) -> int | None:
    try:
        return await http_upgrade_status(port, "/ocpp/X", {})
    except (ValueError, IndexError, trio.BrokenResourceError, OSError):
        return None
