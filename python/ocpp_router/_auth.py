"""HTTP Basic authentication for security profiles 1 and 2 (protocol notes §3.2).

The user name must equal the identity from the URL; secrets are compared in constant time;
a failure is answered 401 before the upgrade. Repeated failures per identity or source
address are rate-limited. ``PasswordStore`` is the simple built-in credential store.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import hmac
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import trio

if TYPE_CHECKING:
    from ._transport import Handshake

__all__ = ["Authenticator", "FailureLimiter", "PasswordStore", "parse_basic_auth"]

#: ``async def authenticate(identity, password, handshake) -> bool``; password as raw bytes.
Authenticator = Callable[[str, bytes, "Handshake"], Awaitable[bool]]

# scrypt keeps stored hashes expensive to brute-force; n=2**12 costs ~5 ms, run in a thread.
_SCRYPT = {"n": 1 << 12, "r": 8, "p": 1, "dklen": 32}


def parse_basic_auth(header: str | None) -> tuple[str, bytes] | None:
    """(user, password bytes) from an ``Authorization: Basic ...`` header, or None."""
    if not header:
        return None
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "basic" or not token:
        return None
    try:
        raw = base64.b64decode(token.strip(), validate=True)
    except (binascii.Error, ValueError):
        return None
    user, sep, password = raw.partition(b":")
    if not sep:
        return None
    try:
        return user.decode("utf-8"), password
    except UnicodeDecodeError:
        return None


def _hash(secret: bytes, salt: bytes) -> bytes:
    return hashlib.scrypt(secret, salt=salt, **_SCRYPT)


@dataclass(frozen=True, slots=True)
class _Credential:
    salt: bytes
    digest: bytes
    accept_hex_text: bool
    security_profile: int | None


def _matches(credential: _Credential, password: bytes) -> bool:
    candidates = [password]
    if credential.accept_hex_text:
        with contextlib.suppress(UnicodeDecodeError, ValueError):
            candidates.append(bytes.fromhex(password.decode("ascii")))
    ok = False
    for candidate in candidates:
        ok |= hmac.compare_digest(_hash(candidate, credential.salt), credential.digest)
    return ok


class PasswordStore:
    """Per-charge-point secrets, stored salted and hashed (scrypt); usable as ``authenticate``.

    ``set(identity, password)`` is the 2.x ``BasicAuthPassword`` (16-40 characters, UTF-8 as
    sent) and the usual 1.6 password. ``set_authorization_key(identity, hex_key)`` is the 1.6
    ``AuthorizationKey``: written to the station as hex, sent on the wire as the decoded bytes;
    with ``accept_hex_text`` the hex text itself is accepted too (stations differ).
    ``security_profile`` pins the profile the station must use (1 or 2; 3 uses certificates).
    ``grace_period`` (seconds) keeps the replaced secret valid a little longer, for a password
    rotation whose answer got lost or a station that reconnects once more with the old one.
    """

    def __init__(self) -> None:
        self._credentials: dict[str, _Credential] = {}
        #: identity -> (replaced credential, time.monotonic() until which it is still accepted)
        self._previous: dict[str, tuple[_Credential, float]] = {}

    def set(
        self,
        identity: str,
        password: str,
        *,
        check_rules: bool = True,
        security_profile: int | None = None,
        grace_period: float = 0.0,
    ) -> None:
        if check_rules and not 16 <= len(password) <= 40:
            raise ValueError("an OCPP 2.x basic-auth password has 16 to 40 characters")
        self._store(identity, password.encode("utf-8"), False, security_profile, grace_period)

    def set_authorization_key(
        self,
        identity: str,
        hex_key: str,
        *,
        accept_hex_text: bool = True,
        security_profile: int | None = None,
        grace_period: float = 0.0,
    ) -> None:
        try:
            key = bytes.fromhex(hex_key)
        except ValueError:
            raise ValueError("an AuthorizationKey is written as hex digits") from None
        if not 16 <= len(key) <= 20:
            raise ValueError("an AuthorizationKey has 16 to 20 bytes (32 to 40 hex digits)")
        self._store(identity, key, accept_hex_text, security_profile, grace_period)

    def _store(
        self, identity: str, secret: bytes, accept_hex_text: bool, profile: int | None, grace_period: float = 0.0
    ) -> None:
        salt = os.urandom(16)
        replaced = self._credentials.get(identity)
        self._credentials[identity] = _Credential(salt, _hash(secret, salt), accept_hex_text, profile)
        if replaced is not None and grace_period > 0:
            self._previous[identity] = (replaced, time.monotonic() + grace_period)
        else:
            self._previous.pop(identity, None)

    def remove(self, identity: str) -> None:
        self._credentials.pop(identity, None)
        self._previous.pop(identity, None)

    def __contains__(self, identity: object) -> bool:
        return identity in self._credentials

    def security_profile(self, identity: str) -> int | None:
        credential = self._credentials.get(identity)
        return credential.security_profile if credential else None

    def check(self, identity: str, password: bytes) -> bool:
        """Constant-time check (blocking: scrypt); prefer awaiting the store itself."""
        credential = self._credentials.get(identity)
        if credential is None:
            # Same work as a real check, so timing does not reveal which identities exist.
            _hash(password, b"\0" * 16)
            return False
        ok = _matches(credential, password)
        previous = self._previous.get(identity)
        if previous is not None:
            if time.monotonic() < previous[1]:
                ok |= _matches(previous[0], password)
            else:
                self._previous.pop(identity, None)
        return ok

    async def __call__(self, identity: str, password: bytes, handshake: Handshake) -> bool:
        return await trio.to_thread.run_sync(self.check, identity, password)


class FailureLimiter:
    """Refuses further attempts after ``max_failures`` within ``window`` seconds, per key."""

    def __init__(self, max_failures: int = 5, window: float = 60.0) -> None:
        self.max_failures = max_failures
        self.window = window
        self._failures: dict[str, list[float]] = {}

    def _recent(self, key: str) -> list[float]:
        now = trio.current_time()
        times = [t for t in self._failures.get(key, ()) if now - t < self.window]
        if times:
            self._failures[key] = times
        else:
            self._failures.pop(key, None)
        return times

    def blocked(self, *keys: str) -> bool:
        return any(len(self._recent(key)) >= self.max_failures for key in keys)

    def failed(self, *keys: str) -> None:
        now = trio.current_time()
        for key in keys:
            self._recent(key)
            self._failures.setdefault(key, []).append(now)
        if len(self._failures) > 100_000:  # bound memory under a spray of identities
            self._failures.clear()
