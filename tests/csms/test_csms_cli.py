"""``ocpp-router serve`` as a user runs it: a subprocess with the admin API on port 0, charge
points (our ``ocpp_router.connect`` client, 1.6 and 2.0.1) on real sockets, httpx on the
admin API. Every wait is bounded; the process is killed in a ``finally``."""

from __future__ import annotations

import signal
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio
from csms_support import BOOT16, BOOT201, Station, cli_serve, make_pki
from ocpp_router import ConnectError, client_ssl_context, connect


async def stop(cli: Any) -> int:
    cli.process.send_signal(signal.SIGTERM)
    with trio.fail_after(15):
        return int(await cli.process.wait())


def now() -> str:
    from datetime import datetime, timezone

    return datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")


async def test_serve_admin_api_end_to_end() -> None:
    station = Station()
    with trio.fail_after(50):
        async with cli_serve("--id-tag", "TAG1", "--id-tag", "BAD=Blocked") as cli:
            async with httpx.AsyncClient(base_url=cli.admin, timeout=10) as api:
                assert (await api.get("/health")).json()["status"] == "ok"
                ready = await api.get("/ready")
                assert ready.status_code == 200 and ready.json()["ready"] is True

                # -- OCPP 1.6 ----------------------------------------------------------------
                async with connect(cli.ws, "CP16", station.router(), versions=["1.6"]) as cp:
                    assert (await cp.call("BootNotification", BOOT16))["status"] == "Accepted"
                    listed = {c["identity"]: c for c in (await api.get("/charge-points")).json()}
                    assert listed["CP16"]["connected"] is True
                    assert listed["CP16"]["version"] == "1.6"
                    assert listed["CP16"]["connected_since"] is not None
                    assert listed["CP16"]["security_profile"] == 0

                    started = await api.post(
                        "/charge-points/CP16/remote-start", json={"id_tag": "TAG1", "connector_id": 1}
                    )
                    assert started.status_code == 200, started.text
                    assert started.json() == {"status": "Accepted"}
                    assert station.received[-1] == ("RemoteStartTransaction", {"idTag": "TAG1", "connectorId": 1})

                    status = {"connectorId": 1, "errorCode": "NoError", "status": "Charging", "timestamp": now()}
                    await cp.call("StatusNotification", status)
                    begin = {"connectorId": 1, "idTag": "TAG1", "meterStart": 1000, "timestamp": now()}
                    tx = (await cp.call("StartTransaction", begin))["transactionId"]
                    assert (await cp.call("Authorize", {"idTag": "BAD"}))["idTagInfo"]["status"] == "Blocked"
                    assert (await cp.call("Authorize", {"idTag": "NOBODY"}))["idTagInfo"]["status"] == "Invalid"
                    sample = {"timestamp": now(), "sampledValue": [{"value": "2500"}]}
                    await cp.call("MeterValues", {"connectorId": 1, "transactionId": tx, "meterValue": [sample]})

                    running = (await api.get("/transactions", params={"active": "true"})).json()
                    assert [t["transaction_id"] for t in running] == [tx]
                    state = (await api.get("/charge-points/CP16")).json()
                    assert [c["status"] for c in state["connectors"]] == ["Charging"]
                    assert [t["transaction_id"] for t in state["active_transactions"]] == [tx]
                    assert state["last_meter_values"][0]["value"] == "2500"

                    stopping = {"transactionId": tx, "meterStop": 4200, "timestamp": now(), "reason": "EVDisconnected"}
                    await cp.call("StopTransaction", stopping)
                    [done] = (await api.get("/transactions", params={"charge_point": "CP16"})).json()
                    assert (done["transaction_id"], done["active"], done["stop_reason"]) == (
                        tx,
                        False,
                        "EVDisconnected",
                    )
                    assert (done["meter_start"], done["meter_stop"], done["energy_wh"]) == (1000, 4200, 3200)
                    assert (await api.get(f"/charge-points/CP16/transactions/{tx}")).json()["id_tag"] == "TAG1"
                    assert (await api.get("/transactions", params={"id_tag": "tag1"})).json()[0]["transaction_id"] == tx
                    assert (await api.get("/charge-points/CP16/transactions/999")).status_code == 404

                    # reservations: the CSMS allocates the id and sends ReserveNow
                    made = await api.post(
                        "/charge-points/CP16/reservations",
                        json={"id_tag": "TAG1", "connector_id": 1, "expiry_seconds": 600},
                    )
                    assert made.status_code == 201, made.text
                    reservation = made.json()
                    assert reservation["state"] == "active"
                    assert station.received[-1][0] == "ReserveNow"
                    assert station.received[-1][1]["reservationId"] == reservation["id"]
                    listed_reservations = (await api.get("/reservations")).json()
                    assert [(r["charge_point"], r["id"]) for r in listed_reservations] == [("CP16", reservation["id"])]
                    cancelled = await api.delete(f"/charge-points/CP16/reservations/{reservation['id']}")
                    assert cancelled.json()["status"] == "Accepted"
                    assert cancelled.json()["reservation"]["state"] == "cancelled"

                    # error mapping
                    refused = await api.post(
                        "/charge-points/CP16/calls", json={"action": "UnlockConnector", "payload": {"connectorId": 1}}
                    )
                    assert refused.status_code == 502
                    assert refused.json()["error"] == "call_error"
                    assert refused.json()["code"] == "NotSupported"
                    ghost = await api.post("/charge-points/GHOST/calls", json={"action": "Reset", "payload": {}})
                    assert ghost.status_code == 409
                    assert ghost.json()["error"] == "not_connected"
                    invalid = await api.post(
                        "/charge-points/CP16/calls", json={"action": "Reset", "payload": {"type": "Bogus"}}
                    )
                    assert invalid.status_code == 422
                    assert invalid.json()["error"] == "invalid_payload"
                    assert "type" in invalid.json()["message"]
                    slow = await api.post(
                        "/charge-points/CP16/calls", json={"action": "GetConfiguration", "payload": {}, "timeout": 0.5}
                    )
                    assert slow.status_code == 504
                    assert slow.json()["error"] == "timeout"
                    station.release_slow.set()
                    raw = await api.post(
                        "/charge-points/CP16/calls", json={"action": "Reset", "payload": {"type": "Hard"}}
                    )
                    assert raw.status_code == 200 and raw.json() == {"status": "Accepted"}
                    frames = (await api.get("/charge-points/CP16/frames", params={"limit": 4})).json()
                    assert len(frames) == 4
                    assert {f["direction"] for f in frames} <= {"in", "out"}
                    assert frames[-1]["frame"].startswith("[3,")  # the answer to Reset

                # -- OCPP 2.0.1 --------------------------------------------------------------
                async with connect(cli.ws, "CP201", station.router(), versions=["2.0.1"]) as cp:
                    assert (await cp.call("BootNotification", BOOT201))["status"] == "Accepted"
                    started = await api.post("/charge-points/CP201/remote-start", json={"id_tag": "TAG1", "evse_id": 1})
                    assert started.status_code == 200, started.text
                    remote_start_id = started.json()["remote_start_id"]
                    assert started.json()["status"] == "Accepted"
                    assert station.received[-1][0] == "RequestStartTransaction"
                    assert station.received[-1][1]["idToken"] == {"idToken": "TAG1", "type": "Central"}

                    def event(kind: str, seq: int, kwh: float, **info: Any) -> dict[str, Any]:
                        return {
                            "eventType": kind,
                            "timestamp": now(),
                            "triggerReason": "RemoteStart" if kind == "Started" else "EVCommunicationLost",
                            "seqNo": seq,
                            "transactionInfo": {"transactionId": "T-1", **info},
                            "evse": {"id": 1, "connectorId": 1},
                            "meterValue": [
                                {
                                    "timestamp": now(),
                                    "sampledValue": [{"value": kwh, "unitOfMeasure": {"unit": "kWh"}}],
                                }
                            ],
                        }

                    first = event("Started", 0, 10.0, remoteStartId=remote_start_id)
                    first["idToken"] = {"idToken": "TAG1", "type": "Central"}
                    answer = await cp.call("TransactionEvent", first)
                    assert answer["idTokenInfo"]["status"] == "Accepted"
                    await cp.call("TransactionEvent", event("Ended", 1, 12.5, stoppedReason="EVDisconnected"))
                    [done] = (await api.get("/transactions", params={"charge_point": "CP201"})).json()
                    assert done["version"] == "2.0.1"
                    assert (done["transaction_id"], done["stop_reason"], done["active"]) == (
                        "T-1",
                        "EVDisconnected",
                        False,
                    )
                    assert done["energy_wh"] == pytest.approx(2500.0)
                    assert done["remote_start_id"] == remote_start_id
                    reset = await api.post("/charge-points/CP201/reset", json={})
                    assert reset.json() == {"status": "Accepted"}
                    assert station.received[-1] == ("Reset", {"type": "Immediate"})
                    blocked = await cp.call("Authorize", {"idToken": {"idToken": "BAD", "type": "ISO14443"}})
                    assert blocked["idTokenInfo"]["status"] == "Blocked"

                assert {c["identity"]: c["connected"] for c in (await api.get("/charge-points")).json()} == {
                    "CP16": False,
                    "CP201": False,
                }
            assert await stop(cli) == 0
    assert "Traceback" not in cli.stderr.text, cli.stderr.text


