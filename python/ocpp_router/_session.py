"""One charge-point connection: the OCPP session handed to handlers and callers.

The receive loop feeds every text frame into the Rust ``Connection`` and acts on its events:
incoming CALLs go to a per-session worker (processed in arrival order, so a slow handler
never blocks answers to our own calls), results wake the waiting ``call()``.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Any, Literal

import trio

from . import _core
from ._messages import describe_class, request_class, response_class, to_payload
from ._security import SecurityEvent, SecurityEventKind, report
from ._transport import CloseCode, Transport, TransportClosed
from .errors import (
    CallError,
    CallTimeoutError,
    ConnectionClosedError,
    LocalProtocolError,
    OcppError,
    RemoteProtocolError,
)

if TYPE_CHECKING:
    from collections.abc import Mapping

    from ._hooks import Hooks
    from ._router import Router

__all__ = ["ChargePoint", "SessionOptions"]

log = logging.getLogger("ocpp_router")

#: The CALLERROR description for unexpected failures: details stay in the log.
_INTERNAL_ERROR = "internal error while processing the request"

#: Incoming CALLs buffered per session before the receive loop waits (backpressure).
_INCOMING_BUFFER = 8


@dataclass(slots=True)
class SessionOptions:
    """Per-connection behaviour shared by server and client sessions."""

    call_timeout: float = 30.0
    """Default seconds an outgoing call waits for its answer."""
    incoming_validation: Literal["strict", "lenient", "off"] = "strict"
    outgoing_validation: Literal["strict", "lenient", "off"] = "strict"
    date_time: Literal["strict", "lenient", "off"] = "strict"
    multiple_of: bool = True
    max_queued_calls: int = 100
    """Outgoing calls that may wait behind the pending one before ``call()`` refuses."""
    action_validation: dict[str, Literal["strict", "lenient", "off"]] = field(default_factory=dict)
    max_depth: int = 32
    """Deepest JSON nesting of a received frame; deeper frames are answered as malformed."""
    ping_interval: float = 60.0
    """Seconds between our WebSocket pings (NAT keep-alive, dead-peer detection); 0 = off."""
    pong_timeout: float = 30.0
    """A ping whose pong has not come back in this many seconds closes the connection."""
    idle_timeout: float = 0.0
    """Close a connection that sent nothing for this many seconds; 0 = off."""
    max_messages_per_second: float = 50.0
    """Sustained incoming rate per connection; above it reading is slowed down (TCP
    backpressure), never dropped. 0 = unlimited."""
    message_burst: int = 200
    """Messages accepted at full speed before the rate applies."""


class _Waiter:
    __slots__ = ("done", "event", "outcome")

    def __init__(self) -> None:
        self.event = trio.Event()
        self.done = False
        self.outcome: object = None

    def settle(self, outcome: object) -> None:
        if not self.done:
            self.done = True
            self.outcome = outcome
            self.event.set()


class ChargePoint:
    """An OCPP session with one peer (on a server: a charge point; on a client: the CSMS).

    ``id`` is the charge point identity, ``version`` the negotiated OCPP version ("1.6",
    "2.0.1", "2.1"). ``state`` is a free dict for the application.
    """

    def __init__(
        self,
        identity: str,
        version: str,
        transport: Transport,
        router: Router,
        *,
        options: SessionOptions | None = None,
        hooks: Hooks | None = None,
        path: str = "",
        remote: tuple[str, int] | None = None,
        headers: tuple[tuple[str, str], ...] = (),
        peer_certificate: Mapping[str, object] | None = None,
        registry: _core.SchemaRegistry | None = None,
        handler_limiter: trio.CapacityLimiter | None = None,
        security_profile: int = 0,
    ) -> None:
        self.id = identity
        self.security_profile = security_profile
        self._handler_limiter = handler_limiter
        self.version = version
        self.path = path
        self.remote = remote
        self.headers = headers
        self.peer_certificate = peer_certificate
        self.connected_at = trio.current_time()
        self.state: dict[str, Any] = {}
        self.options = options or SessionOptions()
        self.closed = False
        self.close_code: int | None = None
        self.close_reason = ""
        self._transport = transport
        self._router = router
        self._hooks = hooks
        opts = self.options
        self._conn = _core.Connection(
            version,
            registry,
            incoming=opts.incoming_validation,
            outgoing=opts.outgoing_validation,
            date_time=opts.date_time,
            multiple_of=opts.multiple_of,
            max_queued_calls=opts.max_queued_calls,
            max_depth=opts.max_depth,
        )
        for action, mode in opts.action_validation.items():
            self._conn.set_action_mode(action, mode)
        self._waiters: dict[str, _Waiter] = {}
        self._incoming_send, self._incoming_recv = trio.open_memory_channel[_core.IncomingCall](_INCOMING_BUFFER)
        self._nursery: trio.Nursery | None = None
        self._closed_event = trio.Event()
        self.last_activity = self.connected_at

    def __repr__(self) -> str:
        return f"<ChargePoint {self.id!r} OCPP {self.version}{' closed' if self.closed else ''}>"

    @property
    def subprotocol(self) -> str | None:
        return self._transport.subprotocol

    @property
    def connection(self) -> _core.Connection:
        """The sans-IO core state (validation modes can be changed on it at run time)."""
        return self._conn

    # -- outgoing -----------------------------------------------------------------------

    async def call(
        self,
        action: Any,
        payload: Mapping[str, object] | Any | None = None,
        *,
        timeout: float | None = None,
    ) -> Any:
        """Send a CALL and return the validated response.

        ``action`` is an action name (then ``payload`` is a dict or a generated request
        object) or a generated request object alone. The response is a dict, or the
        generated response object when a typed request was given.

        Raises ``CallError`` (CALLERROR answer), ``CallTimeoutError`` (also a
        ``trio.TooSlowError``), ``RemoteProtocolError`` (malformed answer),
        ``ConnectionClosedError``, or ``LocalProtocolError`` (our payload is invalid).
        """
        typed_response: type[Any] | None = None
        if not isinstance(action, str):
            if isinstance(action, Enum):
                action = str(action.value)  # an Action member of a non-str enum
            else:
                payload, action = action, None
        message = payload if payload is not None and hasattr(payload, "to_wire") else None
        if message is not None:
            described = describe_class(type(message))
            if described is None or described[2] != "request":
                raise LocalProtocolError(f"{type(message).__name__} is not a request message")
            msg_version, msg_action, _ = described
            if action is not None and action != msg_action:
                raise LocalProtocolError(f"{type(message).__name__} is not a {action} request")
            if msg_version != self.version:
                raise LocalProtocolError(
                    f"{type(message).__module__}.{type(message).__name__} is an OCPP {msg_version} message; "
                    f"this connection speaks {self.version}"
                )
            action = msg_action
            typed_response = response_class(self.version, action)
        if action is None:
            raise TypeError("call() needs an action name or a generated request object")
        if self.closed:
            raise ConnectionClosedError(f"connection to {self.id!r} is closed")
        timeout = self.options.call_timeout if timeout is None else timeout
        now = trio.current_time()
        message_id, events = self._conn.call(action, to_payload(payload), now, timeout)
        waiter = self._waiters[message_id] = _Waiter()
        try:
            await self._process(events)
            with trio.move_on_at(now + timeout):
                await waiter.event.wait()
            if not waiter.done:
                await self._process(self._conn.poll(trio.current_time()))
                if not waiter.done:  # deadline rounding: make sure the core forgets it too
                    await self._process(self._conn.cancel(message_id, trio.current_time()))
                    waiter.settle(CallTimeoutError(f"{action} timed out", action=action, message_id=message_id))
        except TransportClosed:
            # The socket closed before the receive loop noticed (while this frame, or a queued
            # call's that went out after ours, was being written): the connection is gone.
            self._conn.cancel(message_id, trio.current_time())  # its events could not be written either
            waiter.settle(ConnectionClosedError(f"connection to {self.id!r} closed before {action} was answered"))
        finally:
            self._waiters.pop(message_id, None)
            if not waiter.done:
                # Cancelled by the caller: free the slot so the next queued call can go.
                with trio.CancelScope(shield=True), trio.move_on_after(5), contextlib.suppress(TransportClosed):
                    await self._process(self._conn.cancel(message_id, trio.current_time()))
            if self._hooks is not None and self._hooks.on_call_done is not None:
                self._report_call_done(action, trio.current_time() - now, waiter)
        outcome = waiter.outcome
        if isinstance(outcome, BaseException):
            raise outcome
        if typed_response is not None:
            return typed_response.from_wire(outcome)
        return outcome

    async def send(self, action: str, payload: Mapping[str, object] | Any) -> None:
        """Send a 2.1 SEND message (fire-and-forget)."""
        await self._write(self._conn.send(action, to_payload(payload)))

    async def close(self, code: int = CloseCode.NORMAL, reason: str = "") -> None:
        """Close the connection; pending calls fail with ``ConnectionClosedError``."""
        if self.close_code is None:
            self.close_code, self.close_reason = code, reason
        with trio.move_on_after(5):
            await self._transport.close(code, reason)
        self._abort_calls()

    async def wait_closed(self) -> None:
        await self._closed_event.wait()

    # -- plumbing -----------------------------------------------------------------------

    async def _write(self, text: str) -> None:
        hooks = self._hooks
        if hooks is not None and hooks.on_message is not None:
            await hooks.on_message(self, "out", text)
        await self._transport.send(text)

    async def _process(self, events: list[_core.Event]) -> None:
        for event in events:
            if isinstance(event, _core.Transmit):
                await self._write(event.text)
            elif isinstance(event, _core.IncomingCall):
                await self._incoming_send.send(event)
            elif isinstance(event, _core.CallResult):
                self._settle(event.id, event.payload)
                if event.violation is not None:
                    self._report_violation(event.action, event.violation)
            else:
                self._process_rare(event)

    def _process_rare(self, event: _core.Event) -> None:
        if isinstance(event, _core.CallErrorReceived):
            self._settle(
                event.id,
                CallError(event.code, event.description, event.details, action=event.action, message_id=event.id),
            )
        elif isinstance(event, _core.CallTimeout):
            self._settle(
                event.id, CallTimeoutError(f"{event.action} timed out", action=event.action, message_id=event.id)
            )
        elif isinstance(event, _core.InvalidResponse):
            error = RemoteProtocolError(
                f"invalid {event.action} response: {event.description}",
                event.code,
                action=event.action,
                message_id=event.id,
            )
            self._settle(event.id, error)
        elif isinstance(event, _core.CallAborted):
            self._settle(
                event.id, ConnectionClosedError(f"connection to {self.id!r} closed before {event.action} was answered")
            )
        elif isinstance(event, _core.IncomingSend):
            if self._nursery is not None:
                self._nursery.start_soon(self._handle_send, event)
        elif isinstance(event, _core.ProtocolViolation):
            log.warning("%s sent a bad message: %s %s", self.id, event.code, event.description)
            if self._hooks is not None and self._hooks.on_protocol_violation is not None:
                self._hooks.on_protocol_violation(self, event.code, event.description)
            self._security_event("malformed_frame", f"{event.code}: {event.description}")
        elif isinstance(event, _core.UnmatchedResponse):
            log.info("%s answered message %s that nobody waits for (late or unknown)", self.id, event.id)
        elif isinstance(event, _core.ResultErrorReceived):
            log.warning(
                "%s could not process our answer to %s: %s %s", self.id, event.id, event.code, event.description
            )

    def _report_call_done(self, action: str, seconds: float, waiter: _Waiter) -> None:
        """``Hooks.on_call_done``: how one of our calls ended (see there for the outcomes)."""
        hook = self._hooks.on_call_done if self._hooks is not None else None
        if hook is None:
            return
        outcome = waiter.outcome
        if not waiter.done:
            kind = "cancelled"
        elif not isinstance(outcome, BaseException):
            kind = "result"
        elif isinstance(outcome, CallError):
            kind = outcome.code
        elif isinstance(outcome, CallTimeoutError):
            kind = "timeout"
        elif isinstance(outcome, RemoteProtocolError):
            kind = "protocol_violation"
        else:
            kind = "closed"
        try:
            hook(self, action, seconds, kind)
        except Exception:  # a metrics hook must never break a call
            log.exception("%s: on_call_done hook failed", self.id)

    def _security_event(self, kind: SecurityEventKind, detail: str) -> None:
        event = SecurityEvent(kind, self.id, self.remote, detail)
        report(event)
        if self._hooks is not None and self._hooks.on_security_event is not None:
            self._hooks.on_security_event(event)

    def _report_violation(self, action: str, violation: _core.ValidationFailure) -> None:
        log.info("%s: lenient validation let %s through: %s", self.id, action, violation.description)
        if self._hooks is not None and self._hooks.on_validation_violation is not None:
            self._hooks.on_validation_violation(self, action, violation)

    def _settle(self, message_id: str, outcome: object) -> None:
        waiter = self._waiters.get(message_id)
        if waiter is not None:
            waiter.settle(outcome)

    def _abort_calls(self) -> None:
        for event in self._conn.close():
            self._process_rare(event)
        for waiter in list(self._waiters.values()):
            waiter.settle(ConnectionClosedError(f"connection to {self.id!r} closed"))

    async def handle_call(self, event: _core.IncomingCall) -> None:
        """Run the handler for one incoming CALL and send its answer.

        The receive loop calls this from the session's worker task, in arrival order;
        benchmarks and the test kit may call it directly with an event from
        ``cp.connection.receive(text, now)``.
        """
        conn = self._conn
        action = event.action
        route = self._router.resolve(self.version, action)
        request: Any = event.payload
        response: Any = None
        if event.violation is not None:
            self._report_violation(action, event.violation)
        guards = self._router.guards()
        try:
            for guard in guards:
                await guard(self, action, request)
        except OcppError as exc:
            await self._write(conn.reply_error(event.id, exc.code, exc.description, exc.details))
            return
        except Exception:
            log.exception("%s: guard failed for %s", self.id, action)
            await self._write(conn.reply_error(event.id, "InternalError", _INTERNAL_ERROR))
            return
        if route is None:
            text = conn.reply_error(event.id, "NotSupported", f"{action} is not handled by this endpoint")
        else:
            try:
                if route.typed:
                    cls = request_class(self.version, action)
                    if cls is not None:
                        request = cls.from_wire(request)
                response = await route.handler(self, request)
                text = conn.reply(event.id, to_payload(response))
            except OcppError as exc:
                if isinstance(exc, LocalProtocolError):
                    log.error("%s: handler for %s returned an invalid response: %s", self.id, action, exc.description)
                    text = conn.reply_error(event.id, "InternalError", "the response failed validation")
                else:
                    text = conn.reply_error(event.id, exc.code, exc.description, exc.details)
            except Exception:
                log.exception("%s: handler for %s failed", self.id, action)
                text = conn.reply_error(event.id, "InternalError", _INTERNAL_ERROR)
        await self._write(text)
        if route is not None:
            hooks = self._router.after_hooks(self.version, action)
            if hooks and self._nursery is not None:
                for hook in hooks:
                    self._nursery.start_soon(self._run_after, hook, request, response)

    async def _run_after(self, hook: Any, request: Any, response: Any) -> None:
        try:
            await hook(self, request, response)
        except Exception:
            log.exception("%s: after-hook %s failed", self.id, getattr(hook, "__qualname__", hook))

    async def _handle_send(self, event: _core.IncomingSend) -> None:
        route = self._router.resolve(self.version, event.action)
        if route is None:
            log.info("%s: no handler for SEND %s", self.id, event.action)
            return
        try:
            payload: Any = event.payload
            if route.typed:
                cls = request_class(self.version, event.action)
                if cls is not None:
                    payload = cls.from_wire(payload)
            await route.handler(self, payload)
        except Exception:
            log.exception("%s: handler for SEND %s failed", self.id, event.action)

    async def _call_worker(self) -> None:
        limiter = self._handler_limiter
        async for event in self._incoming_recv:
            try:
                if limiter is None:
                    await self.handle_call(event)
                else:
                    async with limiter:
                        await self.handle_call(event)
            except TransportClosed:
                return

    async def _watchdog(self) -> None:
        """Pings on a timer and enforces the idle timeout."""
        opts = self.options
        period = min(t for t in (opts.ping_interval, opts.idle_timeout) if t > 0)
        while True:
            await trio.sleep(period)
            now = trio.current_time()
            if opts.idle_timeout > 0 and now - self.last_activity >= opts.idle_timeout:
                await self.close(CloseCode.GOING_AWAY, "idle timeout")
                return
            if opts.ping_interval > 0:
                with trio.move_on_after(opts.pong_timeout):
                    try:
                        await self._transport.ping()
                    except TransportClosed:
                        return  # closed while the pong was awaited: the receive loop ends the session
                    continue
                self._security_event("keepalive_timeout", f"no pong within {opts.pong_timeout} s")
                await self.close(CloseCode.GOING_AWAY, "keep-alive timeout")
                return

    async def run(self) -> None:
        """Serve the connection until it closes. Calls never outlive it."""
        hooks = self._hooks
        on_message = hooks.on_message if hooks is not None else None
        try:
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                nursery.start_soon(self._call_worker)
                opts = self.options
                if opts.ping_interval > 0 or opts.idle_timeout > 0:
                    nursery.start_soon(self._watchdog)
                rate = opts.max_messages_per_second
                burst = float(opts.message_burst)
                tokens = burst
                flooding = False
                try:
                    receive = self._transport.receive
                    conn_receive = self._conn.receive
                    while True:
                        text = await receive()
                        now = trio.current_time()
                        if rate > 0:
                            # Token bucket: a flood is slowed down (TCP backpressure), not dropped.
                            tokens = min(burst, tokens + (now - self.last_activity) * rate)
                            if tokens < 1:
                                if not flooding:
                                    flooding = True
                                    self._security_event("message_flood", f"more than {rate:g} messages/s")
                                await trio.sleep((1 - tokens) / rate)
                                now = trio.current_time()
                                tokens = 1.0
                            elif flooding and tokens >= burst:
                                flooding = False
                            tokens -= 1
                        self.last_activity = now
                        if on_message is not None:
                            await on_message(self, "in", text)
                        await self._process(conn_receive(text, now))
                except TransportClosed as closed:
                    if self.close_code is None:
                        self.close_code, self.close_reason = closed.code, closed.reason
                    if closed.code == CloseCode.MESSAGE_TOO_BIG:
                        self._security_event("oversized_frame", closed.reason or "message too big")
                finally:
                    self.closed = True
                    self._abort_calls()
                    nursery.cancel_scope.cancel()
        finally:
            self.closed = True
            self._nursery = None
            self._closed_event.set()
