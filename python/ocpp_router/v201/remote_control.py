"""OCPP 2.0.1 block F, Remote Control: RequestStartTransaction (with a CSMS-chosen
``remoteStartId`` correlated with the TransactionEvent that follows),
RequestStopTransaction, UnlockConnector and TriggerMessage.

A triggered message passes the Pending guard of ``ProvisioningPlugin`` for
``trigger_window`` seconds (the mark is set before the TriggerMessage is sent).
The remote start record is stored *before* the request is sent, because the station may
send its TransactionEvent right behind the answer.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, ClassVar

import trio

from .. import v201
from ..errors import CallTimeoutError, ConnectionClosedError
from ._base import V201Plugin, dump_record, id_token_wire, load_record, text, wire

if TYPE_CHECKING:
    from .._session import ChargePoint

__all__ = ["TRIGGERED_MESSAGES", "RemoteControlPlugin", "RemoteStart"]

#: TriggerMessage requestedMessage -> the message(s) the station then sends.
TRIGGERED_MESSAGES: dict[str, tuple[str, ...]] = {
    "BootNotification": ("BootNotification",),
    "LogStatusNotification": ("LogStatusNotification",),
    "FirmwareStatusNotification": ("FirmwareStatusNotification",),
    "Heartbeat": ("Heartbeat",),
    "MeterValues": ("MeterValues",),
    "SignChargingStationCertificate": ("SignCertificate",),
    "SignV2GCertificate": ("SignCertificate",),
    "SignCombinedCertificate": ("SignCertificate",),
    "StatusNotification": ("StatusNotification",),
    "TransactionEvent": ("TransactionEvent",),
    "PublishFirmwareStatusNotification": ("PublishFirmwareStatusNotification",),
    # 2.1
    "SignV2G20Certificate": ("SignCertificate",),
    "CustomTrigger": (),
}


@dataclass(frozen=True, slots=True)
class RemoteStart:
    """One RequestStartTransaction and the transaction it led to."""

    remote_start_id: int
    id_token: dict[str, Any]
    requested_at: str
    status: str
    """``Requested`` until the station answered, then Accepted or Rejected (``Unanswered``:
    no answer came; the station may still start the transaction)."""
    evse_id: int | None = None
    transaction_id: str | None = None
    """From the answer (a transaction was already running) or the correlated TransactionEvent."""
    started_at: str | None = None
    """When the correlated TransactionEvent arrived."""


class RemoteControlPlugin(V201Plugin):
    """OCPP 2.0.1/2.1 block F (Remote Control; CSMS-initiated).

    Args:
        trigger_window: seconds a triggered message passes the Pending guard.
    """

    name: ClassVar[str] = "v201.remote_control"

    def __init__(self, *, trigger_window: float = 60.0) -> None:
        super().__init__()
        self.trigger_window = trigger_window
        self._start_waiters: dict[tuple[str, int], trio.Event] = {}
        self.after("TransactionEvent", self._after_transaction_event)

    # -- remote start/stop ----------------------------------------------------------------

    async def request_start_transaction(
        self,
        identity: str,
        id_token: str | v201.IdTokenType | Mapping[str, Any],
        *,
        token_type: v201.IdTokenEnumType | str = v201.IdTokenEnumType.Central,
        evse_id: int | None = None,
        group_id_token: str | v201.IdTokenType | Mapping[str, Any] | None = None,
        charging_profile: v201.ChargingProfileType | Mapping[str, Any] | None = None,
        remote_start_id: int | None = None,
        timeout: float | None = None,
    ) -> RemoteStart:
        """Ask the station to start a transaction for ``id_token`` (a string is a token of
        ``token_type``). The ``remoteStartId`` is allocated unless given; the station echoes
        it in the TransactionEvent (see ``wait_for_transaction``). A ``charging_profile``
        must be a TxProfile."""
        if evse_id is not None and (isinstance(evse_id, bool) or evse_id < 1):
            raise ValueError(f"evse_id must be >= 1 when given, not {evse_id!r}")
        if remote_start_id is None:
            remote_start_id = await self.storage.next_id("v201.remote_start")
        payload: dict[str, Any] = {"idToken": id_token_wire(id_token, token_type), "remoteStartId": remote_start_id}
        if evse_id is not None:
            payload["evseId"] = evse_id
        if group_id_token is not None:
            payload["groupIdToken"] = id_token_wire(group_id_token, v201.IdTokenEnumType.Central)
        if charging_profile is not None:
            profile = dict(charging_profile) if isinstance(charging_profile, Mapping) else charging_profile.to_wire()
            if profile.get("chargingProfilePurpose") != "TxProfile":
                raise ValueError("a RequestStartTransaction charging profile must be a TxProfile")
            payload["chargingProfile"] = profile
        key = self._key(remote_start_id)
        record = RemoteStart(
            remote_start_id=remote_start_id,
            id_token=payload["idToken"],
            requested_at=self.now_text(),
            status="Requested",
            evse_id=evse_id,
        )
        await self.save(identity, key, dump_record(record))
        try:
            response = await self.request(identity, ("RequestStartTransaction", payload), timeout=timeout)
        except (CallTimeoutError, ConnectionClosedError):
            # The station may have got it: keep the record, its TransactionEvent may follow.
            with trio.CancelScope(shield=True):
                current = await self.remote_start(identity, remote_start_id) or record
                if current.status == "Requested":
                    await self.save(identity, key, dump_record(replace(current, status="Unanswered")))
            raise
        except BaseException:
            with trio.CancelScope(shield=True):  # refused or never sent
                await self.storage.delete(self.name, identity, key)
            raise
        # Re-read: the TransactionEvent may have been correlated meanwhile.
        current = await self.remote_start(identity, remote_start_id) or record
        updated = replace(
            current,
            status=str(text(response.get("status"))),
            transaction_id=current.transaction_id or response.get("transactionId"),
        )
        await self.save(identity, key, dump_record(updated))
        return updated

    async def request_stop_transaction(
        self, identity: str, transaction_id: str, *, timeout: float | None = None
    ) -> v201.RequestStopTransactionResponse:
        """Ask the station to stop a transaction; its Ended TransactionEvent follows."""
        request = v201.RequestStopTransactionRequest(transaction_id=transaction_id)
        return await self.request_typed(identity, request, v201.RequestStopTransactionResponse, timeout=timeout)

    @staticmethod
    def _key(remote_start_id: int) -> str:
        return f"remote_start:{remote_start_id}"

    async def remote_start(self, identity: str, remote_start_id: int) -> RemoteStart | None:
        data = await self.load(identity, self._key(remote_start_id))
        return load_record(RemoteStart, data) if data else None

    async def remote_starts(self, identity: str) -> list[RemoteStart]:
        items = await self.storage.items(self.name, identity)
        found = [load_record(RemoteStart, v) for k, v in items.items() if k.startswith("remote_start:")]
        return sorted(found, key=lambda r: r.remote_start_id)

    async def _after_transaction_event(self, cp: ChargePoint, request: Any, response: Any) -> None:
        remote_start_id = wire(request).get("transactionInfo", {}).get("remoteStartId")
        if not isinstance(remote_start_id, int):
            return
        record = await self.remote_start(cp.id, remote_start_id)
        if record is None or record.started_at is not None:
            return
        transaction_id = wire(request)["transactionInfo"]["transactionId"]
        updated = replace(record, transaction_id=transaction_id, started_at=self.now_text())
        await self.save(cp.id, self._key(remote_start_id), dump_record(updated))
        waiter = self._start_waiters.get((cp.id, remote_start_id))
        if waiter is not None:
            waiter.set()

    async def wait_for_transaction(self, identity: str, remote_start_id: int, *, timeout: float = 60.0) -> RemoteStart:
        """Until a TransactionEvent with this remoteStartId arrived; the record then carries
        the station's ``transaction_id``. Raises ``trio.TooSlowError`` after ``timeout``."""
        key = (identity, remote_start_id)
        event = self._start_waiters[key] = trio.Event()
        try:
            with trio.fail_after(timeout):
                while True:
                    record = await self.remote_start(identity, remote_start_id)
                    if record is not None and record.started_at is not None:
                        return record
                    with trio.move_on_after(1.0):  # also notices another node's update
                        await event.wait()
                    if event.is_set():
                        event = self._start_waiters[key] = trio.Event()
        finally:
            if self._start_waiters.get(key) is event:
                del self._start_waiters[key]

    # -- connectors and triggers ----------------------------------------------------------

    async def unlock_connector(
        self, identity: str, evse_id: int, connector_id: int, *, timeout: float | None = None
    ) -> v201.UnlockConnectorResponse:
        """Unlock a connector (Unlocked, UnlockFailed, OngoingAuthorizedTransaction, UnknownConnector)."""
        request = v201.UnlockConnectorRequest(evse_id=evse_id, connector_id=connector_id)
        return await self.request_typed(identity, request, v201.UnlockConnectorResponse, timeout=timeout)

    async def trigger_message(
        self,
        identity: str,
        requested_message: v201.MessageTriggerEnumType | str,
        *,
        evse_id: int | None = None,
        connector_id: int | None = None,
        custom_trigger: str | None = None,
        timeout: float | None = None,
    ) -> v201.TriggerMessageResponse:
        """Ask the station to send a message now (for one EVSE/connector when given). The
        message passes the Pending guard. ``custom_trigger`` is 2.1's CustomTrigger name."""
        name = str(text(requested_message))
        payload: dict[str, Any] = {"requestedMessage": name}
        if evse_id is not None:
            payload["evse"] = {"id": evse_id} if connector_id is None else {"id": evse_id, "connectorId": connector_id}
        elif connector_id is not None:
            raise ValueError("connector_id needs an evse_id")
        if custom_trigger is not None:
            payload["customTrigger"] = custom_trigger
        return await self.triggered_request(
            identity,
            ("TriggerMessage", payload),
            v201.TriggerMessageResponse,
            TRIGGERED_MESSAGES.get(name, ()),
            self.trigger_window,
            timeout=timeout,
        )
