"""Type stubs for the compiled Rust core (``ocpp_router._core``).

The core is sans-IO: it never touches sockets or clocks. Feed it received text with the
current time, act on the events it returns, and write the ``Transmit`` texts to the socket.
"""

from typing import Any, Final, final

__version__: Final[str]

@final
class ValidationFailure:
    """The first schema violation found in a payload."""

    code: str
    """Canonical (2.x) OCPP error code, e.g. ``"OccurrenceConstraintViolation"``."""
    keyword: str
    """The JSON-schema keyword that failed, e.g. ``"required"``."""
    path: str
    """Dotted path of the offending field (``""`` for the payload itself)."""
    message: str
    @property
    def description(self) -> str:
        """``"<path>: <message>"``, as sent in a CALLERROR."""

@final
class SchemaRegistry:
    """The compiled schemas of one OCPP version."""

    @staticmethod
    def bundled(version: str) -> SchemaRegistry:
        """The official OCA schemas shipped with the library ("1.6", "2.0.1", "2.1")."""
    @staticmethod
    def from_files(version: str, files: dict[str, str]) -> SchemaRegistry:
        """Schemas from official-style files; ``files`` maps file stems to file text."""
    @staticmethod
    def relaxation_names() -> list[str]:
        """Names ``relaxed()`` accepts. Each covers one known field deviation:

        * ``unit-spellings``: 1.6 ``sampledValue.unit`` spelled ``Celsius``/``Celcius``/
          ``Hertz``/``Hz`` (MeterValues, StopTransaction.transactionData).
        * ``long-serial-numbers``: BootNotification serial numbers over 25 characters (1.6
          chargePoint/chargeBox/meterSerialNumber, 2.x ``chargingStation.serialNumber``).
        * ``numeric-strings``: 1.6 numbers where strings are required (``sampledValue.value``,
          ``DataTransfer.data``, GetConfiguration response ``configurationKey[].value``).
        * ``status-error-codes``: 1.6 StatusNotification ``errorCode``: any string.
        * ``datatransfer-data-any``: 1.6 ``DataTransfer.data`` of any JSON type.
        * ``signed-meter-data-length``: 2.0.1 ``signedMeterData`` up to 32768 characters (as 2.1).
        * ``exi-response-length``: 2.0.1 Get15118EVCertificate ``exiResponse`` up to 17000
          characters (as 2.1).

        A relaxation is a no-op for the versions it does not name.
        """
    def relaxed(self, names: list[str]) -> SchemaRegistry:
        """A copy with the named relaxations applied on top of the compiled schemas.

        Cheap enough to build once per charge-point model; the schema files are never edited
        and this registry stays unchanged. The relaxed schemas check both directions (what
        the station sends and what we send). Raises ValueError for an unknown name. Use it
        for one station with ``Connection.set_registry`` (e.g. after its BootNotification
        told its vendor and model), or for a whole server through its ``registries``.
        """
    @property
    def relaxations(self) -> list[str]:
        """Names of the relaxations applied to this registry (sorted, empty for the originals)."""
    @property
    def version(self) -> str: ...
    def actions(self) -> list[str]: ...
    def has(self, action: str, direction: str) -> bool:
        """Whether ``action`` has a ``"request"``, ``"response"`` or ``"send"`` schema."""
    def validate(
        self,
        action: str,
        direction: str,
        payload: object,
        *,
        date_time: str = "strict",
        multiple_of: bool = True,
    ) -> ValidationFailure | None:
        """First violation of ``payload``, or None. Raises KeyError for an unknown action."""
    def validate_json(
        self,
        action: str,
        direction: str,
        text: str,
        *,
        date_time: str = "strict",
        multiple_of: bool = True,
    ) -> ValidationFailure | None:
        """Like ``validate`` for a payload given as JSON text (keeps ``1`` vs ``1.0``)."""

@final
class Transmit:
    """Text to write to the socket now."""

    __match_args__ = ("text",)
    text: str

@final
class IncomingCall:
    """A valid CALL from the peer; answer with ``Connection.reply`` or ``reply_error``."""

    __match_args__ = ("id", "action", "payload", "violation")
    id: str
    action: str
    payload: dict[str, Any]
    violation: ValidationFailure | None
    """Set when a lenient mode let an invalid payload through."""

@final
class IncomingSend:
    """A 2.1 SEND from the peer (never answered)."""

    __match_args__ = ("id", "action", "payload", "violation")
    id: str
    action: str
    payload: dict[str, Any]
    violation: ValidationFailure | None

