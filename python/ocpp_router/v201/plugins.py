"""Every OCPP 2.0.1 functional-block plugin installed so far: ``server.install(*plugins())``.

The plugins serve 2.0.1 and 2.1 connections. Blocks A-H are here; I-P follow: add a field
to ``V201Plugins`` (in block order, with its plugin built in ``plugins()``) and the
keyword arguments it needs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

from ._base import NotAcceptedError
from .authorization import AuthorizationPlugin
from .availability import AvailabilityPlugin
from .local_auth_list import LocalAuthListPlugin
from .provisioning import ProvisioningPlugin
from .remote_control import RemoteControlPlugin
from .reservation import ReservationPlugin
from .security import SecurityPlugin
from .transactions import TransactionsPlugin

if TYPE_CHECKING:
    from collections.abc import Mapping
    from datetime import timedelta

    from .authorization import Authorizer, Verdict
    from .provisioning import BootPolicy, PendingHook, ReportHook
    from .security import CsrSigner, PasswordHook, SecurityEventHook
    from .transactions import TransactionEventHook

__all__ = ["NotAcceptedError", "V201Plugins", "plugins"]


class V201Plugins(NamedTuple):
    """The block plugins; a tuple (for ``install(*...)``) with named fields for the helpers."""

    security: SecurityPlugin
    provisioning: ProvisioningPlugin
    authorization: AuthorizationPlugin
    local_auth_list: LocalAuthListPlugin
    transactions: TransactionsPlugin
    remote_control: RemoteControlPlugin
    availability: AvailabilityPlugin
    reservation: ReservationPlugin


def plugins(
    *,
    boot_policy: BootPolicy | None = None,
    heartbeat_interval: int = 300,
    retry_interval: int = 60,
    on_pending: PendingHook | None = None,
    on_report: ReportHook | None = None,
    authorizer: Authorizer | None = None,
    id_tokens: Mapping[str, Verdict] | None = None,
    cache_expiry: timedelta | float | None = None,
    sign_csr: CsrSigner | None = None,
    on_security_event: SecurityEventHook | None = None,
    on_password_rotated: PasswordHook | None = None,
    on_transaction_event: TransactionEventHook | None = None,
    trigger_window: float = 60.0,
) -> V201Plugins:
    """A 2.0.1/2.1 CSMS for blocks A-H (Security, Provisioning, Authorization, Local
    Authorization List, Transactions, Remote Control, Availability, Reservation). The
    arguments go to the plugin that owns them; TransactionEvents are authorised by the
    Authorization plugin."""
    return V201Plugins(
        security=SecurityPlugin(
            sign_csr=sign_csr,
            on_security_event=on_security_event,
            on_password_rotated=on_password_rotated,
            trigger_window=trigger_window,
        ),
        provisioning=ProvisioningPlugin(
            boot_policy=boot_policy,
            heartbeat_interval=heartbeat_interval,
            retry_interval=retry_interval,
            on_pending=on_pending,
            on_report=on_report,
            trigger_window=trigger_window,
        ),
        authorization=AuthorizationPlugin(authorizer=authorizer, id_tokens=id_tokens, cache_expiry=cache_expiry),
        local_auth_list=LocalAuthListPlugin(),
        transactions=TransactionsPlugin(on_event=on_transaction_event),
        remote_control=RemoteControlPlugin(trigger_window=trigger_window),
        availability=AvailabilityPlugin(),
        reservation=ReservationPlugin(),
    )
