"""A MySQL/MariaDB server: each user database it holds (as the site file
selects them) is an asset, typically a cloud metadata database."""

from __future__ import annotations

from typing import Any

import pymysql

from dr_console import commandlog
from dr_console.config import MySQLServer
from dr_console.errors import ProviderError
from dr_console.model import Asset
from dr_console.providers import Discovery

SYSTEM_SCHEMAS = frozenset({"information_schema", "performance_schema", "mysql", "sys"})

# pymysql error numbers worth a plain sentence.
_ACCESS_DENIED = (1044, 1045, 1698)
_CANNOT_CONNECT = (2002, 2003, 2006, 2013)


class MySQLProvider:
    provider = "mysql"

    def __init__(self, server: MySQLServer) -> None:
        self.server = server
        self.source = server.name
        self._where = f"mysql {server.name} ({server.host}:{server.port})"
        self._target = f"{server.host}:{server.port}"

    def _connect(self) -> Any:
        try:
            secret = self.server.load_secret()
        except OSError as exc:
            raise ProviderError(f"{self._where}: {exc}") from None
        try:
            return pymysql.connect(
                host=self.server.host, port=self.server.port, user=self.server.user,
                password=secret.reveal() if secret else "",
                connect_timeout=self.server.timeout, read_timeout=self.server.timeout,
                write_timeout=self.server.timeout, autocommit=True,
            )
        except pymysql.MySQLError as exc:
            raise ProviderError(self._reason(exc)) from None

    def _reason(self, exc: pymysql.MySQLError) -> str:
        code = exc.args[0] if exc.args and isinstance(exc.args[0], int) else None
        if code in _ACCESS_DENIED:
            return f"{self._where}: access denied for user {self.server.user!r}"
        if code in _CANNOT_CONNECT:
            text = str(exc.args[1]) if len(exc.args) > 1 else ""
            if "timed out" in text:
                return f"{self._where}: no answer within {self.server.timeout}s"
            if "refused" in text:
                return f"{self._where}: connection refused"
            return f"{self._where}: cannot connect ({text[:120] or 'lost connection'})"
        # Server messages name objects, never the password.
        text = str(exc.args[1]) if len(exc.args) > 1 else type(exc).__name__
        return f"{self._where}: {text[:160]}"

    def discover(self) -> Discovery:
        found = Discovery(source=self.source, provider=self.provider)
        conn = self._connect()
        try:
            with conn.cursor() as cur:
                commandlog.sql(self._target, "SELECT VERSION()")
                cur.execute("SELECT VERSION()")
                version = str(cur.fetchone()[0])
                commandlog.sql(self._target, "SELECT schema_name")
                cur.execute("SELECT schema_name FROM information_schema.schemata")
                names = sorted(str(row[0]) for row in cur.fetchall())
                commandlog.sql(self._target, "SELECT table_schema")
                cur.execute(
                    "SELECT table_schema, COUNT(*),"
                    " COALESCE(SUM(data_length + index_length), 0)"
                    " FROM information_schema.tables GROUP BY table_schema")
                stats = {str(r[0]): (int(r[1]), int(r[2])) for r in cur.fetchall()}
        except pymysql.MySQLError as exc:
            raise ProviderError(self._reason(exc)) from None
        finally:
            conn.close()

        volume = self.server.snapshot_volume
        for name in names:
            if name.lower() in SYSTEM_SCHEMAS or not self.server.includes(name):
                continue
            tables, size = stats.get(name, (0, 0))
            attributes = {
                "server": f"{self.server.host}:{self.server.port}",
                "version": version,
                "tables": str(tables),
                "size_bytes": str(size),
            }
            if volume is not None:
                attributes["snapshot_volume"] = f"{volume.cloud}/{volume.volume}"
            found.assets.append(Asset(
                id=f"{self.source}:database:{name}", name=name, provider=self.provider,
                kind="database", source=self.source, attributes=attributes,
            ))
        return found
