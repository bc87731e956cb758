"""OCPP 2.0.1 block D, Local Authorization List: GetLocalListVersion and SendLocalList (Full
and Differential), remembering the list and version each station accepted.

The station authorises from this list while the CSMS is unreachable, so knowing what it
holds matters when the offline transactions come in later. Versions: 0 means "no list";
a Full update may use any version >= 1; a Differential update needs a version above the
one the station holds (else it answers VersionMismatch).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeAlias

from .. import v201
from ._base import V201Plugin, id_token_key, id_token_wire, load_record, text

__all__ = ["LocalAuthListPlugin", "LocalList", "LocalListEntries", "LocalListError"]

#: ``{id_token: IdTokenInfo | status | None}`` (None removes the token in a differential
#: update; the token type is the ``token_type`` argument), or ``AuthorizationData`` items.
LocalListEntries: TypeAlias = (
    Mapping[str, v201.IdTokenInfoType | v201.AuthorizationStatusEnumType | str | None]
    | Iterable[v201.AuthorizationData]
)


class LocalListError(ValueError):
    """A local authorization list that a station would refuse (nothing was sent)."""


@dataclass(frozen=True, slots=True)
class LocalList:
    """The list a station accepted: its version and entries by ``"<type>:<idToken>"``."""

    version: int
    updated_at: str
    entries: dict[str, v201.AuthorizationData] = field(default_factory=dict)

    def lookup(self, id_token: str, type: v201.IdTokenEnumType | str) -> v201.IdTokenInfoType | None:
        """The IdTokenInfo the station holds for a token (None: not on the list)."""
        item = self.entries.get(id_token_key({"idToken": id_token, "type": text(type)}))
        return item.id_token_info if item is not None else None


def _authorization_data(entries: LocalListEntries, token_type: str) -> list[v201.AuthorizationData]:
    if not isinstance(entries, Mapping):
        return list(entries)
    items = []
    for id_token, info in entries.items():
        if info is not None and not isinstance(info, v201.IdTokenInfoType):
            info = v201.IdTokenInfoType(status=v201.AuthorizationStatusEnumType(text(info)))
        # from_wire keeps a type that is no 2.0.1 member as a plain string (2.1's open types)
        token = v201.IdTokenType.from_wire(id_token_wire(id_token, token_type))
        items.append(v201.AuthorizationData(id_token=token, id_token_info=info))
    return items


class LocalAuthListPlugin(V201Plugin):
    """OCPP 2.0.1/2.1 block D (Local Authorization List Management; CSMS-initiated only)."""

    name: ClassVar[str] = "v201.local_auth_list"

    async def get_local_list_version(
        self, identity: str, *, timeout: float | None = None
    ) -> v201.GetLocalListVersionResponse:
        """The version the station reports (0: no list); remembered (``reported_version``)."""
        response = await self.request_typed(
            identity, v201.GetLocalListVersionRequest(), v201.GetLocalListVersionResponse, timeout=timeout
        )
        await self.save(identity, "reported_version", response.version_number)
        return response

    async def reported_version(self, identity: str) -> int | None:
        """What GetLocalListVersion last returned (or the last accepted SendLocalList)."""
        version: int | None = await self.load(identity, "reported_version")
        return version

    async def local_list(self, identity: str) -> LocalList | None:
        """The list (and version) the station last accepted through ``send_local_list``."""
        data = await self.load(identity, "list")
        if not data:
            return None
        entries = {key: v201.AuthorizationData.from_wire(item) for key, item in data["entries"].items()}
        return load_record(LocalList, {**data, "entries": entries})

    async def send_local_list(
        self,
        identity: str,
        entries: LocalListEntries,
        *,
        version: int | None = None,
        update_type: v201.UpdateEnumType | str = v201.UpdateEnumType.Full,
        token_type: v201.IdTokenEnumType | str = v201.IdTokenEnumType.ISO14443,
        timeout: float | None = None,
    ) -> v201.SendLocalListResponse:
        """Replace (Full) or change (Differential) the station's list.

        ``version`` defaults to the last accepted (or reported) version + 1. In a
        differential update an entry without IdTokenInfo removes that token. The list and
        version are remembered when the station answers Accepted.
        """
        kind = v201.UpdateEnumType(text(update_type))
        items = _authorization_data(entries, str(text(token_type)))
        stored = await self.load(identity, "list")
        known = stored["version"] if stored else await self.reported_version(identity)
        if version is None:
            version = max(known or 0, 0) + 1
        self._check(items, version, kind, stored["version"] if stored else None)
        request = v201.SendLocalListRequest(
            version_number=version, update_type=kind, local_authorization_list=items or None
        )
        response = await self.request_typed(identity, request, v201.SendLocalListResponse, timeout=timeout)
        if text(response.status) == "Accepted":
            current: dict[str, Any] = (
                dict(stored["entries"]) if stored and kind == v201.UpdateEnumType.Differential else {}
            )
            for item in items:
                key = id_token_key(item.id_token)
                current.pop(key, None)
                if item.id_token_info is not None:
                    current[key] = item.to_wire()
            await self.save(identity, "list", {"version": version, "updated_at": self.now_text(), "entries": current})
            await self.save(identity, "reported_version", version)
        return response

    @staticmethod
    def _check(
        items: list[v201.AuthorizationData], version: int, kind: v201.UpdateEnumType, accepted: int | None
    ) -> None:
        problems = []
        if isinstance(version, bool) or not isinstance(version, int) or version < 1:
            problems.append(f"versionNumber must be an integer >= 1 (0 means 'no list'), not {version!r}")
        elif kind == v201.UpdateEnumType.Differential and accepted is not None and version <= accepted:
            problems.append(f"a differential update needs a version above the current {accepted}, not {version}")
        seen: set[str] = set()
        for item in items:
            key = id_token_key(item.id_token)
            if key in seen:
                problems.append(
                    f"idToken {item.id_token.id_token!r} occurs twice (id tokens compare case-insensitively)"
                )
            seen.add(key)
            if kind == v201.UpdateEnumType.Full and item.id_token_info is None:
                problems.append(f"idToken {item.id_token.id_token!r} has no IdTokenInfo (required in a Full update)")
        if problems:
            raise LocalListError("; ".join(problems))
