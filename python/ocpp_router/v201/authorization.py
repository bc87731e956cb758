"""OCPP 2.0.1 block C, Authorization: Authorize with an authorizer hook over id tokens of
every type, the default in-memory ``IdTokenList``, authorization-cache expiry, ClearCache.

The same verdict answers the ``idTokenInfo`` of a TransactionEvent that carries an idToken
(``TransactionsPlugin`` asks this plugin when it is installed).

Cache semantics (C10-C12): a station may cache Accepted answers; ``cacheExpiryDateTime``
says until when. The plugin sets it to ``now + cache_expiry`` when configured, never later
than the token's own ``valid_until``; a verdict that already carries one is left alone.
``clear_cache`` empties a station's cache (e.g. after blocking a token).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar

from .. import v201
from ._base import V201Plugin, format_time, parse_time, text, utc_datetime

if TYPE_CHECKING:
    from .._session import ChargePoint

__all__ = ["AuthorizationPlugin", "Authorizer", "IdTokenEntry", "IdTokenList", "Verdict"]

#: What an authorizer returns: a full IdTokenInfo or just a status.
Verdict = v201.IdTokenInfoType | v201.AuthorizationStatusEnumType | str
#: ``async (cp, id_token) -> IdTokenInfo | status``
Authorizer = Callable[["ChargePoint", v201.IdTokenType], Awaitable[Verdict]]

_ANY_TYPE = "*"


@dataclass(frozen=True, slots=True)
class IdTokenEntry:
    """One token of an ``IdTokenList``."""

    id_token: str
    status: str
    type: str | None = None
    """None: matches the token under any IdTokenEnumType."""
    valid_until: str | None = None
    group_id_token: v201.IdTokenType | None = None
    evse_ids: tuple[int, ...] | None = None
    charging_priority: int | None = None
    language: str | None = None
    personal_message: v201.MessageContentType | None = None


def _group_token(value: str | v201.IdTokenType | None) -> v201.IdTokenType | None:
    if value is None or isinstance(value, v201.IdTokenType):
        return value
    return v201.IdTokenType(id_token=value, type=v201.IdTokenEnumType.Central)


class IdTokenList:
    """The default authorizer: id tokens in memory, compared case-insensitively.

    A token may be registered for one type or for any type (``type=None``). Unknown tokens
    are ``Unknown``; an Accepted token past ``valid_until`` is ``Expired``; a token whose
    group token is itself listed with a non-Accepted status gets that status (blocking a
    group blocks its members). ``NoAuthorization`` tokens are ``Accepted`` when
    ``accept_no_authorization`` is set (stations configured for free charging), else
    looked up like any other.
    """

    def __init__(
        self,
        tokens: Mapping[str, Verdict] | None = None,
        *,
        accept_no_authorization: bool = False,
        clock: Callable[[], datetime] = utc_datetime,
    ) -> None:
        self._entries: dict[str, IdTokenEntry] = {}
        self.accept_no_authorization = accept_no_authorization
        self.clock = clock
        for id_token, verdict in (tokens or {}).items():
            if isinstance(verdict, v201.IdTokenInfoType):
                self.add(
                    id_token,
                    verdict.status,
                    group_id_token=verdict.group_id_token,
                    evse_ids=verdict.evse_id,
                    charging_priority=verdict.charging_priority,
                    language=verdict.language1,
                    personal_message=verdict.personal_message,
                )
            else:
                self.add(id_token, verdict)

    @staticmethod
    def _key(id_token: str, type: str | None) -> str:
        return f"{type or _ANY_TYPE}:{id_token.casefold()}"

    def add(
        self,
        id_token: str,
        status: v201.AuthorizationStatusEnumType | str = v201.AuthorizationStatusEnumType.Accepted,
        *,
        type: v201.IdTokenEnumType | str | None = None,
        valid_until: datetime | str | None = None,
        group_id_token: str | v201.IdTokenType | None = None,
        evse_ids: list[int] | tuple[int, ...] | None = None,
        charging_priority: int | None = None,
        language: str | None = None,
        personal_message: str | v201.MessageContentType | None = None,
    ) -> None:
        """Register a token (``group_id_token`` as a string is a ``Central`` token)."""
        message = personal_message
        if isinstance(message, str):
            message = v201.MessageContentType(format=v201.MessageFormatEnumType.UTF8, content=message)
        entry = IdTokenEntry(
            id_token=id_token,
            status=str(text(status)),
            type=text(type),
            valid_until=None if valid_until is None else format_time(valid_until),
            group_id_token=_group_token(group_id_token),
            evse_ids=tuple(evse_ids) if evse_ids is not None else None,
            charging_priority=charging_priority,
            language=language,
            personal_message=message,
        )
        self._entries[self._key(id_token, entry.type)] = entry

    def remove(self, id_token: str, *, type: v201.IdTokenEnumType | str | None = None) -> None:
        self._entries.pop(self._key(id_token, text(type)), None)

    def __len__(self) -> int:
        return len(self._entries)

    def entry(self, id_token: str, type: str | None = None) -> IdTokenEntry | None:
        """The entry for a token of this type, else the any-type entry."""
        if type is not None and (found := self._entries.get(self._key(id_token, type))) is not None:
            return found
        return self._entries.get(self._key(id_token, None))

    def lookup(self, id_token: v201.IdTokenType | Mapping[str, Any]) -> v201.IdTokenInfoType:
        token = id_token if isinstance(id_token, v201.IdTokenType) else v201.IdTokenType.from_wire(id_token)
        token_type = text(token.type)
        if token_type == "NoAuthorization" and self.accept_no_authorization:
            return v201.IdTokenInfoType(status=v201.AuthorizationStatusEnumType.Accepted)
        entry = self.entry(token.id_token, token_type)
        if entry is None:
            return v201.IdTokenInfoType(status=v201.AuthorizationStatusEnumType.Unknown)
        status = entry.status
        valid_until = parse_time(entry.valid_until)
        if status == "Accepted" and valid_until is not None and valid_until <= self.clock():
            status = "Expired"
        group = entry.group_id_token
        if status == "Accepted" and group is not None:
            group_entry = self.entry(group.id_token, text(group.type))
            if group_entry is not None and group_entry.status != "Accepted":
                status = group_entry.status
        return v201.IdTokenInfoType(
            status=v201.AuthorizationStatusEnumType(status),
            cache_expiry_date_time=entry.valid_until if status == "Accepted" else None,
            charging_priority=entry.charging_priority,
            language1=entry.language,
            evse_id=list(entry.evse_ids) if entry.evse_ids is not None else None,
            group_id_token=replace(group) if group is not None else None,
            personal_message=replace(entry.personal_message) if entry.personal_message is not None else None,
        )

    async def __call__(self, cp: ChargePoint, id_token: v201.IdTokenType) -> v201.IdTokenInfoType:
        return self.lookup(id_token)


class AuthorizationPlugin(V201Plugin):
    """OCPP 2.0.1/2.1 block C (Authorization).

    Args:
        authorizer: ``async (cp, id_token) -> IdTokenInfo | status`` for Authorize and the
            idTokenInfo of TransactionEvents; default: ``self.id_tokens``.
        id_tokens: initial content of the default in-memory ``IdTokenList``.
        cache_expiry: how long a station may cache an Accepted answer (sets
            ``cacheExpiryDateTime``; None: the station's own default applies).
        accept_no_authorization: the default list accepts ``NoAuthorization`` tokens.
    """

    name: ClassVar[str] = "v201.authorization"

    def __init__(
        self,
        *,
        authorizer: Authorizer | None = None,
        id_tokens: Mapping[str, Verdict] | None = None,
        cache_expiry: timedelta | float | None = None,
        accept_no_authorization: bool = False,
    ) -> None:
        super().__init__()
        if authorizer is not None and id_tokens is not None:
            raise ValueError("give either an authorizer or id_tokens for the default one, not both")
        self.id_tokens = IdTokenList(
            id_tokens, accept_no_authorization=accept_no_authorization, clock=lambda: self.clock()
        )
        self.authorizer: Authorizer = authorizer or self.id_tokens
        if isinstance(cache_expiry, (int, float)):
            cache_expiry = timedelta(seconds=cache_expiry)
        self.cache_expiry: timedelta | None = cache_expiry
        self.handle("Authorize", self._on_authorize)

    async def authorize(self, cp: ChargePoint, id_token: v201.IdTokenType | Mapping[str, Any]) -> v201.IdTokenInfoType:
        """The authorizer's verdict as an ``IdTokenInfo``, with the cache expiry applied."""
        token = id_token if isinstance(id_token, v201.IdTokenType) else v201.IdTokenType.from_wire(id_token)
        verdict = await self.authorizer(cp, token)
        if isinstance(verdict, v201.IdTokenInfoType):
            info = replace(verdict)
        else:
            info = v201.IdTokenInfoType(status=v201.AuthorizationStatusEnumType(text(verdict)))
        if self.cache_expiry is not None and text(info.status) == "Accepted":
            limit = self.now() + self.cache_expiry
            own = parse_time(info.cache_expiry_date_time)
            if own is None or own > limit:
                info.cache_expiry_date_time = format_time(limit)
        return info

    async def _on_authorize(self, cp: ChargePoint, payload: dict[str, Any]) -> v201.AuthorizeResponse:
        info = await self.authorize(cp, payload["idToken"])
        return v201.AuthorizeResponse(id_token_info=info)

    async def clear_cache(self, identity: str, *, timeout: float | None = None) -> v201.ClearCacheResponse:
        """Empty the station's authorization cache (Accepted or Rejected)."""
        return await self.request_typed(identity, v201.ClearCacheRequest(), v201.ClearCacheResponse, timeout=timeout)
