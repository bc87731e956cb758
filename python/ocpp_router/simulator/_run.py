"""A simulation run: the fleet, connection pacing, the time limit, progress reporting."""

from __future__ import annotations

import ipaddress
import math
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import trio

from .._hooks import Hooks, compose_hooks
from .._tls import client_ssl_context
from .._transport import CloseCode
from .._versions import V16, V201
from ._station import Station, session_options, station_router
from ._stats import Stats

if TYPE_CHECKING:
    import ssl
    from collections.abc import Callable

    from ._config import SimulationConfig

__all__ = ["Simulation", "run_simulation"]

#: Connections per source address before ``source_addresses=0`` (auto) adds another one.
_PER_SOURCE_ADDRESS = 20_000


class Simulation:
    """Simulated charge points against one CSMS; see ``SimulationConfig``.

    ``stats = await Simulation(config).run()`` runs for ``config.duration`` seconds; or
    ``sim = await nursery.start(Simulation(config).run)`` to talk to the fleet while it runs
    (``sim.stations``, ``await sim.wait_booted()``, ``sim.stop()`` to end early).

    ``hooks`` are added to every simulated charge point's session (after the simulator's
    own frame and latency counting).
    """

    def __init__(self, config: SimulationConfig, *, hooks: Hooks | None = None) -> None:
        self.config = config
        self.stats = Stats(stations=config.count)
        self.stopping = False
        self.routers = {V16: station_router(V16), V201: station_router(V201)}
        self.session_options = session_options(config.call_timeout)
        own = Hooks(
            on_message=self.stats.on_message,
            on_call_done=self.stats.on_call_done,
            on_protocol_violation=self.stats.on_protocol_violation,
        )
        self.station_hooks = compose_hooks(own, hooks)
        self.stations: dict[str, Station] = {}
        for index in range(config.count):
            station = Station(self, index)
            self.stations[station.identity] = station
        self.connecting = trio.Semaphore(max(1, config.max_connecting))
        self._next_connect = -math.inf
        self._stop_event = trio.Event()
        self._booted = 0
        self._running = len(self.stations)
        self._all_done = trio.Event()
        self._booted_changed = trio.Event()
        self._ssl_contexts: dict[tuple[str | None, str | None], ssl.SSLContext] = {}
        self._source_addresses = self._choose_source_addresses()

    # -- for stations ---------------------------------------------------------------------

    async def connect_permit(self) -> bool:
        """Wait for this connection's slot at ``connect_rate``; False when the run ended."""
        now = trio.current_time()
        slot = max(now, self._next_connect + 1.0 / self.config.connect_rate)
        self._next_connect = slot
        if slot > now:
            with trio.move_on_at(slot):
                await self._stop_event.wait()
        return not self.stopping

    def ssl_context(self, identity: str) -> ssl.SSLContext | None:
        config = self.config
        if not config.url.startswith("wss://"):
            return None
        cert = config.cert.replace("{identity}", identity) if config.cert else None
        key = config.key.replace("{identity}", identity) if config.key else None
        context = self._ssl_contexts.get((cert, key))
        if context is None:
            context = self._ssl_contexts[(cert, key)] = client_ssl_context(config.ca, certfile=cert, keyfile=key)
        return context

    def _choose_source_addresses(self) -> list[str]:
        config = self.config
        host = urlsplit(config.url).hostname or ""
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return []
        if not (address.version == 4 and address.is_loopback):
            if config.source_addresses > 1:
                raise ValueError("source_addresses only works with a 127.x.x.x target")
            return []
        wanted = config.source_addresses or math.ceil(config.count / _PER_SOURCE_ADDRESS)
        if wanted <= 1:
            return []
        return [f"127.0.{n // 254}.{n % 254 + 1}" for n in range(wanted)]

    def local_address(self, index: int) -> str | None:
        addresses = self._source_addresses
        return addresses[index % len(addresses)] if addresses else None

    def station_booted(self, station: Station) -> None:
        if station.boots == 1:
            self._booted += 1
            self._booted_changed.set()
            self._booted_changed = trio.Event()

    # -- control --------------------------------------------------------------------------

    @property
    def booted(self) -> int:
        """Charge points whose first BootNotification was Accepted."""
        return self._booted

    async def wait_booted(self, count: int | None = None) -> None:
        """Until ``count`` (default: all) charge points have booted at least once."""
        wanted = self.config.count if count is None else count
        while self._booted < wanted:
            await self._booted_changed.wait()

    def stop(self) -> None:
        """End the run now: transactions are stopped, connections closed (``stop_grace``)."""
        if self.stopping:
            return
        self.stopping = True
        self._stop_event.set()
        for station in self.stations.values():
            station.wake_all()

    async def run(
        self,
        *,
        progress: Callable[[Stats], None] | None = None,
        progress_interval: float = 1.0,
        task_status: trio.TaskStatus[Simulation] = trio.TASK_STATUS_IGNORED,
    ) -> Stats:
        """Run until ``config.duration`` has passed (or ``stop()``); the final counters.

        ``progress(stats)`` is called every ``progress_interval`` seconds and once at the end.
        """
        config = self.config
        stats = self.stats
        stats.started_at = trio.current_time()
        deadline = stats.started_at + config.duration
        task_status.started(self)
        async with trio.open_nursery() as outer:
            if progress is not None:
                outer.start_soon(self._report, progress, progress_interval)
            outer.start_soon(self._stop_at, deadline)
            async with trio.open_nursery() as fleet:
                for station in self.stations.values():
                    fleet.start_soon(self._run_station, station)
                fleet.start_soon(self._abort_after_grace, fleet.cancel_scope)
            outer.cancel_scope.cancel()
        stats.finished_at = trio.current_time()
        if progress is not None:
            progress(stats)
        return stats

    async def _run_station(self, station: Station) -> None:
        try:
            await station.run()
        finally:
            self._running -= 1
            if self._running == 0:
                self._all_done.set()

    async def _abort_after_grace(self, fleet: trio.CancelScope) -> None:
        """Once the run is over, the charge points have ``grace_period`` seconds to wind down."""
        await self._stop_event.wait()
        grace = self.config.grace_period
        with trio.move_on_after(grace):
            await self._all_done.wait()
            return
        busy = self._running
        self.stats.aborting = True  # calls cut short from here on are not counted as errors
        self.stats.error("stop grace exceeded", f"{busy} charge points still busy after {grace:g} s")
        # Close the sessions first: cancelled, a connection would wait out its close handshake.
        with trio.move_on_after(2):
            async with trio.open_nursery() as closing:
                for station in self.stations.values():
                    if station.cp is not None:
                        closing.start_soon(station.cp.close, CloseCode.NORMAL, "simulation over")
        fleet.cancel()

    async def _stop_at(self, deadline: float) -> None:
        with trio.move_on_at(deadline):
            await self._stop_event.wait()
        self.stop()

    async def _report(self, progress: Callable[[Stats], None], interval: float) -> None:
        while True:
            await trio.sleep(interval)
            progress(self.stats)


async def run_simulation(
    config: SimulationConfig,
    *,
    hooks: Hooks | None = None,
    progress: Callable[[Stats], None] | None = None,
    progress_interval: float = 1.0,
) -> Stats:
    """``Simulation(config, hooks=hooks).run(...)``: run a fleet for ``config.duration`` seconds."""
    return await Simulation(config, hooks=hooks).run(progress=progress, progress_interval=progress_interval)