async def test_registry_tokens_and_unknown_switch_persist_in_the_db(tmp_path: Path) -> None:
    db = str(tmp_path / "operator.sqlite")
    password = "0123456789abcdef"
    station = Station()
    with trio.fail_after(50):
        async with cli_serve("--db", db) as cli:
            async with httpx.AsyncClient(base_url=cli.admin, timeout=10) as api:
                created = await api.post(
                    "/charge-points", json={"identity": "CP-SEC", "password": password, "security_profile": 1}
                )
                assert created.status_code == 201, created.text
                assert created.json()["has_password"] is True
                assert "password" not in created.json()
                assert (await api.post("/charge-points", json={"identity": "CP-SEC"})).status_code == 409
                open_cp = await api.put("/charge-points/CP-OPEN", json={"security_profile": 0})
                assert open_cp.status_code == 200, open_cp.text

                async with connect(cli.ws, "CP-SEC", station.router(), versions=["1.6"], password=password) as cp:
                    assert (await cp.call("BootNotification", BOOT16))["status"] == "Accepted"
                state = (await api.get("/charge-points/CP-SEC")).json()
                assert state["security_profile"] == 1 and state["registry"]["security_profile"] == 1
                for wrong in (None, "not-the-password-at-all"):
                    with pytest.raises(ConnectError) as refused:
                        async with connect(cli.ws, "CP-SEC", versions=["1.6"], password=wrong):
                            pass
                    assert refused.value.status_code == 401

                patched = await api.patch("/charge-points/CP-SEC", json={"boot_status": "Rejected"})
                assert patched.json()["boot_status"] == "Rejected"
                async with connect(cli.ws, "CP-SEC", versions=["2.0.1"], password=password) as cp:
                    assert (await cp.call("BootNotification", BOOT201))["status"] == "Rejected"

                assert (await api.get("/settings")).json()["accept_unknown_charge_points"] is True
                async with connect(cli.ws, "STRANGER", versions=["1.6"]) as cp:
                    assert (await cp.call("BootNotification", BOOT16))["status"] == "Accepted"
                settings = await api.patch("/settings", json={"accept_unknown_charge_points": False})
                assert settings.json()["accept_unknown_charge_points"] is False
                with pytest.raises(ConnectError) as unknown:
                    async with connect(cli.ws, "NEWCOMER", versions=["1.6"]):
                        pass
                assert unknown.value.status_code == 404

                token = await api.post("/id-tokens", json={"id_token": "STOLEN", "status": "Blocked"})
                assert token.status_code == 201, token.text
                async with connect(cli.ws, "CP-OPEN", versions=["1.6"]) as cp:
                    assert (await cp.call("BootNotification", BOOT16))["status"] == "Accepted"
                    authorize = await cp.call("Authorize", {"idTag": "stolen"})
                    assert authorize["idTagInfo"]["status"] == "Blocked"

                assert (await api.delete("/charge-points/CP-SEC")).status_code == 204
                assert (await api.get("/charge-points/CP-SEC")).json()["registry"] is None
            assert await stop(cli) == 0

        # The operator records survive a restart (the settings come from the config again).
        async with cli_serve("--db", db) as cli:
            async with httpx.AsyncClient(base_url=cli.admin, timeout=10) as api:
                assert [t["id_token"] for t in (await api.get("/id-tokens")).json()] == ["STOLEN"]
                registered = [c["identity"] for c in (await api.get("/charge-points")).json() if c["registry"]]
                assert registered == ["CP-OPEN"]
                assert (await api.get("/settings")).json()["accept_unknown_charge_points"] is True
            assert await stop(cli) == 0
    assert "Traceback" not in cli.stderr.text, cli.stderr.text


