"""``ocpp-router simulate``: the options and the run with a live progress display."""

from __future__ import annotations

import contextlib
import signal
import sys
from typing import TYPE_CHECKING, TextIO

import orjson
import trio

from ._config import SimulationConfig
from ._run import Simulation

if TYPE_CHECKING:
    import argparse

    from ._stats import Stats

__all__ = ["add_arguments", "run_command"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``simulate`` subcommand's options."""
    parser.add_argument("--url", required=True, help="CSMS endpoint; identities are appended: ws://HOST:PORT/ocpp")
    parser.add_argument("--count", type=int, default=1, help="simulated charge points (default 1)")
    parser.add_argument(
        "--version", choices=["1.6", "2.0.1", "mixed"], default="1.6", help="OCPP version (mixed: half and half)"
    )
    parser.add_argument("--duration", type=float, default=60.0, help="seconds the run lasts (default 60)")
    parser.add_argument("--id-prefix", default="SIM", help="identities are PREFIX-00001, ... (default SIM)")
    parser.add_argument("--connectors", type=int, default=1, help="connectors (2.0.1: EVSEs) per charge point")
    parser.add_argument("--meter-interval", type=float, default=10.0, help="seconds between meter values")
    parser.add_argument("--transaction-duration", type=float, default=30.0, help="seconds a transaction lasts")
    parser.add_argument("--idle-time", type=float, default=10.0, help="seconds between transactions")
    parser.add_argument(
        "--no-transactions", action="store_true", help="start transactions only when the CSMS asks (remote start)"
    )
    parser.add_argument(
        "--heartbeat-interval", type=float, default=None, help="seconds between heartbeats (default: the CSMS's)"
    )
    parser.add_argument("--connect-rate", type=float, default=200.0, help="new connections per second (default 200)")
    parser.add_argument("--max-connecting", type=int, default=100, help="handshakes in flight at once (default 100)")
    parser.add_argument("--call-timeout", type=float, default=30.0, help="seconds a call waits for its answer")
    parser.add_argument(
        "--stop-grace",
        type=float,
        default=None,
        help="seconds to stop transactions and close at the end (default 10 + 1 per 250 charge points)",
    )
    parser.add_argument("--no-reconnect", action="store_true", help="do not reconnect after a failure")
    parser.add_argument("--password", help="HTTP Basic password (security profiles 1 and 2)")
    parser.add_argument("--ca", help="CA bundle to verify a wss:// CSMS with")
    parser.add_argument("--cert", help="client certificate (profile 3); {identity} is replaced per charge point")
    parser.add_argument("--key", help="client certificate key; {identity} is replaced per charge point")
    parser.add_argument(
        "--source-addresses",
        type=int,
        default=0,
        help="spread connections over 127.0.0.1..N (loopback targets; default: one per 20,000)",
    )
    parser.add_argument("--seed", type=int, help="seed for the timing jitter")
    parser.add_argument("--progress-interval", type=float, default=None, help="seconds between progress reports")
    parser.add_argument("--quiet", action="store_true", help="no progress display, summary only")
    parser.add_argument("--summary-json", metavar="PATH", help="also write the summary as JSON to PATH ('-': stdout)")


def config_from_args(args: argparse.Namespace) -> SimulationConfig:
    return SimulationConfig(
        url=args.url,
        count=args.count,
        version=args.version,
        duration=args.duration,
        id_prefix=args.id_prefix,
        connectors=args.connectors,
        meter_interval=args.meter_interval,
        transaction_duration=args.transaction_duration,
        idle_time=args.idle_time,
        transactions=not args.no_transactions,
        heartbeat_interval=args.heartbeat_interval,
        connect_rate=args.connect_rate,
        max_connecting=args.max_connecting,
        call_timeout=args.call_timeout,
        stop_grace=args.stop_grace,
        reconnect=not args.no_reconnect,
        password=args.password,
        ca=args.ca,
        cert=args.cert,
        key=args.key,
        source_addresses=args.source_addresses,
        seed=args.seed,
    )


class Progress:
    """One refreshing line on a terminal; a plain line every few seconds otherwise."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.tty = out.isatty()
        self._width = 0

    def __call__(self, stats: Stats) -> None:
        line = stats.progress_line()
        if self.tty:
            pad = max(0, self._width - len(line))
            self.out.write("\r" + line + " " * pad)
            self._width = len(line)
        else:
            self.out.write(line + "\n")
        self.out.flush()

    def finish(self) -> None:
        if self.tty and self._width:
            self.out.write("\n")
            self.out.flush()


def _raise_file_limit(count: int) -> None:
    """Each charge point is a socket: lift the soft descriptor limit toward the hard one."""
    with contextlib.suppress(ImportError, ValueError, OSError):
        import resource

        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        wanted = count + 256
        if soft != resource.RLIM_INFINITY and soft < wanted:
            target = wanted if hard == resource.RLIM_INFINITY else min(hard, wanted)
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


def run_command(args: argparse.Namespace) -> int:
    """Run the simulation from parsed options; 0 when there were no errors, else 1."""
    try:
        config = config_from_args(args)
    except ValueError as exc:
        print(f"ocpp-router simulate: {exc}", file=sys.stderr)
        return 2
    _raise_file_limit(config.count)
    out = sys.stdout
    progress = None if args.quiet else Progress(out)
    interval = args.progress_interval
    if interval is None:
        interval = 1.0 if progress is not None and progress.tty else 5.0
    print(
        f"simulating {config.count} charge point(s), OCPP {config.version}, against {config.url} "
        f"for {config.duration:g} s",
        file=out,
        flush=True,
    )
    simulation = Simulation(config)

    async def main() -> Stats:
        async with trio.open_nursery() as nursery:

            async def stop_on_signal() -> None:
                # Ctrl-C / SIGTERM end the run early, gracefully (bounded by --stop-grace).
                with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
                    async for _ in signals:
                        simulation.stop()

            nursery.start_soon(stop_on_signal)
            stats = await simulation.run(progress=progress, progress_interval=interval)
            nursery.cancel_scope.cancel()
        return stats

    stats = trio.run(main)
    if progress is not None:
        progress.finish()
    print(file=out)
    print(stats.summary_table(), file=out, flush=True)
    if args.summary_json:
        data = orjson.dumps(stats.to_dict(), option=orjson.OPT_INDENT_2)
        if args.summary_json == "-":
            out.write(data.decode() + "\n")
            out.flush()
        else:
            with open(args.summary_json, "wb") as file:
                file.write(data + b"\n")
    return 0 if stats.error_count == 0 else 1
