"""One simulated charge point: the scenario it runs and its answers to the CSMS's calls.

The version-specific parts (payload shapes, which actions exist) live in ``_V16`` and
``_V201``; ``Station`` holds the state and the scenario shared by both.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import trio

from .._client import ConnectError, connect
from .._router import Router
from .._session import ChargePoint, SessionOptions
from .._time import utc_now
from .._versions import V16
from ..errors import CallError, CallTimeoutError, ConnectionClosedError, LocalProtocolError, RemoteProtocolError

if TYPE_CHECKING:
    from ._run import Simulation

__all__ = ["Station", "station_router"]

log = logging.getLogger("ocpp_router.simulator")

Payload = dict[str, Any]

#: Internal stop reason → (1.6 reason, 2.0.1 triggerReason, 2.0.1 stoppedReason).
_STOP_REASONS = {
    "local": ("Local", "StopAuthorized", "Local"),
    "remote": ("Remote", "RemoteStop", "Remote"),
    "hard_reset": ("HardReset", "ResetCommand", "ImmediateReset"),
    "soft_reset": ("SoftReset", "ResetCommand", "ImmediateReset"),
    "unlock": ("UnlockCommand", "UnlockCommand", "Other"),
    "deauthorized": ("DeAuthorized", "Deauthorized", "DeAuthorized"),
}
_POWER_W = 7400.0  # a 32 A single-phase charge


@dataclass(slots=True)
class Transaction:
    id: Any
    """1.6: the CSMS's integer id; 2.0.1: ours (a string)."""
    id_tag: str
    started_at: float
    remote_start_id: int | None = None
    token_type: str = "ISO14443"
    """2.0.1 IdToken type."""
    seq_no: int = 0
    stop_reason: str | None = None


@dataclass(frozen=True, slots=True)
class RemoteStart:
    id_tag: str
    remote_start_id: int | None = None
    token_type: str = "ISO14443"


@dataclass(slots=True)
class Connector:
    number: int
    available: bool = True
    meter_wh: int = 0
    transaction: Transaction | None = None
    busy: bool = False
    """A transaction is being started or stopped (remote requests are refused meanwhile)."""
    remote_start: RemoteStart | None = None
    """What the CSMS asked us to start a transaction with."""
    poke: trio.Event = field(default_factory=trio.Event)

    def wake(self) -> None:
        self.poke.set()


