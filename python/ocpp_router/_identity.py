"""Charge point identity from the request path (protocol notes §1.2)."""

from __future__ import annotations

from urllib.parse import unquote

__all__ = ["identity_from_path"]


def identity_from_path(path: str) -> str | None:
    """The last path segment, percent-decoded exactly once; None when there is none.

    The query string is ignored. A trailing ``/`` leaves an empty last segment, which is
    not an identity: ``/ocpp/CP1/`` is refused rather than guessed at.
    """
    path = path.split("?", 1)[0].split("#", 1)[0]
    segment = path.rsplit("/", 1)[-1]
    if not segment:
        return None
    if "%" in segment:
        try:
            segment = unquote(segment, errors="strict")
        except UnicodeDecodeError:
            return None
    return segment or None
