"""Cluster-mode benchmark: a cross-node call (over Valkey/Redis) vs a local call.

    python benches/run_cluster.py --quick   # ~15 s, writes results/cluster-quick.json
    python benches/run_cluster.py --full    # ~1 min, writes results/cluster.json
    python benches/run_cluster.py --engine-url redis://host:6379   # an existing server

Prints round-trip p50/p90/p99 (sequential calls to one charge point) and calls/s (every
charge point called in a loop by its own task; one outstanding call per connection) for
both scenarios. The set-up is described in ``test_bench_cluster.py``. Timings never fail
the run; a wrong answer does.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shlex
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

import trio

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
sys.path.insert(0, str(HERE))

from test_bench_cluster import FULL, QUICK, measure  # noqa: E402


def _table(results: dict[str, Any]) -> str:
    local, remote = results["local"], results["cross_node"]
    rows = [
        ("round trip p50 (ms)", "p50_ms", "latency"),
        ("round trip p90 (ms)", "p90_ms", "latency"),
        ("round trip p99 (ms)", "p99_ms", "latency"),
        ("round trip mean (ms)", "mean_ms", "latency"),
        ("calls/s", "calls_per_s", "throughput"),
    ]
    lines = [
        f"| {'':24} | {'local call':>11} | {'cross-node':>11} | {'ratio':>6} |",
        f"|{'-' * 26}|{'-' * 13}|{'-' * 13}|{'-' * 8}|",
    ]
    for label, key, group in rows:
        a, b = local[group][key], remote[group][key]
        ratio = b / a if a else float("nan")
        lines.append(f"| {label:24} | {a:11.3f} | {b:11.3f} | {ratio:5.2f}x |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="short run (the default)")
    mode.add_argument("--full", action="store_true", help="longer run, more samples")
    parser.add_argument("--engine-url", help="use this Valkey/Redis server instead of starting one")
    parser.add_argument("--output", type=Path, help="where to write the JSON (default results/cluster[-quick].json)")
    args = parser.parse_args()
    settings = FULL if args.full else QUICK
    results = trio.run(measure, settings, args.engine_url)
    settings_name = "full" if args.full else "quick"
    output = args.output or RESULTS / ("cluster.json" if args.full else "cluster-quick.json")
    document = {
        "benchmark": "cluster",
        "mode": settings_name,
        "command": shlex.join(["python", *sys.argv]),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "valkey_glide": metadata.version("valkey-glide"),
            "engine": results.pop("engine", ""),
        },
        **results,
    }
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(document, indent=2) + "\n")
    print(
        f"cluster mode ({settings_name}; {document['machine']['engine']}; glide {document['machine']['valkey_glide']})"
    )
    print(_table(results))
    print(f"wrote {os.path.relpath(output)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
