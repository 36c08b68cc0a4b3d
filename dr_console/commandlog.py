"""The command log: every external action the console ran (an API call, a
class of SQL statement, an SSH command, a playbook, an object-store call),
so an operator can see what the tool did and repeat it by hand (lazygit
#1249: "which commands are executed" is what users asked for most).

Process-wide, thread-safe and bounded: providers record from worker threads,
the TUI reads a copy. No Textual here (the core never imports a face).

What is recorded is a *summary*, never a secret: SQL is reduced to its
statement class, URLs lose their query string and user info (S3 presigned
URLs carry signatures there), and anything shaped like a password, token or
Authorization header is masked before it is stored."""

from __future__ import annotations

import contextlib
import logging
import re
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import urlsplit

Kind = Literal["api", "sql", "ssh", "playbook", "s3"]
KINDS: tuple[Kind, ...] = ("api", "sql", "ssh", "playbook", "s3")

# Enough for an incident's worth of refreshes; old entries fall off the end.
DEFAULT_CAPACITY = 2000
# A summary is one line on a screen; the rest is noise (or a dump's worth of SQL).
MAX_SUMMARY = 300


@dataclass(frozen=True)
class Entry:
    at: datetime  # aware, UTC
    kind: Kind
    target: str  # host:port, endpoint host, database server, ...
    summary: str  # e.g. "GET /v2.1/servers/detail", "SELECT", "dpkg --get-selections"

    def line(self) -> str:
        """One line for a clipboard or a ticket."""
        return f"{self.at.strftime('%Y-%m-%dT%H:%M:%SZ')} {self.kind:<8} {self.target}  {self.summary}"


Listener = Callable[[Entry], None]


class CommandLog:
    """A bounded ring buffer with listeners. Listeners run on the recording
    thread: a face that must not be called from threads marshals itself
    (the TUI posts a message, which is thread-safe)."""

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        self._entries: deque[Entry] = deque(maxlen=capacity)
        self._lock = threading.Lock()
        self._listeners: list[Listener] = []

    def record(self, kind: Kind, target: str, summary: str, *, at: datetime | None = None) -> Entry:
        entry = Entry(
            at=at or datetime.now(UTC),
            kind=kind,
            target=redact(target)[:120],
            summary=redact(summary)[:MAX_SUMMARY],
        )
        with self._lock:
            self._entries.append(entry)
            listeners = list(self._listeners)
        for listener in listeners:
            try:
                listener(entry)
            except Exception:  # a broken face must not break the call being logged
                logging.getLogger(__name__).debug("command-log listener failed", exc_info=True)
        return entry

    def entries(self) -> list[Entry]:
        """Oldest first (newest last, as a terminal scrolls)."""
        with self._lock:
            return list(self._entries)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call `listener` for each new entry; returns the unsubscribe."""
        with self._lock:
            self._listeners.append(listener)

        def unsubscribe() -> None:
            with self._lock, contextlib.suppress(ValueError):
                self._listeners.remove(listener)

        return unsubscribe

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)


# The one log of this process.
LOG = CommandLog()


def record(kind: Kind, target: str, summary: str) -> Entry:
    return LOG.record(kind, target, summary)


def entries() -> list[Entry]:
    return LOG.entries()


def subscribe(listener: Listener) -> Callable[[], None]:
    return LOG.subscribe(listener)


# ---------------------------------------------------------------------------
# Redaction: applied to everything recorded, whoever records it.

_SECRET_WORDS = r"(?:password|passwd|pwd|secret|token|api[_-]?key|access[_-]?key|signature|credential)"
_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # Authorization: Bearer xyz / X-Auth-Token: abc (headers pasted into a summary)
    (re.compile(r"(?i)\b(authorization|x-auth-token|x-subject-token|x-amz-security-token)\s*[:=]\s*\S+"
                r"(?:\s+\S+)?"), r"\1: ***"),
    # key=value and key: value forms, incl. --password=x and "password": "x"
    (re.compile(rf"(?i)({_SECRET_WORDS}[\w-]*\"?\s*[=:]\s*\"?)[^\s\"',&]+"), r"\1***"),
    # --password x
    (re.compile(rf"(?i)(--{_SECRET_WORDS}[\w-]*\s+)\S+"), r"\1***"),
    # mysql -pSECRET (attached form only: "-p 3306" and "mkdir -p" stay as they are)
    (re.compile(r"(?<![\w-])(-p)(?=[^\s\d])\S+"), r"\1***"),
    # user:password@host in a URL
    (re.compile(r"(?i)([a-z][a-z0-9+.-]*://)[^/\s:@]+:[^/\s@]+@"), r"\1***@"),
    # IDENTIFIED BY 'x'
    (re.compile(r"(?i)(identified\s+by\s+)('[^']*'|\"[^\"]*\"|\S+)"), r"\1***"),
)


def redact(text: str) -> str:
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text.replace("\n", " ").replace("\r", " ")


def url_summary(method: str, url: str) -> tuple[str, str]:
    """(target, summary) for an HTTP call: host[:port] and METHOD /path, with
    no query string, no fragment and no user info."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    target = f"{host}:{parts.port}" if parts.port else host
    return target, f"{method.upper()} {parts.path or '/'}"


