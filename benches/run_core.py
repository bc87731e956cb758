"""Run the in-process pipeline benchmark and print messages/s and ratios per OCPP version.

    python benches/run_core.py --quick   # CI: well under 2 minutes, writes results/core-quick.json
    python benches/run_core.py --full    # a few minutes, writes results/core.json

The numbers come from the pytest-benchmark run of ``test_bench_core.py`` (median time of a
batch of distinct CALL frames). Timings never fail the run: the exit status is non-zero only
when the benchmark itself crashed (e.g. a pipeline answered a CALLERROR).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shlex
import sys
import tempfile
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results"

#: (key in results, column label)
OURS, OURS_TYPED, PEER, PEER_NOVAL, PEER_SYNC = (
    "ocpp_router",
    "ocpp_router_typed",
    "ocpp",
    "ocpp_novalidation",
    "ocpp_syncvalidation",
)
GOAL_RATIO = 30.0


def run_pytest(mode: str, raw_json: Path) -> tuple[int, list[str]]:
    args = [
        str(HERE / "test_bench_core.py"),
        "-p",
        "no:randomly",
        "-p",
        "no:cacheprovider",
        "--benchmark-only",
        f"--core-mode={mode}",
        f"--benchmark-json={raw_json}",
        "--benchmark-sort=name",
        "--benchmark-columns=min,median,max,iqr,rounds,iterations",
        "-q",
    ]
    return int(pytest.main(list(args))), args  # pytest.main prepends addopts to the list it gets


def _rate(bench: dict[str, Any], metric: str) -> float:
    """Messages per second from the median wall-clock (or process CPU) time of one batch."""
    info = bench["extra_info"]
    seconds = info["cpu_seconds_per_batch"]["median"] if metric == "cpu" else bench["stats"]["median"]
    return float(info["messages_per_iteration"]) / float(seconds)


def summarise(raw: dict[str, Any], metric: str = "wall") -> dict[str, Any]:
    """Per version and case: messages/s of every implementation, ratios, and the mix.

    ``metric`` is ``"wall"`` (pytest-benchmark's timings) or ``"cpu"`` (process CPU time of
    the same batches, recorded in extra_info)."""
    versions: dict[str, dict[str, Any]] = {}
    for bench in raw["benchmarks"]:
        info = bench["extra_info"]
        version = versions.setdefault(info["version"], {"cases": {}})
        case = version["cases"].setdefault(info["case"], {"action": info["action"], "msgs_per_s": {}, "stats": {}})
        case["msgs_per_s"][info["implementation"]] = _rate(bench, metric)
        stats = bench["stats"]
        case["stats"][info["implementation"]] = {
            "messages_per_batch": info["messages_per_iteration"],
            "batch_seconds_median": stats["median"],
            "batch_seconds_min": stats["min"],
            "batch_seconds_max": stats["max"],
            "batch_seconds_iqr": stats["iqr"],
            "rounds": stats["rounds"],
            "iterations": stats["iterations"],
            "cpu_seconds_per_batch": info["cpu_seconds_per_batch"],
        }
    for version in versions.values():
        cases = version["cases"]
        for case in cases.values():
            case["ratios"] = _ratios(case["msgs_per_s"])
        # The mix: every case equally weighted, i.e. total messages / total time (the
        # harmonic mean of the rates).
        impls = set.intersection(*(set(case["msgs_per_s"]) for case in cases.values()))
        mix = {impl: len(cases) / sum(1.0 / case["msgs_per_s"][impl] for case in cases.values()) for impl in impls}
        version["mix"] = {"msgs_per_s": mix, "ratios": _ratios(mix)}
    return versions


def _ratios(rates: dict[str, float]) -> dict[str, float]:
    ours = rates.get(OURS)
    if ours is None:
        return {}
    return {f"{OURS}/{impl}": ours / rate for impl, rate in rates.items() if impl != OURS}


def _fmt_rate(value: float | None) -> str:
    return "—" if value is None else f"{value:,.0f}"


def _fmt_ratio(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}x"


def table(version: str, summary: dict[str, Any]) -> str:
    header = [
        "case",
        "ocpp-router msgs/s",
        "ocpp msgs/s",
        "ratio",
        "ocpp (no validation) msgs/s",
        "ratio",
        "ocpp-router typed msgs/s",
        "ocpp (sync validation) msgs/s",
        "ratio",
    ]
    rows = []
    named = [(name, case) for name, case in summary["cases"].items()]
    named.append(("**mix** (5 cases, equal weight)", summary["mix"]))
    for name, entry in named:
        rates, ratios = entry["msgs_per_s"], entry["ratios"]
        rows.append(
            [
                name,
                _fmt_rate(rates.get(OURS)),
                _fmt_rate(rates.get(PEER)),
                _fmt_ratio(ratios.get(f"{OURS}/{PEER}")),
                _fmt_rate(rates.get(PEER_NOVAL)),
                _fmt_ratio(ratios.get(f"{OURS}/{PEER_NOVAL}")),
                _fmt_rate(rates.get(OURS_TYPED)),
                _fmt_rate(rates.get(PEER_SYNC)),
                _fmt_ratio(ratios.get(f"{OURS}/{PEER_SYNC}")),
            ]
        )
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        padded = [cell.ljust(widths[0]) if i == 0 else cell.rjust(widths[i]) for i, cell in enumerate(cells)]
        return "| " + " | ".join(padded) + " |"

    separator = "|" + "|".join(("-" * (w + 1) + ":") if i else ("-" * (w + 2)) for i, w in enumerate(widths)) + "|"
    return "\n".join([f"OCPP {version}", "", line(header), separator, *(line(row) for row in rows)])


def goals(versions: dict[str, Any]) -> tuple[list[str], dict[str, Any]]:
    lines, verdicts = [], {}
    for version, summary in versions.items():
        mix_ratio = summary["mix"]["ratios"].get(f"{OURS}/{PEER}")
        noval = {name: case["ratios"].get(f"{OURS}/{PEER_NOVAL}") for name, case in summary["cases"].items()}
        slowest = min((r for r in noval.values() if r is not None), default=None)
        mix_ok = mix_ratio is not None and mix_ratio >= GOAL_RATIO
        noval_ok = slowest is not None and slowest > 1.0
        verdicts[version] = {
            "mix_ratio_vs_ocpp": mix_ratio,
            "mix_goal": GOAL_RATIO,
            "mix_goal_met": mix_ok,
            "min_case_ratio_vs_ocpp_novalidation": slowest,
            "faster_than_ocpp_novalidation_on_every_case": noval_ok,
        }
        lines.append(
            f"OCPP {version}: mix {_fmt_ratio(mix_ratio)} the `ocpp` package (goal ≥ {GOAL_RATIO:.0f}x: "
            f"{'met' if mix_ok else 'NOT met'}); vs its validation off: slowest case {_fmt_ratio(slowest)} "
            f"({'faster on every case' if noval_ok else 'NOT faster on every case'})"
        )
    return lines, verdicts


def _loadavg() -> list[float] | None:
    """1/5/15-minute load averages: other processes skew the numbers on a shared machine."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def _portable(arg: str) -> str:
    """A pytest argument without this run's absolute paths."""
    if arg.startswith("--benchmark-json="):
        return "--benchmark-json=<tmp>/benchmark.json"
    if arg.startswith("/"):
        return os.path.relpath(arg, ROOT)
    return arg


