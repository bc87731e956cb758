"""What a simulation run does: target, fleet, timings, credentials."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from .._versions import V16, V201

__all__ = ["SimulationConfig", "VersionChoice"]

VersionChoice = Literal["1.6", "2.0.1", "mixed"]


@dataclass(slots=True)
class SimulationConfig:
    """One simulated fleet against one CSMS.

    Every charge point connects to ``url + "/" + identity`` (identities
    ``<id_prefix>-00001`` ...), boots, reports each connector's status, sends a Heartbeat,
    then runs transactions (Authorize, start, meter values every ``meter_interval`` seconds,
    stop after ``transaction_duration``, ``idle_time`` pause) until ``duration`` seconds
    have passed since the start of the run; then running transactions are stopped and the
    connections closed (within ``stop_grace`` seconds).
    """

    url: str
    count: int = 1
    version: VersionChoice = "1.6"
    """``"mixed"``: odd-numbered charge points speak 1.6, even-numbered ones 2.0.1."""
    duration: float = 60.0
    id_prefix: str = "SIM"
    connectors: int = 1
    meter_interval: float = 10.0
    transaction_duration: float = 30.0
    idle_time: float = 10.0
    transactions: bool = True
    """Start transactions on their own; ``False``: only when the CSMS asks (remote start)."""
    heartbeat_interval: float | None = None
    """Seconds between Heartbeats; ``None`` takes the interval the CSMS sends at boot."""
    connect_rate: float = 200.0
    """New connections per second across the fleet (a token bucket, burst = 1 s worth)."""
    max_connecting: int = 100
    """Handshakes in flight at once."""
    connect_timeout: float = 10.0
    call_timeout: float = 30.0
    stop_grace: float | None = None
    """Seconds for stopping transactions and closing connections at the end; ``None``:
    10 s plus 1 s per 250 charge points (they all stop at once)."""
    reconnect: bool = True
    """Reconnect (with back-off, counted as an error) after a failed or lost connection."""
    password: str | None = None
    """HTTP Basic password (security profiles 1 and 2), the same for every charge point."""
    ca: str | None = None
    """CA bundle to verify a ``wss://`` CSMS with (default: the system's)."""
    cert: str | None = None
    """Client certificate (profile 3); ``{identity}`` in the path is replaced per charge point."""
    key: str | None = None
    source_addresses: int = 0
    """Spread connections over 127.0.0.1 ... 127.0.0.N (loopback targets only; 0 = auto:
    one address per 20,000 charge points)."""
    id_tag_prefix: str = "TAG"
    seed: int | None = None
    """Seeds the timing jitter for reproducible runs."""

    def __post_init__(self) -> None:
        if not self.url.startswith(("ws://", "wss://")):
            raise ValueError(f"the CSMS URL must start with ws:// or wss://, not {self.url!r}")
        if self.count < 1:
            raise ValueError("count must be at least 1")
        if self.version not in (V16, V201, "mixed"):
            raise ValueError(f"version must be 1.6, 2.0.1 or mixed, not {self.version!r}")
        if self.duration <= 0 or self.meter_interval <= 0 or self.connect_rate <= 0:
            raise ValueError("duration, meter_interval and connect_rate must be positive")
        if self.connectors < 1:
            raise ValueError("a charge point needs at least one connector")
        if (self.cert is None) != (self.key is None):
            raise ValueError("give both cert and key, or neither")

    @property
    def grace_period(self) -> float:
        """``stop_grace``, or its default for the fleet's size."""
        return self.stop_grace if self.stop_grace is not None else 10.0 + self.count / 250

    def version_of(self, index: int) -> str:
        """The OCPP version of the ``index``-th charge point (0-based)."""
        if self.version == "mixed":
            return V16 if index % 2 == 0 else V201
        return self.version

    def identity_of(self, index: int) -> str:
        width = max(5, len(str(self.count)))
        return f"{self.id_prefix}-{index + 1:0{width}d}"
