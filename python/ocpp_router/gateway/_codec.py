"""How a wallbox's messages map onto the upstream leg: ``Passthrough`` (same OCPP version on
both legs) and the contract the 1.6 → 2.0.1 translation (``_translate``) fulfils too.

A codec turns each wallbox CALL into an ``Outbound`` (the upstream action and payload, and
what kind of message it is for the outage rules), turns the upstream's answer back into
the wallbox's, and does the same for CSMS-initiated calls. It owns the transaction-id
mapping: 1.6 provisional ids handed out while the upstream was unreachable are replaced by
the upstream's ids in queued messages (``prepare``) and in CSMS calls (``down``).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any, Literal

from .._core import SchemaRegistry
from .._versions import V16

if TYPE_CHECKING:
    from ._intercept import Answer
    from ._link import Link
    from ._store import QueuedMessage

__all__ = ["Codec", "Kind", "Outbound", "Passthrough", "empty_answer_allowed"]


@cache
def _registry(version: str) -> SchemaRegistry:
    return SchemaRegistry.bundled(version)


def empty_answer_allowed(version: str, action: str) -> bool:
    """Whether ``{}`` is a valid answer to ``action`` (its response has no required field)."""
    registry = _registry(version)
    return registry.has(action, "response") and registry.validate(action, "response", {}) is None


Kind = Literal["transaction", "boot", "heartbeat", "status", "other"]
"""How a message is treated while the upstream is unreachable: ``transaction`` messages are
queued durably and replayed; ``boot``/``heartbeat``/``status`` are answered locally
(statuses re-sent later); ``other`` messages are acknowledged with ``{}`` when that is a
valid answer (notifications), else answered with a CALLERROR."""


@dataclass(slots=True)
class Outbound:
    """A wallbox CALL as it goes upstream."""

    action: str
    payload: dict[str, Any]
    kind: Kind = "other"
    local_answer: dict[str, Any] | None = None
    """``transaction``: the wallbox's answer when the gateway answers it itself."""
    provisional: bool = False
    """1.6 StartTransaction: draw a provisional transactionId for a local answer."""
    status_key: str = ""
    """``status``: the connector the status is about (the latest per key is re-sent)."""


class Codec:
    """Passthrough behaviour; the translation overrides what differs."""

    def __init__(self, link: Link, wallbox_version: str, upstream_version: str) -> None:
        self.link = link
        self.wallbox_version = wallbox_version
        self.upstream_version = upstream_version

    def _authorized(self, version: str, id_tag: str | None) -> str:
        """The status of a tag in a local answer: the allow-list's verdict, or Accepted."""
        allow = self.link.gateway.allow_list
        if allow is None or id_tag is None:
            return "Accepted"
        return allow.status(version, id_tag)

    # -- wallbox → CSMS -------------------------------------------------------------------

    async def up(self, action: str, payload: dict[str, Any]) -> Outbound | Answer:
        """Classify (and, when translating, convert) a wallbox CALL."""
        version = self.wallbox_version
        if action == "BootNotification":
            return Outbound(action, payload, "boot")
        if action == "Heartbeat":
            return Outbound(action, payload, "heartbeat")
        if action == "StatusNotification":
            if "evseId" in payload:
                key = f"{payload['evseId']}:{payload.get('connectorId')}"
            else:
                key = str(payload.get("connectorId"))
            return Outbound(action, payload, "status", status_key=key)
        if version == V16:
            if action == "StartTransaction":
                info = {"status": self._authorized(version, payload.get("idTag"))}
                return Outbound(action, payload, "transaction", local_answer={"idTagInfo": info}, provisional=True)
            if action == "StopTransaction":
                answer: dict[str, Any] = {}
                if payload.get("idTag") is not None:
                    answer["idTagInfo"] = {"status": self._authorized(version, payload["idTag"])}
                return Outbound(action, payload, "transaction", local_answer=answer)
            if action == "MeterValues" and payload.get("transactionId") is not None:
                return Outbound(action, payload, "transaction", local_answer={})
        elif action == "TransactionEvent":
            answer = {}
            token = payload.get("idToken")
            if isinstance(token, dict) and token.get("idToken") is not None:
                answer["idTokenInfo"] = {"status": self._authorized(version, str(token["idToken"]))}
            return Outbound(action, payload, "transaction", local_answer=answer)
        return Outbound(action, payload)

    def decode(self, outbound: Outbound, local_action: str, result: dict[str, Any]) -> dict[str, Any]:
        """The upstream's answer to ``outbound`` as the answer to the wallbox's ``local_action``."""
        return result

    def prepare(self, message: QueuedMessage, answered_locally: bool) -> dict[str, Any]:
        """The payload of a queued message as it is delivered now (ids mapped)."""
        payload = dict(message.payload)
        if self.upstream_version == V16:
            if message.action in ("StopTransaction", "MeterValues"):
                local_id = payload.get("transactionId")
                upstream = self.link.tx_up.get(local_id) if isinstance(local_id, int) else None
                if upstream is not None:
                    payload["transactionId"] = int(upstream)
        elif message.action == "TransactionEvent" and answered_locally:
            payload["offline"] = True  # the wallbox's event was taken while the CSMS was unreachable
        return payload

    def delivered(
        self, message: QueuedMessage, result: dict[str, Any], answered_locally: bool
    ) -> tuple[int, str] | None:
        """After the upstream accepted a queued message: the id mapping to record, if any."""
        if message.action == "StartTransaction" and answered_locally and message.provisional_id is not None:
            upstream = result.get("transactionId")
            if isinstance(upstream, int):
                return (message.provisional_id, str(upstream))
        return None

    # -- CSMS → wallbox -------------------------------------------------------------------

    async def down(self, action: str, payload: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        """A CSMS CALL as the wallbox gets it (the upstream's transaction ids mapped back)."""
        if self.upstream_version != V16 or not self.link.tx_down:
            return action, payload
        if action == "RemoteStopTransaction":
            payload = {**payload, "transactionId": self._local_tx(payload["transactionId"])}
        elif action == "SetChargingProfile":
            profile = payload.get("csChargingProfiles")
            if isinstance(profile, dict) and profile.get("transactionId") is not None:
                profile = {**profile, "transactionId": self._local_tx(profile["transactionId"])}
                payload = {**payload, "csChargingProfiles": profile}
        return action, payload

    def _local_tx(self, upstream_id: Any) -> Any:
        return self.link.tx_down.get(str(upstream_id), upstream_id)

    async def encode(self, action: str, wallbox_action: str, result: dict[str, Any]) -> dict[str, Any]:
        """The wallbox's answer as the upstream's answer."""
        return result


class Passthrough(Codec):
    """Same version on both legs: messages go through unchanged except for transaction ids."""
