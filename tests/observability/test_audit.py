"""The audit log: every frame of a simulated run on disk, rotation, recent frames per identity."""

import re
from pathlib import Path
from typing import Any

import orjson
import pytest
import trio
import trio.lowlevel
from ocpp_router import Hooks, Server, default_router
from ocpp_router.observability import AuditFrame, AuditLog, compose_hooks, open_audit_log
from ocpp_router.observability.audit import rfc3339_ms
from ocpp_router.simulator import Simulation, SimulationConfig

RFC3339_MS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


def read_lines(audit: AuditLog) -> list[dict[str, Any]]:
    """Every line of every file, oldest file first."""
    lines: list[dict[str, Any]] = []
    for path in reversed(audit.files()):
        lines.extend(orjson.loads(line) for line in path.read_bytes().splitlines())
    return lines


def file_sizes(audit: AuditLog) -> dict[str, int]:
    """Name → size of every file in the log's directory, newest first."""
    assert audit.path is not None
    files = sorted(audit.path.parent.iterdir(), key=lambda p: (len(p.name), p.name))
    return {p.name: p.stat().st_size for p in files}


async def test_every_frame_of_a_simulated_run_is_in_the_log(tmp_path: Path) -> None:
    seen: list[tuple[str, str]] = []

    async def app_tap(cp: Any, direction: str, text: str) -> None:  # the app's own hook keeps working
        seen.append((cp.id, direction))

    server = Server(default_router(), hooks=Hooks(on_message=app_tap))
    audit = AuditLog(tmp_path / "audit.jsonl", flush_interval=0.2)
    audit.attach(server)
    with trio.fail_after(40):
        async with trio.open_nursery() as nursery:
            await nursery.start(audit.run)
            await nursery.start(server.serve, "127.0.0.1", 0)
            config = SimulationConfig(
                f"ws://127.0.0.1:{server.port}/ocpp",
                count=24,
                version="mixed",
                duration=3,
                meter_interval=0.5,
                transaction_duration=1.0,
                idle_time=0.3,
                seed=1,
            )
            stats = await Simulation(config).run()
            await audit.aclose()
            await server.aclose(grace_period=1)
            nursery.cancel_scope.cancel()

    assert stats.error_count == 0, stats.summary_table()
    assert stats.transactions_started > 0 and stats.meter_values > 0
    lines = read_lines(audit)
    # The simulator's side of the wire and the log agree frame for frame, both directions.
    assert sum(1 for line in lines if line["direction"] == "in") == stats.frames_out
    assert sum(1 for line in lines if line["direction"] == "out") == stats.frames_in
    assert len(lines) == stats.frames_in + stats.frames_out == len(seen)
    assert audit.frames_written == len(lines)
    for line in lines:
        assert set(line) == {"time", "direction", "identity", "version", "frame"}
        assert RFC3339_MS.fullmatch(line["time"])
        assert line["version"] == ("1.6" if int(line["identity"].split("-")[1]) % 2 else "2.0.1")
        assert orjson.loads(line["frame"])[0] in (2, 3, 4)
    assert {line["identity"] for line in lines} == {f"SIM-{n:05d}" for n in range(1, 25)}
    # Per charge point the log keeps the wire order: each answer follows its call.
    first = [line for line in lines if line["identity"] == "SIM-00001"]
    for call, answer in zip(first[::2], first[1::2], strict=True):
        assert orjson.loads(call["frame"])[1] == orjson.loads(answer["frame"])[1]
    # Recent frames per identity come from memory, newest last.
    recent = audit.recent_frames("SIM-00001", 3)
    assert [f.to_dict() for f in recent] == first[-3:]


async def test_rotation_keeps_the_newest_files(tmp_path: Path) -> None:
    path = tmp_path / "logs" / "audit.jsonl"
    audit = AuditLog(path, max_bytes=2_000, keep=3, flush_bytes=500)
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            await nursery.start(audit.run)
            for n in range(400):
                audit.record("CP1", "1.6", "in", f'[2,"{n}","Heartbeat",{{}}]')
                if n % 50 == 0:
                    await trio.lowlevel.checkpoint()
            await audit.aclose()
    sizes = file_sizes(audit)
    assert list(sizes) == ["audit.jsonl", "audit.jsonl.1", "audit.jsonl.2", "audit.jsonl.3"]  # older: deleted
    assert all(0 < size <= 2_000 for size in sizes.values())
    ids = [int(orjson.loads(line["frame"])[1]) for line in read_lines(audit)]
    # What is left is the newest frames, in order, none missing in between.
    assert ids == list(range(ids[0], 400))
    assert ids[0] > 0
    assert audit.frames_written == 400


