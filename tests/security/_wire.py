"""A raw WebSocket client on wsproto: sends exactly the bytes a test wants (invalid UTF-8,
binary frames, floods) and reports every frame and close code it gets back."""

from __future__ import annotations

import os
import ssl
from typing import Any

import orjson
import trio
from wsproto import ConnectionType, WSConnection
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Ping,
    RejectConnection,
    Request,
    TextMessage,
)
from wsproto.frame_protocol import Opcode


class WireClient:
    def __init__(self, stream: trio.abc.Stream) -> None:
        self.stream = stream
        self.ws = WSConnection(ConnectionType.CLIENT)
        self.pending: list[Any] = []
        self.close_code: int | None = None
        self.subprotocol: str | None = None
        self.status: int | None = None

    @classmethod
    async def open(
        cls,
        port: int,
        identity: str,
        subprotocols: list[str],
        *,
        ssl_context: ssl.SSLContext | None = None,
        headers: list[tuple[str, str]] | None = None,
    ) -> WireClient:
        tcp = await trio.open_tcp_stream("127.0.0.1", port)
        stream: trio.abc.Stream = tcp
        if ssl_context is not None:
            stream = trio.SSLStream(tcp, ssl_context, server_hostname="localhost", https_compatible=True)
        client = cls(stream)
        extra = [(k.encode(), v.encode()) for k, v in (headers or [])]
        await client._send(
            client.ws.send(
                Request(host="localhost", target=f"/ocpp/{identity}", subprotocols=subprotocols, extra_headers=extra)
            )
        )
        while client.status is None:
            await client._pump()
        return client

    async def _send(self, data: bytes) -> None:
        await self.stream.send_all(data)

    async def _pump(self) -> None:
        data = await self.stream.receive_some(65536)
        self.ws.receive_data(data or None)
        for event in self.ws.events():
            if isinstance(event, AcceptConnection):
                self.status, self.subprotocol = 101, event.subprotocol
            elif isinstance(event, RejectConnection):
                self.status = event.status_code
            elif isinstance(event, TextMessage):
                self.pending.append(orjson.loads(event.data))
            elif isinstance(event, Ping):
                await self._send(self.ws.send(event.response()))
            elif isinstance(event, CloseConnection):
                self.close_code = event.code
                if self.ws.state.name not in ("CLOSED",):
                    try:
                        await self._send(self.ws.send(event.response()))
                    except Exception:
                        pass
        if not data and self.close_code is None:
            self.close_code = 1006

    async def send_text(self, text: str) -> None:
        await self._send(self.ws.send(TextMessage(text)))

    async def send_raw_frame(self, opcode: Opcode, payload: bytes) -> None:
        """One final, masked frame with exactly ``payload`` (no UTF-8 check on our side)."""
        mask = os.urandom(4)
        header = bytearray([0x80 | int(opcode)])
        length = len(payload)
        if length < 126:
            header.append(0x80 | length)
        elif length < 1 << 16:
            header += bytes([0x80 | 126]) + length.to_bytes(2, "big")
        else:
            header += bytes([0x80 | 127]) + length.to_bytes(8, "big")
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        await self._send(bytes(header) + mask + masked)

    async def send_binary(self, payload: bytes) -> None:
        await self._send(self.ws.send(BytesMessage(payload)))

    async def reply(self) -> Any:
        """The next message from the server (raises if the connection closes first)."""
        while not self.pending:
            if self.close_code is not None:
                raise ConnectionError(f"closed with {self.close_code}")
            await self._pump()
        return self.pending.pop(0)

    async def closed(self) -> int:
        while self.close_code is None:
            await self._pump()
        return self.close_code

    async def aclose(self) -> None:
        await trio.aclose_forcefully(self.stream)
