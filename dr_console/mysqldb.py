"""One way to reach a MySQL/MariaDB server: the site file's accounts, the
timeouts, the command log, and connection errors in the operator's words.

Inventory (the read-only backup account), `backup db`, the restore library
and the runbooks (the restore account) all connect through here, so an
"access denied" names the same site-file fields wherever it happens, and
no password ever reaches a message."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from dr_console import commandlog
from dr_console.errors import DrConsoleError
from dr_console.schema import MySQLServer, Secret

# Client error numbers worth a plain sentence.
ACCESS_DENIED = frozenset({1044, 1045, 1698})
# Socket, TCP, handshake: the server is not there (or went away).
UNREACHABLE = frozenset({2002, 2003, 2006, 2013})


class MySQLAccessError(DrConsoleError):
    """A connection could not be made; the message names server, account
    and, for a refused login, the site-file fields that hold it."""

    exit_code = 2

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code

    @property
    def unreachable(self) -> bool:
        return self.code in UNREACHABLE


@dataclass(frozen=True)
class Account:
    """Who connects where. Built from a site-file server (`backup`,
    `restore`) or directly (tests, benchmarks, the lab)."""

    host: str
    port: int
    user: str
    password: Secret | None = None
    name: str = ""  # the site file's server name, for messages and manifests
    timeout: int = 10  # seconds to connect (and for short statements)
    fields: str = ""  # the site-file fields holding this account, for "access denied"

    @property
    def label(self) -> str:
        return self.name or f"{self.host}:{self.port}"

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @classmethod
    def backup(cls, server: MySQLServer) -> Account:
        """The server's (read-only) backup account: inventory, `backup db`."""
        return cls(server.host, server.port, server.user, _secret(server, server.load_secret),
                   server.name, server.timeout, f"user and password_file of {server.name}")

    @classmethod
    def restore(cls, server: MySQLServer) -> Account:
        """The account restores write with: restore_user if the site names
        one, else the backup account."""
        user, secret = _secret(server, server.restore_credentials)
        fields = ("restore_user and restore_password_file" if server.restore_user
                  else "user and password_file")
        return cls(server.host, server.port, user, secret, server.name, server.timeout,
                   f"{fields} of {server.name}")


def _secret(server: MySQLServer, read: Any) -> Any:
    try:
        return read()
    except OSError as exc:  # a missing password file: say which, never what is in it
        raise MySQLAccessError(f"mysql {server.name}: {exc}") from None


def describe(account: Account, exc: BaseException) -> str:
    """One sentence for a pymysql error: where, as whom, what went wrong."""
    args = getattr(exc, "args", ())
    code = args[0] if args and isinstance(args[0], int) else None
    text = str(args[1]) if len(args) > 1 else type(exc).__name__
    where = f"mysql {account.label} ({account.address}) as {account.user!r}"
    if code in ACCESS_DENIED:
        hint = f"; check {account.fields} in the site file" if account.fields else ""
        return f"{where}: access denied{hint}"
    if code in UNREACHABLE:
        if "timed out" in text:
            return f"{where}: no answer within {account.timeout}s"
        if "refused" in text:
            return f"{where}: connection refused"
        return f"{where}: cannot connect ({text[:120] or 'lost connection'})"
    # Server messages name objects and users, never the password.
    return f"{where}: {text[:160]} ({code if code is not None else type(exc).__name__})"


_TLS_LOCK = threading.Lock()
_preferred_tls: Any = None  # ssl.SSLContext, made at the first connection


class SharedTLSContext:
    """A pymysql Connection mix-in. Asked for no TLS options, pymysql (2.x)
    still builds a TLS context for each connection ("preferred": used if the
    server offers TLS, no certificate checked), and each build loads the
    system's CA bundle: about 80 ms of CPU per connection, 1.2 s of a
    restore's. That context is the same for every connection, so the process
    makes it once. Explicit TLS options still get their own."""

    def _create_ssl_ctx(self, sslp: Any) -> Any:
        global _preferred_tls
        if sslp:
            return super()._create_ssl_ctx(sslp)  # type: ignore[misc]
        with _TLS_LOCK:
            if _preferred_tls is None:
                _preferred_tls = super()._create_ssl_ctx(sslp)  # type: ignore[misc]
            return _preferred_tls


_connection_class: Any = None


def connection_class() -> Any:
    """pymysql's Connection with the shared TLS context (pymysql is imported
    at the first connection, not at start-up)."""
    global _connection_class
    if _connection_class is None:
        from pymysql.connections import Connection

        _connection_class = type("Connection", (SharedTLSContext, Connection), {})
    return _connection_class


def connect(account: Account, *, database: str | None = None, read_timeout: float | None = None,
            max_packet: int | None = None, streaming_class: Any = None) -> Any:
    """A connection in autocommit, utf8mb4, whose statements are recorded
    by class in the command log. `read_timeout` None waits as long as a
    statement takes (an index build); inventory passes a short one.

    `streaming_class` (restore.bulkload.BulkConnection) makes a connection
    that serves LOAD DATA LOCAL from a stream it offers and nothing else:
    only such a connection has local_infile on (pymysql's own would open
    any file the server names)."""
    import pymysql

    extra: dict[str, Any] = {}
    if read_timeout is not None:
        extra.update(read_timeout=read_timeout, write_timeout=read_timeout)
    if max_packet is not None:
        extra["max_allowed_packet"] = max_packet
    local = streaming_class is not None and bool(getattr(streaming_class, "serves_local_streams", False))
    if streaming_class is not None and not local:
        raise ValueError(f"{streaming_class!r} does not serve LOAD DATA LOCAL from its own stream")
    try:
        return (streaming_class if local else connection_class())(
            host=account.host, port=account.port, user=account.user,
            password=account.password.reveal() if account.password else "",
            database=database, autocommit=True, charset="utf8mb4",
            connect_timeout=account.timeout, local_infile=local,
            cursorclass=commandlog.logged_cursor_class(account.address), **extra)
    except pymysql.MySQLError as exc:
        code = exc.args[0] if exc.args and isinstance(exc.args[0], int) else None
        raise MySQLAccessError(describe(account, exc), code) from None
