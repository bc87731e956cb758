"""The README's CSMS example runs as written, against a real client over a socket."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import trio
from ocpp_router import ChargePoint, ConnectError, Router, Server, client_ssl_context, connect

README = Path(__file__).parents[1] / "README.md"


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_readme_has_the_example() -> None:
    blocks = python_blocks()
    assert len(blocks) == 2, "every python block of the README must be executed by a test here"
    assert len(blocks[0].strip().splitlines()) <= 40


async def test_readme_security_example(tmp_path: Path, nursery: trio.Nursery) -> None:
    import sys

    sys.path.insert(0, str(Path(__file__).parent / "security"))
    try:
        from _certs import make_pki
    finally:
        sys.path.pop(0)
    make_pki(tmp_path)
    namespace: dict[str, Any] = {"__name__": "readme_security"}
    exec(compile(python_blocks()[1], str(README), "exec"), namespace)
    server: Server = namespace["build_server"](str(tmp_path))
    await nursery.start(server.serve, "127.0.0.1", 0)
    tls = client_ssl_context(str(tmp_path / "ca.pem"))
    url = f"wss://127.0.0.1:{server.port}/ocpp"
    with trio.fail_after(10):
        async with connect(
            url, "CP-0001", versions=["2.0.1"], ssl_context=tls, password="a-16-to-40-char-secret"
        ) as cp:
            assert (await cp.call("Heartbeat", {}))["currentTime"]
        with pytest.raises(ConnectError):  # profile 1 (plain ws) is below the minimum
            async with connect(url.replace("wss", "ws"), "CP-0001", versions=["2.0.1"], password="x" * 16):
                pass  # pragma: no cover


async def test_readme_csms_example(nursery: trio.Nursery, capsys: Any) -> None:
    namespace: dict[str, Any] = {"__name__": "readme_example"}
    exec(compile(python_blocks()[0], str(README), "exec"), namespace)
    router: Router = namespace["router"]
    server: Server = await nursery.start(Server(router).serve, "127.0.0.1", 0)

    station = Router()
    asked: list[Any] = []

    @station.on("GetConfiguration")
    async def get_configuration(cp: ChargePoint, payload: dict[str, Any]) -> dict[str, Any]:
        asked.append(payload)
        return {"configurationKey": [{"key": "HeartbeatInterval", "readonly": False, "value": "300"}]}

    with trio.fail_after(10):
        async with connect(f"ws://127.0.0.1:{server.port}/ocpp", "CP-README", station, versions=["1.6"]) as cp:
            boot = await cp.call("BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"})
            assert boot["status"] == "Accepted"
            assert (await cp.call("Heartbeat", {}))["currentTime"]
            status = {"connectorId": 1, "errorCode": "NoError", "status": "Available"}
            assert await cp.call("StatusNotification", status) == {}
            session = server.charge_points["CP-README"]
            while "configuration" not in session.state:
                await trio.sleep(0.01)
    assert asked == [{"key": ["HeartbeatInterval"]}]
    assert session.state["configuration"][0]["key"] == "HeartbeatInterval"
    assert "CP-README connector 1: Available" in capsys.readouterr().out
