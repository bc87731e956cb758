"""``ocpp-router`` command line: ``serve`` runs a CSMS on one endpoint for every version;
``simulate`` runs simulated charge points against a CSMS; ``gateway`` runs a local
controller relaying wallboxes to an upstream CSMS."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from typing import TYPE_CHECKING

import trio

from .csms import ConfigError, Csms, add_serve_arguments, load_config
from .gateway._cli import add_arguments as add_gateway_arguments
from .gateway._cli import run_command as run_gateway
from .observability.audit import AuditLog
from .simulator._cli import add_arguments as add_simulate_arguments
from .simulator._cli import run_command as run_simulate

if TYPE_CHECKING:
    from collections.abc import Sequence

    from .cluster import ClusterConfig
    from .csms import CsmsConfig
    from .observability.metrics import Metrics

__all__ = ["main"]

log = logging.getLogger("ocpp_router")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ocpp-router", description="OCPP-J 1.6 / 2.0.1 / 2.1 router")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser(
        "serve",
        help="run the reference CSMS that charge points can connect to",
        description="The reference CSMS (docs/csms.md). Settings: flags > OCPP_ROUTER_* variables > --config file.",
    )
    # --host --port --versions --heartbeat-interval --log-level, TLS, admin API, registry, ...
    # Their defaults are absent on purpose: csms.load_config merges file, environment and flags.
    add_serve_arguments(serve)
    audit = serve.add_argument_group("audit log")
    audit.add_argument("--audit-log", metavar="PATH", help="log every frame as JSON Lines to PATH (rotated by size)")
    audit.add_argument(
        "--audit-max-bytes", type=int, default=100 << 20, help="rotate the audit log at this size (default 100 MiB)"
    )
    audit.add_argument("--audit-keep", type=int, default=5, help="rotated audit log files kept (default 5)")
    cluster = serve.add_argument_group("cluster mode (needs the `cluster` extra: valkey-glide)")
    cluster.add_argument(
        "--cluster-url",
        metavar="URL",
        help="join a cluster on this Valkey/Redis server (redis://[user:password@]host:port[/db], rediss:// for TLS)",
    )
    cluster.add_argument(
        "--node-id", metavar="NAME", default="", help="this node's unique name (default: host-pid-random)"
    )
    cluster.add_argument(
        "--cluster-prefix", default="ocpp:", help="prefix of every key and channel (default: %(default)s)"
    )
    cluster.add_argument(
        "--cluster-events", action="store_true", help="publish every incoming charge-point message to the event stream"
    )
    simulate = commands.add_parser("simulate", help="run simulated charge points against a CSMS")
    add_simulate_arguments(simulate)
    simulate.add_argument("--log-level", default="WARNING")
    gateway = commands.add_parser(
        "gateway",
        help="relay local wallboxes to an upstream CSMS (local controller)",
        description="Gateway mode (docs/gateway.md): wallboxes connect here; each is relayed upstream as its own "
        "charge point, with local policies and a durable queue for upstream outages.",
    )
    add_gateway_arguments(gateway)  # --config site.toml, --log-level
    return parser


def _cluster_config(args: argparse.Namespace) -> ClusterConfig | None:
    if not args.cluster_url:
        if args.node_id or args.cluster_events:
            raise SystemExit("ocpp-router: --node-id and --cluster-events need --cluster-url")
        return None
    try:
        from .cluster import ClusterConfig
    except ImportError as exc:  # pragma: no cover - depends on the installation
        raise SystemExit(f'ocpp-router: cluster mode needs `pip install "ocpp-router[cluster]"` ({exc})') from None
    try:
        return ClusterConfig(
            url=args.cluster_url, node_id=args.node_id, prefix=args.cluster_prefix, events=args.cluster_events
        )
    except ValueError as exc:
        raise SystemExit(f"ocpp-router: {exc}") from None


def _metrics() -> Metrics | None:
    """Prometheus metrics for the admin API's ``/metrics`` (None without prometheus_client)."""
    try:
        from .observability.metrics import Metrics
    except ImportError:  # pragma: no cover - depends on the installation
        return None
    return Metrics()


async def _serve(args: argparse.Namespace, config: CsmsConfig) -> None:
    cluster = _cluster_config(args)
    audit = None
    if args.audit_log:
        audit = AuditLog(
            args.audit_log,
            max_bytes=args.audit_max_bytes,
            keep=args.audit_keep,
            ring_size=config.frames_per_charge_point,
        )
    # The reference CSMS (ocpp_router.csms): plugins, registry, TLS listener, admin API.
    # Its frames come from the audit log (a file-less one when --audit-log is not given).
    csms = Csms(
        config,
        audit=audit,
        metrics=_metrics() if config.admin_port is not None else None,
        server_options={"cluster": cluster} if cluster is not None else None,
    )
    server = csms.server
    async with trio.open_nursery() as nursery:
        if audit is not None:
            await nursery.start(audit.run)
        await nursery.start(csms.run)
        # The line tests and scripts wait for; keep its shape.
        versions = ", ".join(server.versions)
        print(
            f"ocpp-router listening on ws://{server.host}:{server.port}/<identity> (OCPP {versions})",
            flush=True,
        )
        for host, port in csms.tls_addresses[:1]:
            print(f"ocpp-router TLS listening on wss://{host}:{port}/<identity> (security profiles 2, 3)", flush=True)
        if csms.admin_url is not None:
            print(f"ocpp-router admin API on {csms.admin_url}", flush=True)
        if cluster is not None:
            print(f"ocpp-router node {cluster.node_id} joined the cluster at {cluster.safe_url}", flush=True)
        with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            async for _ in signals:
                log.info("shutting down")
                await csms.aclose(grace_period=5)
                if audit is not None:
                    await audit.aclose()  # the last frames reach the file before exit
                nursery.cancel_scope.cancel()
                return


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "gateway":
        return run_gateway(args)  # reads its site file and sets up logging itself
    config = None
    if args.command == "serve":
        try:
            config = load_config(args)
        except ConfigError as exc:
            print(f"ocpp-router: {exc}", file=sys.stderr)
            return 2
    level = config.log_level if config is not None else args.log_level
    logging.basicConfig(level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if config is not None:
        trio.run(_serve, args, config)
    elif args.command == "simulate":
        return run_simulate(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