async def test_rotation_without_backups_and_reopening_an_existing_file(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    path.write_bytes(b'{"old": true}\n')
    async with open_audit_log(path, max_bytes=300, keep=0) as audit:
        for n in range(20):
            audit.record("CP", "2.0.1", "out", f'[3,"{n}",{{}}]')
    assert list(file_sizes(audit)) == ["audit.jsonl"]
    kept = read_lines(audit)
    assert kept and "old" not in kept[0]
    assert kept[-1]["frame"] == '[3,"19",{}]'


def test_recent_frames_is_a_bounded_ring_per_identity() -> None:
    audit = AuditLog(None, ring_size=5, max_identities=2)
    for n in range(12):
        audit.record("CP1", "1.6", "in" if n % 2 else "out", f"frame {n}", when=1_700_000_000.25 + n)
    audit.record("CP2", "2.0.1", "in", "hello")
    recent = audit.recent_frames("CP1", 3)
    assert [f.frame for f in recent] == ["frame 9", "frame 10", "frame 11"]
    assert recent[-1] == AuditFrame("2023-11-14T22:13:31.250Z", "in", "CP1", "1.6", "frame 11")
    assert len(audit.recent_frames("CP1")) == 5
    assert audit.recent_frames("CP1", 0) == []
    assert audit.recent_frames("nobody") == []
    audit.record("CP3", "2.1", "in", "x")  # a third identity evicts the least recently active
    assert audit.identities() == ["CP2", "CP3"]
    assert audit.files() == []
    assert orjson.loads(orjson.dumps(recent[0])) == recent[0].to_dict()


def test_rfc3339_milliseconds() -> None:
    assert rfc3339_ms(0) == "1970-01-01T00:00:00.000Z"
    assert rfc3339_ms(1_714_557_600.9999) == "2024-05-01T10:00:00.999Z"
    assert RFC3339_MS.fullmatch(rfc3339_ms())


async def test_frames_with_lone_surrogates_are_logged_not_dropped(tmp_path: Path) -> None:
    async with open_audit_log(tmp_path / "a.jsonl") as audit:
        audit.record("CP", "1.6", "in", "bad \ud800 text")
    (line,) = read_lines(audit)
    assert line["frame"] == "bad ? text"


async def test_compose_hooks_runs_every_hook_in_order() -> None:
    calls: list[str] = []

    async def first(cp: Any, direction: str, text: str) -> None:
        calls.append("first")

    async def second(cp: Any, direction: str, text: str) -> None:
        calls.append("second")

    async def allow(handshake: Any, identity: str) -> bool | None:
        calls.append(f"allow {identity}")
        return None

    async def refuse(handshake: Any, identity: str) -> bool | None:
        calls.append(f"refuse {identity}")
        return False

    def violation(cp: Any, code: str, description: str) -> None:
        calls.append(code)

    only = Hooks(on_message=first)
    assert compose_hooks(only, None).on_message is first  # a single hook is used as is
    assert compose_hooks(only).on_connected is None  # unset stays unset (free)
    hooks = compose_hooks(
        Hooks(on_message=first, on_connect=refuse),
        Hooks(on_message=second, on_connect=allow, on_protocol_violation=violation),
    )
    assert hooks.on_message is not None and hooks.on_connect is not None and hooks.on_protocol_violation is not None
    await hooks.on_message(None, "in", "x")  # type: ignore[arg-type]
    assert await hooks.on_connect(None, "CP1") is False  # type: ignore[arg-type]
    hooks.on_protocol_violation(None, "FormationViolation", "")  # type: ignore[arg-type]
    assert calls == ["first", "second", "refuse CP1", "FormationViolation"]


@pytest.mark.parametrize("bad", [{"max_bytes": -1}, {"keep": -1}, {"flush_interval": 0}])
def test_bad_settings_are_refused(bad: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="must be"):
        AuditLog(None, **bad)
