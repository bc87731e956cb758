"""The README's CSMS example runs as written, against a real client over a socket."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import trio

from ocpp_router import ChargePoint, Router, Server, connect

README = Path(__file__).parents[1] / "README.md"


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_readme_has_the_example() -> None:
    blocks = python_blocks()
    assert len(blocks) == 1
    assert len(blocks[0].strip().splitlines()) <= 40


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