_SQL_WORD = re.compile(r"[A-Za-z]+")
# Two-word classes read better than their first word alone.
_SQL_TWO_WORDS = {"CREATE", "DROP", "ALTER", "RENAME", "SHOW", "CHECKSUM", "LOCK", "FLUSH", "GRANT"}


def sql_class(statement: str) -> str:
    """The statement class ("SELECT", "CREATE DATABASE", "RENAME TABLE"):
    never the statement, which may carry data or a password."""
    text = re.sub(r"/\*.*?\*/|--[^\n]*", " ", statement, flags=re.S)
    words = _SQL_WORD.findall(text[:200])
    if not words:
        return "SQL"
    first = words[0].upper()
    if first in _SQL_TWO_WORDS and len(words) > 1:
        return f"{first} {words[1].upper()}"
    return first


def sql(target: str, statement: str) -> Entry:
    """Record one SQL statement by its class only."""
    return record("sql", target, sql_class(statement))


def logged_cursor_class(target: str) -> type:
    """A pymysql cursor class that records each statement's class, for the
    restore's connections (`pymysql.connect(cursorclass=...)`). Data rows
    (INSERT, the bulk of a load) are left out: they would flush everything
    else out of the log; the load reports them as progress instead."""
    import pymysql.cursors

    class LoggedCursor(pymysql.cursors.Cursor):
        def execute(self, query: Any, args: Any = None) -> int:
            head = query[:200]
            kind = sql_class(head.decode("latin-1") if isinstance(head, bytes) else str(head))
            if kind not in ("INSERT", "SET", "SQL"):
                record("sql", target, kind)
            return super().execute(query, args)

    return LoggedCursor


def ssh(target: str, command: str) -> Entry:
    return record("ssh", target, command)


def playbook(target: str, command: str) -> Entry:
    return record("playbook", target, command)


# ---------------------------------------------------------------------------
# Hooks into the SDKs, attached once, without editing the providers.

_installed = False
_install_lock = threading.Lock()


def install_hooks() -> None:
    """Attach the boto3/botocore and keystoneauth hooks (idempotent).

    Imports botocore.handlers (~0.1 s): call it where the SDKs are about to
    be used anyway (the refresh worker), not on the way to the first frame."""
    global _installed
    with _install_lock:
        if _installed:
            return
        _installed = True
    _hook_keystoneauth()
    _hook_botocore()


class _KeystoneauthHandler(logging.Handler):
    """keystoneauth logs each request as "REQ: curl -g -i -X GET <url> -H …"
    at DEBUG on `keystoneauth.session`: the method and URL are all we keep
    (headers carry tokens, bodies may carry passwords)."""

    _REQ = re.compile(r"-X\s+([A-Z]+)\s+\"?(\S+?)\"?(?:\s|$)")

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
        except Exception:
            return
        if "curl" not in message[:40]:
            return
        match = self._REQ.search(message)
        if match is None:
            return
        target, summary = url_summary(match.group(1), match.group(2))
        LOG.record("api", target, summary)


def _hook_keystoneauth() -> None:
    logger = logging.getLogger("keystoneauth.session")
    if any(isinstance(h, _KeystoneauthHandler) for h in logger.handlers):
        return
    logger.addHandler(_KeystoneauthHandler(level=logging.DEBUG))
    logger.setLevel(logging.DEBUG)
    # The curl lines include token hashes and request bodies: they stop here
    # rather than reach whatever handler the root logger might have.
    logger.propagate = False


def _botocore_before_call(model: Any = None, params: Any = None, **_: Any) -> None:
    try:
        service = model.service_model.service_name
        operation = model.name
        url = params.get("url", "") if isinstance(params, dict) else ""
        method = params.get("method", "") if isinstance(params, dict) else ""
    except Exception:
        return
    target, path = url_summary(method or "GET", url)
    kind: Kind = "s3" if service == "s3" else "api"
    # "s3 GetObject GET /bucket/key": the operation an operator can find in
    # the aws CLI, and the path that says which object.
    LOG.record(kind, target, f"{service} {operation} {path}")


def _hook_botocore() -> None:
    """Every botocore Session registers `BUILTIN_HANDLERS` when it is
    created, so adding ours there reaches every client any module makes
    (providers, backups, restores) without touching their code."""
    try:
        from botocore import handlers
    except ImportError:  # no AWS SDK installed: nothing to hook
        return
    spec = ("before-call", _botocore_before_call)
    if spec not in handlers.BUILTIN_HANDLERS:
        handlers.BUILTIN_HANDLERS.append(spec)


__all__ = [
    "KINDS", "LOG", "CommandLog", "Entry", "Kind", "entries", "install_hooks", "playbook", "record",
    "redact", "sql", "sql_class", "ssh", "subscribe", "url_summary",
]