def machine_info(raw: dict[str, Any]) -> dict[str, Any]:
    info = raw.get("machine_info", {})

    def version_of(name: str) -> str | None:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return None

    return {
        "python": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "cpu_count": os.cpu_count(),
        "cpu": (info.get("cpu") or {}).get("brand_raw") or platform.processor() or None,
        "machine": platform.machine(),
        "system": f"{platform.system()} {platform.release()}",
        "packages": {
            name: version_of(name) for name in ("ocpp-router", "ocpp", "trio", "pytest-benchmark", "jsonschema")
        },
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--quick", action="store_const", const="quick", dest="mode", help="few rounds (CI)")
    group.add_argument("--full", action="store_const", const="full", dest="mode", help="more rounds (README numbers)")
    parser.add_argument("--output", type=Path, help="results file (default: results/core.json or core-quick.json)")
    args = parser.parse_args(argv)
    mode = args.mode or "quick"
    output = args.output or RESULTS / ("core.json" if mode == "full" else "core-quick.json")

    started = datetime.datetime.now(datetime.timezone.utc)
    load_before = _loadavg()
    with tempfile.TemporaryDirectory() as tmp:
        raw_path = Path(tmp) / "benchmark.json"
        status, pytest_args = run_pytest(mode, raw_path)
        if status != 0 or not raw_path.exists():
            print(f"benchmark run failed (pytest exit status {status})", file=sys.stderr)
            return int(status) or 1
        raw = json.loads(raw_path.read_text())

    versions = summarise(raw, "wall")
    versions_cpu = summarise(raw, "cpu")
    print()
    print("In-process pipeline (text frame in → validated payload → handler → validated CALLRESULT text out).")
    print("Not socket numbers. ratio = ocpp-router / the column to its left.")
    print("\n## Wall clock: messages/s from the median batch time (pytest-benchmark)")
    for version, summary in versions.items():
        print()
        print(table(version, summary))
    print("\n## Process CPU time of the same batches (all threads; robust to other load on the machine)")
    for version, summary in versions_cpu.items():
        print()
        print(table(version, summary))
    goal_lines, verdicts = goals(versions)
    goal_lines_cpu, verdicts_cpu = goals(versions_cpu)
    print("\nGoals, wall clock:")
    for goal_line in goal_lines:
        print("  " + goal_line)
    print("Goals, CPU time:")
    for goal_line in goal_lines_cpu:
        print("  " + goal_line)
    print(f"load average (1/5/15 min) before: {load_before}, after: {_loadavg()} on {os.cpu_count()} CPUs")

    command = shlex.join([Path(sys.executable).name, *map(str, sys.argv)] if argv is None else ["run_core", *argv])
    result = {
        "benchmark": "in-process OCPP pipeline: ocpp-router vs the PyPI `ocpp` package",
        "mode": mode,
        "date": started.isoformat(timespec="seconds"),
        "command": command,
        "pytest_command": shlex.join(["python", "-m", "pytest", *map(_portable, pytest_args)]),
        "unit": "messages per second: batch size / median batch time (wall clock; *_cpu_time: process CPU time)",
        "machine": {**machine_info(raw), "load_average_before": load_before, "load_average_after": _loadavg()},
        "versions": versions,
        "goals": verdicts,
        "versions_cpu_time": versions_cpu,
        "goals_cpu_time": verdicts_cpu,
    }
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    print(f"\nwrote {os.path.relpath(output, Path.cwd())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
