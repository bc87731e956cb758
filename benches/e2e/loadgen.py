"""Lean OCPP 1.6 load generator for the end-to-end benchmark.

N charge points over real sockets (``websockets`` asyncio client, raw JSON frames, no schema
work, no compression), each with exactly one CALL in flight. After one BootNotification per
charge point (not timed) they cycle through Heartbeat, StatusNotification, MeterValues and
Authorize. After a warm-up the generator measures for ``--duration`` seconds: completed
CALLs per second, latency percentiles (send → reply received), its own CPU time and, with
``--server-pid``, the server process's CPU seconds (all threads, from /proc/<pid>/stat).
Connections are spread over the source addresses 127.0.0.1 .. 127.0.0.K (``--sources``).

Prints one JSON object on stdout. Timings never fail anything; the exit status is non-zero
only when no charge point could connect.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import resource
import sys
import time
from typing import Any

from websockets.asyncio.client import connect
from websockets.typing import Subprotocol

TS = "2026-01-01T00:00:00.000Z"
BOOT = json.dumps({"chargePointVendor": "bench", "chargePointModel": "e2e", "firmwareVersion": "1.0"})


def _mix(id_tag: str) -> list[tuple[str, str]]:
    sampled = [
        {"value": "1234.5", "measurand": "Energy.Active.Import.Register", "unit": "Wh", "context": "Sample.Periodic"},
        {"value": "7200", "measurand": "Power.Active.Import", "unit": "W", "context": "Sample.Periodic"},
        {"value": "31.2", "measurand": "Current.Import", "unit": "A", "phase": "L1", "context": "Sample.Periodic"},
        {"value": "230.1", "measurand": "Voltage", "unit": "V", "phase": "L1-N", "context": "Sample.Periodic"},
    ]
    return [
        ("Heartbeat", "{}"),
        (
            "StatusNotification",
            json.dumps({"connectorId": 1, "errorCode": "NoError", "status": "Available", "timestamp": TS}),
        ),
        ("MeterValues", json.dumps({"connectorId": 1, "meterValue": [{"timestamp": TS, "sampledValue": sampled}]})),
        ("Authorize", json.dumps({"idTag": id_tag})),
    ]


def proc_cpu_seconds(pid: int) -> float:
    """utime + stime of a process (all its threads), in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # fields[0] is the state (field 3); utime and stime are fields 14 and 15
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Run:
    def __init__(self) -> None:
        self.started = asyncio.Event()
        self.stopping = False
        self.measuring = False
        self.latencies: list[int] = []
        self.count = 0
        self.errors = 0
        self.connect_failures = 0
        self.warm = 0
        self.first_error: str | None = None


async def charge_point(run: Run, url: str, index: int, source: str, mix: list[tuple[str, str]], ready: Any) -> None:
    try:
        ws = await connect(
            f"{url}/CP{index:05d}",
            subprotocols=[Subprotocol("ocpp1.6")],
            compression=None,
            ping_interval=None,
            open_timeout=60,
            max_queue=None,
            local_addr=(source, 0),
        )
    except Exception as exc:
        run.connect_failures += 1
        run.first_error = run.first_error or f"connect: {exc!r}"
        ready()
        return
    try:
        await ws.send(f'[2,"b{index}","BootNotification",{BOOT}]')
        reply = await ws.recv()
        if not reply.startswith("[3,"):
            run.errors += 1
            run.first_error = run.first_error or f"boot: {reply[:200]}"
        ready()
        await run.started.wait()
        k = index  # stagger the mix over charge points
        n = len(mix)
        perf = time.perf_counter_ns
        while not run.stopping:
            action, payload = mix[k % n]
            k += 1
            t0 = perf()
            await ws.send(f'[2,"{k}","{action}",{payload}]')
            reply = await ws.recv()
            t1 = perf()
            if reply[1] != "3":
                run.errors += 1
                run.first_error = run.first_error or f"{action}: {reply[:200]}"
            if run.measuring:
                run.count += 1
                run.latencies.append(t1 - t0)
            else:
                run.warm += 1
    except Exception as exc:
        run.errors += 1
        run.first_error = run.first_error or f"CP{index}: {exc!r}"
    finally:
        await ws.close()


