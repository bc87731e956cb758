"""Interception: hooks on every relayed message, and the two built-in policies.

An ``Interceptor`` sees each relayed CALL three times at most:

* ``request(message)`` before it is relayed: return ``None`` to pass it on (after changing
  ``message.payload`` in place, if you like), ``Answer(payload)`` to answer the sender
  yourself (nothing is relayed), or ``Drop(...)`` to drop it and answer the sender with a
  CALLERROR. Raising an ``ocpp_router.errors`` wire-code error does the same as ``Drop``.
* ``offline(message)`` when a wallbox message cannot be relayed because the upstream CSMS
  is unreachable (transaction messages excepted: those are queued): same return values.
* ``response(message, response)`` on the answer about to go back to the sender (relayed or
  local): return a replacement dict, or ``None`` to keep it.

Interceptors run in registration order; the first ``Answer``/``Drop`` wins. A message's
``direction`` is ``"to_csms"`` (the wallbox's CALL) or ``"to_wallbox"`` (the CSMS's CALL);
``version`` is the sender's OCPP version.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from ..errors import GenericError, OcppError, error_class_for_code

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Iterable

    from ._link import Link

__all__ = [
    "AllowList",
    "Answer",
    "Decision",
    "Drop",
    "Interceptor",
    "LocalCap",
    "Relayed",
]

log = logging.getLogger("ocpp_router.gateway")

Direction = Literal["to_csms", "to_wallbox"]


@dataclass(slots=True)
class Relayed:
    """One CALL passing through the gateway."""

    link: Link
    """The wallbox's link (``.identity``, ``.config``, ``.online``, ``.local``, ``.upstream``)."""
    direction: Direction
    action: str
    payload: dict[str, Any]
    """Change it in place (or assign a new dict) to relay something else."""
    version: str
    """The OCPP version of ``action``/``payload`` (the sender's)."""
    answered_locally: bool = False
    """In ``response``: the answer comes from the gateway, not from the other side."""
    state: dict[str, Any] = field(default_factory=dict)
    """Scratch space shared by the stages of one message."""

    @property
    def identity(self) -> str:
        """The wallbox's local identity."""
        return self.link.identity

    @property
    def upstream_online(self) -> bool:
        return self.link.online


@dataclass(frozen=True, slots=True)
class Answer:
    """Answer the sender with this CALLRESULT payload; nothing is relayed."""

    payload: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Drop:
    """Drop the message; the sender gets a CALLERROR (``code`` in any version's spelling)."""

    description: str = "dropped by the gateway"
    code: str = "GenericError"

    def error(self) -> OcppError:
        return error_class_for_code(self.code)(self.description)


Decision = Answer | Drop


class Interceptor:
    """Base class: override the stages you need (each is a no-op here)."""

    def attach(self, gateway: Any) -> None:
        """Called once when added to a gateway (``Gateway.intercept``)."""

    async def request(self, message: Relayed) -> Decision | None:
        return None

    async def offline(self, message: Relayed) -> Decision | None:
        return None

    async def response(self, message: Relayed, response: dict[str, Any]) -> dict[str, Any] | None:
        return None


class FunctionInterceptor(Interceptor):
    """``gateway.intercept(async_fn)``: a plain function as the ``request`` stage."""

    def __init__(self, fn: Callable[[Relayed], Awaitable[Decision | None]]) -> None:
        self.fn = fn

    async def request(self, message: Relayed) -> Decision | None:
        return await self.fn(message)

    def __repr__(self) -> str:
        return f"<FunctionInterceptor {getattr(self.fn, '__qualname__', self.fn)}>"


def decided(decision: Decision | None) -> dict[str, Any] | None:
    """The local answer for a decision (raises the CALLERROR of a ``Drop``)."""
    if decision is None:
        return None
    if isinstance(decision, Drop):
        raise decision.error()
    if isinstance(decision, Answer):
        return dict(decision.payload)
    raise GenericError(f"an interceptor returned {decision!r}, not Answer/Drop/None")


# -- the local id-tag allow-list ------------------------------------------------------------


