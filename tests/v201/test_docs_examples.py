"""``docs/v201-plugins.md``: every Python example runs, and the action table is complete."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import trio
from ocpp_router import v201

DOC = Path(__file__).resolve().parents[2] / "docs" / "v201-plugins.md"
TEXT = DOC.read_text(encoding="utf-8")
BLOCKS = "ABCDEFGHIJKLMNOP"


def _examples() -> list[tuple[str, str]]:
    """(section heading, code) for each ```python block."""
    found = []
    section = "intro"
    for chunk in re.split(r"^(## .*)$", TEXT, flags=re.MULTILINE):
        if chunk.startswith("## "):
            section = chunk[3:].strip()
            continue
        found.extend((section, code) for code in re.findall(r"```python\n(.*?)```", chunk, flags=re.DOTALL))
    return found


EXAMPLES = _examples()


def test_every_block_has_a_section_with_an_example() -> None:
    sections = {section for section, _ in EXAMPLES}
    for block in BLOCKS:
        assert any(s.startswith(f"{block} ") for s in sections), f"no runnable example for block {block}"


@pytest.mark.parametrize(("section", "code"), EXAMPLES, ids=[s for s, _ in EXAMPLES])
async def test_example_runs(section: str, code: str) -> None:
    namespace: dict[str, Any] = {"__name__": "docs_example"}
    exec(compile(code, f"{DOC.name}:{section}", "exec"), namespace)
    main = namespace.get("main")
    if main is not None:
        with trio.fail_after(15):
            await main()


def _table_rows(heading: str = "## Every 2.0.1 action") -> list[list[str]]:
    start = TEXT.index(heading)
    end = TEXT.find("\n#", start + 1)
    rows = []
    for line in TEXT[start : end if end != -1 else None].splitlines():
        if line.startswith("|") and not line.startswith("|---"):
            rows.append([cell.strip() for cell in line.strip("|").split("|")])
    return rows[1:]  # without the header


def test_the_action_table_lists_every_action_once() -> None:
    actions = [row[0] for row in _table_rows()]
    assert len(actions) == len(set(actions)) == 64
    assert set(actions) == {a.value for a in v201.Action}


def test_every_action_is_handled() -> None:
    from ocpp_router import Server
    from ocpp_router.v201.plugins import plugins

    server = Server(versions=["2.0.1"])
    server.install(*plugins())
    handled = server.router.actions("2.0.1")
    for action, block, direction, handler in _table_rows():
        assert block[0] in BLOCKS
        assert handler != "planned", action
        if direction in ("CS→CSMS", "both"):
            assert action in handled, f"{action} is listed as handled but has no handler"
    assert handled == {a.value for a in v201.Action if a.value not in _csms_only()}


def _csms_only() -> set[str]:
    return {row[0] for row in _table_rows() if row[2] == "CSMS→CS"}


def test_every_2_1_only_action_is_listed() -> None:
    from ocpp_router import Server, v21
    from ocpp_router.v201.plugins import plugins

    server = Server(versions=["2.0.1", "2.1"])
    server.install(*plugins())
    handled_21, handled_201 = server.router.actions("2.1"), server.router.actions("2.0.1")
    rows = _table_rows("### 2.1-only actions")
    new_in_21 = {a.value for a in v21.Action} - {a.value for a in v201.Action}
    assert sorted(row[0] for row in rows) == sorted(new_in_21)
    for action, _block, direction, handler in rows:
        assert action not in handled_201, f"{action} does not exist in 2.0.1"
        if handler == "not covered":
            assert action not in handled_21, action
        elif direction == "CS→CSMS":
            assert action in handled_21, f"{action} is listed as handled but has no handler"
