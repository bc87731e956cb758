"""The documentation: its Python examples run, its site builds.

**The rule for ```python blocks in docs/*.md** (README.md has tests/test_readme.py):

1. A doc listed in ``DEDICATED`` has its own test module, which executes its blocks (with
   the fixtures they need); this module only checks that the module exists and names the doc.
2. Every other block is executed here, in a fresh namespace whose ``__name__`` is not
   ``"__main__"`` (so an ``if __name__ == "__main__": trio.run(main)`` guard does not fire);
   when the block defines ``async def main()``, it is then awaited under trio (bounded).
   Blocks that need a server start one in-process on loopback (``127.0.0.1``, port 0).
3. A block preceded by ``<!-- not executed: REASON -->`` (blank lines between allowed) is a
   fragment (top-level ``await``, an external service such as Valkey): it is compiled only
   (syntax, top-level ``await`` allowed), and REASON must say why.

Any new doc page must also be in the ``nav`` of mkdocs.yml; ``mkdocs build --strict`` (links,
anchors, pages left out of the nav, API reference) runs here when mkdocs is installed (the
dev dependencies include it).
"""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import trio

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"

#: Docs whose examples a dedicated test executes (doc name -> test module).
DEDICATED = {
    "v16-plugins.md": "tests/v16/test_docs_examples.py",
    "v201-plugins.md": "tests/v201/test_docs_examples.py",
    "gateway.md": "tests/gateway/test_docs.py",
}

_FENCE = re.compile(r"^```(\w*)\s*$")
_NOT_EXECUTED = re.compile(r"^<!-- not executed: (.+?) -->$")


@dataclass(frozen=True)
class Block:
    doc: str
    line: int
    """1-based line of the opening fence."""
    code: str
    skip_reason: str | None

    @property
    def id(self) -> str:
        return f"{self.doc}:{self.line}"


def python_blocks(path: Path) -> list[Block]:
    """The ```python blocks of one Markdown file, with their ``not executed`` markers."""
    blocks: list[Block] = []
    lines = path.read_text(encoding="utf-8").splitlines()
    inside: str | None = None
    start = 0
    body: list[str] = []
    for number, line in enumerate(lines, 1):
        fence = _FENCE.match(line)
        if inside is None and fence is not None:
            inside, start, body = fence.group(1), number, []
        elif inside is not None and line.strip() == "```":
            if inside == "python":
                before = [text for text in lines[: start - 1] if text.strip()]
                marker = _NOT_EXECUTED.match(before[-1].strip()) if before else None
                blocks.append(Block(path.name, start, "\n".join(body) + "\n", marker.group(1) if marker else None))
            inside = None
        elif inside is not None:
            body.append(line)
    assert inside is None, f"{path.name}: a code block opened on line {start} is never closed"
    return blocks


def _docs() -> list[Path]:
    return sorted(DOCS.glob("*.md"))


EXECUTED = [block for doc in _docs() if doc.name not in DEDICATED for block in python_blocks(doc)]


def test_the_rule_covers_every_block() -> None:
    for doc in _docs():
        for block in python_blocks(doc):
            if block.skip_reason is not None:
                assert len(block.skip_reason.split()) >= 3, f"{block.id}: say why it is not executed"
            assert doc.name not in DEDICATED or block.skip_reason is None, (
                f"{block.id}: {DEDICATED[doc.name]} executes this doc's blocks; no markers there"
            )
    for name, test in DEDICATED.items():
        assert (DOCS / name).exists(), f"DEDICATED names docs/{name}, which is gone"
        assert name in (ROOT / test).read_text(encoding="utf-8"), f"{test} does not read docs/{name}"
    assert EXECUTED, "no python block found: the block parser is broken"


@pytest.mark.parametrize("block", EXECUTED, ids=[b.id for b in EXECUTED])
async def test_example(block: Block) -> None:
    filename = str(DOCS / block.doc)
    source = "\n" * (block.line) + block.code  # tracebacks point at the doc's own lines
    if block.skip_reason is not None:
        compile(source, filename, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
        return
    namespace: dict[str, Any] = {"__name__": f"docs_{Path(block.doc).stem.replace('-', '_')}_{block.line}"}
    exec(compile(source, filename, "exec"), namespace)
    main = namespace.get("main")
    if main is not None:
        with trio.fail_after(60):
            await main()


def test_every_doc_page_is_in_the_site_navigation() -> None:
    config = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    nav = config[config.index("\nnav:") :]
    for doc in _docs():
        assert re.search(rf":\s+{re.escape(doc.name)}\s*$", nav, flags=re.M), (
            f"docs/{doc.name} is not in the nav of mkdocs.yml (add it where it belongs)"
        )


def test_site_builds_strict(tmp_path: Path) -> None:
    pytest.importorskip("mkdocs", reason="mkdocs is not installed (pip install -e '.[docs]')")
    pytest.importorskip("mkdocstrings_handlers.python", reason="mkdocstrings[python] is not installed")
    site = tmp_path / "site"
    environment = {k: v for k, v in os.environ.items() if not k.startswith("OCPP_ROUTER_")}
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet", "--site-dir", str(site)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env=environment,
        check=False,
    )
    assert result.returncode == 0, f"mkdocs build --strict failed:\n{result.stdout}\n{result.stderr}"
    pages = {page.name for page in site.glob("*.html")}
    assert {"index.html", "quickstart.html", "concepts.html", "benchmarks.html", "cli.html", "api.html"} <= pages
    assert {doc.with_suffix(".html").name for doc in _docs()} <= pages
    quickstart = (site / "quickstart.html").read_text(encoding="utf-8")
    assert "A complete CSMS in ~20 lines" in quickstart and 'href="concepts.html"' in quickstart
    concepts = (site / "concepts.html").read_text(encoding="utf-8")
    assert "Calls to charge points." in concepts  # README's section, included
    assert "ocpp-router serve --help" in (site / "cli.html").read_text(encoding="utf-8")
    api = (site / "api.html").read_text(encoding="utf-8")
    assert 'id="ocpp_router.Server"' in api and 'id="ocpp_router.csms.Csms"' in api
