"""Counters of a simulation run, latency quantiles, the progress line and the summary table."""

from __future__ import annotations

import math
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import trio

if TYPE_CHECKING:
    from .._session import ChargePoint

__all__ = ["LatencyHistogram", "Stats"]


class LatencyHistogram:
    """Latencies in logarithmic buckets (±2.5 %): constant memory for any number of samples."""

    __slots__ = ("_buckets", "count", "max", "total")

    _BASE = 1.05
    _FLOOR = 1e-5  # 10 µs: everything faster lands in bucket 0
    _LOG_BASE = math.log(_BASE)

    def __init__(self) -> None:
        self._buckets: Counter[int] = Counter()
        self.count = 0
        self.total = 0.0
        self.max = 0.0

    def add(self, seconds: float) -> None:
        self.count += 1
        self.total += seconds
        if seconds > self.max:
            self.max = seconds
        index = 0 if seconds <= self._FLOOR else int(math.log(seconds / self._FLOOR) / self._LOG_BASE) + 1
        self._buckets[index] += 1

    def merge(self, other: LatencyHistogram) -> None:
        self._buckets.update(other._buckets)
        self.count += other.count
        self.total += other.total
        self.max = max(self.max, other.max)

    def quantile(self, q: float) -> float | None:
        """The ``q``-quantile (0..1), ``None`` without samples."""
        if not self.count:
            return None
        rank = max(1, math.ceil(q * self.count))
        seen = 0
        for index in sorted(self._buckets):
            seen += self._buckets[index]
            if seen >= rank:
                if index == 0:
                    return self._FLOOR
                # Geometric middle of the bucket, never above the largest sample.
                return min(self.max, self._FLOOR * float(self._BASE ** (index - 0.5)))
        return self.max

    @property
    def mean(self) -> float | None:
        return self.total / self.count if self.count else None


@dataclass(slots=True)
class ActionStats:
    sent: int = 0
    errors: int = 0
    latency: LatencyHistogram = field(default_factory=LatencyHistogram)


