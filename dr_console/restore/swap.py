"""Swapping a verified staging schema in for the live one, keeping what it
replaces in `<db>__pre_restore_<UTC timestamp>` until the operator drops it.

The tables move in ONE `RENAME TABLE live.a TO keep.a, …, staging.a TO
live.a, …` statement: MariaDB renames them all or none, under one lock, so
no client ever sees a mix of old and new tables.

What stays outside that single statement, because MariaDB cannot rename
them across schemas:

- triggers (RENAME TABLE refuses a table with triggers across schemas):
  dropped from both sides just before the RENAME and recreated just after
  (live ones on the kept tables, staging ones on the new live tables);
- views, procedures, functions and events: recreated in their new schema
  after the RENAME (kept events are created DISABLED, so old copies never
  run jobs).

So for the few milliseconds between those drops and re-creates, the live
tables have no triggers and the live schema no views or routines. Stop the
applications that write to the database first (a restore runbook does).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from dr_console.restore.checks import base_tables, quote_ident, schema_exists
from dr_console.restore.errors import RestoreError

KEEP_MARK = "__pre_restore_"
_MAX_NAME = 64
# How long the swap waits for the live tables' metadata locks. MariaDB's
# default is a year: a service idle in an open transaction would hang the
# restore with no word. Past this the swap stops, names who holds them, and
# moves nothing.
LOCK_WAIT_SECONDS = 60
_LOCK_WAIT_TIMEOUT = 1205  # ER_LOCK_WAIT_TIMEOUT


def _table(db: str, table: str) -> str:
    return f"{quote_ident(db)}.{quote_ident(table)}"


def keep_name(live_db: str, now: datetime | None = None) -> str:
    stamp = (now or datetime.now(UTC)).astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    name = f"{live_db}{KEEP_MARK}{stamp}"
    if len(name) > _MAX_NAME:
        raise RestoreError(f"cannot name the kept copy of {live_db}: {name} is longer than "
                           f"{_MAX_NAME} characters")
    return name


@dataclass
class _Object:
    kind: str  # TRIGGER, VIEW, PROCEDURE, FUNCTION, EVENT
    name: str
    create: str  # SHOW CREATE … text
    sql_mode: str = ""
    charset: str = "utf8mb4"
    collation: str = ""


@dataclass
class SwapResult:
    live_db: str
    keep_db: str  # holds the replaced tables (may be empty if live was missing/empty)
    kept_tables: list[str] = field(default_factory=list)
    restored_tables: list[str] = field(default_factory=list)
    recreated: list[str] = field(default_factory=list)  # "TRIGGER live.t_ai", …
    live_created: bool = False  # the live schema did not exist and was created
    seconds_unprotected: float = 0.0  # drop-to-recreate window for triggers/views/routines


def _rows(conn: Any, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    with conn.cursor() as cur:
        cur.execute(sql, args)
        return list(cur.fetchall())


def _objects(conn: Any, db: str) -> list[_Object]:
    """Triggers, views, routines and events of `db`, with their definitions."""
    out: list[_Object] = []
    # SHOW CREATE VIEW qualifies a table with its schema unless that schema
    # is the current one: with `USE db` the text can be replayed elsewhere.
    with conn.cursor() as cur:
        cur.execute(f"USE {quote_ident(db)}")
    for (name,) in _rows(conn, "SELECT TABLE_NAME FROM information_schema.VIEWS WHERE TABLE_SCHEMA=%s "
                               "ORDER BY TABLE_NAME", (db,)):
        row = _rows(conn, f"SHOW CREATE VIEW {quote_ident(db)}.{quote_ident(name)}")[0]
        out.append(_Object("VIEW", name, row[1], charset=row[2], collation=row[3]))
    for (name,) in _rows(conn, "SELECT TRIGGER_NAME FROM information_schema.TRIGGERS "
                               "WHERE TRIGGER_SCHEMA=%s ORDER BY EVENT_OBJECT_TABLE, ACTION_ORDER", (db,)):
        row = _rows(conn, f"SHOW CREATE TRIGGER {quote_ident(db)}.{quote_ident(name)}")[0]
        out.append(_Object("TRIGGER", name, row[2], sql_mode=row[1], charset=row[3], collation=row[4]))
    for name, kind in _rows(conn, "SELECT ROUTINE_NAME, ROUTINE_TYPE FROM information_schema.ROUTINES "
                                  "WHERE ROUTINE_SCHEMA=%s ORDER BY ROUTINE_NAME", (db,)):
        row = _rows(conn, f"SHOW CREATE {kind} {quote_ident(db)}.{quote_ident(name)}")[0]
        if row[2] is None:
            raise RestoreError(f"cannot read the definition of {kind} {db}.{name}: "
                               "the account lacks the privilege to see it")
        out.append(_Object(kind, name, row[2], sql_mode=row[1], charset=row[3], collation=row[4]))
    for (name,) in _rows(conn, "SELECT EVENT_NAME FROM information_schema.EVENTS WHERE EVENT_SCHEMA=%s "
                               "ORDER BY EVENT_NAME", (db,)):
        row = _rows(conn, f"SHOW CREATE EVENT {quote_ident(db)}.{quote_ident(name)}")[0]
        out.append(_Object("EVENT", name, row[3], sql_mode=row[1], charset=row[4], collation=row[5]))
    return out


def _drop(conn: Any, db: str, obj: _Object) -> None:
    with conn.cursor() as cur:
        cur.execute(f"DROP {obj.kind} IF EXISTS {quote_ident(db)}.{quote_ident(obj.name)}")


def _create(conn: Any, db: str, obj: _Object, *, disable_event: bool = False) -> None:
    """Recreate `obj` in `db`. SHOW CREATE texts name the object without a
    schema, so `USE db` places it; the session modes are the object's own."""
    with conn.cursor() as cur:
        cur.execute(f"USE {quote_ident(db)}")
        cur.execute("SET SESSION sql_mode=%s", (obj.sql_mode,))
        cur.execute(f"SET NAMES {obj.charset}" + (f" COLLATE {obj.collation}" if obj.collation else ""))
        cur.execute(obj.create)
        if obj.kind == "EVENT" and disable_event:
            cur.execute(f"ALTER EVENT {quote_ident(obj.name)} DISABLE")