class Station:
    """A simulated charge point with ``connectors`` connectors (2.0.1: one EVSE each)."""

    def __init__(self, sim: Simulation, index: int) -> None:
        config = sim.config
        self.sim = sim
        self.index = index
        self.identity = config.identity_of(index)
        self.version = config.version_of(index)
        self.id_tag = f"{config.id_tag_prefix}{index + 1:05d}"[:20]
        self.connectors = [Connector(n) for n in range(1, config.connectors + 1)]
        self.random = random.Random(None if config.seed is None else config.seed * 1_000_003 + index)
        self.cp: ChargePoint | None = None
        self.booted = False
        self.boots = 0
        self.heartbeat_interval = config.heartbeat_interval
        self.meter_interval = config.meter_interval
        self.variables: dict[tuple[str, str], str] = {}
        """1.6 configuration keys (component ``""``) or 2.0.1 (component, variable) values."""
        self.transactions: list[Transaction] = []
        """Every transaction started, in order (for tests and curious users)."""
        self._wake_heartbeat = trio.Event()
        self._tx_counter = 0
        self.ever_connected = False
        self._holding_slot = False
        self._connect_scope: trio.CancelScope | None = None
        self._v = _V16(self) if self.version == V16 else _V201(self)
        self._v.default_variables()

    def __repr__(self) -> str:
        return f"<Station {self.identity} OCPP {self.version}>"

    # -- helpers --------------------------------------------------------------------------

    @property
    def stopping(self) -> bool:
        return self.sim.stopping

    def jitter(self, seconds: float) -> float:
        """``seconds`` ±20 %, so a fleet does not move in lockstep."""
        return seconds * self.random.uniform(0.8, 1.2)

    def connector(self, number: int | None) -> Connector | None:
        if number is None or not 1 <= number <= len(self.connectors):
            return None
        return self.connectors[number - 1]

    def free_connector(self, number: int | None) -> Connector | None:
        """The requested connector (or the first one) if it can start a transaction now."""
        candidates = [self.connector(number)] if number else self.connectors
        for c in candidates:
            if c is not None and c.available and c.transaction is None and not c.busy and c.remote_start is None:
                return c
        return None

    def wake_all(self) -> None:
        """Interrupt every wait (the run is ending, or the CSMS asked for something)."""
        for c in self.connectors:
            c.wake()
        self._wake_heartbeat.set()
        if self.stopping and self._connect_scope is not None:
            self._connect_scope.cancel()  # a handshake still in progress is abandoned

    async def pause(self, seconds: float, connector: Connector | None = None) -> None:
        """Sleep ``seconds``, or less when poked (connector) or when the run ends."""
        if self.stopping:
            return
        event = connector.poke if connector is not None else self._wake_heartbeat
        with trio.move_on_after(max(0.0, seconds)):
            await event.wait()
        if event.is_set():
            if connector is not None:
                connector.poke = trio.Event()
            else:
                self._wake_heartbeat = trio.Event()

    async def call(self, action: str, payload: Payload) -> Payload | None:
        """Our call to the CSMS; ``None`` when it failed (the failure is already counted)."""
        cp = self.cp
        if cp is None or cp.closed:
            return None
        try:
            reply: Payload = await cp.call(action, payload)
        except (CallError, CallTimeoutError, RemoteProtocolError, ConnectionClosedError):
            return None  # counted by the on_call_done hook
        except LocalProtocolError as exc:  # our own payload broke the schema: a simulator bug
            self.sim.stats.error(f"{action}: invalid request", f"{self.identity}: {exc}")
            return None
        return reply

    # -- the life of a charge point -------------------------------------------------------

    async def run(self) -> None:
        """Connect (reconnecting after failures) until the run ends."""
        sim = self.sim
        config = sim.config
        backoff = 1.0
        while not self.stopping:
            if not await sim.connect_permit():
                return
            lost = await self._connection()
            if self.stopping or not config.reconnect:
                return
            if lost is None:  # never connected
                await self.pause(self.jitter(backoff))
                backoff = min(backoff * 2, 30.0)
            else:
                backoff = 1.0
                await self.pause(self.jitter(1.0))

    async def _connection(self) -> bool | None:
        """One connection: ``None`` if it did not open, else whether it was lost."""
        stats = self.sim.stats
        await self.sim.connecting.acquire()  # handshakes in flight at once
        self._holding_slot = True
        try:
            if self.stopping:
                return None
            # Until the session is up, the end of the run abandons the attempt (wake_all).
            scope = self._connect_scope = trio.CancelScope()
            with scope:
                return await self._connect_and_run()
        except ConnectError as exc:
            stats.connect_failures += 1
            stats.error("connect failed", f"{self.identity}: {exc}")
        except Exception as exc:  # one station's failure never ends the whole run
            log.debug("%s failed", self.identity, exc_info=True)
            stats.error("unexpected failure", f"{self.identity}: {exc!r}")
            return True
        finally:
            self._connect_scope = None
            self._release_slot()
        return None  # failed, or the run ended while connecting

    def _release_slot(self) -> None:
        if self._holding_slot:
            self._holding_slot = False
            self.sim.connecting.release()

    async def _connect_and_run(self) -> bool:
        sim = self.sim
        stats = sim.stats
        config = sim.config
        async with connect(
            config.url,
            self.identity,
            sim.routers[self.version],
            versions=[self.version],
            password=config.password,
            ssl_context=sim.ssl_context(self.identity),
            options=sim.session_options,
            hooks=sim.station_hooks,
            connect_timeout=config.connect_timeout,
            local_address=sim.local_address(self.index),
        ) as cp:
            self._connect_scope = None  # from here on the run's end is a graceful stop
            self._release_slot()
            cp.state["station"] = self
            self.cp = cp
            stats.connects += 1
            stats.connected += 1
            if not self.ever_connected:
                self.ever_connected = True
                stats.ever_connected += 1
            try:
                return await self._session(cp)
            finally:
                stats.connected -= 1
                self.cp = None
                self.booted = False

    async def _session(self, cp: ChargePoint) -> bool:
        lost = False
        async with trio.open_nursery() as nursery:

            async def watch() -> None:
                nonlocal lost
                await cp.wait_closed()
                lost = True
                nursery.cancel_scope.cancel()

            nursery.start_soon(watch)
            await self._scenario()
            nursery.cancel_scope.cancel()
        if lost and not self.sim.stats.aborting:  # not when we closed it ourselves at the very end
            stats = self.sim.stats
            stats.connections_lost += 1
            stats.error("connection lost", f"{self.identity}: close code {cp.close_code} {cp.close_reason}".rstrip())
        return lost

    async def _scenario(self) -> None:
        if not await self.boot():
            return
        for c in self.connectors:
            await self._v.status(c)
        await self.call("Heartbeat", {})
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._heartbeats)
            for c in self.connectors:
                nursery.start_soon(self._connector_loop, c)

    async def boot(self) -> bool:
        """BootNotification until Accepted (Pending and Rejected wait the given interval)."""
        stats = self.sim.stats
        while not self.stopping:
            reply = await self.call("BootNotification", self._v.boot_payload())
            if reply is None:
                if self.cp is None or self.cp.closed:
                    return False
                await self.pause(self.jitter(5.0))
                continue
            status = reply.get("status")
            interval = float(reply.get("interval") or 0)
            if status == "Accepted":
                self.booted = True
                self.boots += 1
                if self.sim.config.heartbeat_interval is None and interval > 0:
                    self.heartbeat_interval = interval
                self.sim.station_booted(self)
                return True
            stats.rejections[f"BootNotification {status}"] += 1
            await self.pause(max(1.0, interval or 10.0))
        return False

    async def _heartbeats(self) -> None:
        while not self.stopping:
            interval = self.heartbeat_interval
            await self.pause(interval if interval and interval > 0 else 3600.0)
            if self.stopping:
                return
            if self.heartbeat_interval and self.heartbeat_interval > 0:
                await self.call("Heartbeat", {})

    async def _connector_loop(self, c: Connector) -> None:
        config = self.sim.config
        # Stagger the first transaction over the first idle period (at most a few seconds).
        await self.pause(self.random.uniform(0, min(config.idle_time, 2.0)), c)
        while not self.stopping:
            if c.transaction is None:
                remote = c.remote_start
                if remote is not None:
                    await self.start_transaction(c, remote)
                    c.remote_start = None
                elif c.available and config.transactions:
                    await self.start_transaction(c, None)
                else:  # until the CSMS asks for something (or the run ends)
                    await self.pause(3600.0, c)
                    continue
            tx = c.transaction
            if tx is None:  # not authorised or failed: wait before the next attempt
                await self.pause(self.jitter(config.idle_time), c)
                continue
            end = tx.started_at + self.jitter(config.transaction_duration)
            next_sample = trio.current_time() + self.meter_interval
            while not self.stopping and tx.stop_reason is None:
                now = trio.current_time()
                if now >= end:
                    break
                if now >= next_sample:
                    self._advance_meter(c)
                    await self._v.meter_values(c, tx)
                    self.sim.stats.meter_values += 1
                    next_sample = now + self.meter_interval
                    continue
                await self.pause(min(end, next_sample) - now, c)
            if self.stopping and tx.stop_reason is None:
                # The whole fleet stops at once: spread the StopTransactions a little.
                await trio.sleep(self.random.uniform(0, min(5.0, config.count / 1000)))
            await self.stop_transaction(c, tx.stop_reason or "local")
            if not self.stopping:
                await self.pause(self.jitter(config.idle_time), c)
        if c.transaction is not None:
            await self.stop_transaction(c, c.transaction.stop_reason or "local")

    def _advance_meter(self, c: Connector) -> None:
        if c.transaction is not None:
            c.meter_wh += int(_POWER_W * self.meter_interval / 3600)

    async def start_transaction(self, c: Connector, remote: RemoteStart | None) -> None:
        """Start a transaction: a local one (Authorize first) or the one the CSMS asked for
        (remote starts are not authorised again: AuthorizeRemoteTxRequests is false)."""
        c.busy = True
        try:
            if remote is None:
                reply = await self.call("Authorize", self._v.authorize_payload(self.id_tag))
                if reply is None:
                    return
                if self._v.token_status(reply) != "Accepted":
                    self.sim.stats.rejections["Authorize"] += 1
                    return
                remote_start = RemoteStart(self.id_tag)
            else:
                remote_start = remote
            tx = await self._v.start(c, remote_start)
            if tx is None:
                return
            self.transactions.append(tx)
            self.sim.stats.transactions_started += 1
        finally:
            c.busy = False

    async def stop_transaction(self, c: Connector, reason: str) -> None:
        tx = c.transaction
        if tx is None:
            return
        c.busy = True
        try:
            self._advance_meter(c)
            await self._v.stop(c, tx, reason)
            c.transaction = None
            self.sim.stats.transactions_stopped += 1
            await self._v.status(c)
        finally:
            c.busy = False

    def next_transaction_number(self) -> int:
        self._tx_counter += 1
        return self._tx_counter

    async def stop_all(self, reason: str) -> None:
        """Ask every running transaction to stop and wait (bounded) until they have."""
        for c in self.connectors:
            if c.transaction is not None:
                c.transaction.stop_reason = reason
                c.wake()
        with trio.move_on_after(self.sim.config.call_timeout):
            while any(c.transaction is not None for c in self.connectors):  # noqa: ASYNC110 - short, bounded
                await trio.sleep(0.05)

    async def reboot(self, reason: str) -> None:
        """After a Reset: stop transactions, boot again, report the connectors."""
        await self.stop_all(reason)
        if self.stopping:
            return
        self._v.rebooting = True
        try:
            if await self.boot():
                for c in self.connectors:
                    await self._v.status(c)
        finally:
            self._v.rebooting = False

    def set_availability(self, connectors: list[Connector], operative: bool) -> str:
        busy = [c for c in connectors if c.transaction is not None]
        for c in connectors:
            c.available = operative
            c.wake()
        return "Scheduled" if busy and not operative else "Accepted"


