"""Masking secrets in what is shown: :class:`Redactor` (each HTTP client has one, fed
with its credentials and what it learns), and :func:`collecting_secrets`, which gathers
every secret any client learns while it runs, so that a program (the command line) can
mask all of them in everything it prints, logs or writes.

Imports nothing heavy: the command line uses it before any backend is loaded.
"""

from __future__ import annotations

import contextlib
import re
import threading
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

__all__ = ["MASK", "MIN_SECRET_LENGTH", "SECRET_HEADERS", "Redactor", "collecting_secrets"]

#: Headers (and body keys) whose values are credentials.
SECRET_HEADERS = frozenset({"apikey", "authtoken", "authorization", "cookie", "set-cookie"})
MASK = "***"
#: Secrets shorter than this are masked only where they stand alone (not inside a word):
#: a one-character password would otherwise turn every "a" of a log line into the mask,
#: which hides nothing and garbles everything. Such a secret is still masked wherever it
#: is a value of its own (``token=a``, ``"apikey": "a"``, ``Bearer a``).
MIN_SECRET_LENGTH = 4

_collectors: list[Redactor] = []
_collectors_lock = threading.Lock()


class Redactor:
    """Masks secret values in any text or parsed body."""

    def __init__(self, secrets: Iterable[str | None] = ()):
        self._secrets: set[str] = set()
        self._lock = threading.Lock()
        for secret in secrets:
            self.add(secret)

    def add(self, secret: str | None) -> None:
        # Blank "secrets" (an empty or all-space password) hide nothing: masking every
        # space would only garble what is shown.
        if not (secret and str(secret).strip()):
            return
        with self._lock:
            self._secrets.add(str(secret))
        with _collectors_lock:
            collectors = [c for c in _collectors if c is not self]
        for collector in collectors:  # see collecting_secrets
            with collector._lock:
                collector._secrets.add(str(secret))

    def __len__(self) -> int:
        return len(self._secrets)

    def redact(self, text: str) -> str:
        # Longest first, so a secret containing another is masked whole.
        for secret in sorted(self._secrets, key=len, reverse=True):
            if secret not in text:
                continue
            if len(secret) >= MIN_SECRET_LENGTH:
                text = text.replace(secret, MASK)
            else:
                text = re.sub(rf"(?<!\w){re.escape(secret)}(?!\w)", MASK, text)
        return text

    def redact_data(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.redact(value)
        if isinstance(value, Mapping):
            return {
                # A key can echo a secret too ({"<token>": "invalid"}).
                (self.redact(k) if isinstance(k, str) else k): (
                    MASK if str(k).lower() in SECRET_HEADERS else self.redact_data(v)
                )
                for k, v in value.items()
            }
        if isinstance(value, list | tuple):
            return [self.redact_data(v) for v in value]
        return value


@contextlib.contextmanager
def collecting_secrets() -> Iterator[Redactor]:
    """A redactor that learns every secret any :class:`Redactor` learns while the block
    runs (an HTTP client's credentials, a token it is handed later): the command line
    masks with it all it prints, logs and writes, whatever backend a server's echo of a
    token came through."""
    collector = Redactor()
    with _collectors_lock:
        _collectors.append(collector)
    try:
        yield collector
    finally:
        with _collectors_lock:
            _collectors.remove(collector)
