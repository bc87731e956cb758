"""Where ocpp-router's pipeline spends its time, for one benchmark case.

    python benches/profile_core.py                       # 1.6 MeterValues and 2.0.1 TransactionEvent
    python benches/profile_core.py 1.6-Authorize --cprofile

Prints a stage breakdown (microseconds per message) measured by peeling the pipeline apart,
every stage run in turn many times and the best run of each kept (so that other load on the
machine hits all stages alike):

* ``json.loads`` / ``orjson.loads`` of the frame: references for parsing into Python objects;
* ``validate_json`` against a registry whose schema is ``{}``: serde_json parsing alone;
* ``validate_json`` / ``validate(dict)`` with the real schema: parse (or convert) + check;
* ``receive`` on a connection with validation off / on, answered with ``reply_error`` (the
  cheapest way to free the id) or ``reply`` (prebuilt payload: the Rust core alone);
* the full pipeline (``conn.receive`` + ``ChargePoint.handle_call``), dict and typed handlers;

then the differences between them (approximate: each is the gap between two minima).

With ``--cprofile`` it also prints cProfile's top functions for the full pipeline (the Rust
calls appear as single built-in entries; cProfile inflates the Python side).
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import time
from typing import TYPE_CHECKING

import orjson
import trio
from _pipeline import CASES, OursDriver, case_by_id
from ocpp_router import Connection, SchemaRegistry

if TYPE_CHECKING:
    from collections.abc import Callable

    from _pipeline import Case

DEFAULT_CASES = ("1.6-MeterValues", "2.0.1-TransactionEvent")
BATCH = 200


def interleaved_us(stages: dict[str, Callable[[], object]], messages: int, repeats: int = 40) -> dict[str, float]:
    """Microseconds per message of each stage: every repeat runs every stage once (a batch of
    ``messages``) in turn, and the best run of each counts. Interleaving makes the stages see
    the same machine conditions; the minimum discards runs slowed by other processes."""
    clock = time.perf_counter
    best = dict.fromkeys(stages, float("inf"))
    for fn in stages.values():
        fn()
    for _ in range(repeats):
        for label, fn in stages.items():
            start = clock()
            fn()
            best[label] = min(best[label], clock() - start)
    return {label: seconds / messages * 1e6 for label, seconds in best.items()}


def _trivial_registry(case: Case) -> SchemaRegistry:
    """A registry whose schemas for the case's action accept anything: validate_json = parse only."""
    stem = case.action if case.version == "1.6" else f"{case.action}Request"
    response = case.action + "Response"
    return SchemaRegistry.from_files(case.version, {stem: "{}", response: "{}"})


def breakdown(case: Case) -> dict[str, float]:
    """Microseconds per message of each peeled-off piece of the pipeline."""
    results: dict[str, float] = {}

    async def main() -> None:
        frames = case.frames(BATCH)
        payload_text = json.dumps(case.request, separators=(",", ":"))
        registry = SchemaRegistry.bundled(case.version)
        trivial = _trivial_registry(case)
        action = case.action

        driver = OursDriver(case, BATCH)
        driver.verify()
        typed = OursDriver(case, BATCH, typed=True)
        typed.verify()
        reply_payload = json.loads(driver.transport.last)[2]
        ids = [json.loads(f)[1] for f in frames]

        def receive_then(conn: Connection, reply: bool) -> Callable[[], None]:
            def run() -> None:
                for frame, message_id in zip(frames, ids, strict=True):
                    conn.receive(frame, 0.0)
                    if reply:
                        conn.reply(message_id, reply_payload)
                    else:
                        conn.reply_error(message_id, "InternalError")  # cheapest way to free the id

            return run

        unvalidated = Connection(case.version, incoming="off", outgoing="off")
        stages: dict[str, Callable[[], object]] = {
            "json.loads(frame) [Python stdlib, reference]": lambda: [json.loads(f) for f in frames],
            "orjson.loads(frame) [reference]": lambda: [orjson.loads(f) for f in frames],
            "validate_json, schema {} (serde parse)": lambda: [
                trivial.validate_json(action, "request", payload_text) for _ in frames
            ],
            "validate_json, real schema": lambda: [
                registry.validate_json(action, "request", payload_text) for _ in frames
            ],
            "validate(dict), real schema (from_py + check)": lambda: [
                registry.validate(action, "request", case.request) for _ in frames
            ],
            "receive(incoming=off) + reply_error": receive_then(unvalidated, False),
            "receive + reply_error": receive_then(driver.cp.connection, False),
            "receive + reply [Rust core alone]": receive_then(driver.cp.connection, True),
            "full pipeline, dict handler": driver.batch_function(),
            "full pipeline, typed handler": typed.batch_function(),
        }
        results.update(interleaved_us(stages, BATCH))

    trio.run(main)
    return results


def print_breakdown(results: dict[str, float]) -> None:
    for label, us in results.items():
        print(f"  {label:<52} {us:8.2f} µs/msg")
    parse = results["validate_json, schema {} (serde parse)"]
    derived = {
        "request schema validation (validate_json real - parse)": results["validate_json, real schema"] - parse,
        "Value -> Python dict + framing (receive off - parse)": results["receive(incoming=off) + reply_error"] - parse,
        "reply: from_py + validate + serialise (vs reply_error)": results["receive + reply [Rust core alone]"]
        - results["receive + reply_error"],
        "Python session: router, coroutine, to_payload, send": results["full pipeline, dict handler"]
        - results["receive + reply [Rust core alone]"],
        "typed handler: from_wire/to_wire on top of dict": results["full pipeline, typed handler"]
        - results["full pipeline, dict handler"],
    }
    print("  derived (differences, approximate):")
    for label, us in derived.items():
        print(f"    {label:<56} {us:8.2f} µs/msg")


def profile(case: Case, seconds: float = 2.0) -> None:
    async def main() -> None:
        driver = OursDriver(case, BATCH)
        driver.verify()
        run = driver.batch_function()
        profiler = cProfile.Profile()
        deadline = time.perf_counter() + seconds
        profiler.enable()
        while time.perf_counter() < deadline:
            run()
        profiler.disable()
        pstats.Stats(profiler).sort_stats("tottime").print_stats(12)

    trio.run(main)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("cases", nargs="*", default=DEFAULT_CASES, help=f"case ids: {[c.id for c in CASES]}")
    parser.add_argument("--cprofile", action="store_true", help="also print cProfile's top functions")
    args = parser.parse_args()
    for case_id in args.cases:
        case = case_by_id(case_id)
        print(f"\n== OCPP {case.version} {case.name} ({len(case.frames(1)[0])} bytes per frame)")
        print_breakdown(breakdown(case))
        if args.cprofile:
            profile(case)


if __name__ == "__main__":
    main()