# -- version-specific parts --------------------------------------------------------------------


class _Version:
    def __init__(self, station: Station) -> None:
        self.s = station
        self.rebooting = False

    def default_variables(self) -> None:
        raise NotImplementedError

    def boot_payload(self) -> Payload:
        raise NotImplementedError

    def authorize_payload(self, id_tag: str) -> Payload:
        raise NotImplementedError

    def token_status(self, reply: Payload) -> str | None:
        raise NotImplementedError

    async def status(self, c: Connector) -> None:
        raise NotImplementedError

    async def start(self, c: Connector, start: RemoteStart) -> Transaction | None:
        raise NotImplementedError

    async def meter_values(self, c: Connector, tx: Transaction) -> None:
        raise NotImplementedError

    async def stop(self, c: Connector, tx: Transaction, reason: str) -> None:
        raise NotImplementedError


def _firmware() -> str:
    global _FIRMWARE
    if _FIRMWARE is None:
        from .. import __version__

        _FIRMWARE = f"ocpp-router-sim {__version__}"[:50]
    return _FIRMWARE


_FIRMWARE: str | None = None


class _V16(_Version):
    def default_variables(self) -> None:
        s = self.s
        values = {
            "HeartbeatInterval": f"{s.heartbeat_interval or 300:g}",
            "MeterValueSampleInterval": f"{s.meter_interval:g}",
            "NumberOfConnectors": str(len(s.connectors)),
            "AuthorizeRemoteTxRequests": "false",
            "ConnectionTimeOut": "60",
            "LocalAuthorizeOffline": "true",
            "MeterValuesSampledData": "Energy.Active.Import.Register,Power.Active.Import",
        }
        s.variables = {("", k): v for k, v in values.items()}

    def boot_payload(self) -> Payload:
        s = self.s
        return {
            "chargePointVendor": "ocpp-router",
            "chargePointModel": "Simulator",
            "chargePointSerialNumber": s.identity[:25],
            "firmwareVersion": _firmware(),
        }

    def authorize_payload(self, id_tag: str) -> Payload:
        return {"idTag": id_tag}

    def token_status(self, reply: Payload) -> str | None:
        info = reply.get("idTagInfo") or {}
        return info.get("status") if isinstance(info, dict) else None

    async def status(self, c: Connector) -> None:
        idle = "Available" if c.available else "Unavailable"
        state = "Charging" if c.transaction is not None else idle
        await self.s.call(
            "StatusNotification",
            {"connectorId": c.number, "errorCode": "NoError", "status": state, "timestamp": utc_now()},
        )

    def _samples(self, c: Connector, context: str) -> list[Payload]:
        return [
            {
                "timestamp": utc_now(),
                "sampledValue": [
                    {
                        "value": str(c.meter_wh),
                        "context": context,
                        "measurand": "Energy.Active.Import.Register",
                        "unit": "Wh",
                    },
                    {
                        "value": f"{_POWER_W if c.transaction is not None else 0:.0f}",
                        "context": context,
                        "measurand": "Power.Active.Import",
                        "unit": "W",
                    },
                ],
            }
        ]

    async def start(self, c: Connector, start: RemoteStart) -> Transaction | None:
        s = self.s
        reply = await s.call(
            "StartTransaction",
            {"connectorId": c.number, "idTag": start.id_tag, "meterStart": c.meter_wh, "timestamp": utc_now()},
        )
        if reply is None:
            return None
        tx = Transaction(reply.get("transactionId"), start.id_tag, trio.current_time())
        c.transaction = tx
        if self.token_status(reply) != "Accepted":
            s.sim.stats.rejections["StartTransaction"] += 1
            tx.stop_reason = "deauthorized"
            return tx
        await self.status(c)
        return tx

    async def meter_values(self, c: Connector, tx: Transaction) -> None:
        payload: Payload = {"connectorId": c.number, "meterValue": self._samples(c, "Sample.Periodic")}
        if tx.id is not None:
            payload["transactionId"] = tx.id
        await self.s.call("MeterValues", payload)

    async def stop(self, c: Connector, tx: Transaction, reason: str) -> None:
        payload: Payload = {
            "transactionId": tx.id,
            "meterStop": c.meter_wh,
            "timestamp": utc_now(),
            "idTag": tx.id_tag,
            "reason": _STOP_REASONS[reason][0],
        }
        await self.s.call("StopTransaction", payload)


