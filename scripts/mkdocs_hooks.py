"""MkDocs hooks of the documentation site (``make docs``; ``mkdocs.yml`` names this file).

The Markdown under ``docs/`` stays readable on its own (on a code host, in an editor): its
links are ordinary relative paths into the repository. At build time these hooks

* add pages whose source lives elsewhere: ``quickstart.md`` (README.md without the sections
  that have pages of their own) and ``benchmarks.md`` (benches/README.md);
* expand ``<!-- include: PATH#section -->`` ... ``<!-- end include -->`` regions with that
  ``##`` section of PATH (the text between the markers is the fallback a reader of the raw
  file sees), and ``<!-- cli-help -->`` with the ``--help`` of every ``ocpp-router``
  subcommand, so the CLI reference cannot drift from the parser;
* rewrite links that leave ``docs/``: README.md and benches/README.md to their pages, other
  repository files to their path as code (the site has no copy of them).
"""

from __future__ import annotations

import argparse
import os
import posixpath
import re
from pathlib import Path
from typing import Any

from mkdocs.structure.files import File, Files

ROOT = Path(__file__).resolve().parents[1]
DOCS = "docs"

#: Repository files published as pages, by their path in the repository.
GENERATED = {"README.md": "quickstart.md", "benches/README.md": "benchmarks.md"}
#: README sections that are pages of their own (concepts.md, security.md include them).
SPLIT_OFF = {"concepts": "concepts.md", "security": "security.md"}

_FENCE = re.compile(r"^(```|~~~)")
_LINK = re.compile(r"(!?)\[([^\]]*)\]\(([^)\s]+)\)")
_INCLUDE = re.compile(r"<!-- include: (\S+?)#([\w-]+) -->\n.*?<!-- end include -->\n?", re.S)


def _slug(heading: str) -> str:
    text = re.sub(r"[`*_]", "", heading).strip().lower()
    return re.sub(r"[^\w]+", "-", text).strip("-")


def sections(markdown: str) -> list[tuple[str | None, str]]:
    """``(slug of the ## heading or None for the top, text)`` parts, fences respected."""
    parts: list[tuple[str | None, list[str]]] = [(None, [])]
    fenced = False
    for line in markdown.splitlines(keepends=True):
        if _FENCE.match(line):
            fenced = not fenced
        if not fenced and line.startswith("## "):
            parts.append((_slug(line[3:]), []))
        parts[-1][1].append(line)
    return [(slug, "".join(lines)) for slug, lines in parts]


def section(path: str, slug: str) -> str:
    """The body of the ``## `` section ``slug`` of a repository file (without its heading)."""
    for found, text in sections((ROOT / path).read_text(encoding="utf-8")):
        if found == slug:
            return text.split("\n", 1)[1].lstrip("\n")
    raise ValueError(f"{path} has no section #{slug}")


def rewrite_links(markdown: str, source: str) -> str:
    """Links of ``markdown`` (a repository file at ``source``) as seen from the site root."""
    base = posixpath.dirname(source)
    out: list[str] = []
    fenced = False
    for line in markdown.splitlines(keepends=True):
        if _FENCE.match(line):
            fenced = not fenced
        out.append(line if fenced else _LINK.sub(lambda m: _link(m, base), line))
    return "".join(out)


def _link(match: re.Match[str], base: str) -> str:
    bang, text, target = match.groups()
    if re.match(r"^([a-z][a-z0-9+.-]*:|#|/)", target):
        return match.group(0)  # absolute URL, anchor, site-absolute path
    path, _, anchor = target.partition("#")
    resolved = posixpath.normpath(posixpath.join(base, path))
    fragment = f"#{anchor}" if anchor else ""
    if resolved in GENERATED:
        return f"{bang}[{text}]({GENERATED[resolved]}{fragment})"
    if resolved.startswith(f"{DOCS}/"):
        return f"{bang}[{text}]({resolved[len(DOCS) + 1 :]}{fragment})"
    # A repository file the site does not carry: name it.
    shown = text.strip("`")
    return f"`{resolved}`" if shown in (resolved, path) else f"{text} (`{resolved}`)"


def quickstart() -> str:
    """README.md for the site: the sections with pages of their own become pointers."""
    parts = []
    for slug, text in sections((ROOT / "README.md").read_text(encoding="utf-8")):
        if slug in SPLIT_OFF:
            heading = text.split("\n", 1)[0]
            parts.append(f"{heading}\n\nSee [{heading[3:]}]({DOCS}/{SPLIT_OFF[slug]}).\n\n")
        else:
            parts.append(text)
    return "".join(parts)


def cli_help() -> str:
    """``ocpp-router --help`` and the help of each subcommand, as Markdown."""
    from ocpp_router._cli import _parser

    columns = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = "100"  # argparse wraps to the terminal: the same text on every machine
    try:
        parser = _parser()
        blocks = [("ocpp-router --help", parser.format_help())]
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    blocks.append((f"ocpp-router {name} --help", sub.format_help()))
    finally:
        if columns is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = columns
    return "\n".join(f"### `{title}`\n\n```text\n{text.rstrip()}\n```\n" for title, text in blocks)


# -- MkDocs events ------------------------------------------------------------------------------


def on_files(files: Files, config: Any) -> Files:
    files.append(File.generated(config, GENERATED["README.md"], content=quickstart()))
    bench = (ROOT / "benches" / "README.md").read_text(encoding="utf-8")
    files.append(File.generated(config, GENERATED["benches/README.md"], content=bench))
    return files


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    uri = page.file.src_uri
    source = next((repo for repo, site in GENERATED.items() if site == uri), f"{DOCS}/{uri}")

    def include(match: re.Match[str]) -> str:
        path = posixpath.normpath(posixpath.join(posixpath.dirname(source), match.group(1)))
        return rewrite_links(section(path, match.group(2)), path)

    markdown = rewrite_links(markdown, source)
    markdown = _INCLUDE.sub(include, markdown)
    return markdown.replace("<!-- cli-help -->", cli_help())