async def test_config_file_environment_and_tls_listener(tmp_path: Path) -> None:
    pki = make_pki(tmp_path)
    password = "tls-password-0123456"
    site = tmp_path / "site.toml"
    site.write_text(
        f"""
port = 9
versions = ["2.0.1", "1.6"]
security_profile = 1

[tls]
port = 0
cert = "{pki["cert"]}"
key = "{pki["key"]}"

[[charge_points]]
identity = "CP-TLS"
password = "{password}"
security_profile = 2

[id_tokens]
"FILE-TAG" = "Accepted"
"""
    )
    with trio.fail_after(40):
        env = {"OCPP_ROUTER_HEARTBEAT_INTERVAL": "42"}
        async with cli_serve("--config", str(site), env=env, tls=True) as cli:
            assert "OCPP 2.0.1, 1.6" in cli.stdout.text
            tls = client_ssl_context(str(pki["ca"]))
            async with connect(cli.wss, "CP-TLS", versions=["1.6"], password=password, ssl_context=tls) as cp:
                boot = await cp.call("BootNotification", BOOT16)
                assert (boot["status"], boot["interval"]) == ("Accepted", 42)
                assert (await cp.call("Authorize", {"idTag": "FILE-TAG"}))["idTagInfo"]["status"] == "Accepted"
                async with httpx.AsyncClient(base_url=cli.admin, timeout=10) as api:
                    state = (await api.get("/charge-points/CP-TLS")).json()
                    assert state["security_profile"] == 2
            with pytest.raises(ConnectError) as plain:  # pinned to profile 2: ws:// is refused
                async with connect(cli.ws, "CP-TLS", versions=["1.6"], password=password):
                    pass
            assert plain.value.status_code == 401
            with pytest.raises(ConnectError) as below:  # the minimum profile is 1
                async with connect(cli.ws, "ANYONE", versions=["1.6"]):
                    pass
            assert below.value.status_code == 401
            assert await stop(cli) == 0
    assert "Traceback" not in cli.stderr.text, cli.stderr.text


async def test_bad_configuration_is_reported_without_a_traceback(tmp_path: Path) -> None:
    site = tmp_path / "bad.toml"
    site.write_text('port = "nine"\n')
    with trio.fail_after(20):
        for args in (["--config", str(site)], ["--tls-port", "0"], ["--relax", "no-such-thing"]):
            result = await trio.run_process(
                [sys.executable, "-m", "ocpp_router", "serve", "--port", "0", *args],
                capture_stdout=True,
                capture_stderr=True,
                check=False,
            )
            assert result.returncode == 2, args
            assert result.stderr.decode().startswith("ocpp-router: "), result.stderr
            assert b"Traceback" not in result.stderr
