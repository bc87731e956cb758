"""``ocpp-router gateway --config site.toml``: run the gateway until SIGINT/SIGTERM."""

from __future__ import annotations

import logging
import signal
import sys
from typing import TYPE_CHECKING

import trio

from ._config import ConfigError, load_config
from ._gateway import Gateway

if TYPE_CHECKING:
    import argparse

    from ._config import GatewayConfig

__all__ = ["add_arguments", "run_command"]

log = logging.getLogger("ocpp_router.gateway")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``gateway`` subcommand's options."""
    parser.add_argument("--config", required=True, metavar="PATH", help="the site file (TOML; see docs/gateway.md)")
    parser.add_argument("--log-level", default=None, help="overrides log_level of the site file (default INFO)")


async def _run(config: GatewayConfig) -> None:
    gateway = Gateway(config)
    async with trio.open_nursery() as nursery:
        await nursery.start(gateway.run)
        scheme = "wss" if gateway.server.ssl_context is not None else "ws"
        # The line tests and scripts wait for; keep its shape.
        print(
            f"ocpp-router gateway listening on {scheme}://{gateway.host}:{gateway.port}/<identity> "
            f"for {len(gateway.links)} wallbox(es)",
            flush=True,
        )
        with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            async for _ in signals:
                log.info("shutting down; undelivered messages stay in %s", config.queue_path)
                await gateway.aclose(grace_period=5)
                nursery.cancel_scope.cancel()
                return


def run_command(args: argparse.Namespace) -> int:
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"ocpp-router gateway: {exc}", file=sys.stderr)
        return 2
    level = (args.log_level or config.log_level).upper()
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    trio.run(_run, config)
    return 0