class _V201(_Version):
    def default_variables(self) -> None:
        s = self.s
        s.variables = {
            ("OCPPCommCtrlr", "HeartbeatInterval"): f"{s.heartbeat_interval or 300:g}",
            ("SampledDataCtrlr", "TxUpdatedInterval"): f"{s.meter_interval:g}",
            ("AuthCtrlr", "AuthorizeRemoteStart"): "false",
            ("TxCtrlr", "EVConnectionTimeOut"): "60",
            ("ChargingStation", "Model"): "Simulator",
            ("ChargingStation", "VendorName"): "ocpp-router",
        }

    def boot_payload(self) -> Payload:
        s = self.s
        return {
            "chargingStation": {
                "model": "Simulator",
                "vendorName": "ocpp-router",
                "serialNumber": s.identity[:25],
                "firmwareVersion": _firmware(),
            },
            "reason": "RemoteReset" if self.rebooting else ("Triggered" if s.booted else "PowerUp"),
        }

    def authorize_payload(self, id_tag: str) -> Payload:
        return {"idToken": {"idToken": id_tag, "type": "ISO14443"}}

    def token_status(self, reply: Payload) -> str | None:
        info = reply.get("idTokenInfo") or {}
        return info.get("status") if isinstance(info, dict) else None

    async def status(self, c: Connector) -> None:
        idle = "Available" if c.available else "Unavailable"
        state = "Occupied" if c.transaction is not None else idle
        await self.s.call(
            "StatusNotification",
            {"timestamp": utc_now(), "connectorStatus": state, "evseId": c.number, "connectorId": 1},
        )

    def _samples(self, c: Connector, context: str) -> list[Payload]:
        return [
            {
                "timestamp": utc_now(),
                "sampledValue": [
                    {
                        "value": c.meter_wh,
                        "context": context,
                        "measurand": "Energy.Active.Import.Register",
                        "unitOfMeasure": {"unit": "Wh"},
                    },
                    {
                        "value": _POWER_W if c.transaction is not None else 0,
                        "context": context,
                        "measurand": "Power.Active.Import",
                        "unitOfMeasure": {"unit": "W"},
                    },
                ],
            }
        ]

    def _event(self, tx: Transaction, event_type: str, trigger: str, info: Payload) -> Payload:
        payload: Payload = {
            "eventType": event_type,
            "timestamp": utc_now(),
            "triggerReason": trigger,
            "seqNo": tx.seq_no,
            "transactionInfo": {"transactionId": tx.id, **info},
        }
        tx.seq_no += 1
        return payload

    async def start(self, c: Connector, start: RemoteStart) -> Transaction | None:
        s = self.s
        number = s.next_transaction_number()
        tx_id = f"{s.random.getrandbits(64):016x}-{number}"
        tx = Transaction(tx_id, start.id_tag, trio.current_time(), start.remote_start_id, start.token_type)
        c.transaction = tx
        await self.status(c)
        info: Payload = {"chargingState": "Charging"}
        remote = start.remote_start_id is not None
        if remote:
            info["remoteStartId"] = start.remote_start_id
        payload = self._event(tx, "Started", "RemoteStart" if remote else "Authorized", info)
        payload["idToken"] = {"idToken": start.id_tag, "type": start.token_type}
        payload["evse"] = {"id": c.number, "connectorId": 1}
        payload["meterValue"] = self._samples(c, "Transaction.Begin")
        reply = await s.call("TransactionEvent", payload)
        if reply is None:
            # The station's view: the transaction runs (it would be queued offline).
            return tx
        status = self.token_status(reply)
        if status is not None and status != "Accepted":
            s.sim.stats.rejections["TransactionEvent Started"] += 1
            tx.stop_reason = "deauthorized"
        return tx

    async def meter_values(self, c: Connector, tx: Transaction) -> None:
        payload = self._event(tx, "Updated", "MeterValuePeriodic", {"chargingState": "Charging"})
        payload["meterValue"] = self._samples(c, "Sample.Periodic")
        await self.s.call("TransactionEvent", payload)

    async def stop(self, c: Connector, tx: Transaction, reason: str) -> None:
        _, trigger, stopped = _STOP_REASONS[reason]
        payload = self._event(tx, "Ended", trigger, {"chargingState": "Idle", "stoppedReason": stopped})
        payload["meterValue"] = self._samples(c, "Transaction.End")
        await self.s.call("TransactionEvent", payload)

    async def triggered_meter_values(self, c: Connector) -> None:
        await self.s.call("MeterValues", {"evseId": c.number, "meterValue": self._samples(c, "Trigger")})


