"""A MySQL/MariaDB server: each user database it holds (as the site file
selects them) is an asset, typically a cloud metadata database."""

from __future__ import annotations

from typing import Any

import pymysql

from dr_console import mysqldb
from dr_console.errors import ProviderError
from dr_console.model import Asset, asset_id
from dr_console.providers import Discovery
from dr_console.schema import MySQLServer

SYSTEM_SCHEMAS = frozenset({"information_schema", "performance_schema", "mysql", "sys"})


class MySQLProvider:
    provider = "mysql"

    def __init__(self, server: MySQLServer) -> None:
        self.server = server
        self.source = server.name

    def _connect(self) -> Any:
        try:
            return mysqldb.connect(mysqldb.Account.backup(self.server),
                                   read_timeout=self.server.timeout)
        except mysqldb.MySQLAccessError as exc:
            raise ProviderError(str(exc)) from None

    def discover(self) -> Discovery:
        found = Discovery(source=self.source, provider=self.provider)
        conn = self._connect()
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT VERSION()")
                version = str(cur.fetchone()[0])
                cur.execute("SELECT schema_name FROM information_schema.schemata")
                names = sorted(str(row[0]) for row in cur.fetchall())
                cur.execute(
                    "SELECT table_schema, COUNT(*),"
                    " COALESCE(SUM(data_length + index_length), 0)"
                    " FROM information_schema.tables GROUP BY table_schema")
                stats = {str(r[0]): (int(r[1]), int(r[2])) for r in cur.fetchall()}
        except pymysql.MySQLError as exc:
            raise ProviderError(mysqldb.describe(mysqldb.Account.backup(self.server), exc)) from None
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
                id=asset_id(self.source, "database", name), name=name, provider=self.provider,
                kind="database", source=self.source, attributes=attributes,
            ))
        return found
