"""The status page of the reference CSMS, served on the admin port (docs/admin-api.md).

``GET /status`` (and ``GET /`` for a browser, i.e. when ``Accept`` names ``text/html``) is
one self-contained HTML page; its script (``GET /status.js``) polls ``GET /status.json``
every 2 seconds and redraws the table of connected charge points: identity, OCPP version,
connected since, the last status of each connector, active transactions and messages per
second. No build step, no CDN: the page, script and styles are strings in this module.

``/status.json`` is an admin endpoint (``Authorization: Bearer <token>`` when
``--admin-token`` is set); the page itself carries no data and is not guarded. With a token,
open ``/status#token=<token>`` once: the script keeps it in the tab's ``sessionStorage``,
removes it from the address bar and sends it with every poll (or asks for it on a 401).

**Message rates** come from the audit log's in-memory ring of recent frames per charge point
(``Csms.audit``, always attached, ``frames_per_charge_point`` frames each): frames of the
last ``RATE_WINDOW`` seconds, found by a binary search on the ring's timestamps (RFC 3339
text sorts by time), so a poll costs O(log ring) per charge point and nothing is added to
the per-frame path. When the ring holds fewer seconds than the window (a busy charge point),
the rate is taken over the span the ring does hold; with ``frames_per_charge_point = 0``
the rates are ``null``.
"""

from __future__ import annotations

import time
from bisect import bisect_left
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from .. import __version__
from .._versions import V16
from ..observability.audit import rfc3339_ms

if TYPE_CHECKING:
    from collections.abc import Sequence

    from fastapi import FastAPI

    from ..observability.audit import AuditFrame, AuditLog
    from .app import Csms

__all__ = ["RATE_WINDOW", "Rates", "install", "message_rates", "page_response", "status_snapshot", "wants_html"]

RATE_WINDOW = 10.0
"""Seconds of frames a message rate is averaged over."""

POLL_INTERVAL_MS = 2000
DEFAULT_LIMIT = 500
MAX_LIMIT = 5000

_PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'unsafe-inline'; connect-src 'self'; "
        "img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


# -- message rates ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Rates:
    """Frames per second of one charge point, both directions."""

    incoming: float
    outgoing: float

    @property
    def total(self) -> float:
        return self.incoming + self.outgoing


def _posix(text: str) -> float:
    """An audit timestamp (``2024-05-01T10:00:00.123Z``) as a POSIX time."""
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def _frame_time(frame: AuditFrame) -> str:
    return frame.time


def message_rates(
    audit: AuditLog, identity: str, *, now: float | None = None, window: float = RATE_WINDOW
) -> Rates | None:
    """``identity``'s frames per second over the last ``window`` seconds, from ``audit``'s
    ring of recent frames (None when the log keeps no frames)."""
    if audit.ring_size <= 0:
        return None
    frames = audit.recent_frames(identity)
    if not frames:
        return Rates(0.0, 0.0)
    now = time.time() if now is None else now
    # RFC 3339 UTC text with fixed-width milliseconds sorts like the times it names.
    cutoff = rfc3339_ms(now - window)
    first = bisect_left(frames, cutoff, key=_frame_time)
    recent = frames[first:]
    span = window
    if first == 0 and len(frames) >= audit.ring_size > 1:
        # The ring is full and all of it is recent: it covers less than the window. Count
        # the frames after the oldest over the time since the oldest.
        span = max(now - _posix(frames[0].time), 1e-3)
        recent = frames[1:]
    incoming = sum(1 for frame in recent if frame.direction == "in")
    return Rates(round(incoming / span, 2), round((len(recent) - incoming) / span, 2))


# -- the snapshot -------------------------------------------------------------------------------


def _connectors_16(table: dict[int, Any]) -> list[dict[str, Any]]:
    return [
        {
            "id": str(c.connector_id),
            "evse_id": None,
            "connector_id": c.connector_id,
            "status": c.status,
            "error_code": c.error_code if c.error_code != "NoError" else None,
            "info": c.info,
            "since": c.timestamp or c.received_at,
        }
        for c in sorted(table.values(), key=lambda c: c.connector_id)
    ]


def _connectors_201(table: dict[tuple[int, int], Any]) -> list[dict[str, Any]]:
    return [
        {
            "id": f"{c.evse_id}/{c.connector_id}",
            "evse_id": c.evse_id,
            "connector_id": c.connector_id,
            "status": c.status,
            "error_code": None,
            "info": None,
            "since": c.timestamp or c.received_at,
        }
        for c in table.values()
    ]