@final
class CallResult:
    """Our call ``id`` succeeded."""

    __match_args__ = ("id", "action", "payload", "violation")
    id: str
    action: str
    payload: dict[str, Any]
    violation: ValidationFailure | None

@final
class CallErrorReceived:
    """Our call ``id`` was answered with a CALLERROR (``code`` as received)."""

    __match_args__ = ("id", "action", "code", "description", "details")
    id: str
    action: str
    code: str
    description: str
    details: dict[str, Any]

@final
class InvalidResponse:
    """Our call ``id`` got an answer that breaks the envelope or the response schema."""

    __match_args__ = ("id", "action", "code", "description")
    id: str
    action: str
    code: str
    description: str

@final
class CallTimeout:
    """Our call ``id`` expired without an answer."""

    __match_args__ = ("id", "action")
    id: str
    action: str

@final
class CallAborted:
    """Our call ``id`` was dropped because the connection closed."""

    __match_args__ = ("id", "action")
    id: str
    action: str

@final
class ResultErrorReceived:
    """2.1 CALLRESULTERROR: the peer could not process our answer to its call ``id``."""

    __match_args__ = ("id", "code", "description", "details")
    id: str
    code: str
    description: str
    details: dict[str, Any]

@final
class ProtocolViolation:
    """The peer sent something wrong; any answer due was emitted as a ``Transmit``."""

    __match_args__ = ("id", "code", "description")
    id: str | None
    code: str
    description: str

@final
class UnmatchedResponse:
    """A CALLRESULT/CALLERROR for an id we are not waiting for."""

    __match_args__ = ("id",)
    id: str

Event = (
    Transmit
    | IncomingCall
    | IncomingSend
    | CallResult
    | CallErrorReceived
    | InvalidResponse
    | CallTimeout
    | CallAborted
    | ResultErrorReceived
    | ProtocolViolation
    | UnmatchedResponse
)

@final
class Connection:
    """Sans-IO state of one OCPP-J connection (one outstanding CALL per direction)."""

    def __new__(
        cls,
        version: str,
        registry: SchemaRegistry | None = None,
        *,
        incoming: str = "strict",
        outgoing: str = "strict",
        date_time: str = "strict",
        multiple_of: bool = True,
        max_queued_calls: int = 1000,
        max_depth: int = 32,
    ) -> Connection:
        """``max_depth``: deepest JSON nesting of a received frame (the envelope array is
        level 1, the payload object level 2; OCPP needs fewer than 10). A deeper frame is
        answered like unreadable JSON (RpcFrameworkError, 1.6 FormationViolation) with its
        id if readable, else ``"-1"``, before it is parsed (responses and 2.1 SENDs are
        reported, never answered). Must be at least 2."""
    @property
    def version(self) -> str: ...
    @property
    def max_depth(self) -> int: ...
    @property
    def registry(self) -> SchemaRegistry:
        """The schemas this connection validates with."""
    def set_registry(self, registry: SchemaRegistry) -> None:
        """Validate with ``registry`` from now on, e.g. a ``SchemaRegistry.relaxed(...)`` one
        chosen from the station's BootNotification vendor/model. Calls in flight are checked
        against the new schemas. Raises ValueError for another OCPP version's registry."""
    def set_action_mode(self, action: str, mode: str | None) -> None:
        """Override the incoming validation mode for one action (None removes it)."""
    def set_incoming_mode(self, mode: str) -> None: ...
    def receive(self, text: str, now: float) -> list[Event]:
        """Process one received text frame at time ``now``."""
    def call(self, action: str, payload: object, now: float, timeout: float) -> tuple[str, list[Event]]:
        """Queue an outgoing CALL; returns its id and events (a Transmit if it goes out now)."""
    def send(self, action: str, payload: object) -> str:
        """Build a 2.1 SEND frame."""
    def reply(self, id: str, payload: object) -> str:
        """CALLRESULT text for incoming call ``id``; raises LocalProtocolError if invalid."""
    def reply_error(self, id: str, code: str, description: str = "", details: object = None) -> str:
        """CALLERROR text for incoming call ``id``, ``code`` spelled for this version."""
    def poll(self, now: float) -> list[Event]:
        """Expire overdue calls and release the next queued one."""
    def cancel(self, id: str, now: float) -> list[Event]:
        """Forget call ``id`` (its caller gave up)."""
    def close(self) -> list[Event]:
        """Abort every pending and queued call."""
    def next_deadline(self) -> float | None: ...
    @property
    def pending_call(self) -> str | None: ...
    @property
    def queued_calls(self) -> int: ...
    @property
    def calls_in_progress(self) -> int: ...
