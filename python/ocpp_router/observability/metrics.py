"""Prometheus metrics for one server, in a registry of its own.

::

    server = Server(router)
    metrics = Metrics(server)          # chains its hooks to the server's existing ones
    ...
    body = metrics.render()            # text exposition, served as metrics.content_type

Every series (prefix ``ocpp_router_`` by default):

========================================  ==========  ==========================================
``connected_charge_points{version}``       gauge       open sessions, read from the server on scrape
``connections_total{version}``             counter     sessions opened
``disconnections_total{version,code}``     counter     sessions ended, by WebSocket close code
``messages_total{action,direction,``       counter     request/response exchanges: ``direction``
``outcome}``                                           ``in`` = charge-point-initiated, ``out`` = ours;
                                                       ``outcome`` = ``result``, the CALLERROR code,
                                                       ``timeout``, ``protocol_violation``,
                                                       ``closed``, ``cancelled``, ``unanswered`` (the
                                                       connection ended first) or ``sent`` (2.1 SEND)
``frames_total{direction,type}``           counter     every frame: ``call``, ``result``, ``error``,
                                                       ``result_error``, ``send``, ``unparsable``
``frame_bytes_total{direction}``           counter     characters of frame text
``protocol_violations_total{code}``        counter     bad frames from charge points
``validation_violations_total{action,``    counter     invalid payloads a lenient mode let through
``mode,code}``
``call_duration_seconds{action}``          histogram   our calls to charge points, ``call()`` to outcome
``outgoing_calls{state}``                  gauge       ``pending`` (sent, awaiting the answer) and
                                                       ``queued`` (waiting behind it), all sessions
                                                       summed, read on scrape
``max_outgoing_queue``                     gauge       the longest per-session queue, read on scrape
``security_events_total{kind}``            counter     failed auth, rate limiting, floods, ...
========================================  ==========  ==========================================

Label values coming from peers are bounded: an action the version does not know (answered
``NotImplemented``) is counted as ``unknown``, an error or close code outside the OCPP /
RFC 6455 sets as ``other``.
"""

from __future__ import annotations

import re
import weakref
from typing import TYPE_CHECKING

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from .._hooks import Hooks, compose_hooks
from .._versions import ALL_VERSIONS

if TYPE_CHECKING:
    from collections.abc import Iterable

    from prometheus_client.metrics_core import Metric

    from .._core import ValidationFailure
    from .._security import SecurityEvent
    from .._server import Server
    from .._session import ChargePoint

__all__ = ["CALL_DURATION_BUCKETS", "Metrics"]

#: Seconds; our calls time out after 30 s by default.
CALL_DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)

#: Every CALLERROR code of 1.6, 2.0.1 and 2.1 (1.6's spellings included).
_ERROR_CODES = frozenset(
    {
        "FormatViolation",
        "FormationViolation",
        "GenericError",
        "InternalError",
        "MessageTypeNotSupported",
        "NotImplemented",
        "NotSupported",
        "OccurrenceConstraintViolation",
        "OccurenceConstraintViolation",
        "PropertyConstraintViolation",
        "ProtocolError",
        "RpcFrameworkError",
        "SecurityError",
        "TypeConstraintViolation",
    }
)
_CALL_OUTCOMES = frozenset({"result", "timeout", "protocol_violation", "closed", "cancelled"})
_CLOSE_CODES = frozenset({1000, 1001, 1002, 1003, 1005, 1006, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 4000})

#: Message type, id and (for CALL / CALLERROR / SEND) the action or error code, from the
#: head of a frame, without parsing the payload.
_HEAD = re.compile(r'\s*\[\s*([2-6])\s*,\s*"([^"\\]*)"\s*(?:,\s*"([^"\\]*)")?')
_HEAD_SCAN = 200
_ACTION = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,63}")
_FRAME_TYPES = {"2": "call", "3": "result", "4": "error", "5": "result_error", "6": "send"}
#: Incoming CALLs remembered per session until answered (the one-outstanding-call rule
#: keeps this at 1 for well-behaved peers).
_MAX_OPEN_CALLS = 64


def _error_code(code: str) -> str:
    return code if code in _ERROR_CODES else "other"


def _action_label(action: str | None) -> str:
    if action is None:
        return "unknown"
    return action if _ACTION.fullmatch(action) else "invalid"