class AllowList(Interceptor):
    """Id tags the gateway authorises itself.

    ``mode="offline"`` (default): Authorize is answered from the list only while the upstream
    CSMS is unreachable; ``"always"``: the upstream is never asked. Tags compare
    case-insensitively (1.6 ``CiString20``, 2.x ``idToken``). A listed tag is ``Accepted``;
    any other is ``Invalid`` (1.6) / ``Unknown`` (2.x). The list also decides the
    ``idTagInfo``/``idTokenInfo`` of transaction messages answered while offline.
    """

    def __init__(self, id_tags: Iterable[str] = (), *, mode: Literal["offline", "always"] = "offline") -> None:
        if mode not in ("offline", "always"):
            raise ValueError("mode must be 'offline' or 'always'")
        self.mode = mode
        self._tags = {tag.casefold() for tag in id_tags}

    def add(self, id_tag: str) -> None:
        self._tags.add(id_tag.casefold())

    def remove(self, id_tag: str) -> None:
        self._tags.discard(id_tag.casefold())

    def __contains__(self, id_tag: object) -> bool:
        return isinstance(id_tag, str) and id_tag.casefold() in self._tags

    def __len__(self) -> int:
        return len(self._tags)

    def status(self, version: str, id_tag: str) -> str:
        """The verdict for ``id_tag`` in ``version``'s vocabulary."""
        if id_tag in self:
            return "Accepted"
        return "Invalid" if version == "1.6" else "Unknown"

    def answer(self, version: str, payload: dict[str, Any]) -> dict[str, Any]:
        """The Authorize response for ``payload``."""
        if version == "1.6":
            return {"idTagInfo": {"status": self.status(version, str(payload.get("idTag", "")))}}
        token = payload.get("idToken") or {}
        return {"idTokenInfo": {"status": self.status(version, str(token.get("idToken", "")))}}

    async def request(self, message: Relayed) -> Decision | None:
        if self.mode == "always" and message.direction == "to_csms" and message.action == "Authorize":
            return Answer(self.answer(message.version, message.payload))
        return None

    async def offline(self, message: Relayed) -> Decision | None:
        if message.direction == "to_csms" and message.action == "Authorize":
            verdict = self.answer(message.version, message.payload)
            log.info("%s: upstream unreachable; Authorize answered from the allow-list: %s", message.identity, verdict)
            return Answer(verdict)
        return None


# -- the local smart-charging cap -----------------------------------------------------------


def _tenths_down(value: float) -> float | int:
    """``value`` rounded down to 0.1 (1.6 limits are ``multipleOf 0.1``); whole numbers as int."""
    rounded = math.floor(value * 10 + 1e-9) / 10
    return int(rounded) if rounded.is_integer() else rounded


def _profile_of(action: str, payload: dict[str, Any]) -> dict[str, Any] | None:
    """The charging profile a CSMS message carries (1.6 and 2.x spellings), if any."""
    if action == "SetChargingProfile":
        profile = payload.get("csChargingProfiles", payload.get("chargingProfile"))
    elif action in ("RemoteStartTransaction", "RequestStartTransaction"):
        profile = payload.get("chargingProfile")
    else:
        return None
    return profile if isinstance(profile, dict) else None


def _profile_key(action: str, payload: dict[str, Any], profile: dict[str, Any]) -> tuple[Any, ...]:
    where = payload.get("connectorId", payload.get("evseId"))
    return (action, where, profile.get("chargingProfileId", profile.get("id")))


