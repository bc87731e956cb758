"""Frame conformance: raw OCPP-J texts in, the reply and events the protocol notes (§2) demand out.

The corpus lives in ``tests/data/frames/v16.json``, ``v201.json`` and ``v21.json``; each file
documents its entry format in its ``about`` member. Every entry is fed into a fresh
``Connection(version)`` (after its optional ``call`` and ``before`` frames) and checked for:

* the events other than ``Transmit``, by class name and in order;
* the reply: exactly one ``Transmit`` holding ``[type, id, code, description, details]`` with
  type, id and code as expected (code spelled for the version), a non-empty description of at
  most 255 characters and an object as details - or no ``Transmit`` at all (``no_reply``);
* optional attributes of the first event (``fields``), and for an ``IncomingCall`` /
  ``IncomingSend`` / ``CallResult`` that its payload equals the payload on the wire.

Entries where the core contradicts the decision table of the protocol notes (§2.6) carry an
``xfail`` reason; their ``expect`` holds the behaviour the notes demand.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from ocpp_router import Connection
from ocpp_router._core import CallResult, IncomingCall, IncomingSend, ProtocolViolation, Transmit

DATA = Path(__file__).parents[1] / "data" / "frames"
FILES = {"1.6": "v16.json", "2.0.1": "v201.json", "2.1": "v21.json"}

CODES_16 = {
    "NotImplemented",
    "NotSupported",
    "InternalError",
    "ProtocolError",
    "SecurityError",
    "FormationViolation",
    "PropertyConstraintViolation",
    "OccurenceConstraintViolation",
    "TypeConstraintViolation",
    "GenericError",
}
CODES_2X = {
    "FormatViolation",
    "GenericError",
    "InternalError",
    "MessageTypeNotSupported",
    "NotImplemented",
    "NotSupported",
    "OccurrenceConstraintViolation",
    "PropertyConstraintViolation",
    "ProtocolError",
    "RpcFrameworkError",
    "SecurityError",
    "TypeConstraintViolation",
}
WIRE_CODES = {"1.6": CODES_16, "2.0.1": CODES_2X, "2.1": CODES_2X}

ENTRY_KEYS = {"name", "frame", "expect", "before", "call", "repeat", "xfail", "note"}
EXPECT_KEYS = {"reply", "no_reply", "events", "fields", "violation_code", "exact_payload"}


def _load(version: str) -> list[dict[str, Any]]:
    doc = json.loads((DATA / FILES[version]).read_text(encoding="utf-8"))
    assert doc["version"] == version
    entries: list[dict[str, Any]] = doc["frames"]
    return entries


def _params() -> list[Any]:
    params = []
    for version in FILES:
        for entry in _load(version):
            marks = [pytest.mark.xfail(strict=True, reason=entry["xfail"])] if "xfail" in entry else []
            params.append(pytest.param(version, entry, id=f"{version}: {entry['name']}", marks=marks))
    return params


def _expand(text: str, entry: dict[str, Any], call_id: str | None) -> str:
    for token, (piece, count) in entry.get("repeat", {}).items():
        text = text.replace(token, piece * count)
    if call_id is not None:
        text = text.replace("{call_id}", call_id)
    return text


def _substitute(value: Any, call_id: str | None) -> Any:
    if isinstance(value, str) and call_id is not None:
        return value.replace("{call_id}", call_id)
    return value


def _wire_payload(frame: str) -> Any:
    message = json.loads(frame)
    payload = message[2] if message[0] == 3 else message[3]
    return {} if payload is None else payload


@pytest.mark.parametrize("version", FILES)
def test_corpus_is_well_formed(version: str) -> None:
    entries = _load(version)
    names = [entry["name"] for entry in entries]
    assert len(names) == len(set(names)), "entry names must be unique"
    for entry in entries:
        assert set(entry) <= ENTRY_KEYS, entry["name"]
        expect = entry["expect"]
        assert set(expect) <= EXPECT_KEYS, entry["name"]
        assert ("reply" in expect) != bool(expect.get("no_reply")), entry["name"]
        assert isinstance(expect["events"], list), entry["name"]
        if "reply" in expect:
            assert expect["reply"]["code"] in WIRE_CODES[version], entry["name"]


@pytest.mark.parametrize(("version", "entry"), _params())
def test_frame(version: str, entry: dict[str, Any]) -> None:
    connection = Connection(version)
    call_id = None
    if "call" in entry:
        call_id, _ = connection.call(entry["call"]["action"], entry["call"]["payload"], 0.0, 30.0)
    for before in entry.get("before", []):
        connection.receive(_expand(before, entry, call_id), 0.0)
    frame = _expand(entry["frame"], entry, call_id)
    events = connection.receive(frame, 1.0)
    expect = entry["expect"]

    texts = [event.text for event in events if isinstance(event, Transmit)]
    others = [event for event in events if not isinstance(event, Transmit)]
    assert [type(event).__name__ for event in others] == expect["events"], events

    if expect.get("no_reply"):
        assert texts == []
    else:
        assert len(texts) == 1, texts
        reply = json.loads(texts[0])
        want = expect["reply"]
        assert reply[:3] == [want["type"], _substitute(want["id"], call_id), want["code"]]
        assert len(reply) == 5
        description, details = reply[3], reply[4]
        assert isinstance(description, str)
        assert 0 < len(description) <= 255
        assert isinstance(details, dict)
        if "details" in want:
            assert details == want["details"]
        # The reply is itself a well-formed frame: a peer reads it as an answer to nothing.
        peer_events = Connection(version).receive(texts[0], 0.0)
        expected_peer = "UnmatchedResponse" if want["type"] == 4 else "ResultErrorReceived"
        assert [type(event).__name__ for event in peer_events] == [expected_peer]

    if "fields" in expect:
        for name, value in expect["fields"].items():
            assert getattr(others[0], name) == _substitute(value, call_id), name
    if others and isinstance(others[0], IncomingCall | IncomingSend | CallResult):
        if expect.get("exact_payload", True):
            assert others[0].payload == _wire_payload(frame)
        assert others[0].violation is None
    if "violation_code" in expect:
        violation = next(event for event in others if isinstance(event, ProtocolViolation))
        assert violation.code == expect["violation_code"]
