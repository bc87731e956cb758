"""Property tests of the Python API of the core: whatever a peer sends and whatever an
application passes, the core answers with well-formed frames or raises one of the
documented exceptions, never anything else (a Rust panic would surface as
``pyo3_runtime.PanicException``, a ``BaseException`` that these tests let through).

The Rust side has the same invariants under ``cargo test`` (``rust/fuzzing.rs``) and
``cargo fuzz`` (``fuzz/``); these tests cover the Python conversion layer on top.
"""

from __future__ import annotations

import json
import re
from typing import Any

import ocpp_router
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ocpp_router.errors import LocalProtocolError

VERSIONS = ("1.6", "2.0.1", "2.1")
ACTIONS = {v: ocpp_router.SchemaRegistry.bundled(v).actions() for v in VERSIONS}
ALL_ACTIONS = sorted({a for actions in ACTIONS.values() for a in actions})
CODES = (
    "NotImplemented",
    "NotSupported",
    "InternalError",
    "ProtocolError",
    "SecurityError",
    "FormatViolation",
    "FormationViolation",
    "PropertyConstraintViolation",
    "OccurrenceConstraintViolation",
    "OccurenceConstraintViolation",
    "TypeConstraintViolation",
    "GenericError",
    "RpcFrameworkError",
    "MessageTypeNotSupported",
)

PROPERTY_SETTINGS = settings(
    max_examples=250,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# -- strategies ------------------------------------------------------------------------------

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
    | st.sampled_from(["Accepted", "Celsius", "Hz", "2024-01-01T00:00:00Z", "2024-01-01 00:00", "x" * 256])
)
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=20,
)
payloads = (
    st.dictionaries(
        st.sampled_from(["status", "value", "unit", "data", "idTag", "connectorId", "customData", "vendorId"])
        | st.text(max_size=12),
        json_values,
        max_size=5,
    )
    | json_values
)


def nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


@st.composite
def frames(draw: st.DrawFn, version: str) -> str:
    """Frame-shaped JSON texts: right or wrong type numbers, ids, actions and payloads."""
    type_id = draw(st.sampled_from([2, 3, 4, 5, 6]) | st.integers(-2, 10) | json_scalars)
    message_id = draw(st.text(max_size=40) | st.sampled_from(["-1", "", "x" * 36, "x" * 37, "é" * 36]) | json_scalars)
    action = draw(st.sampled_from(ACTIONS[version]) | st.sampled_from(ALL_ACTIONS) | st.text(max_size=20))
    payload = draw(payloads | st.builds(nested, st.integers(0, 200)))
    shape = draw(st.integers(0, 4))
    if shape == 0:
        frame: list[Any] = [type_id, message_id, action, payload]
    elif shape == 1:
        frame = [type_id, message_id, payload]
    elif shape == 2:
        frame = [type_id, message_id, draw(st.sampled_from(CODES) | st.text()), draw(st.text()), payload]
    elif shape == 3:
        frame = draw(st.lists(json_values, max_size=6))
    else:
        frame = [type_id, message_id, action, payload, payload]
    text = json.dumps(frame, ensure_ascii=draw(st.booleans()))
    cut = draw(st.none() | st.integers(0, len(text)))
    return text if cut is None else text[:cut]


texts = st.text() | st.binary().map(lambda b: b.decode("utf-8", "replace"))

# -- helpers -------------------------------------------------------------------------------


_ENVELOPE_START = re.compile(r'[ \t\n\r]*\[[ \t\n\r]*-?[0-9]+[ \t\n\r]*,[ \t\n\r]*("(?:[^"\\]|\\.)*")')


def answer_ids(text: str) -> set[str | None]:
    """The message ids a well-behaved answer may carry: "-1", the frame's id as a JSON parser
    reads it, or (for frames rejected unparsed, e.g. nested too deep) as the start of the
    envelope reads it."""
    ids: set[str | None] = {"-1"}
    match = _ENVELOPE_START.match(text)
    if match:
        ids.add(json.loads(match.group(1)))
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        return ids
    if isinstance(value, list) and len(value) > 1 and isinstance(value[1], str):
        ids.add(value[1])
    return ids


def check_transmit(text: str, allowed_ids: set[str | None], version: str) -> list[Any]:
    frame = json.loads(text)
    assert isinstance(frame, list), text
    assert frame[0] in (3, 4, 5), text
    assert frame[1] in allowed_ids, text
    if frame[0] == 3:
        assert len(frame) == 3 and isinstance(frame[2], dict)
    else:
        assert len(frame) == 5, text
        code, description, details = frame[2:]
        assert isinstance(code, str) and isinstance(description, str)
        assert len(description) <= 255
        assert isinstance(details, dict)
        if frame[0] == 5:
            assert version == "2.1"
    return frame


def check_receive(conn: ocpp_router.Connection, text: str, now: float) -> list[Any]:
    events = conn.receive(text, now)
    allowed = answer_ids(text)
    for event in events:
        if isinstance(event, ocpp_router._core.Transmit):
            check_transmit(event.text, allowed, conn.version)
        elif isinstance(event, ocpp_router._core.IncomingCall):
            assert event.id in allowed
            assert isinstance(event.payload, dict)
    return events


def tolerated(func: Any, *args: Any) -> Any:
    """Run ``func``: success or a documented exception, nothing else."""
    try:
        return func(*args)
    except (LocalProtocolError, TypeError, ValueError):
        return None


# -- receive ---------------------------------------------------------------------------------


@PROPERTY_SETTINGS
@given(version=st.sampled_from(VERSIONS), text=texts)
def test_arbitrary_text_is_answered_well_formed(version: str, text: str) -> None:
    check_receive(ocpp_router.Connection(version), text, 0.0)


