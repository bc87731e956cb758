"""Per-charge-point validation: rules chosen by identity or by BootNotification vendor/model.

Real stations deviate from the schemas in known ways (see ``SchemaRegistry.relaxation_names()``).
A ``ValidationRule`` names the stations it applies to and what to relax for them; the server
applies matching rules when a session starts (identity rules, and vendor/model rules
remembered from an earlier BootNotification) and again when a BootNotification arrives.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from ._core import SchemaRegistry

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from ._session import ChargePoint
    from ._storage import Storage

__all__ = ["ValidationRule", "ValidationRules"]

Mode = Literal["strict", "lenient", "off"]

#: Storage namespace remembering each station's last BootNotification vendor/model.
NAMESPACE = "validation"


@dataclass(frozen=True)
class ValidationRule:
    """What to relax for the charge points it matches (every given pattern must match).

    Patterns are regular expressions matched against the whole value.
    """

    identity: str | None = None
    vendor: str | None = None
    model: str | None = None
    relaxations: Sequence[str] = ()
    """Names from ``SchemaRegistry.relaxation_names()``."""
    mode: Mode | None = None
    """Incoming validation mode for every action of these stations."""
    actions: Mapping[str, Mode] = field(default_factory=dict)
    """Per-action incoming validation modes."""

    def __post_init__(self) -> None:
        unknown = set(self.relaxations) - set(SchemaRegistry.relaxation_names())
        if unknown:
            raise ValueError(f"unknown relaxations: {', '.join(sorted(unknown))}")

    def matches(self, identity: str, vendor: str | None, model: str | None) -> bool:
        def ok(pattern: str | None, value: str | None) -> bool:
            return pattern is None or (value is not None and re.fullmatch(pattern, value) is not None)

        if self.identity is None and self.vendor is None and self.model is None:
            return True
        return ok(self.identity, identity) and ok(self.vendor, vendor) and ok(self.model, model)


def boot_vendor_model(version: str, payload: Mapping[str, Any]) -> tuple[str | None, str | None]:
    if version == "1.6":
        return payload.get("chargePointVendor"), payload.get("chargePointModel")
    station = payload.get("chargingStation") or {}
    return station.get("vendorName"), station.get("model")


class ValidationRules:
    """Applies ``ValidationRule``s to sessions; relaxed registries are built once and shared."""

    def __init__(self, rules: Sequence[ValidationRule], registries: Mapping[str, SchemaRegistry]) -> None:
        self.rules = tuple(rules)
        self._base = registries
        self._relaxed: dict[tuple[str, tuple[str, ...]], SchemaRegistry] = {}

    def _registry(self, version: str, names: tuple[str, ...]) -> SchemaRegistry:
        key = (version, names)
        registry = self._relaxed.get(key)
        if registry is None:
            base = self._base.get(version) or SchemaRegistry.bundled(version)
            registry = self._relaxed[key] = base.relaxed(list(names)) if names else base
        return registry

    def apply(self, cp: ChargePoint, vendor: str | None, model: str | None) -> list[ValidationRule]:
        """Configure ``cp``'s validation from the rules that match; returns them."""
        matched = [rule for rule in self.rules if rule.matches(cp.id, vendor, model)]
        names = tuple(sorted({name for rule in matched for name in rule.relaxations}))
        conn = cp.connection
        conn.set_registry(self._registry(cp.version, names))
        mode = next((rule.mode for rule in reversed(matched) if rule.mode is not None), None)
        conn.set_incoming_mode(mode or cp.options.incoming_validation)
        for rule in matched:
            for action, action_mode in rule.actions.items():
                conn.set_action_mode(action, action_mode)
        return matched

    async def on_session_start(self, cp: ChargePoint, storage: Storage) -> None:
        remembered = await storage.get(NAMESPACE, cp.id, "boot") or {}
        self.apply(cp, remembered.get("vendor"), remembered.get("model"))

    async def on_boot(self, cp: ChargePoint, payload: Mapping[str, Any], storage: Storage) -> None:
        vendor, model = boot_vendor_model(cp.version, payload)
        self.apply(cp, vendor, model)
        await storage.set(NAMESPACE, cp.id, "boot", {"vendor": vendor, "model": model})