# -- answers to the CSMS's calls ---------------------------------------------------------------


def _station(cp: ChargePoint) -> Station:
    station: Station = cp.state["station"]
    return station


def _answered(cp: ChargePoint, action: str) -> Station:
    station = _station(cp)
    station.sim.stats.answered[action] += 1
    return station


def station_router(version: str) -> Router:
    """The handlers every simulated charge point of ``version`` answers the CSMS with."""
    return _router_16() if version == V16 else _router_201()


def _common(router: Router) -> None:
    @router.on("ClearCache", typed=False)
    async def clear_cache(cp: ChargePoint, payload: Payload) -> Payload:
        _answered(cp, "ClearCache")
        return {"status": "Accepted"}

    @router.on("DataTransfer", typed=False)
    async def data_transfer(cp: ChargePoint, payload: Payload) -> Payload:
        _answered(cp, "DataTransfer")
        return {"status": "Accepted"}


def _router_16() -> Router:
    router = Router()
    _common(router)

    @router.on("RemoteStartTransaction", typed=False)
    async def remote_start(cp: ChargePoint, payload: Payload) -> Payload:
        s = _answered(cp, "RemoteStartTransaction")
        c = s.free_connector(payload.get("connectorId"))
        if c is None or s.stopping:
            return {"status": "Rejected"}
        c.remote_start = RemoteStart(payload["idTag"])
        c.wake()
        return {"status": "Accepted"}

    @router.on("RemoteStopTransaction", typed=False)
    async def remote_stop(cp: ChargePoint, payload: Payload) -> Payload:
        s = _answered(cp, "RemoteStopTransaction")
        for c in s.connectors:
            tx = c.transaction
            if tx is not None and tx.id == payload.get("transactionId") and tx.stop_reason is None:
                tx.stop_reason = "remote"
                c.wake()
                return {"status": "Accepted"}
        return {"status": "Rejected"}

    @router.on("Reset", typed=False)
    async def reset(cp: ChargePoint, payload: Payload) -> Payload:
        _answered(cp, "Reset")
        return {"status": "Accepted"}

    @router.after("Reset")
    async def after_reset(cp: ChargePoint, request: Payload, response: Payload) -> None:
        await _station(cp).reboot("hard_reset" if request.get("type") == "Hard" else "soft_reset")

    @router.on("ChangeConfiguration", typed=False)
    async def change_configuration(cp: ChargePoint, payload: Payload) -> Payload:
        s = _answered(cp, "ChangeConfiguration")
        key, value = payload["key"], payload["value"]
        if key == "NumberOfConnectors":
            return {"status": "Rejected"}  # read-only
        s.variables[("", key)] = value
        _apply_interval(s, key, value)
        return {"status": "Accepted"}

    @router.on("GetConfiguration", typed=False)
    async def get_configuration(cp: ChargePoint, payload: Payload) -> Payload:
        s = _answered(cp, "GetConfiguration")
        wanted = payload.get("key") or [k for _, k in s.variables]
        known = [k for k in wanted if ("", k) in s.variables]
        reply: Payload = {
            "configurationKey": [
                {"key": k, "readonly": k == "NumberOfConnectors", "value": s.variables[("", k)]} for k in known
            ]
        }
        unknown = [k for k in wanted if ("", k) not in s.variables]
        if unknown:
            reply["unknownKey"] = unknown
        return reply

    @router.on("TriggerMessage", typed=False)
    async def trigger(cp: ChargePoint, payload: Payload) -> Payload:
        s = _answered(cp, "TriggerMessage")
        connector_id = payload.get("connectorId")
        if connector_id is not None and connector_id != 0 and s.connector(connector_id) is None:
            return {"status": "Rejected"}
        supported = {
            "BootNotification",
            "DiagnosticsStatusNotification",
            "FirmwareStatusNotification",
            "Heartbeat",
            "MeterValues",
            "StatusNotification",
        }
        return {"status": "Accepted" if payload["requestedMessage"] in supported else "NotImplemented"}

    @router.after("TriggerMessage")
    async def after_trigger(cp: ChargePoint, request: Payload, response: Payload) -> None:
        if response.get("status") != "Accepted":
            return
        s = _station(cp)
        connector_id = request.get("connectorId")
        targets = [c for c in s.connectors if not connector_id or c.number == connector_id]
        message = request["requestedMessage"]
        if message == "BootNotification":
            await s.call("BootNotification", s._v.boot_payload())
        elif message == "Heartbeat":
            await s.call("Heartbeat", {})
        elif message == "DiagnosticsStatusNotification":
            await s.call("DiagnosticsStatusNotification", {"status": "Idle"})
        elif message == "FirmwareStatusNotification":
            await s.call("FirmwareStatusNotification", {"status": "Idle"})
        elif message == "StatusNotification":
            for c in targets:
                await s._v.status(c)
        elif message == "MeterValues":
            v16 = s._v
            assert isinstance(v16, _V16)
            for c in targets:
                payload: Payload = {"connectorId": c.number, "meterValue": v16._samples(c, "Trigger")}
                if c.transaction is not None and c.transaction.id is not None:
                    payload["transactionId"] = c.transaction.id
                await s.call("MeterValues", payload)

    @router.on("ChangeAvailability", typed=False)
    async def change_availability(cp: ChargePoint, payload: Payload) -> Payload:
        s = _answered(cp, "ChangeAvailability")
        number = payload["connectorId"]
        targets = s.connectors if number == 0 else [c for c in s.connectors if c.number == number]
        if not targets:
            return {"status": "Rejected"}
        return {"status": s.set_availability(targets, payload["type"] == "Operative")}

    @router.after("ChangeAvailability")
    async def after_availability(cp: ChargePoint, request: Payload, response: Payload) -> None:
        if response.get("status") == "Accepted":
            s = _station(cp)
            for c in s.connectors:
                if request["connectorId"] in (0, c.number):
                    await s._v.status(c)

    @router.on("UnlockConnector", typed=False)
    async def unlock(cp: ChargePoint, payload: Payload) -> Payload:
        s = _answered(cp, "UnlockConnector")
        c = s.connector(payload["connectorId"])
        if c is None:
            return {"status": "NotSupported"}
        if c.transaction is not None and c.transaction.stop_reason is None:
            c.transaction.stop_reason = "unlock"
            c.wake()
        return {"status": "Unlocked"}

    return router


