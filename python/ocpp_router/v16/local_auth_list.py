"""OCPP 1.6 Local Auth List Management profile: GetLocalListVersion and SendLocalList (full
and differential), remembering the list and version each charge point accepted.

The charge point authorises from this list while the CSMS is unreachable, so knowing what
it holds matters when the offline transactions come in later.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeAlias

from .. import v16
from ._base import V16Plugin, load_record

__all__ = ["LocalAuthListPlugin", "LocalList", "LocalListEntries", "LocalListError"]

#: ``{id_tag: IdTagInfo | status | None}`` (None removes the tag in a differential update),
#: or ``AuthorizationData`` items.
LocalListEntries: TypeAlias = (
    Mapping[str, v16.IdTagInfo | v16.AuthorizationStatus | str | None] | Iterable[v16.AuthorizationData]
)

_MAX_ID_TAG = 20


class LocalListError(ValueError):
    """A local authorization list that a charge point would refuse (nothing was sent)."""


@dataclass(frozen=True, slots=True)
class LocalList:
    """The list a charge point accepted: its version and ``{id_tag: IdTagInfo}``."""

    version: int
    updated_at: str
    entries: dict[str, v16.IdTagInfo] = field(default_factory=dict)


def _authorization_data(entries: LocalListEntries) -> list[v16.AuthorizationData]:
    if not isinstance(entries, Mapping):
        return list(entries)
    items = []
    for id_tag, info in entries.items():
        if info is not None and not isinstance(info, v16.IdTagInfo):
            info = v16.IdTagInfo(status=v16.AuthorizationStatus(info))
        items.append(v16.AuthorizationData(id_tag=id_tag, id_tag_info=info))
    return items


class LocalAuthListPlugin(V16Plugin):
    """The OCPP 1.6 Local Auth List Management profile (CSMS-initiated only)."""

    name: ClassVar[str] = "v16.local_auth_list"

    async def get_local_list_version(
        self, identity: str, *, timeout: float | None = None
    ) -> v16.GetLocalListVersionResponse:
        """The version the charge point reports (0: no list, -1: not supported); remembered."""
        request = v16.GetLocalListVersionRequest()
        response: v16.GetLocalListVersionResponse = await self.request(identity, request, timeout=timeout)
        await self.save(identity, "reported_version", response.list_version)
        return response

    async def reported_version(self, identity: str) -> int | None:
        """What GetLocalListVersion last returned."""
        version: int | None = await self.load(identity, "reported_version")
        return version

    async def local_list(self, identity: str) -> LocalList | None:
        """The list (and version) the charge point last accepted through ``send_local_list``."""
        data = await self.load(identity, "list")
        if not data:
            return None
        entries = {tag: v16.IdTagInfo.from_wire(info) for tag, info in data["entries"].items()}
        return load_record(LocalList, {**data, "entries": entries})

    async def send_local_list(
        self,
        identity: str,
        entries: LocalListEntries,
        *,
        version: int | None = None,
        update_type: v16.UpdateType | str = v16.UpdateType.Full,
        timeout: float | None = None,
    ) -> v16.SendLocalListResponse:
        """Replace (Full) or change (Differential) the charge point's list.

        ``version`` defaults to one above the last accepted or reported version. In a
        differential update an entry without IdTagInfo removes that tag. The list and
        version are remembered when the charge point answers Accepted.
        """
        kind = v16.UpdateType(update_type)
        items = _authorization_data(entries)
        stored = await self.load(identity, "list")
        if version is None:
            version = max(stored["version"] if stored else 0, await self.reported_version(identity) or 0) + 1
        self._check(items, version, kind, stored["version"] if stored else None)
        request = v16.SendLocalListRequest(list_version=version, update_type=kind, local_authorization_list=items)
        response: v16.SendLocalListResponse = await self.request(identity, request, timeout=timeout)
        if response.status == v16.UpdateStatus.Accepted:
            current: dict[str, Any] = dict(stored["entries"]) if stored and kind == v16.UpdateType.Differential else {}
            for item in items:
                for tag in [t for t in current if t.casefold() == item.id_tag.casefold()]:
                    del current[tag]
                if item.id_tag_info is not None:
                    current[item.id_tag] = item.id_tag_info.to_wire()
            record = {"version": version, "updated_at": self.now_text(), "entries": current}
            await self.save(identity, "list", record)
            await self.save(identity, "reported_version", version)
        return response

    @staticmethod
    def _check(items: list[v16.AuthorizationData], version: int, kind: v16.UpdateType, accepted: int | None) -> None:
        problems = []
        if isinstance(version, bool) or not isinstance(version, int) or version < 1:
            problems.append(f"listVersion must be an integer >= 1 (0 and -1 mean 'no list'), not {version!r}")
        elif kind == v16.UpdateType.Differential and accepted is not None and version <= accepted:
            problems.append(f"a differential update needs a version above the current {accepted}, not {version}")
        seen: set[str] = set()
        for item in items:
            tag = item.id_tag
            if len(tag) > _MAX_ID_TAG:
                problems.append(f"idTag {tag!r} is longer than {_MAX_ID_TAG} characters")
            if tag.casefold() in seen:
                problems.append(f"idTag {tag!r} occurs twice (id tags compare case-insensitively)")
            seen.add(tag.casefold())
            if kind == v16.UpdateType.Full and item.id_tag_info is None:
                problems.append(f"idTag {tag!r} has no IdTagInfo (required in a Full update)")
        if problems:
            raise LocalListError("; ".join(problems))