def _pct(sorted_ns: list[int], q: float) -> float | None:
    if not sorted_ns:
        return None
    i = min(len(sorted_ns) - 1, max(0, math.ceil(q * len(sorted_ns)) - 1))
    return round(sorted_ns[i] / 1e6, 3)


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    run = Run()
    mix = _mix(args.id_tag)
    sources = args.sources or max(1, math.ceil(args.n / 1000))
    remaining = args.n
    all_ready = asyncio.Event()

    def ready() -> None:
        nonlocal remaining
        remaining -= 1
        if remaining == 0:
            all_ready.set()

    sem = asyncio.Semaphore(args.connect_concurrency)

    async def start_one(i: int) -> None:
        async with sem:
            ev = asyncio.Event()

            def mark() -> None:
                ready()
                ev.set()

            task = asyncio.create_task(charge_point(run, args.url, i, f"127.0.0.{1 + i % sources}", mix, mark))
            tasks.append(task)
            await ev.wait()

    tasks: list[asyncio.Task[None]] = []
    t_connect = time.perf_counter()
    await asyncio.gather(*(start_one(i) for i in range(args.n)))
    await all_ready.wait()
    connect_s = time.perf_counter() - t_connect
    connected = args.n - run.connect_failures
    run.started.set()
    await asyncio.sleep(args.warmup)

    cpu0 = time.process_time()
    srv0 = proc_cpu_seconds(args.server_pid) if args.server_pid else None
    w0 = time.perf_counter()
    run.measuring = True
    await asyncio.sleep(args.duration)
    run.measuring = False
    wall = time.perf_counter() - w0
    cpu = time.process_time() - cpu0
    srv = proc_cpu_seconds(args.server_pid) - srv0 if args.server_pid and srv0 is not None else None

    run.stopping = True
    await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), timeout=120)
    lat = sorted(run.latencies)
    rate = run.count / wall if wall > 0 else 0.0
    return {
        "n": args.n,
        "connected": connected,
        "connect_failures": run.connect_failures,
        "connect_seconds": round(connect_s, 3),
        "sources": sources,
        "messages": run.count,
        "warmup_messages": run.warm,
        "seconds": round(wall, 3),
        "msgs_per_s": round(rate, 1),
        "p50_ms": _pct(lat, 0.50),
        "p90_ms": _pct(lat, 0.90),
        "p99_ms": _pct(lat, 0.99),
        "max_ms": _pct(lat, 1.0),
        "errors": run.errors,
        "first_error": run.first_error,
        "loadgen_cpu_seconds": round(cpu, 3),
        "loadgen_cpu_percent": round(100 * cpu / wall, 1) if wall > 0 else None,
        "server_cpu_seconds": round(srv, 3) if srv is not None else None,
        "server_cpu_percent": round(100 * srv / wall, 1) if srv is not None and wall > 0 else None,
        "server_cpu_ms_per_1k": round(1e6 * srv / run.count, 1) if srv is not None and run.count else None,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="ws://127.0.0.1:PORT (the identity is appended)")
    parser.add_argument("-n", type=int, default=100, help="charge points")
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds before measuring")
    parser.add_argument("--duration", type=float, default=4.0, help="seconds measured")
    parser.add_argument("--server-pid", type=int, default=0, help="measure this process's CPU time")
    parser.add_argument("--sources", type=int, default=0, help="source addresses 127.0.0.1..K (0: one per 1,000)")
    parser.add_argument("--connect-concurrency", type=int, default=100)
    parser.add_argument("--id-tag", default="BENCHTAG")
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    try:
        import uvloop  # type: ignore[import-not-found]
    except ImportError:
        result = asyncio.run(main_async(args))
    else:  # pragma: no cover - only where uvloop is installed
        result = uvloop.run(main_async(args))
    print(json.dumps(result), flush=True)
    return 0 if result["connected"] else 1


if __name__ == "__main__":
    sys.exit(main())