async def _charge_point(csms: Csms, identity: str, version: str, rates: Rates | None) -> dict[str, Any]:
    presence = csms.presence.get(identity)
    entry: dict[str, Any] = {
        "identity": identity,
        "version": version,
        "connected_since": presence.connected_since if presence is not None else None,
        "security_profile": presence.security_profile if presence is not None else None,
        "remote": presence.remote if presence is not None else None,
    }
    transactions: list[dict[str, Any]] = []
    if version == V16:
        registration: Any = await csms.v16.core.registration(identity)
        connectors = _connectors_16(await csms.v16.core.connectors(identity))
        for tx16 in await csms.v16.core.transactions(identity, active=True):
            transactions.append(
                {
                    "transaction_id": tx16.id,
                    "connector": str(tx16.connector_id),
                    "id_tag": tx16.id_tag,
                    "start_time": tx16.start_time,
                }
            )
        boot = registration.boot if registration is not None else {}
        entry["vendor"] = boot.get("chargePointVendor")
        entry["model"] = boot.get("chargePointModel")
    else:
        registration = await csms.v201.provisioning.registration(identity)
        connectors = _connectors_201(await csms.v201.availability.connectors(identity))
        for tx in await csms.v201.transactions.transactions(identity, active=True):
            evse, connector = tx.evse_id, tx.connector_id
            where = None if evse is None else (str(evse) if connector is None else f"{evse}/{connector}")
            transactions.append(
                {
                    "transaction_id": tx.transaction_id,
                    "connector": where,
                    "id_tag": (tx.id_token or {}).get("idToken"),
                    "start_time": tx.started_at or tx.first_seen_at,
                }
            )
        station = registration.charging_station if registration is not None else {}
        entry["vendor"] = station.get("vendorName")
        entry["model"] = station.get("model")
    entry["registration"] = registration.status if registration is not None else None
    entry["connectors"] = connectors
    entry["active_transactions"] = transactions
    entry["messages_per_second"] = None if rates is None else round(rates.total, 2)
    entry["in_per_second"] = None if rates is None else rates.incoming
    entry["out_per_second"] = None if rates is None else rates.outgoing
    return entry


async def status_snapshot(csms: Csms, *, limit: int = DEFAULT_LIMIT, match: str | None = None) -> dict[str, Any]:
    """What the status page shows: the connected charge points (at most ``limit``, by
    identity; ``match``: only identities containing it, case-insensitively) and totals."""
    now = time.time()
    connected = sorted((cp for cp in list(csms.server.charge_points.values()) if not cp.closed), key=lambda cp: cp.id)
    by_version: dict[str, int] = {}
    rates = {cp.id: message_rates(csms.audit, cp.id, now=now) for cp in connected}
    for cp in connected:
        by_version[cp.version] = by_version.get(cp.version, 0) + 1
    known = [r.total for r in rates.values() if r is not None]
    total_rate = sum(known) if len(known) == len(rates) else None
    wanted = connected
    if match:
        needle = match.casefold()
        wanted = [cp for cp in connected if needle in cp.id.casefold()]
    shown = [await _charge_point(csms, cp.id, cp.version, rates[cp.id]) for cp in wanted[:limit]]
    return {
        "now": rfc3339_ms(now),
        "started_at": csms.started_at,
        "ready": csms.ready,
        "server_version": __version__,
        "versions": list(csms.server.versions),
        "connected": len(connected),
        "by_version": dict(sorted(by_version.items())),
        "matching": len(wanted),
        "messages_per_second": None if total_rate is None else round(total_rate, 2),
        "rate_window": RATE_WINDOW,
        "poll_interval_ms": POLL_INTERVAL_MS,
        "charge_points": shown,
    }


# -- HTTP ---------------------------------------------------------------------------------------


def wants_html(request: Request) -> bool:
    """The client (a browser) asks for HTML rather than JSON."""
    return "text/html" in request.headers.get("accept", "")


def page_response() -> HTMLResponse:
    return HTMLResponse(PAGE, headers=_PAGE_HEADERS)


def install(app: FastAPI, csms: Csms, *, dependencies: Sequence[Any] = ()) -> None:
    """Register ``/status``, ``/status.js`` and ``/status.json`` (guarded by
    ``dependencies``) on the admin ``app``."""

    @app.get("/status", include_in_schema=False)
    async def status_page() -> HTMLResponse:
        return page_response()

    @app.get("/status.js", include_in_schema=False)
    async def status_script() -> Response:
        return Response(SCRIPT, media_type="text/javascript", headers=_PAGE_HEADERS)

    @app.get(
        "/status.json",
        tags=["status"],
        dependencies=list(dependencies),
        summary="connected charge points: connectors, active transactions, message rates",
    )
    async def status_json(
        limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
        match: Annotated[str | None, Query(max_length=100)] = None,
    ) -> JSONResponse:
        snapshot = await status_snapshot(csms, limit=limit, match=match)
        return JSONResponse(snapshot, headers={"Cache-Control": "no-store"})


# -- the page -----------------------------------------------------------------------------------

PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>ocpp-router status</title>
<link rel="icon" href="data:,">
<style>
  :root { --fg: #1d2430; --muted: #667085; --line: #e4e7ec; --bg: #f7f8fa; }
  * { box-sizing: border-box; }
  body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
         color: var(--fg); background: var(--bg); }
  header { display: flex; flex-wrap: wrap; align-items: baseline; gap: 8px 24px;
           padding: 14px 24px; background: #fff; border-bottom: 1px solid var(--line); }
  h1 { font-size: 18px; margin: 0; }
  .summary { display: flex; gap: 20px; flex-wrap: wrap; color: var(--muted); }
  .summary b { color: var(--fg); }
  main { padding: 16px 24px; }
  .bar { display: flex; gap: 12px; align-items: center; margin-bottom: 12px; color: var(--muted); }
  input[type=search], input[type=password] { padding: 5px 8px; border: 1px solid var(--line);
           border-radius: 6px; font: inherit; min-width: 220px; }
  table { width: 100%; border-collapse: collapse; background: #fff; border: 1px solid var(--line); }
  th, td { text-align: left; padding: 8px 10px; border-bottom: 1px solid var(--line); vertical-align: top; }
  th { font-size: 12px; text-transform: uppercase; letter-spacing: .04em; color: var(--muted); background: #fbfcfd; }
  td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
  .identity { font-weight: 600; }
  .sub { color: var(--muted); font-size: 12px; }
  .badge { display: inline-block; margin: 0 4px 4px 0; padding: 1px 8px; border-radius: 10px;
           font-size: 12px; white-space: nowrap; background: #eef0f3; }
  .s-available { background: #dcfae6; color: #085d3a; }
  .s-charging, .s-occupied { background: #d1e9ff; color: #194185; }
  .s-preparing, .s-suspendedev, .s-suspendedevse, .s-finishing { background: #fef0c7; color: #7a2e0e; }
  .s-faulted { background: #fee4e2; color: #912018; }
  .s-reserved { background: #ebe9fe; color: #3e1c96; }
  .s-unavailable { background: #eaecf0; color: #344054; }
  .empty { padding: 28px; text-align: center; color: var(--muted); }
  #error { color: #b42318; }
  [hidden] { display: none !important; }
</style>
</head>
<body>
<header>
  <h1>ocpp-router</h1>
  <div class="summary" id="summary"><span>loading&hellip;</span></div>
</header>
<main>
  <div class="bar">
    <input type="search" id="filter" placeholder="filter by identity" aria-label="filter by identity">
    <span id="shown"></span>
    <span id="error" role="alert"></span>
    <form id="login" hidden>
      <input type="password" id="token" placeholder="admin token" aria-label="admin token" autocomplete="off">
      <button type="submit">Use token</button>
    </form>
  </div>
  <table>
    <thead><tr>
      <th>Charge point</th><th>OCPP</th><th>Connected since</th><th>Connectors</th>
      <th>Active transactions</th><th class="num">Messages/s</th>
    </tr></thead>
    <tbody id="charge-points"></tbody>
  </table>
  <noscript><p class="empty">This page needs JavaScript; the data is at status.json.</p></noscript>
</main>
<script src="status.js"></script>
</body>
</html>
"""

SCRIPT = r"""// ocpp-router status page: polls status.json and redraws the table (no dependencies).
"use strict";
(function () {
  var POLL_MS = __POLL_MS__;
  var TOKEN_KEY = "ocpp-router-admin-token";
  var body = document.getElementById("charge-points");
  var summary = document.getElementById("summary");
  var shown = document.getElementById("shown");
  var errorBox = document.getElementById("error");
  var filter = document.getElementById("filter");
  var login = document.getElementById("login");
  var tokenInput = document.getElementById("token");
  var timer = null;

  var hash = /(?:^#|&)token=([^&]+)/.exec(location.hash);
  if (hash) {
    sessionStorage.setItem(TOKEN_KEY, decodeURIComponent(hash[1]));
    history.replaceState(null, "", location.pathname + location.search);
  }

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function time(text) {
    if (!text) return "";
    var d = new Date(text);
    return isNaN(d) ? String(text) : d.toLocaleTimeString();
  }

  function ago(text, offset) {
    if (!text) return "";
    var ms = Date.now() + offset - new Date(text).getTime();
    if (!(ms >= 0)) return "";
    var s = Math.floor(ms / 1000);
    if (s < 60) return s + " s";
    if (s < 3600) return Math.floor(s / 60) + " min";
    if (s < 86400) return Math.floor(s / 3600) + " h " + Math.floor((s % 3600) / 60) + " min";
    return Math.floor(s / 86400) + " d " + Math.floor((s % 86400) / 3600) + " h";
  }

  function rate(value) {
    return value === null || value === undefined ? "\u2013" : value.toFixed(value < 10 ? 2 : 1);
  }

  function row(cp, offset) {
    var tr = el("tr");
    tr.setAttribute("data-identity", cp.identity);
    var who = el("td");
    who.appendChild(el("div", "identity", cp.identity));
    var about = [cp.vendor, cp.model].filter(Boolean).join(" ");
    if (cp.registration && cp.registration !== "Accepted") about += (about ? " \u00b7 " : "") + cp.registration;
    if (about) who.appendChild(el("div", "sub", about));
    tr.appendChild(who);
    var version = el("td", "version", cp.version);
    if (cp.security_profile) version.appendChild(el("div", "sub", "profile " + cp.security_profile));
    tr.appendChild(version);
    var since = el("td", "since", time(cp.connected_since));
    since.title = cp.connected_since || "";
    since.appendChild(el("div", "sub", ago(cp.connected_since, offset)));
    tr.appendChild(since);
    var connectors = el("td", "connectors");
    if (!cp.connectors.length) connectors.appendChild(el("span", "sub", "no status yet"));
    cp.connectors.forEach(function (c) {
      var badge = el("span", "badge connector s-" + String(c.status).toLowerCase(), c.id + ": " + c.status);
      badge.setAttribute("data-connector", c.id);
      badge.setAttribute("data-status", c.status);
      badge.title = [c.error_code, c.info, "since " + time(c.since)].filter(Boolean).join(" \u00b7 ");
      connectors.appendChild(badge);
    });
    tr.appendChild(connectors);
    var txs = el("td", "transactions");
    if (!cp.active_transactions.length) txs.appendChild(el("span", "sub", "\u2013"));
    cp.active_transactions.forEach(function (tx) {
      var line = el("div", "transaction", "#" + tx.transaction_id + (tx.connector ? " on " + tx.connector : ""));
      line.appendChild(el("div", "sub", [tx.id_tag, tx.start_time ? "since " + time(tx.start_time) : ""]
        .filter(Boolean).join(" \u00b7 ")));
      txs.appendChild(line);
    });
    tr.appendChild(txs);
    var msgs = el("td", "num rate", rate(cp.messages_per_second));
    if (cp.in_per_second !== null) {
      msgs.title = "in " + rate(cp.in_per_second) + "/s, out " + rate(cp.out_per_second) + "/s";
    }
    tr.appendChild(msgs);
    return tr;
  }

  function render(data) {
    var offset = new Date(data.now).getTime() - Date.now();
    summary.textContent = "";
    function item(label, value) {
      var span = el("span", null, label + " ");
      span.appendChild(el("b", null, value));
      summary.appendChild(span);
    }
    item("connected", data.connected);
    Object.keys(data.by_version).forEach(function (v) { item("OCPP " + v, data.by_version[v]); });
    item("messages/s", rate(data.messages_per_second));
    if (data.started_at) item("up", ago(data.started_at, offset));
    item("updated", time(data.now));
    var rows = document.createDocumentFragment();
    data.charge_points.forEach(function (cp) { rows.appendChild(row(cp, offset)); });
    body.textContent = "";
    if (!data.charge_points.length) {
      var tr = el("tr");
      var td = el("td", "empty", data.connected ? "no charge point matches" : "no charge point connected");
      td.colSpan = 6;
      tr.appendChild(td);
      rows.appendChild(tr);
    }
    body.appendChild(rows);
    shown.textContent = data.charge_points.length < data.matching
      ? "showing " + data.charge_points.length + " of " + data.matching : "";
    document.body.setAttribute("data-updated", data.now);
  }

  function schedule() {
    clearTimeout(timer);
    timer = setTimeout(poll, POLL_MS);
  }

  function poll() {
    var url = "status.json";
    if (filter.value) url += "?match=" + encodeURIComponent(filter.value);
    var headers = { "Accept": "application/json" };
    var token = sessionStorage.getItem(TOKEN_KEY);
    if (token) headers["Authorization"] = "Bearer " + token;
    fetch(url, { headers: headers, cache: "no-store" }).then(function (response) {
      if (response.status === 401) {
        login.hidden = false;
        throw new Error("this admin API needs a token");
      }
      if (!response.ok) throw new Error("status.json: HTTP " + response.status);
      login.hidden = true;
      return response.json();
    }).then(function (data) {
      errorBox.textContent = "";
      render(data);
    }).catch(function (err) {
      errorBox.textContent = err.message + " \u2013 retrying";
    }).then(schedule);
  }

  login.addEventListener("submit", function (event) {
    event.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, tokenInput.value);
    tokenInput.value = "";
    poll();
  });
  var debounce = null;
  filter.addEventListener("input", function () {
    clearTimeout(debounce);
    debounce = setTimeout(poll, 250);
  });
  poll();
})();
""".replace("__POLL_MS__", str(POLL_INTERVAL_MS))
