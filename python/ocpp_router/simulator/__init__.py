"""Simulated charge points: ``ocpp-router simulate`` and its in-process API.

Thousands of OCPP 1.6 / 2.0.1 charge points from one process against any CSMS (ours or
another), running a realistic scenario and answering the CSMS's calls::

    from ocpp_router.simulator import SimulationConfig, run_simulation

    stats = await run_simulation(SimulationConfig("ws://127.0.0.1:9000/ocpp", count=100, version="mixed", duration=30))
    print(stats.summary_table())

See ``docs/simulator.md``.
"""

from __future__ import annotations

from ._config import SimulationConfig as SimulationConfig
from ._run import Simulation as Simulation
from ._run import run_simulation as run_simulation
from ._station import Connector as Connector
from ._station import RemoteStart as RemoteStart
from ._station import Station as Station
from ._station import Transaction as Transaction
from ._station import station_router as station_router
from ._stats import LatencyHistogram as LatencyHistogram
from ._stats import Stats as Stats

__all__ = [
    "Connector",
    "LatencyHistogram",
    "RemoteStart",
    "Simulation",
    "SimulationConfig",
    "Station",
    "Stats",
    "Transaction",
    "run_simulation",
    "station_router",
]
