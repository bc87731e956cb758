"""The reference CSMS as a user runs it, driven by the simulator: the admin API lists the
simulated charge points and remote-starts one (the simulated charge point accepts and
starts charging), /metrics shows the counts, and the audit log holds every frame of the run."""

from __future__ import annotations

import signal
from pathlib import Path

import httpx
import orjson
import trio
from csms_support import cli_serve
from ocpp_router.simulator import Simulation, SimulationConfig


async def test_serve_simulator_admin_metrics_audit(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    with trio.fail_after(60):
        async with cli_serve("--audit-log", str(log), "--id-tag", "REMOTE1", "--log-level", "WARNING") as cli:
            config = SimulationConfig(
                url=cli.ws, count=4, version="mixed", duration=60, transactions=False, transaction_duration=600
            )
            simulation = Simulation(config)
            async with trio.open_nursery() as nursery, httpx.AsyncClient(base_url=cli.admin, timeout=10) as api:
                sim = await nursery.start(simulation.run)
                await sim.wait_booted()

                listed = {c["identity"]: c for c in (await api.get("/charge-points")).json()}
                assert {i for i, c in listed.items() if c["connected"]} == set(sim.stations)
                assert {listed[i]["version"] for i in sim.stations} == {"1.6", "2.0.1"}

                for identity in ("SIM-00001", "SIM-00002"):  # one 1.6, one 2.0.1 charge point
                    started = await api.post(
                        f"/charge-points/{identity}/remote-start", json={"id_tag": "REMOTE1", "connector_id": 1}
                    )
                    assert started.status_code == 200, started.text
                    assert started.json()["status"] == "Accepted"
                    with trio.fail_after(10):
                        while not (await api.get("/transactions", params={"charge_point": identity})).json():
                            await trio.sleep(0.05)

                metrics = (await api.get("/metrics")).text
                assert 'version="1.6"} 2.0' in metrics, metrics
                assert 'version="2.0.1"} 2.0' in metrics, metrics
                assert 'action="BootNotification"' in metrics
                sim.stop()
            stats = simulation.stats
            assert stats.error_count == 0
            assert await _stop(cli) == 0  # SIGTERM flushes the audit log before exit
    lines = [orjson.loads(line) for line in log.read_bytes().splitlines()]
    assert sum(1 for line in lines if line["direction"] == "in") == stats.frames_out > 0
    assert sum(1 for line in lines if line["direction"] == "out") == stats.frames_in
    assert any('"RemoteStartTransaction"' in line["frame"] for line in lines)
    assert any('"RequestStartTransaction"' in line["frame"] for line in lines)


async def _stop(cli: object) -> int:
    process = cli.process  # type: ignore[attr-defined]
    process.send_signal(signal.SIGTERM)
    with trio.fail_after(15):
        return int(await process.wait())
