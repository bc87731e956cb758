"""The status page of the admin port (``ocpp_router.csms.status_page``): its JSON in-process,
the message-rate arithmetic, and the page itself rendered by headless Chromium against
``python -m ocpp_router serve`` (skipped when ``/usr/bin/chromium`` is missing; ``.ci/run``
installs Debian's ``chromium``)."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio
from csms_support import BOOT16, BOOT201, cli_serve, running_csms
from ocpp_router import connect, utc_now
from ocpp_router.csms.status_page import RATE_WINDOW, message_rates
from ocpp_router.observability.audit import AuditLog

CHROMIUM = Path("/usr/bin/chromium")
NEEDS_CHROMIUM = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="headless Chromium not found at /usr/bin/chromium (apt-get install chromium; .ci/run installs it)",
)
TAG = "TAG-STATUS"


async def _station_16(ws: str, identity: str, nursery: trio.Nursery, done: trio.Event) -> Any:
    """A 1.6 charge point with a running transaction on connector 1, connector 2 faulted."""
    cp = await nursery.start(_hold, ws, identity, "1.6", done)
    assert (await cp.call("BootNotification", BOOT16))["status"] == "Accepted"
    for connector, status, error in ((0, "Available", "NoError"), (2, "Faulted", "GroundFailure")):
        await cp.call("StatusNotification", {"connectorId": connector, "errorCode": error, "status": status})
    started = await cp.call(
        "StartTransaction", {"connectorId": 1, "idTag": TAG, "meterStart": 1000, "timestamp": utc_now()}
    )
    assert started["idTagInfo"]["status"] == "Accepted"
    await cp.call("StatusNotification", {"connectorId": 1, "errorCode": "NoError", "status": "Charging"})
    return cp


async def _station_201(ws: str, identity: str, nursery: trio.Nursery, done: trio.Event) -> Any:
    """A 2.0.1 station with EVSE 1 occupied by transaction TX-201."""
    cp = await nursery.start(_hold, ws, identity, "2.0.1", done)
    assert (await cp.call("BootNotification", BOOT201))["status"] == "Accepted"
    await cp.call(
        "StatusNotification", {"timestamp": utc_now(), "connectorStatus": "Occupied", "evseId": 1, "connectorId": 1}
    )
    await cp.call(
        "TransactionEvent",
        {
            "eventType": "Started",
            "timestamp": utc_now(),
            "triggerReason": "Authorized",
            "seqNo": 0,
            "transactionInfo": {"transactionId": "TX-201"},
            "evse": {"id": 1, "connectorId": 1},
            "idToken": {"idToken": TAG, "type": "ISO14443"},
        },
    )
    return cp


async def _hold(ws: str, identity: str, version: str, done: trio.Event, *, task_status: trio.TaskStatus[Any]) -> None:
    """Keep a charge point connected until ``done`` is set (then close it normally)."""
    async with connect(ws, identity, versions=[version]) as cp:
        task_status.started(cp)
        await done.wait()


# -- in-process --------------------------------------------------------------------------------


async def test_status_json_lists_connected_charge_points() -> None:
    with trio.fail_after(30):
        async with running_csms() as (csms, api, ws):
            assert (await api.post("/id-tokens", json={"id_token": TAG})).status_code == 201
            empty = (await api.get("/status.json")).json()
            assert (empty["connected"], empty["charge_points"]) == (0, [])
            done = trio.Event()
            async with trio.open_nursery() as nursery:
                await _station_16(ws, "CP-16", nursery, done)
                await _station_201(ws, "CS-201", nursery, done)
                status = await api.get("/status.json")
                assert status.headers["cache-control"] == "no-store"
                data = status.json()
                assert data["connected"] == 2
                assert data["by_version"] == {"1.6": 1, "2.0.1": 1}
                assert data["ready"] is True and data["started_at"] == csms.started_at
                cp16, cs201 = data["charge_points"]  # by identity
                assert (cp16["identity"], cp16["version"], cp16["registration"]) == ("CP-16", "1.6", "Accepted")
                assert (cp16["vendor"], cp16["model"]) == ("Acme", "One")
                assert cp16["connected_since"] == csms.presence["CP-16"].connected_since
                assert [(c["id"], c["status"], c["error_code"]) for c in cp16["connectors"]] == [
                    ("0", "Available", None),
                    ("1", "Charging", None),
                    ("2", "Faulted", "GroundFailure"),
                ]
                [tx16] = cp16["active_transactions"]
                assert (tx16["connector"], tx16["id_tag"]) == ("1", TAG)
                assert isinstance(tx16["transaction_id"], int)
                # Boot + 3 StatusNotification + StartTransaction (and the answers) in the window.
                assert cp16["in_per_second"] == pytest.approx(5 / RATE_WINDOW)
                assert cp16["out_per_second"] >= 5 / RATE_WINDOW
                assert cp16["messages_per_second"] == pytest.approx(cp16["in_per_second"] + cp16["out_per_second"])

                assert (cs201["identity"], cs201["version"], cs201["model"]) == ("CS-201", "2.0.1", "Two")
                assert [(c["id"], c["status"]) for c in cs201["connectors"]] == [("1/1", "Occupied")]
                assert [(t["transaction_id"], t["connector"], t["id_tag"]) for t in cs201["active_transactions"]] == [
                    ("TX-201", "1/1", TAG)
                ]
                assert cs201["in_per_second"] == pytest.approx(3 / RATE_WINDOW)
                total = cp16["messages_per_second"] + cs201["messages_per_second"]
                assert data["messages_per_second"] == pytest.approx(total)

                matching = (await api.get("/status.json", params={"match": "cs-", "limit": 5})).json()
                assert (matching["connected"], matching["matching"]) == (2, 1)
                assert [cp["identity"] for cp in matching["charge_points"]] == ["CS-201"]
                limited = (await api.get("/status.json", params={"limit": 1})).json()
                assert [cp["identity"] for cp in limited["charge_points"]] == ["CP-16"]
                assert (await api.get("/status.json", params={"limit": 0})).status_code == 422
                done.set()
            with trio.fail_after(5):
                while csms.server.charge_points:
                    await trio.sleep(0.01)
            assert (await api.get("/status.json")).json()["connected"] == 0


async def test_page_script_and_content_negotiation() -> None:
    with trio.fail_after(20):
        async with running_csms() as (_, api, _ws):
            page = await api.get("/status")
            assert page.status_code == 200
            assert page.headers["content-type"].startswith("text/html")
            assert "script-src 'self'" in page.headers["content-security-policy"]
            assert '<script src="status.js"></script>' in page.text
            assert 'id="charge-points"' in page.text
            script = await api.get("/status.js")
            assert script.headers["content-type"].startswith("text/javascript")
            assert "fetch(url" in script.text and "status.json" in script.text
            assert "innerHTML" not in script.text  # charge-point data goes in as text only
            # `/`: the page for a browser, the JSON index for API clients.
            browser = await api.get("/", headers={"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"})
            assert browser.headers["content-type"].startswith("text/html") and 'id="charge-points"' in browser.text
            index = (await api.get("/")).json()
            assert (index["name"], index["status"]) == ("ocpp-router admin API", "/status")
            schema = (await api.get("/openapi.json")).json()
            assert "/status.json" in schema["paths"] and "/status" not in schema["paths"]


async def test_status_json_needs_the_admin_token() -> None:
    with trio.fail_after(20):
        async with running_csms(**{"admin.token": "s3cret-token"}) as (_, api, _ws):
            assert (await api.get("/status")).status_code == 200  # no data in the page itself
            assert (await api.get("/status.js")).status_code == 200
            refused = await api.get("/status.json")
            assert (refused.status_code, refused.json()["error"]) == (401, "unauthorized")
            allowed = await api.get("/status.json", headers={"Authorization": "Bearer s3cret-token"})
            assert allowed.status_code == 200 and allowed.json()["connected"] == 0


# -- message rates ------------------------------------------------------------------------------


def test_message_rates_from_the_audit_ring() -> None:
    audit = AuditLog(None, ring_size=8)
    now = 1_700_000_000.0
    assert message_rates(audit, "CP1", now=now) is not None
    assert message_rates(audit, "CP1", now=now).total == 0  # type: ignore[union-attr]
    # 2 frames outside the 10-second window, 4 inside (3 in, 1 out).
    for offset, direction in ((-30, "in"), (-11, "out"), (-9, "in"), (-5, "out"), (-1, "in"), (-0.5, "in")):
        audit.record("CP1", "1.6", direction, "[]", when=now + offset)  # type: ignore[arg-type]
    rates = message_rates(audit, "CP1", now=now)
    assert rates is not None
    assert (rates.incoming, rates.outgoing) == (0.3, 0.1)
    assert rates.total == pytest.approx(0.4)
    # A full ring covering less than the window: the rate over the span it holds.
    busy = AuditLog(None, ring_size=4)
    for n in range(10):
        busy.record("CP2", "2.0.1", "in", "[]", when=now + n * 0.25)  # 4 per second
    rates = message_rates(busy, "CP2", now=now + 9 * 0.25)  # the ring holds the last 0.75 s
    assert rates is not None and rates.incoming == pytest.approx(4.0, rel=0.02)
    assert message_rates(AuditLog(None, ring_size=0), "CP1", now=now) is None


# -- in a browser -------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def _killed_on_exit(process: trio.Process) -> AsyncIterator[trio.Process]:
    try:
        yield process
    finally:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)  # chromium and every helper it spawned
        with trio.CancelScope(shield=True), trio.move_on_after(10):
            await process.wait()


async def _chromium(profile: Path, *args: str, timeout: float = 60) -> str:
    """Run headless Chromium (own process group, bounded, always killed); its stdout."""
    command = [
        str(CHROMIUM),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        f"--user-data-dir={profile}",
        *args,
    ]
    process = await trio.lowlevel.open_process(
        command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL, start_new_session=True
    )
    output = bytearray()
    async with _killed_on_exit(process):
        assert process.stdout is not None
        with trio.fail_after(timeout):
            async with process.stdout:
                async for chunk in process.stdout:
                    output += chunk
            await process.wait()
    assert process.returncode == 0, f"chromium exited with {process.returncode}: {output[-2000:]!r}"
    return output.decode(errors="replace")


@NEEDS_CHROMIUM
async def test_status_page_in_headless_chromium(tmp_path: Path) -> None:
    with trio.fail_after(120):
        done = trio.Event()
        async with cli_serve("--id-tag", TAG) as cli, trio.open_nursery() as nursery:
            await _station_16(cli.ws, "CP-BROWSER-16", nursery, done)
            await _station_201(cli.ws, "CS-BROWSER-201", nursery, done)
            async with httpx.AsyncClient(base_url=cli.admin) as api:
                assert (await api.get("/status.json")).json()["connected"] == 2

            url = f"{cli.admin}/"
            dom = await _chromium(tmp_path / "profile", "--virtual-time-budget=5000", "--dump-dom", url)
            # Everything below was put there by status.js from /status.json.
            assert re.search(r'<body[^>]* data-updated="\d{4}-', dom), dom[:3000]
            rows = dict(re.findall(r'<tr data-identity="([^"]+)">(.*?)</tr>', dom, flags=re.S))
            assert set(rows) == {"CP-BROWSER-16", "CS-BROWSER-201"}, dom
            cp16, cs201 = rows["CP-BROWSER-16"], rows["CS-BROWSER-201"]
            assert '<div class="identity">CP-BROWSER-16</div>' in cp16
            assert '<td class="version">1.6</td>' in cp16
            assert 'data-connector="1" data-status="Charging"' in cp16 and ">1: Charging<" in cp16
            assert 'data-status="Faulted"' in cp16 and ">2: Faulted<" in cp16
            assert re.search(r'class="transaction">#\d+ on 1<div class="sub">TAG-STATUS', cp16), cp16
            assert re.search(r'<td class="num rate"[^>]*>\d+\.\d+</td>', cp16), cp16
            assert '<td class="version">2.0.1</td>' in cs201
            assert ">1/1: Occupied<" in cs201 and ">#TX-201 on 1/1<" in cs201
            assert re.search(r'id="summary"><span>connected <b>2</b></span>', dom), dom[:3000]

            screenshot = tmp_path / "status.png"
            await _chromium(
                tmp_path / "profile-shot",
                "--virtual-time-budget=5000",
                "--hide-scrollbars",
                f"--screenshot={screenshot}",
                "--window-size=1200,800",
                url,
            )
            assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
            done.set()


@NEEDS_CHROMIUM
async def test_status_page_with_an_admin_token_in_headless_chromium(tmp_path: Path) -> None:
    """``--admin-token``: without it the page asks for the token; ``#token=`` in the URL works."""
    with trio.fail_after(60):
        async with running_csms(**{"admin.port": 0, "admin.token": "s3cret-token"}) as (csms, _, ws):
            done = trio.Event()
            async with trio.open_nursery() as nursery:
                await _station_201(ws, "CS-TOKEN", nursery, done)
                page = f"{csms.admin_url}/status"
                refused = await _chromium(tmp_path / "p1", "--virtual-time-budget=3000", "--dump-dom", page)
                assert 'id="login"' in refused and '<form id="login" hidden' not in refused, refused
                assert "this admin API needs a token" in refused
                assert "CS-TOKEN" not in refused
                dom = await _chromium(
                    tmp_path / "p2", "--virtual-time-budget=3000", "--dump-dom", f"{page}#token=s3cret-token"
                )
                assert '<tr data-identity="CS-TOKEN">' in dom and ">1/1: Occupied<" in dom, dom
                assert '<form id="login" hidden' in dom
                done.set()
