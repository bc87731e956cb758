"""OCPP 2.0.1 block O, Display Message: SetDisplayMessage (ids allocated by the CSMS),
GetDisplayMessages with the NotifyDisplayMessages parts assembled by requestId/tbc, and
ClearDisplayMessage; the messages each station accepted are remembered.

What the CSMS remembers (``display_messages``) follows the station: a message with the same
id replaces the old one, an Accepted ClearDisplayMessage removes it, a message bound to a
transaction goes when that transaction ends, one past its ``endDateTime`` reads as expired.
A complete GetDisplayMessages report without filters is the station's truth and replaces
the remembered set (messages configured locally or by another CSMS show up that way).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from .. import v201
from ._base import Assembled, PartsAssembler, V201Plugin, format_time, parse_time, text, wire

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping
    from datetime import datetime

    from .._session import ChargePoint

__all__ = ["DisplayMessage", "DisplayMessagePlugin", "DisplayMessagesReport", "message_info"]

_MAX_CONTENT = 512


@dataclass(frozen=True, slots=True)
class DisplayMessage:
    """A message a station shows (as set by the CSMS or reported by the station)."""

    info: dict[str, Any]
    """The ``MessageInfoType`` wire dict (2.1 ``messageExtra`` included)."""
    source: str
    """``set`` (accepted SetDisplayMessage) or ``report`` (NotifyDisplayMessages)."""
    updated_at: str

    @property
    def id(self) -> int:
        return int(self.info["id"])

    @property
    def content(self) -> str:
        return str(self.info["message"]["content"])

    @property
    def priority(self) -> str:
        return str(self.info["priority"])

    @property
    def state(self) -> str | None:
        return self.info.get("state")

    @property
    def transaction_id(self) -> str | None:
        return self.info.get("transactionId")

    @property
    def typed(self) -> v201.MessageInfoType:
        return v201.MessageInfoType.from_wire(self.info)


@dataclass(frozen=True, slots=True)
class DisplayMessagesReport:
    """A GetDisplayMessages answer assembled from its NotifyDisplayMessages parts."""

    request_id: int
    status: str | None
    """Accepted, Unknown (no matching message: complete and empty), or None."""
    complete: bool
    parts: int
    messages: tuple[dict[str, Any], ...]
    """``MessageInfoType`` wire dicts, in the order received."""

    @classmethod
    def from_assembled(cls, assembled: Assembled) -> DisplayMessagesReport:
        messages = tuple(m for part in assembled.payloads for m in part.get("messageInfo") or ())
        return cls(assembled.request_id, assembled.status, assembled.complete, assembled.parts, messages)


def message_info(
    content: str,
    *,
    message_id: int,
    priority: v201.MessagePriorityEnumType | str = v201.MessagePriorityEnumType.NormalCycle,
    message_format: v201.MessageFormatEnumType | str = v201.MessageFormatEnumType.UTF8,
    language: str | None = None,
    state: v201.MessageStateEnumType | str | None = None,
    start: datetime | str | None = None,
    end: datetime | str | None = None,
    transaction_id: str | None = None,
    display: v201.ComponentType | Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A ``MessageInfoType`` wire dict; ``ValueError`` for content over 512 characters or
    an end before the start."""
    if not content:
        raise ValueError("a display message needs content")
    if len(content) > _MAX_CONTENT:
        raise ValueError(f"display message content is limited to {_MAX_CONTENT} characters, not {len(content)}")
    message: dict[str, Any] = {"format": text(message_format), "content": content}
    if language is not None:
        message["language"] = language
    info: dict[str, Any] = {"id": message_id, "priority": text(priority), "message": message}
    if state is not None:
        info["state"] = text(state)
    if start is not None:
        info["startDateTime"] = format_time(start)
    if end is not None:
        info["endDateTime"] = format_time(end)
    begin, finish = parse_time(info.get("startDateTime")), parse_time(info.get("endDateTime"))
    if begin is not None and finish is not None and finish <= begin:
        raise ValueError("a display message must end after it starts")
    if transaction_id is not None:
        info["transactionId"] = transaction_id
    if display is not None:
        info["display"] = display.to_wire() if isinstance(display, v201.ComponentType) else dict(display)
    return info


