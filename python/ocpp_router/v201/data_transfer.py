"""OCPP 2.0.1 block P, Data Transfer: vendor-specific messages in both directions.

Incoming DataTransfer is routed by ``vendorId`` and ``messageId`` to handlers registered
with ``@plugin.on_data_transfer(vendor_id, message_id=None)`` (a (vendor, messageId) handler
wins over the vendor's catch-all). A known vendor without a matching handler is answered
``UnknownMessageId``, an unknown vendor ``UnknownVendorId``.

Typed vendor messages: ``register_schema(vendor_id, message_id, request=..., response=...)``
takes a JSON schema for the ``data`` of the request (and of the answer), compiled by the
Rust core (``SchemaRegistry.from_files``, the same validator as the OCPP schemas). Incoming
``data`` that breaks its schema is answered ``Rejected`` (``statusInfo.reasonCode``
``InvalidData``) before the handler runs; a handler answer that breaks the response schema
is an ``InternalError``. ``data_transfer`` (CSMS->CS) checks the outgoing ``data`` and the
station's answer the same way. An absent ``data`` is validated as JSON ``null``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from .. import v201
from .._core import SchemaRegistry
from .._versions import V201
from ..errors import InternalError, RemoteProtocolError
from ._base import V201Plugin, text

if TYPE_CHECKING:
    from .._session import ChargePoint

__all__ = [
    "DataTransferHandler",
    "DataTransferPlugin",
    "DataTransferRequest",
    "DataTransferResult",
    "InvalidDataError",
]

log = logging.getLogger("ocpp_router")


@dataclass(frozen=True, slots=True)
class DataTransferRequest:
    """An incoming DataTransfer (``data`` already checked against its schema, if any)."""

    vendor_id: str
    message_id: str | None
    data: Any
    """Any JSON value; None when absent."""


@dataclass(frozen=True, slots=True)
class DataTransferResult:
    """The answer to a DataTransfer (either direction)."""

    status: str
    """Accepted, Rejected, UnknownMessageId or UnknownVendorId."""
    data: Any = None
    reason_code: str | None = None
    additional_info: str | None = None

    @property
    def accepted(self) -> bool:
        return self.status == "Accepted"

    def to_wire(self) -> dict[str, Any]:
        out: dict[str, Any] = {"status": self.status}
        if self.data is not None:
            out["data"] = self.data
        if self.reason_code is not None:
            info = {"reasonCode": self.reason_code}
            if self.additional_info is not None:
                info["additionalInfo"] = self.additional_info[:512]
            out["statusInfo"] = info
        return out


#: ``async (cp, request) -> DataTransferResult | status | (status, data) | wire dict``.
DataTransferHandler = Callable[["ChargePoint", DataTransferRequest], Awaitable[Any]]
H = TypeVar("H", bound=DataTransferHandler)


class InvalidDataError(ValueError):
    """Outgoing DataTransfer ``data`` breaks its registered schema (nothing was sent)."""


def _schema_text(schema: Mapping[str, Any] | str | Path) -> str:
    if isinstance(schema, Path):
        return schema.read_text(encoding="utf-8")
    if isinstance(schema, str):
        return schema
    return json.dumps(schema)


def _result(answer: Any) -> DataTransferResult:
    if isinstance(answer, DataTransferResult):
        return answer
    if isinstance(answer, v201.DataTransferResponse):
        answer = answer.to_wire()
    if isinstance(answer, tuple):
        status, data = answer
        return DataTransferResult(status=str(text(status)), data=data)
    if isinstance(answer, Mapping):
        info = answer.get("statusInfo") or {}
        return DataTransferResult(
            status=str(text(answer["status"])),
            data=answer.get("data"),
            reason_code=info.get("reasonCode"),
            additional_info=info.get("additionalInfo"),
        )
    return DataTransferResult(status=str(text(answer)))


class DataTransferPlugin(V201Plugin):
    """OCPP 2.0.1/2.1 block P (Data Transfer).

    Args:
        schemas: ``{(vendor_id, message_id): request_schema}`` or ``{...: (request_schema,
            response_schema)}``; a schema is a dict, JSON text or a ``Path`` (see
            ``register_schema``).
    """

    name: ClassVar[str] = "v201.data_transfer"

    def __init__(
        self,
        *,
        schemas: Mapping[tuple[str, str | None], Any] | None = None,
    ) -> None:
        super().__init__()
        self._handlers: dict[tuple[str, str | None], DataTransferHandler] = {}
        self._schema_files: dict[str, str] = {}
        self._schema_names: dict[tuple[str, str | None], str] = {}
        self._registry: SchemaRegistry | None = None
        for key, value in (schemas or {}).items():
            request, response = value if isinstance(value, tuple) else (value, None)
            self.register_schema(key[0], key[1], request=request, response=response)
        self.handle("DataTransfer", self._on_data_transfer)

    # -- registration ---------------------------------------------------------------------

    def on_data_transfer(self, vendor_id: str, message_id: str | None = None) -> Callable[[H], H]:
        """Register ``async (cp, request) -> answer`` for a vendor (and message).

        The answer is a ``DataTransferResult``, a status, ``(status, data)``, or a
        DataTransfer response (wire dict or ``v201.DataTransferResponse``).
        """

        def register(handler: H) -> H:
            self._handlers[(vendor_id, message_id)] = handler
            return handler

        return register

    def register_schema(
        self,
        vendor_id: str,
        message_id: str | None,
        *,
        request: Mapping[str, Any] | str | Path | None = None,
        response: Mapping[str, Any] | str | Path | None = None,
    ) -> None:
        """JSON schemas (draft-06 style, like the OCA files) for the ``data`` of this
        vendor message's request and/or answer. Compiled at once: ``ValueError`` when a
        schema does not parse or compile."""
        name = self._schema_names.get((vendor_id, message_id)) or f"Vendor{len(self._schema_names)}"
        files = dict(self._schema_files)
        if request is not None:
            files[f"{name}Request"] = _schema_text(request)
        if response is not None:
            files[f"{name}Response"] = _schema_text(response)
        registry = SchemaRegistry.from_files(V201, files)  # raises ValueError naming the file
        self._schema_files, self._registry = files, registry
        self._schema_names[(vendor_id, message_id)] = name

    def _check(self, vendor_id: str, message_id: str | None, direction: str, data: Any) -> str | None:
        """The first schema violation of ``data`` (None: valid or no schema)."""
        name = self._schema_names.get((vendor_id, message_id))
        if name is None or self._registry is None or not self._registry.has(name, direction):
            return None
        failure = self._registry.validate(name, direction, data)
        return None if failure is None else failure.description

    def _known_vendor(self, vendor_id: str) -> bool:
        return any(vendor == vendor_id for vendor, _ in (*self._handlers, *self._schema_names))

    # -- incoming -------------------------------------------------------------------------

    async def _on_data_transfer(self, cp: ChargePoint, payload: dict[str, Any]) -> dict[str, Any]:
        vendor_id, message_id = str(payload["vendorId"]), payload.get("messageId")
        handler = self._handlers.get((vendor_id, message_id)) or self._handlers.get((vendor_id, None))
        if handler is None:
            status = "UnknownMessageId" if self._known_vendor(vendor_id) else "UnknownVendorId"
            return {"status": status}
        data = payload.get("data")
        problem = self._check(vendor_id, message_id, "request", data)
        if problem is not None:
            return DataTransferResult("Rejected", reason_code="InvalidData", additional_info=problem).to_wire()
        result = _result(await handler(cp, DataTransferRequest(vendor_id, message_id, data)))
        if result.data is not None or result.accepted:
            problem = self._check(vendor_id, message_id, "response", result.data)
            if problem is not None:
                log.error("%s: DataTransfer %s/%s answer breaks its schema: %s", cp.id, vendor_id, message_id, problem)
                raise InternalError("the DataTransfer answer failed validation")
        return result.to_wire()

    # -- outgoing -------------------------------------------------------------------------

    async def data_transfer(
        self,
        identity: str,
        vendor_id: str,
        *,
        message_id: str | None = None,
        data: Any = None,
        timeout: float | None = None,
    ) -> DataTransferResult:
        """Send a DataTransfer. ``data`` is checked against the registered request schema
        first (``InvalidDataError``, nothing sent), an Accepted answer's ``data`` against the
        response schema (``RemoteProtocolError``)."""
        problem = self._check(vendor_id, message_id, "request", data)
        if problem is not None:
            raise InvalidDataError(f"DataTransfer {vendor_id}/{message_id} data: {problem}")
        payload: dict[str, Any] = {"vendorId": vendor_id}
        if message_id is not None:
            payload["messageId"] = message_id
        if data is not None:
            payload["data"] = data
        result = _result(await self.request(identity, ("DataTransfer", payload), timeout=timeout))
        if result.accepted:
            problem = self._check(vendor_id, message_id, "response", result.data)
            if problem is not None:
                raise RemoteProtocolError(
                    f"DataTransfer {vendor_id}/{message_id} answer: {problem}", action="DataTransfer"
                )
        return result
