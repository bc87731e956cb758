"""``ocpp-router`` command line: ``serve`` runs a CSMS on one endpoint for every version."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from typing import TYPE_CHECKING

import trio

from ._defaults import DefaultHandlers
from ._server import Server
from ._versions import ALL_VERSIONS

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["main"]

log = logging.getLogger("ocpp_router")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ocpp-router", description="OCPP-J 1.6 / 2.0.1 / 2.1 router")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run a CSMS that charge points can connect to")
    serve.add_argument("--host", default="0.0.0.0", help="address to listen on (default 0.0.0.0)")
    serve.add_argument("--port", type=int, default=9000, help="TCP port (default 9000; 0 picks a free one)")
    serve.add_argument(
        "--versions",
        default=",".join(ALL_VERSIONS),
        help="comma-separated OCPP versions to serve (default: %(default)s)",
    )
    serve.add_argument("--heartbeat-interval", type=int, default=300, help="seconds, sent in BootNotification")
    serve.add_argument("--log-level", default="INFO")
    return parser


async def _serve(args: argparse.Namespace) -> None:
    handlers = DefaultHandlers(args.heartbeat_interval)
    server = Server(handlers.router(), versions=[v.strip() for v in args.versions.split(",") if v.strip()])
    async with trio.open_nursery() as nursery:
        await nursery.start(server.serve, args.host, args.port)
        # The line tests and scripts wait for; keep its shape.
        versions = ", ".join(server.versions)
        print(
            f"ocpp-router listening on ws://{server.host}:{server.port}/<identity> (OCPP {versions})",
            flush=True,
        )
        with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            async for _ in signals:
                log.info("shutting down")
                await server.aclose(grace_period=5)
                nursery.cancel_scope.cancel()
                return


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.command == "serve":
        trio.run(_serve, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
