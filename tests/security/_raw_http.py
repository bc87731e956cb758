"""Hand-made HTTP upgrade requests, for cases no WebSocket client produces."""

from __future__ import annotations

import base64
import os

import trio


def upgrade_request(path: str, headers: dict[str, str], subprotocol: str | None = "ocpp1.6") -> bytes:
    lines = [
        f"GET {path} HTTP/1.1",
        "Host: 127.0.0.1",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {base64.b64encode(os.urandom(16)).decode()}",
        "Sec-WebSocket-Version: 13",
    ]
    if subprotocol:
        lines.append(f"Sec-WebSocket-Protocol: {subprotocol}")
    lines += [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


async def http_upgrade_status(port: int, path: str, headers: dict[str, str]) -> int:
    """The HTTP status the server answers an upgrade request with."""
    with trio.fail_after(10):
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        async with stream:
            await stream.send_all(upgrade_request(path, headers))
            data = b""
            while b"\r\n" not in data:
                chunk = await stream.receive_some(4096)
                if not chunk:
                    break
                data += chunk
    return int(data.split(b" ", 2)[1])