class DisplayMessagePlugin(V201Plugin):
    """OCPP 2.0.1/2.1 block O (Display Message).

    Args:
        report_window: seconds a GetDisplayMessages lets its parts through the Pending guard.
    """

    name: ClassVar[str] = "v201.display_message"

    def __init__(self, *, report_window: float = 600.0) -> None:
        super().__init__()
        self.reports = PartsAssembler(
            self, "NotifyDisplayMessages", sequenced=False, empty=("Unknown",), window=report_window
        )
        self.handle("NotifyDisplayMessages", self._on_notify)
        self.after("TransactionEvent", self._after_transaction_event)

    async def _known(self, identity: str) -> dict[str, Any]:
        known: dict[str, Any] = await self.load(identity, "messages", {})
        return known

    async def set_display_message(
        self,
        identity: str,
        content: str | None = None,
        *,
        message: v201.MessageInfoType | Mapping[str, Any] | None = None,
        message_id: int | None = None,
        priority: v201.MessagePriorityEnumType | str = v201.MessagePriorityEnumType.NormalCycle,
        message_format: v201.MessageFormatEnumType | str = v201.MessageFormatEnumType.UTF8,
        language: str | None = None,
        state: v201.MessageStateEnumType | str | None = None,
        start: datetime | str | None = None,
        end: datetime | str | None = None,
        transaction_id: str | None = None,
        display: v201.ComponentType | Mapping[str, Any] | None = None,
        timeout: float | None = None,
    ) -> tuple[int, v201.SetDisplayMessageResponse]:
        """Show a message: ``content`` with the options (the id is allocated unless
        ``message_id`` names one to replace), or a ready ``message`` (MessageInfoType). Returns
        the message id and the answer; an Accepted message is remembered."""
        if message is not None:
            if content is not None:
                raise ValueError("give either content or a ready message")
            info = message.to_wire() if isinstance(message, v201.MessageInfoType) else dict(message)
        else:
            if content is None:
                raise ValueError("give the content of the message")
            if message_id is None:
                message_id = await self.storage.next_id("v201.display_message")
            info = message_info(
                content,
                message_id=message_id,
                priority=priority,
                message_format=message_format,
                language=language,
                state=state,
                start=start,
                end=end,
                transaction_id=transaction_id,
                display=display,
            )
        response = await self.request(identity, ("SetDisplayMessage", {"message": info}), timeout=timeout)
        if response.get("status") == "Accepted":
            known = await self._known(identity)
            known[str(info["id"])] = {"info": info, "source": "set", "updated_at": self.now_text()}
            await self.save(identity, "messages", known)
        message_id = int(str(info["id"]))
        return message_id, v201.SetDisplayMessageResponse.from_wire(response)

    async def display_messages(self, identity: str, *, include_expired: bool = False) -> list[DisplayMessage]:
        """Messages the station shows, as far as the CSMS knows, by id (past their
        ``endDateTime`` only with ``include_expired``)."""
        now = self.now()
        found = []
        for _, data in sorted((await self._known(identity)).items(), key=lambda kv: int(kv[0])):
            message = DisplayMessage(data["info"], data["source"], data["updated_at"])
            end = parse_time(message.info.get("endDateTime"))
            if not include_expired and end is not None and end <= now:
                continue
            found.append(message)
        return found

    async def clear_display_message(
        self, identity: str, message_id: int, *, timeout: float | None = None
    ) -> v201.ClearDisplayMessageResponse:
        """Remove a message (Accepted, or Unknown: the station has no such message; both
        forget it)."""
        request = v201.ClearDisplayMessageRequest(id=message_id)
        response = await self.request_typed(identity, request, v201.ClearDisplayMessageResponse, timeout=timeout)
        if text(response.status) in ("Accepted", "Unknown"):
            known = await self._known(identity)
            if known.pop(str(message_id), None) is not None:
                await self.save(identity, "messages", known)
        return response

    async def get_display_messages(
        self,
        identity: str,
        *,
        ids: Iterable[int] | None = None,
        priority: v201.MessagePriorityEnumType | str | None = None,
        state: v201.MessageStateEnumType | str | None = None,
        request_id: int | None = None,
        timeout: float | None = None,
    ) -> v201.GetDisplayMessagesResponse:
        """Ask for the messages matching every filter given (none: all); they follow as
        NotifyDisplayMessages parts (``report``)."""
        if request_id is None:
            request_id = await self.new_request_id()
        payload: dict[str, Any] = {"requestId": request_id}
        wanted = list(ids) if ids is not None else []
        if wanted:
            payload["id"] = wanted
        if priority is not None:
            payload["priority"] = text(priority)
        if state is not None:
            payload["state"] = text(state)
        unfiltered = len(payload) == 1
        if unfiltered:  # before sending: the parts may follow right behind the answer
            await self.save(identity, f"unfiltered:{request_id}", True)
        response = await self.reports.request(
            identity, ("GetDisplayMessages", payload), v201.GetDisplayMessagesResponse, request_id, timeout=timeout
        )
        if text(response.status) != "Accepted":
            await self.storage.delete(self.name, identity, f"unfiltered:{request_id}")
            if unfiltered and text(response.status) == "Unknown":
                await self.save(identity, "messages", {})  # the station shows nothing
        return response

    async def fetch_display_messages(
        self,
        identity: str,
        *,
        ids: Iterable[int] | None = None,
        priority: v201.MessagePriorityEnumType | str | None = None,
        state: v201.MessageStateEnumType | str | None = None,
        wait: float = 60.0,
        request_id: int | None = None,
        timeout: float | None = None,
    ) -> DisplayMessagesReport:
        """GetDisplayMessages and the assembled report (Unknown: complete and empty).
        Raises ``MultipartRefusedError`` / ``MultipartTimeoutError``."""
        rid = request_id if request_id is not None else await self.new_request_id()
        sent = self.get_display_messages(
            identity, ids=ids, priority=priority, state=state, request_id=rid, timeout=timeout
        )
        return DisplayMessagesReport.from_assembled(await self.reports.fetch(identity, rid, wait, sent))

    async def report(self, identity: str, request_id: int) -> DisplayMessagesReport | None:
        """The messages reported for ``request_id`` so far (None: nothing known)."""
        assembled = await self.reports.get(identity, request_id)
        return DisplayMessagesReport.from_assembled(assembled) if assembled is not None else None

    async def _on_notify(self, cp: ChargePoint, payload: dict[str, Any]) -> v201.NotifyDisplayMessagesResponse:
        assembled, completed = await self.reports.add(cp.id, payload)
        if completed:
            report = DisplayMessagesReport.from_assembled(assembled)
            unfiltered = await self.load(cp.id, f"unfiltered:{report.request_id}")
            known = {} if unfiltered else await self._known(cp.id)
            now = self.now_text()
            for info in report.messages:
                known[str(info["id"])] = {"info": info, "source": "report", "updated_at": now}
            await self.save(cp.id, "messages", known)
            await self.storage.delete(self.name, cp.id, f"unfiltered:{report.request_id}")
        return v201.NotifyDisplayMessagesResponse()

    async def _after_transaction_event(self, cp: ChargePoint, request: Any, response: Any) -> None:
        """A message bound to a transaction is removed when the transaction ends."""
        payload = wire(request)
        if text(payload.get("eventType")) != "Ended":
            return
        transaction_id = payload.get("transactionInfo", {}).get("transactionId")
        known = await self._known(cp.id)
        kept = {k: v for k, v in known.items() if v["info"].get("transactionId") != transaction_id}
        if len(kept) != len(known):
            await self.save(cp.id, "messages", kept)
