"""Every OCPP 2.0.1 functional-block plugin: ``server.install(*plugins())``.

The plugins serve 2.0.1 and 2.1 connections, one per block A-P (``V201Plugins`` in block
order, each built in ``plugins()`` with the keyword arguments it needs).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple

from ._base import MultipartRefusedError, MultipartTimeoutError, NotAcceptedError
from .authorization import AuthorizationPlugin
from .availability import AvailabilityPlugin
from .data_transfer import DataTransferPlugin
from .diagnostics import DiagnosticsPlugin
from .display_message import DisplayMessagePlugin
from .firmware_management import FirmwareManagementPlugin
from .iso15118 import ISO15118Plugin
from .local_auth_list import LocalAuthListPlugin
from .meter_values import MeterValuesPlugin
from .provisioning import ProvisioningPlugin
from .remote_control import RemoteControlPlugin
from .reservation import ReservationPlugin
from .security import SecurityPlugin
from .smart_charging import SmartChargingPlugin
from .tariff_and_cost import TariffAndCostPlugin
from .transactions import TransactionsPlugin

if TYPE_CHECKING:
    from collections.abc import Mapping
    from datetime import timedelta

    from .authorization import Authorizer, Verdict
    from .diagnostics import EventsHook
    from .firmware_management import FirmwareStatusHook
    from .iso15118 import ChainStatusHook, EVCertificateHook, OcspHook
    from .meter_values import MeterValuesHook
    from .provisioning import BootPolicy, PendingHook, ReportHook
    from .security import CsrSigner, PasswordHook, SecurityEventHook
    from .smart_charging import ChargingNeedsHook, DynamicScheduleHook, EVScheduleHook
    from .tariff_and_cost import CostFunction, Tariff, TariffSelector
    from .transactions import TransactionEventHook

__all__ = ["MultipartRefusedError", "MultipartTimeoutError", "NotAcceptedError", "V201Plugins", "plugins"]


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
    tariff_and_cost: TariffAndCostPlugin
    meter_values: MeterValuesPlugin
    smart_charging: SmartChargingPlugin
    firmware_management: FirmwareManagementPlugin
    iso15118: ISO15118Plugin
    diagnostics: DiagnosticsPlugin
    display_message: DisplayMessagePlugin
    data_transfer: DataTransferPlugin


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
    default_tariff: Tariff | None = None,
    tariff_for: TariffSelector | None = None,
    cost: CostFunction | None = None,
    running_cost: bool = True,
    on_meter_values: MeterValuesHook | None = None,
    on_charging_needs: ChargingNeedsHook | None = None,
    on_ev_schedule: EVScheduleHook | None = None,
    dynamic_schedule: DynamicScheduleHook | None = None,
    on_firmware_status: FirmwareStatusHook | None = None,
    ev_certificate: EVCertificateHook | None = None,
    ocsp: OcspHook | None = None,
    chain_status: ChainStatusHook | None = None,
    on_events: EventsHook | None = None,
    data_transfer_schemas: Mapping[tuple[str, str | None], Any] | None = None,
) -> V201Plugins:
    """A 2.0.1/2.1 CSMS for blocks A-P (Security, Provisioning, Authorization, Local
    Authorization List, Transactions, Remote Control, Availability, Reservation, Tariff and
    Cost, Metering, Smart Charging, Firmware Management, ISO 15118 Certificate Management,
    Diagnostics, Display Message, Data Transfer). The arguments go to the plugin that owns
    them; TransactionEvents are authorised by the Authorization plugin and priced by the
    Tariff and Cost plugin."""
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
        tariff_and_cost=TariffAndCostPlugin(
            default_tariff=default_tariff, tariff_for=tariff_for, cost=cost, running_cost=running_cost
        ),
        meter_values=MeterValuesPlugin(on_meter_values=on_meter_values),
        smart_charging=SmartChargingPlugin(
            on_charging_needs=on_charging_needs, on_ev_schedule=on_ev_schedule, dynamic_schedule=dynamic_schedule
        ),
        firmware_management=FirmwareManagementPlugin(on_firmware_status=on_firmware_status),
        iso15118=ISO15118Plugin(ev_certificate=ev_certificate, ocsp=ocsp, chain_status=chain_status),
        diagnostics=DiagnosticsPlugin(on_events=on_events),
        display_message=DisplayMessagePlugin(),
        data_transfer=DataTransferPlugin(schemas=data_transfer_schemas),
    )
