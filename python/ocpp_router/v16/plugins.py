"""Every OCPP 1.6 profile plugin at once: ``server.install(*plugins())``."""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

from .core import CorePlugin
from .firmware_management import FirmwareManagementPlugin
from .local_auth_list import LocalAuthListPlugin
from .remote_trigger import RemoteTriggerPlugin
from .reservation import ReservationPlugin
from .security import SecurityPlugin
from .smart_charging import SmartChargingPlugin

if TYPE_CHECKING:
    from collections.abc import Mapping

    from .. import v16
    from .core import Authorizer, BootPolicy
    from .security import CsrSigner, SecurityEventHook

__all__ = ["V16Plugins", "plugins"]


class V16Plugins(NamedTuple):
    """The seven profile plugins; a tuple (for ``install(*...)``) with named fields for the helpers."""

    core: CorePlugin
    firmware_management: FirmwareManagementPlugin
    local_auth_list: LocalAuthListPlugin
    reservation: ReservationPlugin
    smart_charging: SmartChargingPlugin
    remote_trigger: RemoteTriggerPlugin
    security: SecurityPlugin


def plugins(
    *,
    boot_policy: BootPolicy | None = None,
    heartbeat_interval: int = 300,
    retry_interval: int = 60,
    authorizer: Authorizer | None = None,
    id_tags: Mapping[str, v16.IdTagInfo | v16.AuthorizationStatus | str] | None = None,
    sign_csr: CsrSigner | None = None,
    on_security_event: SecurityEventHook | None = None,
    trigger_window: float = 60.0,
) -> V16Plugins:
    """A complete OCPP 1.6 CSMS (Core, Firmware Management, Local Auth List Management,
    Reservation, Smart Charging, Remote Trigger, Security extension); the arguments go to
    ``CorePlugin``, ``SecurityPlugin`` and the trigger helpers."""
    return V16Plugins(
        core=CorePlugin(
            boot_policy=boot_policy,
            heartbeat_interval=heartbeat_interval,
            retry_interval=retry_interval,
            authorizer=authorizer,
            id_tags=id_tags,
        ),
        firmware_management=FirmwareManagementPlugin(),
        local_auth_list=LocalAuthListPlugin(),
        reservation=ReservationPlugin(),
        smart_charging=SmartChargingPlugin(),
        remote_trigger=RemoteTriggerPlugin(trigger_window=trigger_window),
        security=SecurityPlugin(sign_csr=sign_csr, on_security_event=on_security_event, trigger_window=trigger_window),
    )
