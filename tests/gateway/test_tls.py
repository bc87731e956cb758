"""Per-wallbox upstream security: Basic auth over wss:// (profile 2) and a client certificate
(profile 3); the local endpoint over wss:// with a per-wallbox local password."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import trio
from ocpp_router import ConnectError, PasswordStore, Server, client_ssl_context, connect, server_ssl_context
from ocpp_router.gateway import Gateway, ListenSettings, TlsFiles, WallboxConfig
from ocpp_router.v16.plugins import plugins as v16_plugins

from ._pki import Pki
from ._support import gateway_config

BOOT = {"chargePointVendor": "Wallbox", "chargePointModel": "Pulsar"}


async def test_upstream_profiles_2_and_3_and_a_local_wss_endpoint(tmp_path: Path) -> None:
    pki = Pki(tmp_path)
    client_cert, client_key = pki.issue("wb-p3", "UP-P3")
    passwords = PasswordStore()
    passwords.set("UP-P2", "a-16-to-40-char-secret")
    upstream = Server(
        versions=["1.6"],
        ssl_context=server_ssl_context(str(pki.server), str(pki.server_key), client_ca=str(pki.ca)),
        authenticate=passwords,
        minimum_security_profile=2,
    )
    upstream.install(*v16_plugins())
    profiles: dict[str, int] = {}

    async def seen(cp: Any) -> None:
        profiles[cp.id] = cp.security_profile

    upstream.hooks.on_connected = seen
    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            await nursery.start(upstream.serve, "127.0.0.1", 0)
            url = f"wss://127.0.0.1:{upstream.port}/ocpp"
            config = gateway_config(
                tmp_path,
                [
                    WallboxConfig(
                        "WB-P2",
                        url,
                        upstream_identity="UP-P2",
                        password="a-16-to-40-char-secret",
                        tls=TlsFiles(ca=str(pki.ca)),
                        local_password="local-secret",
                    ),
                    WallboxConfig(
                        "WB-P3",
                        url,
                        upstream_identity="UP-P3",
                        tls=TlsFiles(ca=str(pki.ca), cert=str(client_cert), key=str(client_key)),
                    ),
                ],
                local=ListenSettings(
                    host="127.0.0.1",
                    port=0,
                    versions=("1.6",),
                    tls=TlsFiles(cert=str(pki.server), key=str(pki.server_key)),
                ),
            )
            gateway: Gateway = await nursery.start(Gateway(config).run)
            local_url = f"wss://127.0.0.1:{gateway.port}/site"
            local_tls = client_ssl_context(str(pki.ca))

            async with connect(
                local_url, "WB-P2", versions=["1.6"], ssl_context=local_tls, password="local-secret"
            ) as cp:
                assert (await cp.call("BootNotification", BOOT))["status"] == "Accepted"
            async with connect(local_url, "WB-P3", versions=["1.6"], ssl_context=local_tls) as cp:
                assert (await cp.call("BootNotification", BOOT))["status"] == "Accepted"
            assert profiles == {"UP-P2": 2, "UP-P3": 3}
            with pytest.raises(ConnectError) as refused:  # WB-P2 must present its local password
                async with connect(local_url, "WB-P2", versions=["1.6"], ssl_context=local_tls):
                    pass
            assert refused.value.status_code == 401
            with pytest.raises(ConnectError) as unknown:  # not a wallbox of this site
                async with connect(local_url, "WB-X", versions=["1.6"], ssl_context=local_tls):
                    pass
            assert unknown.value.status_code == 404
            nursery.cancel_scope.cancel()


async def test_the_wallbox_version_is_chosen_for_its_upstream(tmp_path: Path) -> None:
    """A wallbox offering 2.0.1 and 1.6 whose upstream speaks 1.6 gets 1.6; one offering
    nothing the upstream can be relayed to is refused before the upgrade."""
    config = gateway_config(
        tmp_path,
        [
            WallboxConfig("WB-16", "ws://127.0.0.1:1/ocpp", version="1.6"),
            WallboxConfig("WB-201", "ws://127.0.0.1:1/ocpp", version="2.0.1"),
        ],
        upstream_timeout=0.5,
    )
    with trio.fail_after(20):
        async with trio.open_nursery() as nursery:
            gateway: Gateway = await nursery.start(Gateway(config).run)
            url = f"ws://127.0.0.1:{gateway.port}"
            async with connect(url, "WB-16", versions=["2.0.1", "1.6"]) as cp:
                assert cp.version == "1.6"
            async with connect(url, "WB-201", versions=["1.6", "2.0.1"]) as cp:
                assert cp.version == "2.0.1"
            with pytest.raises(ConnectError) as refused:
                async with connect(url, "WB-201", versions=["2.1"]):
                    pass
            assert refused.value.status_code == 400
            nursery.cancel_scope.cancel()
