"""The examples of docs/v16-plugins.md run as written.

Each ``python`` block is self-contained: ``build()`` returns the ``Server`` it documents and
``example()`` drives that server in-process through ``ocpp_router.testing.connect`` (a
simulated charge point), with the real plugins, router and Rust core underneath.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import trio
from ocpp_router import Server

DOC = Path(__file__).parents[2] / "docs" / "v16-plugins.md"
PROFILES = [
    "All profiles at once",
    "Core",
    "Firmware Management",
    "Local Auth List Management",
    "Reservation",
    "Smart Charging",
    "Remote Trigger",
    "Security extension",
]


def sections() -> dict[str, list[str]]:
    """Python blocks per ``##`` section."""
    found: dict[str, list[str]] = {}
    for part in DOC.read_text().split("\n## ")[1:]:
        heading, _, body = part.partition("\n")
        found[heading.strip()] = re.findall(r"```python\n(.*?)```", body, flags=re.S)
    return found


def test_one_example_per_profile() -> None:
    assert {name: len(blocks) for name, blocks in sections().items()} == dict.fromkeys(PROFILES, 1)


@pytest.mark.parametrize("section", PROFILES)
async def test_example_runs(section: str) -> None:
    [block] = sections()[section]
    namespace: dict[str, Any] = {"__name__": f"v16_plugins_doc_{section.lower().replace(' ', '_')}"}
    exec(compile(block, f"{DOC} ({section})", "exec"), namespace)
    assert isinstance(namespace["build"](), Server)
    with trio.fail_after(10):
        await namespace["example"]()
