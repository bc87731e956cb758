"""docs/gateway.md as written: its Python example runs, its site files load, and the smallest
one runs through ``ocpp-router gateway --config`` (a subprocess, killed in a ``finally``)."""

from __future__ import annotations

import contextlib
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

import trio
from ocpp_router import Server, connect
from ocpp_router.gateway import Interceptor, load_config, parse_config
from ocpp_router.v16.plugins import plugins as v16_plugins

DOC = Path(__file__).parents[2] / "docs" / "gateway.md"
LISTENING = re.compile(r"ocpp-router gateway listening on ws://([^\s:]+):(\d+)/<identity> for (\d+) wallbox")
BOOT = {"chargePointVendor": "Wallbox", "chargePointModel": "Pulsar"}


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", DOC.read_text(), flags=re.S)


async def test_the_site_example_runs(tmp_path: Path) -> None:
    example, policy = blocks("python")
    namespace: dict[str, Any] = {"__name__": "gateway_doc_example"}
    exec(compile(example, f"{DOC} (example)", "exec"), namespace)
    with trio.fail_after(20):
        await namespace["example"](tmp_path)
    policies: dict[str, Any] = {"__name__": "gateway_doc_policy"}
    exec(compile(policy, f"{DOC} (interceptor)", "exec"), policies)
    assert issubclass(policies["SitePolicy"], Interceptor)


def test_the_site_files_load(tmp_path: Path) -> None:
    minimal, full = blocks("toml")
    assert [w.upstream_id for w in parse_config(tomllib.loads(minimal), base=tmp_path).wallboxes] == ["SITE9-WB-1"]
    config = parse_config(tomllib.loads(full), base=tmp_path)
    assert [(w.identity, w.version) for w in config.wallboxes] == [("WB-1", "1.6"), ("WB-2", "2.0.1")]
    assert config.wallboxes[1].tls.cert == str(tmp_path / "certs/wb-2.pem")
    assert config.local_cap is not None and config.allow_list is not None


async def test_cli_runs_the_smallest_site(tmp_path: Path) -> None:
    [minimal, _] = blocks("toml")
    upstream = Server(versions=["1.6"])
    csms = v16_plugins()
    upstream.install(*csms)
    with trio.fail_after(40):
        async with trio.open_nursery() as nursery:
            await nursery.start(upstream.serve, "127.0.0.1", 0)
            site = minimal.replace("ws://csms.example.com:9000/ocpp", f"ws://127.0.0.1:{upstream.port}/ocpp")
            site = site.replace("port = 19520", 'port = 0\nhost = "127.0.0.1"')
            path = tmp_path / "site.toml"
            path.write_text(site)
            assert load_config(path).queue_path == str(tmp_path / "gateway-queue.sqlite3")

            command = [sys.executable, "-m", "ocpp_router", "gateway", "--config", str(path)]
            log = (tmp_path / "gateway.log").open("wb")  # stderr: the gateway's log, read on failure
            process = await trio.lowlevel.open_process(command, stdout=subprocess.PIPE, stderr=log)
            output = bytearray()
            try:
                assert process.stdout is not None
                with trio.fail_after(15):
                    while (match := LISTENING.search(output.decode(errors="replace"))) is None:
                        chunk = await process.stdout.receive_some()
                        assert chunk, f"no listening line: {output!r} {(tmp_path / 'gateway.log').read_text()}"
                        output += chunk
                assert match.group(3) == "1"
                url = f"ws://127.0.0.1:{match.group(2)}"
                async with connect(url, "WB-1", versions=["1.6"]) as wallbox:
                    assert (await wallbox.call("BootNotification", BOOT))["status"] == "Accepted"
                registration = await csms.core.registration("SITE9-WB-1")
                assert registration is not None and registration.boot["chargePointModel"] == "Pulsar"
                process.send_signal(signal.SIGTERM)
                with trio.fail_after(10):
                    assert await process.wait() == 0
            finally:
                if process.returncode is None:
                    process.kill()
                with trio.CancelScope(shield=True), trio.move_on_after(10):
                    await process.wait()
                log.close()
                if process.stdout is not None:
                    with contextlib.suppress(trio.ClosedResourceError, trio.BrokenResourceError):
                        await process.stdout.aclose()
            nursery.cancel_scope.cancel()


def test_cli_reports_a_bad_site_file(tmp_path: Path) -> None:
    path = tmp_path / "site.toml"
    path.write_text('[[wallboxes]]\nidentity = "WB-1"\n')
    done = subprocess.run(
        [sys.executable, "-m", "ocpp_router", "gateway", "--config", str(path)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 2
    assert "upstream_url is required" in done.stderr