class _ServerCollector(Collector):
    """Gauges read from the attached servers' sessions when Prometheus scrapes."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.servers: list[Server] = []

    def _families(self) -> tuple[GaugeMetricFamily, GaugeMetricFamily, GaugeMetricFamily]:
        p = self.prefix
        return (
            GaugeMetricFamily(f"{p}connected_charge_points", "Charge points connected now", labels=["version"]),
            GaugeMetricFamily(
                f"{p}outgoing_calls",
                "Our calls to charge points: pending (sent, not answered) and queued behind them",
                labels=["state"],
            ),
            GaugeMetricFamily(f"{p}max_outgoing_queue", "Outgoing calls in progress on the busiest session"),
        )

    def describe(self) -> Iterable[Metric]:
        return self._families()

    def collect(self) -> Iterable[Metric]:
        connected, calls, longest = self._families()
        per_version = dict.fromkeys(ALL_VERSIONS, 0)
        pending = queued = deepest = 0
        for server in self.servers:
            for cp in list(server.charge_points.values()):
                per_version[cp.version] = per_version.get(cp.version, 0) + 1
                conn = cp.connection
                if conn.pending_call is not None:
                    waiting = conn.queued_calls
                    pending += 1
                    queued += waiting
                    deepest = max(deepest, 1 + waiting)
        for version, count in per_version.items():
            connected.add_metric([version], count)
        calls.add_metric(["pending"], pending)
        calls.add_metric(["queued"], queued)
        longest.add_metric([], deepest)
        return [connected, calls, longest]


class Metrics:
    """Prometheus metrics of a server, in a private ``CollectorRegistry`` (``.registry``).

    ``Metrics(server)`` attaches at once (before ``server.serve``: sessions take the
    server's hooks when they start); ``Metrics()`` then ``attach(server)`` does the same.
    ``hooks(chain)`` gives the hook set alone for other wiring.
    """

    content_type = CONTENT_TYPE_LATEST
    """The ``Content-Type`` to serve ``render()``'s output with."""

    def __init__(self, server: Server | None = None, *, prefix: str = "ocpp_router") -> None:
        self.prefix = p = f"{prefix}_" if prefix and not prefix.endswith("_") else prefix
        self.registry = registry = CollectorRegistry(auto_describe=False)
        self._collector = _ServerCollector(p)
        registry.register(self._collector)
        self.connections = Counter(f"{p}connections", "Sessions opened", ["version"], registry=registry)
        self.disconnections = Counter(
            f"{p}disconnections", "Sessions ended, by WebSocket close code", ["version", "code"], registry=registry
        )
        self.messages = Counter(
            f"{p}messages",
            "Request/response exchanges by action, initiator (in = charge point, out = us) and outcome",
            ["action", "direction", "outcome"],
            registry=registry,
        )
        self.frames = Counter(
            f"{p}frames", "OCPP-J frames by direction and type", ["direction", "type"], registry=registry
        )
        self.frame_bytes = Counter(f"{p}frame_bytes", "Characters of frame text", ["direction"], registry=registry)
        self.protocol_violations = Counter(
            f"{p}protocol_violations", "Bad frames received from charge points", ["code"], registry=registry
        )
        self.validation_violations = Counter(
            f"{p}validation_violations",
            "Invalid payloads let through by a lenient validation mode",
            ["action", "mode", "code"],
            registry=registry,
        )
        self.call_duration = Histogram(
            f"{p}call_duration_seconds",
            "Our calls to charge points, from call() to the outcome (queueing included)",
            ["action"],
            buckets=CALL_DURATION_BUCKETS,
            registry=registry,
        )
        self.cluster_call_duration = Histogram(
            f"{p}cluster_call_duration_seconds",
            "Our calls to charge points held by another cluster node, end to end",
            ["action", "outcome"],
            buckets=CALL_DURATION_BUCKETS,
            registry=registry,
        )
        self.security_events = Counter(
            f"{p}security_events", "Security events (failed auth, floods, ...) by kind", ["kind"], registry=registry
        )
        # Label children are cached: .labels() takes a lock and builds a tuple each time.
        self._message_children: dict[tuple[str, str, str], Counter] = {}
        self._frame_children: dict[tuple[str, str], Counter] = {}
        self._duration_children: dict[str, Histogram] = {}
        self._bytes_in = self.frame_bytes.labels("in")
        self._bytes_out = self.frame_bytes.labels("out")
        #: Incoming CALLs not answered yet, per session: id → action.
        self._open_calls: weakref.WeakKeyDictionary[ChargePoint, dict[str, str]] = weakref.WeakKeyDictionary()
        if server is not None:
            self.attach(server)

    # -- wiring -----------------------------------------------------------------------------

    def hooks(self, chain: Hooks | None = None) -> Hooks:
        """The metric hooks, chained after ``chain``'s hooks if given."""
        own = Hooks(
            on_connected=self._on_connected,
            on_disconnected=self._on_disconnected,
            on_message=self._on_message,
            on_protocol_violation=self._on_protocol_violation,
            on_validation_violation=self._on_validation_violation,
            on_security_event=self._on_security_event,
            on_call_done=self._on_call_done,
            on_cluster_call_done=self._on_cluster_call_done,
        )
        return compose_hooks(chain, own)

    def attach(self, server: Server) -> None:
        """Count ``server``'s traffic and read its sessions on scrape (keeps its hooks).

        Attaching the same server again changes nothing."""
        if server in self._collector.servers:
            return
        server.hooks = self.hooks(server.hooks)
        self.watch(server)

    def watch(self, server: Server) -> None:
        """Only read ``server``'s sessions on scrape (connected gauge, call queues): for a
        server whose hooks already include ``self.hooks()``."""
        if server not in self._collector.servers:
            self._collector.servers.append(server)

    def render(self) -> bytes:
        """The Prometheus text exposition of every series (serve as ``content_type``)."""
        return generate_latest(self.registry)

    # -- recording helpers (public: the admin API or the app may count on its own) -----------

    def count_message(self, action: str, direction: str, outcome: str) -> None:
        key = (action, direction, outcome)
        child = self._message_children.get(key)
        if child is None:
            child = self._message_children[key] = self.messages.labels(action, direction, outcome)
        child.inc()

    def observe_call(self, action: str, seconds: float, outcome: str) -> None:
        """One of our calls ended (what ``Hooks.on_call_done`` reports)."""
        label = _action_label(action)
        child = self._duration_children.get(label)
        if child is None:
            child = self._duration_children[label] = self.call_duration.labels(label)
        child.observe(seconds)
        self.count_message(label, "out", outcome if outcome in _CALL_OUTCOMES else _error_code(outcome))

    # -- hooks ------------------------------------------------------------------------------

    async def _on_connected(self, cp: ChargePoint) -> None:
        self.connections.labels(cp.version).inc()

    async def _on_disconnected(self, cp: ChargePoint) -> None:
        code = cp.close_code
        self.disconnections.labels(cp.version, str(code) if code in _CLOSE_CODES else "other").inc()
        open_calls = self._open_calls.pop(cp, None)
        for action in (open_calls or {}).values():
            self.count_message(action, "in", "unanswered")

    async def _on_message(self, cp: ChargePoint, direction: str, text: str) -> None:
        incoming = direction == "in"
        (self._bytes_in if incoming else self._bytes_out).inc(len(text))
        head = _HEAD.match(text, 0, _HEAD_SCAN)
        kind = _FRAME_TYPES[head.group(1)] if head is not None else "unparsable"
        frame_key = (direction, kind)
        frame_child = self._frame_children.get(frame_key)
        if frame_child is None:
            frame_child = self._frame_children[frame_key] = self.frames.labels(direction, kind)
        frame_child.inc()
        if head is None:
            return
        if kind == "call":
            if incoming:
                open_calls = self._open_calls.get(cp)
                if open_calls is None:
                    open_calls = self._open_calls[cp] = {}
                if len(open_calls) < _MAX_OPEN_CALLS:
                    open_calls[head.group(2)] = _action_label(head.group(3))
            # Our own calls are counted when they end (on_call_done), timeouts included.
        elif kind in ("result", "error"):
            if not incoming:  # our answer to a charge point's call
                open_calls = self._open_calls.get(cp)
                action = open_calls.pop(head.group(2), None) if open_calls is not None else None
                if kind == "result":
                    self.count_message(action or "unknown", "in", "result")
                else:
                    code = _error_code(head.group(3) or "")
                    self.count_message("unknown" if code == "NotImplemented" else action or "unknown", "in", code)
        elif kind == "send":
            self.count_message(_action_label(head.group(3)), direction, "sent")

    def _on_protocol_violation(self, cp: ChargePoint, code: str, description: str) -> None:
        self.protocol_violations.labels(_error_code(code)).inc()

    def _on_validation_violation(self, cp: ChargePoint, action: str, failure: ValidationFailure) -> None:
        options = cp.options
        mode = options.action_validation.get(action, options.incoming_validation)
        self.validation_violations.labels(_action_label(action), mode, _error_code(failure.code)).inc()

    def _on_security_event(self, event: SecurityEvent) -> None:
        self.security_events.labels(event.kind).inc()

    def _on_call_done(self, cp: ChargePoint, action: str, seconds: float, outcome: str) -> None:
        self.observe_call(action, seconds, outcome)

    def _on_cluster_call_done(self, identity: str, action: str, seconds: float, outcome: str) -> None:
        label = outcome if outcome in _CALL_OUTCOMES or outcome == "not_connected" else _error_code(outcome)
        self.cluster_call_duration.labels(_action_label(action), label).observe(seconds)