class LocalCap(Interceptor):
    """The local load manager's limit: every charging profile the CSMS sends to a wallbox is
    clamped to it, so the effective limit is the minimum of the upstream profile and the
    local limit. The CSMS's SetChargingProfile is relayed (clamped) and the wallbox's answer
    (normally Accepted) goes back upstream; the CSMS never sees the clamped copy.

    Covers SetChargingProfile and the profile of RemoteStartTransaction (1.6) /
    RequestStartTransaction (2.x). ``amps`` caps schedules in A, ``watts`` schedules in W;
    with only one of them, the other unit is converted with ``voltage`` and the period's
    ``numberPhases`` (default ``phases``). Limits are rounded down to 0.1. ``limits`` gives
    per-wallbox ``(amps, watts)`` overrides.

    Change the limit at run time with ``await cap.set_limit(amps=..., identity=...)``: the
    profiles the CSMS sent (remembered per wallbox, connector and profile id) are sent again,
    clamped to the new limit, to the connected wallboxes concerned.
    """

    def __init__(
        self,
        amps: float | None = None,
        watts: float | None = None,
        *,
        voltage: float = 230.0,
        phases: int = 3,
        limits: dict[str, tuple[float | None, float | None]] | None = None,
    ) -> None:
        self.amps = amps
        self.watts = watts
        self.voltage = voltage
        self.phases = phases
        self.limits: dict[str, tuple[float | None, float | None]] = dict(limits or {})
        self._gateway: Any = None
        #: identity -> key -> (action, unclamped upstream payload)
        self._profiles: dict[str, dict[tuple[Any, ...], tuple[str, dict[str, Any]]]] = {}

    def attach(self, gateway: Any) -> None:
        self._gateway = gateway

    def limit(self, identity: str, unit: str, phases: int | None = None) -> float | None:
        """The local limit for ``identity`` in ``unit`` ("A" or "W"), or None (no cap)."""
        amps, watts = self.limits.get(identity, (self.amps, self.watts))
        n = phases or self.phases
        if unit == "W":
            if watts is not None:
                return watts
            return None if amps is None else amps * self.voltage * n
        if amps is not None:
            return amps
        return None if watts is None else watts / (self.voltage * n)

    def clamp(self, identity: str, profile: dict[str, Any]) -> bool:
        """Clamp a charging profile in place; True when a limit was lowered."""
        schedules = profile.get("chargingSchedule")
        if isinstance(schedules, dict):
            schedules = [schedules]
        if not isinstance(schedules, list):
            return False
        changed = False
        for schedule in schedules:
            unit = str(schedule.get("chargingRateUnit", "A"))
            for period in schedule.get("chargingSchedulePeriod") or ():
                cap = self.limit(identity, unit, period.get("numberPhases"))
                if cap is not None and float(period.get("limit", 0)) > cap:
                    period["limit"] = _tenths_down(cap)
                    changed = True
            minimum = schedule.get("minChargingRate")
            cap = self.limit(identity, unit)
            if minimum is not None and cap is not None and float(minimum) > cap:
                schedule["minChargingRate"] = _tenths_down(cap)
                changed = True
        return changed

    async def request(self, message: Relayed) -> Decision | None:
        if message.direction != "to_wallbox":
            return None
        if message.action == "ClearChargingProfile":
            self._forget(message.identity, message.payload)
            return None
        profile = _profile_of(message.action, message.payload)
        if profile is None:
            return None
        if message.action == "SetChargingProfile":
            remembered = self._profiles.setdefault(message.identity, {})
            key = _profile_key(message.action, message.payload, profile)
            remembered[key] = (message.action, _deep_copy(message.payload))
        if self.clamp(message.identity, profile):
            message.state["clamped"] = True
            log.info("%s: %s clamped to the local limit", message.identity, message.action)
        return None

    def _forget(self, identity: str, criteria: dict[str, Any]) -> None:
        remembered = self._profiles.get(identity)
        if not remembered:
            return
        wanted_id = criteria.get("id", criteria.get("chargingProfileId"))
        for key in list(remembered):
            if wanted_id is None or key[2] == wanted_id:
                del remembered[key]

    def remembered(self, identity: str) -> list[tuple[str, dict[str, Any]]]:
        """The unclamped SetChargingProfile messages the CSMS sent to ``identity``."""
        return [(action, _deep_copy(payload)) for action, payload in self._profiles.get(identity, {}).values()]

    async def set_limit(
        self, *, amps: float | None = None, watts: float | None = None, identity: str | None = None
    ) -> dict[str, list[str]]:
        """Change the limit (of one wallbox, or the default) and send the remembered CSMS
        profiles again, clamped to it. Returns, per wallbox, the wallbox's answers."""
        if identity is None:
            self.amps, self.watts = amps, watts
            targets = list(self._profiles)
        else:
            self.limits[identity] = (amps, watts)
            targets = [identity] if identity in self._profiles else []
        results: dict[str, list[str]] = {}
        gateway = self._gateway
        if gateway is None:
            return results
        for target in targets:
            link = gateway.links.get(target)
            if link is None or link.local is None:
                continue
            for action, payload in self.remembered(target):
                profile = _profile_of(action, payload)
                if profile is not None:
                    self.clamp(target, profile)
                try:
                    answer = await link.call_wallbox(action, payload)
                    results.setdefault(target, []).append(str(answer.get("status", "")))
                except OcppError as exc:
                    log.warning("%s: re-sending a clamped profile failed: %s", target, exc)
                    results.setdefault(target, []).append(f"error: {exc}")
        return results


def _deep_copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _deep_copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_deep_copy(v) for v in value]
    return value
