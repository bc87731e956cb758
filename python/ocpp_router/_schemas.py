"""Load schema sets other than the bundled ones (newer OCA editions, vendor messages)."""

from __future__ import annotations

from pathlib import Path

from ._core import SchemaRegistry
from ._versions import normalize_version

__all__ = ["load_schema_directory"]


def load_schema_directory(version: str, directory: str | Path) -> SchemaRegistry:
    """Compile every ``*.json`` schema file in ``directory`` for ``version``.

    Files are named as the OCA publishes them: ``<Action>Request.json`` /
    ``<Action>Response.json`` for 2.x, ``<Action>.json`` / ``<Action>Response.json`` for 1.6.
    Raises ``ValueError`` naming the file that does not parse or compile.
    """
    path = Path(directory)
    files = {p.stem: p.read_text(encoding="utf-8") for p in sorted(path.glob("*.json"))}
    if not files:
        raise ValueError(f"no *.json schema files in {path}")
    return SchemaRegistry.from_files(normalize_version(version), files)