def _schema_charset(conn: Any, db: str) -> tuple[str, str]:
    rows = _rows(conn, "SELECT DEFAULT_CHARACTER_SET_NAME, DEFAULT_COLLATION_NAME "
                       "FROM information_schema.SCHEMATA WHERE SCHEMA_NAME=%s", (db,))
    return (rows[0][0], rows[0][1]) if rows else ("utf8mb4", "utf8mb4_general_ci")


def _holders(conn: Any, db: str) -> str:
    """Connections in an open transaction, those using `db` first, as far as
    this account may see them (without PROCESS, only its own)."""
    try:
        rows = _rows(conn, "SELECT p.ID, p.USER, p.HOST, p.DB, "
                           "TIMESTAMPDIFF(SECOND, t.trx_started, NOW()) "
                           "FROM information_schema.INNODB_TRX t JOIN information_schema.PROCESSLIST p "
                           "ON p.ID = t.trx_mysql_thread_id WHERE p.ID <> CONNECTION_ID() "
                           "ORDER BY p.DB = %s DESC, t.trx_started", (db,))
    except Exception:  # no PROCESS privilege, an older server: say what we can
        rows = []
    if not rows:
        return ("no connection in a transaction that this account can see (it sees other users' "
                "only with PROCESS: look with SHOW PROCESSLIST as an admin)")
    return "in a transaction: " + "; ".join(
        f"connection {r[0]} ({r[1]}@{r[2]}, database {r[3] or 'none'}, for {r[4]}s)" for r in rows[:5])


def _lock_wait(exc: Exception) -> bool:
    return bool(exc.args) and exc.args[0] == _LOCK_WAIT_TIMEOUT


def _safe_identifier(name: str) -> None:
    if not name or len(name) > _MAX_NAME or not re.fullmatch(r"[^\x00/\\.]+", name):
        raise RestoreError(f"refusing the schema name {name!r}")


