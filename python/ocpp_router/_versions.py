"""OCPP versions the library speaks and their WebSocket subprotocol tokens."""

from __future__ import annotations

from typing import Final

V16: Final = "1.6"
V201: Final = "2.0.1"
V21: Final = "2.1"

#: Newest first: the default server preference when it picks among offered versions.
ALL_VERSIONS: Final[tuple[str, ...]] = (V21, V201, V16)

SUBPROTOCOLS: Final[dict[str, str]] = {V16: "ocpp1.6", V201: "ocpp2.0.1", V21: "ocpp2.1"}
VERSION_OF_SUBPROTOCOL: Final[dict[str, str]] = {token: version for version, token in SUBPROTOCOLS.items()}


def normalize_version(version: str) -> str:
    """Accept "1.6" or "ocpp1.6" (and friends); raise ValueError for anything else."""
    text = str(getattr(version, "value", version))
    text = VERSION_OF_SUBPROTOCOL.get(text, text)
    if text not in SUBPROTOCOLS:
        raise ValueError(f"unknown OCPP version {version!r}; use one of {', '.join(ALL_VERSIONS)}")
    return text