def _apply_interval(s: Station, name: str, value: str) -> None:
    try:
        seconds = float(value)
    except ValueError:
        return
    if name == "HeartbeatInterval":
        s.heartbeat_interval = seconds
        s._wake_heartbeat.set()
    elif name in ("MeterValueSampleInterval", "TxUpdatedInterval") and seconds > 0:
        s.meter_interval = seconds


def _router_201() -> Router:
    router = Router()
    _common(router)

    @router.on("RequestStartTransaction", typed=False)
    async def request_start(cp: ChargePoint, payload: Payload) -> Payload:
        s = _answered(cp, "RequestStartTransaction")
        c = s.free_connector(payload.get("evseId"))
        if c is None or s.stopping:
            return {"status": "Rejected"}
        token = payload["idToken"]
        c.remote_start = RemoteStart(token["idToken"], payload["remoteStartId"], token["type"])
        c.wake()
        return {"status": "Accepted"}

    @router.on("RequestStopTransaction", typed=False)
    async def request_stop(cp: ChargePoint, payload: Payload) -> Payload:
        s = _answered(cp, "RequestStopTransaction")
        for c in s.connectors:
            tx = c.transaction
            if tx is not None and tx.id == payload["transactionId"] and tx.stop_reason is None:
                tx.stop_reason = "remote"
                c.wake()
                return {"status": "Accepted"}
        return {"status": "Rejected"}

    @router.on("Reset", typed=False)
    async def reset(cp: ChargePoint, payload: Payload) -> Payload:
        s = _answered(cp, "Reset")
        if payload.get("type") == "OnIdle" and any(c.transaction is not None for c in s.connectors):
            return {"status": "Scheduled"}
        return {"status": "Accepted"}

    @router.after("Reset")
    async def after_reset(cp: ChargePoint, request: Payload, response: Payload) -> None:
        if response.get("status") == "Accepted":
            await _station(cp).reboot("hard_reset")

    @router.on("SetVariables", typed=False)
    async def set_variables(cp: ChargePoint, payload: Payload) -> Payload:
        s = _answered(cp, "SetVariables")
        results = []
        for item in payload["setVariableData"]:
            component, variable = item["component"], item["variable"]
            key = (component["name"], variable["name"])
            s.variables[key] = item["attributeValue"]
            _apply_interval(s, variable["name"], item["attributeValue"])
            result: Payload = {"attributeStatus": "Accepted", "component": component, "variable": variable}
            if "attributeType" in item:
                result["attributeType"] = item["attributeType"]
            results.append(result)
        return {"setVariableResult": results}

    @router.on("GetVariables", typed=False)
    async def get_variables(cp: ChargePoint, payload: Payload) -> Payload:
        s = _answered(cp, "GetVariables")
        components = {name for name, _ in s.variables}
        results = []
        for item in payload["getVariableData"]:
            component, variable = item["component"], item["variable"]
            key = (component["name"], variable["name"])
            result: Payload = {"component": component, "variable": variable}
            if key in s.variables:
                result["attributeStatus"] = "Accepted"
                result["attributeValue"] = s.variables[key]
            else:
                result["attributeStatus"] = "UnknownVariable" if key[0] in components else "UnknownComponent"
            if "attributeType" in item:
                result["attributeType"] = item["attributeType"]
            results.append(result)
        return {"getVariableResult": results}

    @router.on("TriggerMessage", typed=False)
    async def trigger(cp: ChargePoint, payload: Payload) -> Payload:
        s = _answered(cp, "TriggerMessage")
        evse = payload.get("evse")
        if evse is not None and s.connector(evse.get("id")) is None:
            return {"status": "Rejected"}
        message = payload["requestedMessage"]
        supported = {
            "BootNotification",
            "FirmwareStatusNotification",
            "Heartbeat",
            "LogStatusNotification",
            "MeterValues",
            "StatusNotification",
            "TransactionEvent",
        }
        if message not in supported:
            return {"status": "NotImplemented"}
        if message == "BootNotification" and s.booted:
            return {"status": "Rejected"}  # F06.FR.17: not once the boot was Accepted
        return {"status": "Accepted"}

    @router.after("TriggerMessage")
    async def after_trigger(cp: ChargePoint, request: Payload, response: Payload) -> None:
        if response.get("status") != "Accepted":
            return
        s = _station(cp)
        v = s._v
        assert isinstance(v, _V201)
        evse = request.get("evse")
        targets = [c for c in s.connectors if evse is None or c.number == evse.get("id")]
        message = request["requestedMessage"]
        if message == "BootNotification":
            await s.call("BootNotification", {**v.boot_payload(), "reason": "Triggered"})
        elif message == "Heartbeat":
            await s.call("Heartbeat", {})
        elif message == "LogStatusNotification":
            await s.call("LogStatusNotification", {"status": "Idle"})
        elif message == "FirmwareStatusNotification":
            await s.call("FirmwareStatusNotification", {"status": "Idle"})
        elif message == "StatusNotification":
            for c in targets:
                await v.status(c)
        elif message == "MeterValues":
            for c in targets:
                await v.triggered_meter_values(c)
        elif message == "TransactionEvent":
            for c in targets:
                tx = c.transaction
                if tx is not None:
                    payload = v._event(tx, "Updated", "Trigger", {"chargingState": "Charging"})
                    payload["meterValue"] = v._samples(c, "Trigger")
                    await s.call("TransactionEvent", payload)

    @router.on("ChangeAvailability", typed=False)
    async def change_availability(cp: ChargePoint, payload: Payload) -> Payload:
        s = _answered(cp, "ChangeAvailability")
        evse = payload.get("evse")
        targets = s.connectors if evse is None or evse.get("id") == 0 else [s.connector(evse.get("id"))]
        chosen = [c for c in targets if c is not None]
        if not chosen:
            return {"status": "Rejected"}
        return {"status": s.set_availability(chosen, payload["operationalStatus"] == "Operative")}

    @router.after("ChangeAvailability")
    async def after_availability(cp: ChargePoint, request: Payload, response: Payload) -> None:
        if response.get("status") == "Accepted":
            s = _station(cp)
            evse = request.get("evse")
            for c in s.connectors:
                if evse is None or evse.get("id") in (0, c.number):
                    await s._v.status(c)

    @router.on("UnlockConnector", typed=False)
    async def unlock(cp: ChargePoint, payload: Payload) -> Payload:
        s = _answered(cp, "UnlockConnector")
        c = s.connector(payload["evseId"])
        if c is None:
            return {"status": "UnknownConnector"}
        if c.transaction is not None:
            return {"status": "OngoingAuthorizedTransaction"}
        return {"status": "Unlocked"}

    return router


#: Session options of simulated charge points: strict, except for the 1.6-style naive
#: timestamps many CSMSs send (a format difference, not an error worth failing a run on).
def session_options(call_timeout: float) -> SessionOptions:
    return SessionOptions(call_timeout=call_timeout, date_time="lenient", max_messages_per_second=0)
