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
BLOCKS = "ABCDEFGH"


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


def _table_rows() -> list[list[str]]:
    start = TEXT.index("## Every 2.0.1 action")
    end = TEXT.index("\n## ", start + 1)
    rows = []
    for line in TEXT[start:end].splitlines():
        if line.startswith("|") and not line.startswith("|---"):
            rows.append([cell.strip() for cell in line.strip("|").split("|")])
    return rows[1:]  # without the header


def test_the_action_table_lists_every_action_once() -> None:
    actions = [row[0] for row in _table_rows()]
    assert len(actions) == len(set(actions)) == 64
    assert set(actions) == {a.value for a in v201.Action}


def test_blocks_a_to_h_are_handled_and_the_rest_planned() -> None:
    from ocpp_router import Server
    from ocpp_router.v201.plugins import plugins

    server = Server(versions=["2.0.1"])
    server.install(*plugins())
    handled = server.router.actions("2.0.1")
    for action, block, direction, handler in _table_rows():
        if block[0] in BLOCKS:
            assert handler != "planned", action
            if direction == "CS→CSMS":
                assert action in handled, f"{action} is listed as handled but has no handler"
        else:
            assert handler == "planned", action
            assert action not in handled