@dataclass(slots=True)
class Stats:
    """Everything counted during a run (the simulator's side of the wire)."""

    stations: int = 0
    connected: int = 0
    ever_connected: int = 0
    connects: int = 0
    connect_failures: int = 0
    connections_lost: int = 0
    frames_out: int = 0
    frames_in: int = 0
    transactions_started: int = 0
    transactions_stopped: int = 0
    meter_values: int = 0
    calls: dict[str, ActionStats] = field(default_factory=dict)
    """Our calls to the CSMS, by action."""
    answered: Counter[str] = field(default_factory=Counter)
    """The CSMS's calls we answered, by action."""
    rejections: Counter[str] = field(default_factory=Counter)
    """The CSMS said no (boot Rejected/Pending, idTag not accepted): noted, not errors."""
    errors: Counter[str] = field(default_factory=Counter)
    """Error kind → count: ``connect: ...``, ``<Action>: <CALLERROR code | timeout | ...>``, ..."""
    error_samples: deque[str] = field(default_factory=lambda: deque(maxlen=10))
    latency: LatencyHistogram = field(default_factory=LatencyHistogram)
    aborting: bool = False
    """The stop grace ran out: calls cut short now are counted in ``abandoned``, not errors."""
    abandoned: int = 0
    started_at: float = 0.0
    finished_at: float | None = None

    # -- recording --------------------------------------------------------------------------

    def error(self, kind: str, detail: str = "") -> None:
        self.errors[kind] += 1
        if detail:
            self.error_samples.append(f"{kind}: {detail}")

    def call_done(self, action: str, seconds: float, outcome: str) -> None:
        stats = self.calls.get(action)
        if stats is None:
            stats = self.calls[action] = ActionStats()
        if self.aborting and outcome in ("cancelled", "closed"):
            self.abandoned += 1  # the run's end cut it short; "stop grace exceeded" says so once
            return
        stats.sent += 1
        stats.latency.add(seconds)
        self.latency.add(seconds)
        if outcome != "result":
            stats.errors += 1
            self.error(f"{action}: {outcome}")

    async def on_message(self, cp: ChargePoint, direction: str, text: str) -> None:
        if direction == "in":
            self.frames_in += 1
        else:
            self.frames_out += 1

    def on_call_done(self, cp: ChargePoint, action: str, seconds: float, outcome: str) -> None:
        self.call_done(action, seconds, outcome)

    def on_protocol_violation(self, cp: ChargePoint, code: str, description: str) -> None:
        self.error(f"protocol violation: {code}", f"{cp.id}: {description}")

    # -- reading ----------------------------------------------------------------------------

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())

    @property
    def calls_sent(self) -> int:
        return sum(s.sent for s in self.calls.values())

    @property
    def elapsed(self) -> float:
        end = self.finished_at if self.finished_at is not None else trio.current_time()
        return max(0.0, end - self.started_at)

    def progress_line(self) -> str:
        elapsed = self.elapsed
        frames = self.frames_in + self.frames_out
        rate = frames / elapsed if elapsed > 0 else 0.0
        return (
            f"[{elapsed:7.1f}s] connected {self.connected}/{self.stations}"
            f"  messages {frames} ({rate:,.0f}/s)"
            f"  errors {self.error_count}"
            f"  latency p50 {_ms(self.latency.quantile(0.5))} p99 {_ms(self.latency.quantile(0.99))}"
        )

    def summary_table(self) -> str:
        """A plain-text table: per action, then totals and errors."""
        rows = [("action", "sent", "errors", "p50", "p99", "max")]
        for action in sorted(self.calls):
            s = self.calls[action]
            lat = s.latency
            rows.append(
                (action, str(s.sent), str(s.errors), _ms(lat.quantile(0.5)), _ms(lat.quantile(0.99)), _ms(lat.max))
            )
        lat = self.latency
        rows.append(
            (
                "total",
                str(self.calls_sent),
                str(sum(s.errors for s in self.calls.values())),
                _ms(lat.quantile(0.5)),
                _ms(lat.quantile(0.99)),
                _ms(lat.max if lat.count else None),
            )
        )
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]

        def fmt(row: tuple[str, ...]) -> str:
            return "  ".join(
                cell.ljust(widths[i]) if i == 0 else cell.rjust(widths[i]) for i, cell in enumerate(row)
            ).rstrip()

        rule = "  ".join("-" * w for w in widths)
        lines = [fmt(rows[0]), rule, *(fmt(r) for r in rows[1:-1]), rule, fmt(rows[-1]), ""]
        lines.append(
            f"charge points {self.stations}, connected at least once {self.ever_connected}, "
            f"connects {self.connects}, connect failures {self.connect_failures}, "
            f"connections lost {self.connections_lost}"
        )
        lines.append(
            f"frames sent {self.frames_out}, frames received {self.frames_in}, "
            f"transactions started {self.transactions_started}, stopped {self.transactions_stopped}, "
            f"meter values {self.meter_values}"
        )
        if self.rejections:
            rejected = ", ".join(f"{what} {n}" for what, n in sorted(self.rejections.items()))
            lines.append(f"refused by the CSMS (not errors): {rejected}")
        if self.answered:
            answered = ", ".join(f"{action} {n}" for action, n in sorted(self.answered.items()))
            lines.append(f"CSMS calls answered: {answered}")
        if self.abandoned:
            lines.append(f"calls abandoned when the stop grace ran out: {self.abandoned}")
        lines.append(f"duration {self.elapsed:.1f} s, errors {self.error_count}")
        for kind, n in self.errors.most_common():
            lines.append(f"  error {kind}: {n}")
        for sample in self.error_samples:
            lines.append(f"  e.g. {sample}")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary (``--summary-json``)."""

        def lat(h: LatencyHistogram) -> dict[str, float | None]:
            return {"p50": h.quantile(0.5), "p99": h.quantile(0.99), "max": h.max if h.count else None}

        return {
            "charge_points": self.stations,
            "ever_connected": self.ever_connected,
            "connects": self.connects,
            "connect_failures": self.connect_failures,
            "connections_lost": self.connections_lost,
            "frames_sent": self.frames_out,
            "frames_received": self.frames_in,
            "calls_sent": self.calls_sent,
            "transactions_started": self.transactions_started,
            "transactions_stopped": self.transactions_stopped,
            "meter_values": self.meter_values,
            "duration": self.elapsed,
            "errors": self.error_count,
            "abandoned_calls": self.abandoned,
            "error_kinds": dict(self.errors),
            "latency": lat(self.latency),
            "actions": {a: {"sent": s.sent, "errors": s.errors, **lat(s.latency)} for a, s in self.calls.items()},
            "answered": dict(self.answered),
            "rejections": dict(self.rejections),
        }


def _ms(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    ms = seconds * 1000
    return f"{ms:.1f} ms" if ms < 1000 else f"{seconds:.2f} s"