def swap_in(conn: Any, live_db: str, staging_db: str, keep_db: str | None = None) -> SwapResult:
    """Move the live tables to `keep_db` and the staging tables into live in
    one RENAME TABLE; recreate triggers, views, routines and events on both
    sides (see the module doc for what is not atomic). Creates the live
    schema if it was dropped. Drops the emptied staging schema.
    `conn`: an autocommit admin connection. Returns what was kept."""
    import time

    for name in (live_db, staging_db):
        _safe_identifier(name)
    if live_db == staging_db:
        raise RestoreError("the staging schema cannot be the live one")
    keep_db = keep_db or keep_name(live_db)
    _safe_identifier(keep_db)
    if not schema_exists(conn, staging_db):
        raise RestoreError(f"staging schema {staging_db} does not exist")
    if schema_exists(conn, keep_db):
        raise RestoreError(f"{keep_db} already exists; choose another name for the kept copy")
    new_tables = base_tables(conn, staging_db)
    if not new_tables:
        raise RestoreError(f"staging schema {staging_db} holds no tables: nothing to swap in")
    staging_objects = _objects(conn, staging_db)

    result = SwapResult(live_db=live_db, keep_db=keep_db, restored_tables=new_tables)
    with conn.cursor() as cur:
        cur.execute("SET SESSION lock_wait_timeout = %s", (LOCK_WAIT_SECONDS,))
        if schema_exists(conn, live_db):
            charset, collation = _schema_charset(conn, live_db)
            live_objects = _objects(conn, live_db)
            old_tables = base_tables(conn, live_db)
        else:
            charset, collation = _schema_charset(conn, staging_db)
            cur.execute(f"CREATE DATABASE {quote_ident(live_db)} CHARACTER SET {charset} COLLATE {collation}")
            result.live_created = True
            live_objects, old_tables = [], []
        cur.execute(f"CREATE DATABASE {quote_ident(keep_db)} CHARACTER SET {charset} COLLATE {collation}")
        result.kept_tables = old_tables

        # Staging is private: its triggers can go at leisure.
        for obj in staging_objects:
            if obj.kind == "TRIGGER":
                _drop(conn, staging_db, obj)

        # --- the unprotected window starts: live loses its triggers/views/routines
        window = time.monotonic()
        pairs = [f"{_table(live_db, t)} TO {_table(keep_db, t)}" for t in old_tables]
        pairs += [f"{_table(staging_db, t)} TO {_table(live_db, t)}" for t in new_tables]
        dropped: list[_Object] = []
        try:
            for obj in live_objects:
                _drop(conn, live_db, obj)
                dropped.append(obj)
            cur.execute("RENAME TABLE " + ", ".join(pairs))
        except Exception as exc:
            # Nothing moved (RENAME is all or nothing): put the live objects back.
            _create_all(conn, live_db, dropped)
            if _lock_wait(exc):
                raise RestoreError(
                    f"the live tables of {live_db} stayed in use for {LOCK_WAIT_SECONDS}s: "
                    f"{_holders(conn, live_db)}. Stop the services that use {live_db} (or KILL "
                    "that connection), then resume: nothing was moved") from None
            raise RestoreError(f"RENAME TABLE for {live_db} failed; the live tables were not moved: "
                               f"{exc.args[-1] if exc.args else exc}") from None
        # Views last among the new objects: they may use routines and each other.
        for obj in _create_all(conn, live_db, staging_objects):
            result.recreated.append(f"{obj.kind} {live_db}.{obj.name}")
        result.seconds_unprotected = time.monotonic() - window
        # --- window closed; the kept copy gets its objects back too (events disabled)
        _create_all(conn, keep_db, live_objects, disable_event=True)
        for obj in staging_objects:
            if obj.kind != "TRIGGER":
                _drop(conn, staging_db, obj)
        if not base_tables(conn, staging_db) and not _rows(
                conn, "SELECT 1 FROM information_schema.TABLES WHERE TABLE_SCHEMA=%s", (staging_db,)):
            cur.execute(f"DROP DATABASE {quote_ident(staging_db)}")
        cur.execute("SET SESSION sql_mode=DEFAULT")
        cur.execute("SET NAMES utf8mb4")
    return result


def _create_all(conn: Any, db: str, objects: list[_Object], *,
                disable_event: bool = False) -> list[_Object]:
    """Routines first, then triggers and events, then views; a view that
    uses a view not yet created is retried after the others."""
    rank = {"PROCEDURE": 0, "FUNCTION": 0, "PACKAGE": 0, "PACKAGE BODY": 1, "TRIGGER": 2, "EVENT": 2,
            "VIEW": 3}
    pending = sorted(objects, key=lambda o: rank.get(o.kind, 4))
    done: list[_Object] = []
    while pending:
        failed: list[tuple[_Object, Exception]] = []
        for obj in pending:
            try:
                _create(conn, db, obj, disable_event=disable_event)
                done.append(obj)
            except Exception as exc:
                if obj.kind != "VIEW":
                    raise RestoreError(f"cannot recreate {obj.kind} {db}.{obj.name}: "
                                       f"{exc.args[-1] if exc.args else exc}") from None
                failed.append((obj, exc))
        if len(failed) == len(pending):
            obj, exc = failed[0]
            raise RestoreError(f"cannot recreate VIEW {db}.{obj.name}: "
                               f"{exc.args[-1] if exc.args else exc}") from None
        pending = [obj for obj, _ in failed]
    return done


def drop_kept(conn: Any, keep_db: str) -> None:
    """Drop a copy kept by `swap_in`. Refuses any schema not named like one."""
    _safe_identifier(keep_db)
    if KEEP_MARK not in keep_db:
        raise RestoreError(f"{keep_db} is not a kept pre-restore copy (no '{KEEP_MARK}' in its name)")
    with conn.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS {quote_ident(keep_db)}")
