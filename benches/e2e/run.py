"""End-to-end benchmark over real sockets: ``ocpp-router serve`` vs a CSMS on the ``ocpp`` package.

Both servers run as subprocesses on 127.0.0.1 and are driven, one after the other, by the
same load generator (``loadgen.py``, a separate process): N OCPP 1.6 charge points with one
CALL in flight each, cycling Heartbeat / StatusNotification / MeterValues / Authorize.

    python benches/e2e/run.py --quick   # N = 100, 1,000       → benches/results/e2e-quick.json
    python benches/e2e/run.py --full    # N = 100, 1,000, 10,000 → benches/results/e2e.json

Prints a table; never fails on timings. Exits non-zero only when something crashed (a server
did not start, the load generator failed or no charge point connected). Subprocesses are
always killed.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import importlib.metadata
import json
import os
import platform
import re
import resource
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
RESULTS = HERE.parent / "results"
SCENARIO = "1.6 mix"
ID_TAG = "BENCHTAG"

OURS = [
    sys.executable, "-m", "ocpp_router", "serve",
    "--host", "127.0.0.1", "--port", "0",
    "--max-messages-per-second", "0", "--ping-interval", "0", "--idle-timeout", "0",
    "--max-connections", "50000", "--log-level", "WARNING", "--versions", "1.6",
    "--id-tag", ID_TAG,
]  # fmt: skip
PEER = [sys.executable, str(HERE / "peer_csms.py"), "--host", "127.0.0.1", "--port", "0"]


class BenchError(Exception):
    pass


def _start(cmd: list[str], timeout: float = 30.0) -> tuple[subprocess.Popen[str], int]:
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + timeout
    assert proc.stdout is not None
    seen: list[str] = []
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        seen.append(line)
        m = re.search(r"listening on ws://[^:]+:(\d+)/", line)
        if m:
            return proc, int(m.group(1))
    _stop(proc)
    raise BenchError(f"server did not start: {shlex.join(cmd)}\n{''.join(seen)}")


def _stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    if proc.stdout is not None:
        proc.stdout.close()


def _measure(server_cmd: list[str], n: int, warmup: float, duration: float) -> dict[str, Any]:
    proc, port = _start(server_cmd)
    try:
        cmd = [
            sys.executable, str(HERE / "loadgen.py"), "--url", f"ws://127.0.0.1:{port}", "-n", str(n),
            "--warmup", str(warmup), "--duration", str(duration), "--server-pid", str(proc.pid),
            "--id-tag", ID_TAG,
        ]  # fmt: skip
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=300 + warmup + duration)
        if proc.poll() is not None:
            raise BenchError(f"server exited with {proc.returncode} during the run")
        if out.returncode != 0 or not out.stdout.strip():
            raise BenchError(f"load generator failed ({out.returncode}):\n{out.stderr[-2000:]}")
        result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
        return result
    finally:
        _stop(proc)


def _lat(r: dict[str, Any]) -> str:
    return f"{r['p50_ms']:.1f}/{r['p99_ms']:.1f} ms" if r["p50_ms"] is not None else "-"


def _table(rows: list[dict[str, Any]]) -> str:
    head = (
        "| scenario | N | ours msgs/s | peer msgs/s | ratio | ours p50/p99 | peer p50/p99 "
        "| server CPU ms per 1k msgs (ours/peer) | loadgen CPU % (ours/peer) |"
    )
    lines = [head, "|---|--:|--:|--:|--:|--:|--:|--:|--:|"]
    for row in rows:
        o, p = row["ours"], row["peer"]
        ratio = f"{o['msgs_per_s'] / p['msgs_per_s']:.2f}x" if p["msgs_per_s"] else "-"
        lines.append(
            f"| {row['scenario']} | {row['n']:,} | {o['msgs_per_s']:,.0f} | {p['msgs_per_s']:,.0f} | {ratio} "
            f"| {_lat(o)} | {_lat(p)} | {o['server_cpu_ms_per_1k']} / {p['server_cpu_ms_per_1k']} "
            f"| {o['loadgen_cpu_percent']} / {p['loadgen_cpu_percent']} |"
        )
    return "\n".join(lines)


def _machine() -> dict[str, Any]:
    model = ""
    with contextlib.suppress(OSError):
        model = next(
            (
                ln.split(":", 1)[1].strip()
                for ln in Path("/proc/cpuinfo").read_text().splitlines()
                if "model name" in ln
            ),
            "",
        )
    versions = {}
    for pkg in ("ocpp-router", "ocpp", "websockets", "trio", "uvloop"):
        try:
            versions[pkg] = importlib.metadata.version(pkg)
        except importlib.metadata.PackageNotFoundError:
            versions[pkg] = None
    return {
        "platform": platform.platform(),
        "cpu_model": model,
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "packages": versions,
        "loadavg_before": os.getloadavg(),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="N = 100, 1,000; a few seconds each (default)")
    mode.add_argument("--full", action="store_true", help="adds N = 10,000; longer windows")
    parser.add_argument("--sizes", help="comma-separated N, overrides the mode's")
    parser.add_argument("--out", help="JSON file (default benches/results/e2e-quick.json or e2e.json)")
    args = parser.parse_args()

    full = args.full
    sizes = [int(s) for s in args.sizes.split(",")] if args.sizes else ([100, 1000, 10_000] if full else [100, 1000])
    warmup, duration = (2.0, 8.0) if full else (1.0, 4.0)
    out = Path(args.out) if args.out else RESULTS / ("e2e.json" if full else "e2e-quick.json")

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:  # inherited by the servers and the load generator
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

    machine = _machine()
    started = dt.datetime.now(dt.timezone.utc)
    rows: list[dict[str, Any]] = []
    failed = False
    for n in sizes:
        row: dict[str, Any] = {"scenario": SCENARIO, "n": n}
        try:
            for name, cmd in (("ours", OURS), ("peer", PEER)):
                print(f"N={n:>6} {name}: ", end="", flush=True)
                r = _measure(cmd, n, warmup, duration)
                row[name] = r
                print(
                    f"{r['msgs_per_s']:,.0f} msgs/s, p50 {r['p50_ms']} ms, p99 {r['p99_ms']} ms, "
                    f"server CPU {r['server_cpu_percent']}%, loadgen CPU {r['loadgen_cpu_percent']}%, "
                    f"connected {r['connected']}/{n} in {r['connect_seconds']} s, errors {r['errors']}"
                    + (f" (first: {r['first_error']})" if r["first_error"] else ""),
                    flush=True,
                )
                if not r["connected"]:
                    failed = True
        except (BenchError, subprocess.TimeoutExpired, ValueError) as exc:
            print(f"\nFAILED: {exc}", file=sys.stderr, flush=True)
            failed = True
            continue
        o, p = row["ours"], row["peer"]
        row["ratio"] = round(o["msgs_per_s"] / p["msgs_per_s"], 3) if p["msgs_per_s"] else None
        rows.append(row)

    print()
    print(_table(rows))
    command = shlex.join([Path(sys.executable).name, *sys.argv])
    print(
        f"\n{started:%Y-%m-%d %H:%M} UTC, {machine['cpu_count']} CPUs ({machine['cpu_model']}), "
        f"Python {machine['python']}, load avg before {machine['loadavg_before'][0]:.2f}; `{command}`"
    )
    RESULTS.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps(
            {
                "benchmark": "e2e",
                "mode": "full" if full else "quick",
                "date": started.isoformat(timespec="seconds"),
                "command": command,
                "warmup_seconds": warmup,
                "duration_seconds": duration,
                "servers": {"ours": shlex.join(OURS), "peer": shlex.join(PEER)},
                "machine": machine,
                "results": rows,
            },
            indent=2,
        )
        + "\n"
    )
    print(f"wrote {out}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