@settings(PROPERTY_SETTINGS, max_examples=120)
@given(data=st.data(), version=st.sampled_from(VERSIONS))
def test_frame_shaped_input_is_answered_well_formed(data: st.DataObject, version: str) -> None:
    conn = ocpp_router.Connection(version, incoming=data.draw(st.sampled_from(["strict", "lenient", "off"])))
    for now, text in enumerate(data.draw(st.lists(frames(version), min_size=1, max_size=3))):
        for event in check_receive(conn, text, float(now)):
            if isinstance(event, ocpp_router._core.IncomingCall):
                answer = data.draw(payloads)
                reply = tolerated(conn.reply, event.id, answer)
                if reply is not None:
                    assert check_transmit(reply, {event.id}, version)[0] == 3
                code = data.draw(st.sampled_from(CODES) | st.text(max_size=10))
                details = data.draw(st.none() | json_values)
                error = tolerated(conn.reply_error, event.id, code, data.draw(st.text()), details)
                if error is not None:
                    assert check_transmit(error, {event.id}, version)[0] == 4
    conn.poll(1e9)
    conn.close()


@PROPERTY_SETTINGS
@given(version=st.sampled_from(VERSIONS), depth=st.integers(1, 3000), max_depth=st.integers(2, 200))
def test_nesting_beyond_max_depth_is_rejected_with_the_id(version: str, depth: int, max_depth: int) -> None:
    conn = ocpp_router.Connection(version, incoming="off", max_depth=max_depth)
    text = f'[2,"deep","DataTransfer",{{"vendorId":"v","data":{"[" * depth}1{"]" * depth}}}]'
    events = check_receive(conn, text, 0.0)
    transmits = [json.loads(e.text) for e in events if isinstance(e, ocpp_router._core.Transmit)]
    if depth + 2 > max_depth:
        assert transmits and transmits[0][:2] == [4, "deep"]
        assert transmits[0][2] == ("FormationViolation" if version == "1.6" else "RpcFrameworkError")
    elif depth + 2 <= 127:  # serde_json's own limit is 128 levels
        assert isinstance(events[0], ocpp_router._core.IncomingCall)


# -- call / send / reply with application payloads ---------------------------------------------


class Opaque:
    pass


python_payloads = st.recursive(
    json_scalars
    | st.integers()  # beyond 64 bits too
    | st.floats()  # NaN and infinities too
    | st.binary(max_size=4)
    | st.builds(Opaque)
    | st.builds(set),
    lambda children: (
        st.lists(children, max_size=3)
        | st.tuples(children, children)
        | st.dictionaries(st.text(max_size=8) | st.integers(), children, max_size=3)
    ),
    max_leaves=12,
) | st.builds(nested, st.integers(60, 70))


@PROPERTY_SETTINGS
@given(
    version=st.sampled_from(VERSIONS),
    action=st.sampled_from(ALL_ACTIONS) | st.text(max_size=20),
    payload=python_payloads,
    outgoing=st.sampled_from(["strict", "lenient", "off"]),
)
def test_call_and_send_succeed_or_raise_documented_errors(
    version: str, action: str, payload: Any, outgoing: str
) -> None:
    conn = ocpp_router.Connection(version, outgoing=outgoing)
    result = tolerated(conn.call, action, payload, 0.0, 30.0)
    if result is not None:
        message_id, events = result
        assert isinstance(events[0], ocpp_router._core.Transmit)
        frame = json.loads(events[0].text)
        assert frame[:3] == [2, message_id, action]
        assert isinstance(frame[3], dict)
    sent = tolerated(conn.send, action, payload)
    if sent is not None:
        assert version == "2.1"
        assert json.loads(sent)[0] == 6


@PROPERTY_SETTINGS
@given(
    version=st.sampled_from(VERSIONS),
    payload=python_payloads,
    message_id=st.sampled_from(["open", "unknown"]),
    code=st.sampled_from(CODES) | st.text(max_size=8),
    details=python_payloads | st.none(),
)
def test_reply_succeeds_or_raises_documented_errors(
    version: str, payload: Any, message_id: str, code: str, details: Any
) -> None:
    conn = ocpp_router.Connection(version, outgoing="lenient")
    events = conn.receive('[2,"open","Heartbeat",{}]', 0.0)
    assert isinstance(events[0], ocpp_router._core.IncomingCall)
    reply = tolerated(conn.reply, message_id, payload)
    if reply is not None:
        frame = check_transmit(reply, {message_id}, version)
        assert frame[0] == 3 and message_id == "open"
    error = tolerated(conn.reply_error, message_id, code, "d" * 300, details)
    if error is not None:
        assert check_transmit(error, {message_id}, version)[0] == 4


@settings(PROPERTY_SETTINGS, max_examples=40)
@given(
    version=st.sampled_from(VERSIONS), names=st.lists(st.sampled_from(ocpp_router.SchemaRegistry.relaxation_names()))
)
def test_relaxed_registries_accept_what_the_originals_accept(version: str, names: list[str]) -> None:
    original = ocpp_router.SchemaRegistry.bundled(version)
    relaxed = original.relaxed(names)
    assert relaxed.relaxations == sorted(set(names))
    conn = ocpp_router.Connection(version)
    conn.set_registry(relaxed)
    assert conn.registry.relaxations == relaxed.relaxations
    samples = {
        "1.6": ("BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"}),
        "2.0.1": ("Heartbeat", {}),
        "2.1": ("Heartbeat", {}),
    }
    action, payload = samples[version]
    assert original.validate(action, "request", payload) is None
    assert relaxed.validate(action, "request", payload) is None
