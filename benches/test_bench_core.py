"""In-process OCPP pipeline: ocpp-router vs the PyPI `ocpp` package (see README.md).

Run: ``python -m pytest benches/test_bench_core.py -p no:randomly --benchmark-only``
(``benches/run_core.py`` runs this file and prints messages/s and ratios).
Timings never fail a test; wrong answers (CALLERROR instead of CALLRESULT) do.
"""

from __future__ import annotations

import statistics
import time
from typing import TYPE_CHECKING, Any

import pytest
import trio
from _pipeline import CASES, IMPLEMENTATIONS, Case, OursDriver, PeerDriver, check_callresult, peer_async_validation

if TYPE_CHECKING:
    from collections.abc import Callable

    from conftest import BenchSettings


def _measure(benchmark: Any, batch: Callable[[], None], settings: BenchSettings, iterations: int) -> None:
    """pytest-benchmark times the batches (wall clock); the process CPU time of every batch
    (all threads: the peer validates in a thread pool) is recorded beside it in extra_info,
    since wall time on a shared machine also counts time spent waiting for a CPU."""
    cpu_times: list[float] = []
    cpu_clock = time.process_time

    def timed_batch() -> None:
        start = cpu_clock()
        batch()
        cpu_times.append(cpu_clock() - start)

    benchmark.pedantic(timed_batch, rounds=settings.rounds, iterations=iterations, warmup_rounds=settings.warmup_rounds)
    # Drop the warm-up batches, and the extra call pytest-benchmark makes after looped rounds.
    first = settings.warmup_rounds * iterations
    measured = cpu_times[first : first + settings.rounds * iterations]
    benchmark.extra_info["cpu_seconds_per_batch"] = {
        "median": statistics.median(measured),
        "min": min(measured),
        "max": max(measured),
        "samples": len(measured),
    }


def _bench_ours(benchmark: Any, case: Case, settings: BenchSettings, typed: bool) -> None:
    async def main() -> None:
        # ChargePoint reads trio.current_time(): build and drive it inside one trio run.
        driver = OursDriver(case, settings.batch, typed=typed)
        driver.verify()
        _measure(benchmark, driver.batch_function(), settings, settings.ours_iterations)
        last_id = driver.frames[-1].split('"', 2)[1]
        check_callresult(driver.transport.last, last_id, case)

    trio.run(main)


def _bench_peer(benchmark: Any, case: Case, settings: BenchSettings, skip: bool, async_validation: bool) -> None:
    with peer_async_validation(async_validation):
        driver = PeerDriver(case, settings.batch, skip_validation=skip)
        try:
            driver.verify()
            _measure(benchmark, driver.batch_function(), settings, settings.peer_iterations)
            last_id = driver.frames[-1].split('"', 2)[1]
            check_callresult(driver.connection.last, last_id, case)
        finally:
            driver.close()


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_pipeline(benchmark: Any, bench_settings: BenchSettings, case: Case, implementation: str) -> None:
    benchmark.group = f"OCPP {case.version} {case.name}"
    benchmark.extra_info.update(
        version=case.version,
        case=case.name,
        action=case.action,
        implementation=implementation,
        messages_per_iteration=bench_settings.batch,
    )
    if implementation == "ocpp_router":
        _bench_ours(benchmark, case, bench_settings, typed=False)
    elif implementation == "ocpp_router_typed":
        _bench_ours(benchmark, case, bench_settings, typed=True)
    elif implementation == "ocpp":
        _bench_peer(benchmark, case, bench_settings, skip=False, async_validation=True)
    elif implementation == "ocpp_novalidation":
        _bench_peer(benchmark, case, bench_settings, skip=True, async_validation=True)
    elif implementation == "ocpp_syncvalidation":
        _bench_peer(benchmark, case, bench_settings, skip=False, async_validation=False)
    else:
        raise AssertionError(implementation)
