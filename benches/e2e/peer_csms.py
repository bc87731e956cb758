"""The peer CSMS for the end-to-end benchmark: the PyPI ``ocpp`` package on ``websockets``.

Answers the OCPP 1.6 messages the load generator sends (BootNotification, Heartbeat,
StatusNotification, MeterValues, Authorize) with the same answers as ``ocpp-router serve``.
Prints ``peer listening on ws://HOST:PORT/<identity>`` once bound (``--port 0`` picks one).
asyncio, with uvloop only if it is installed. The ``ocpp`` defaults are kept (schema
validation on, ``ASYNC_VALIDATION`` as shipped) unless ``--sync-validation`` is given.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
from datetime import datetime, timezone

import ocpp.messages
from ocpp.routing import on
from ocpp.v16 import ChargePoint, call_result
from ocpp.v16.enums import Action, AuthorizationStatus, RegistrationStatus
from websockets.asyncio.server import serve
from websockets.typing import Subprotocol


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class BenchChargePoint(ChargePoint):
    @on(Action.boot_notification)
    def on_boot(self, **_kwargs: object) -> call_result.BootNotification:
        return call_result.BootNotification(current_time=_now(), interval=300, status=RegistrationStatus.accepted)

    @on(Action.heartbeat)
    def on_heartbeat(self) -> call_result.Heartbeat:
        return call_result.Heartbeat(current_time=_now())

    @on(Action.status_notification)
    def on_status(self, **_kwargs: object) -> call_result.StatusNotification:
        return call_result.StatusNotification()

    @on(Action.meter_values)
    def on_meter_values(self, **_kwargs: object) -> call_result.MeterValues:
        return call_result.MeterValues()

    @on(Action.authorize)
    def on_authorize(self, id_tag: str) -> call_result.Authorize:
        return call_result.Authorize(id_tag_info={"status": AuthorizationStatus.accepted})


async def _handler(connection) -> None:  # type: ignore[no-untyped-def]
    identity = connection.request.path.rstrip("/").rsplit("/", 1)[-1]
    cp = BenchChargePoint(identity, connection)
    with contextlib.suppress(Exception):  # the load generator closes the connection
        await cp.start()


async def _main(host: str, port: int) -> None:
    stop = asyncio.get_running_loop().create_future()
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set_result, None)
    async with serve(
        _handler,
        host,
        port,
        subprotocols=[Subprotocol("ocpp1.6")],
        ping_interval=None,
        max_queue=None,
        backlog=4096,
    ) as server:
        bound = next(iter(server.sockets)).getsockname()
        print(f"peer listening on ws://{bound[0]}:{bound[1]}/<identity>", flush=True)
        await stop


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--sync-validation", action="store_true", help="ocpp.messages.ASYNC_VALIDATION = False")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("ocpp").setLevel(logging.WARNING)
    if args.sync_validation:
        ocpp.messages.ASYNC_VALIDATION = False
    try:
        import uvloop  # type: ignore[import-not-found]
    except ImportError:
        asyncio.run(_main(args.host, args.port))
    else:  # pragma: no cover - only where uvloop is installed
        uvloop.run(_main(args.host, args.port))


if __name__ == "__main__":
    main()
