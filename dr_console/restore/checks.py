"""Checks of a restored schema: the tables and row counts the manifest
recorded when the dump was made, and CHECKSUM TABLE to compare two copies.
On the bench's 1 GB dump they take 5 s before the swap and 5 s after it,
a sixth of the restore (docs/restore.md)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from dr_console.manifest import Manifest

# Full scans run at once, each on its own connection: one scan keeps one
# server core busy, and checking a restored 1 GB schema serially took 5 s
# twice (staging, then live after the swap).
PARALLEL_SCANS = 3


def quote_ident(name: str) -> str:
    """A schema or table name as a MariaDB identifier (backquotes doubled)."""
    return "`" + name.replace("`", "``") + "`"


def base_tables(conn: Any, db: str) -> list[str]:
    with conn.cursor() as cur:
        cur.execute("SELECT TABLE_NAME FROM information_schema.TABLES "
                    "WHERE TABLE_SCHEMA=%s AND TABLE_TYPE='BASE TABLE' ORDER BY TABLE_NAME", (db,))
        return [row[0] for row in cur.fetchall()]


def schema_exists(conn: Any, db: str) -> bool:
    with conn.cursor() as cur:
        cur.execute("SELECT 1 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME=%s", (db,))
        return cur.fetchone() is not None


def row_counts(conn: Any, db: str, tables: list[str] | None = None) -> dict[str, int]:
    """Exact row counts (SELECT COUNT(*), not the statistics estimate)."""
    out: dict[str, int] = {}
    with conn.cursor() as cur:
        for table in tables if tables is not None else base_tables(conn, db):
            cur.execute(f"SELECT COUNT(*) FROM {quote_ident(db)}.{quote_ident(table)}")
            row = cur.fetchone()
            out[table] = int(row[0]) if row else 0
    return out


def verify_staging(conn: Any, staging_db: str, manifest: Manifest | None,
                   counts: dict[str, int] | None = None) -> list[str]:
    """Problems with a restored staging schema; an empty list if it holds
    every table of the manifest with the recorded row count. Without a
    manifest (a dump made by another tool) only the schema's presence and
    non-emptiness can be checked. `counts`: row counts already taken
    (`scan_tables`, the loader's scans); the other tables are counted here."""
    if not schema_exists(conn, staging_db):
        return [f"staging schema {staging_db} does not exist"]
    present = base_tables(conn, staging_db)
    if manifest is None or not manifest.tables:
        return [] if present else [f"staging schema {staging_db} holds no tables"]
    problems: list[str] = []
    expected = manifest.tables
    missing = sorted(set(expected) - set(present))
    if missing:
        problems.append(f"missing table(s): {', '.join(missing)}")
    extra = sorted(set(present) - set(expected))
    if extra:
        problems.append(f"table(s) not in the manifest: {', '.join(extra)}")
    known = counts or {}
    counted = row_counts(conn, staging_db, [t for t in present if t in expected and t not in known])
    for table in present:
        if table not in expected:
            continue
        rows = known[table] if table in known else counted[table]
        if rows != expected[table]:
            problems.append(f"{table}: {rows} rows, the manifest recorded {expected[table]}")
    return problems


def checksum_tables(conn: Any, db: str, tables: list[str] | None = None) -> dict[str, int | None]:
    """CHECKSUM TABLE per table (None where the server could not compute
    one). Two tables with the same rows and definition give the same value."""
    names = tables if tables is not None else base_tables(conn, db)
    out: dict[str, int | None] = {}
    if not names:
        return out
    with conn.cursor() as cur:
        cur.execute("CHECKSUM TABLE " + ", ".join(f"{quote_ident(db)}.{quote_ident(t)}" for t in names))
        for full, value in cur.fetchall():
            # The server answers `db.table`; table names may themselves hold dots.
            table = full[len(db) + 1:] if full.startswith(db + ".") else full
            out[table] = int(value) if value is not None else None
    return out


def scan_tables(connect: Callable[[], Any], db: str, tables: list[str] | None = None, *,
                rows: bool = True, connections: int = PARALLEL_SCANS
                ) -> tuple[dict[str, int], dict[str, int | None]]:
    """Exact row counts (when `rows`) and CHECKSUM TABLE of `tables` (None:
    every base table of `db`), over up to `connections` new connections at
    once, the largest tables first so the scans end together. A server
    error raises, as the serial calls do."""
    first = connect()
    try:
        with first.cursor() as cur:
            cur.execute("SELECT TABLE_NAME, COALESCE(DATA_LENGTH, 0) + COALESCE(INDEX_LENGTH, 0) "
                        "FROM information_schema.TABLES WHERE TABLE_SCHEMA=%s AND TABLE_TYPE='BASE TABLE' "
                        "ORDER BY TABLE_NAME", (db,))
            size = {name: int(length) for name, length in cur.fetchall()}
    except BaseException:
        first.close()
        raise
    names = list(size) if tables is None else tables
    queue = sorted(names, key=lambda t: size.get(t, 0), reverse=True)
    lock = threading.Lock()
    counts: dict[str, int] = {}
    sums: dict[str, int | None] = {}

    def work(conn: Any | None) -> None:
        try:
            if conn is None:
                conn = connect()
            while True:
                with lock:
                    if not queue:
                        return
                    table = queue.pop(0)
                # Each result is written under its own key: no two workers share one.
                if rows:
                    counts.update(row_counts(conn, db, [table]))
                sums.update(checksum_tables(conn, db, [table]))
        finally:
            if conn is not None:
                conn.close()

    workers = max(1, min(connections, len(names)))
    with ThreadPoolExecutor(max_workers=workers) as pool:  # the first scanner reuses `first`
        for done in [pool.submit(work, first if n == 0 else None) for n in range(workers)]:
            done.result()
    return {t: counts[t] for t in names if t in counts}, {t: sums[t] for t in names if t in sums}
