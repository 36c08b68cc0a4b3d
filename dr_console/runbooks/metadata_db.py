"""Runbook 2: bring a cloud metadata database (keystone, nova, ...) back
from its last good SQL dump.

Nothing is lost: the dump goes into a staging schema, is verified, and is
swapped in with one atomic RENAME TABLE; what it replaces is kept as
`<db>__pre_restore_<ts>` until the operator drops it. Every step checks the
real server first, so a resumed run never swaps twice."""

from __future__ import annotations

import json
import shlex
import time
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dr_console import drillrecord, mysqldb
from dr_console.restore.checks import base_tables, quote_ident, scan_tables, schema_exists
from dr_console.restore.errors import CopyGone, CorruptCopy, WrongDatabase
from dr_console.runbooks import copies
from dr_console.runbooks.drillverdict import COPY, failed_checks, record_failure_step
from dr_console.runbooks.engine import DRILL, Context, Refused, Runbook, Step, StepFailed

if TYPE_CHECKING:
    from dr_console.manifest import Manifest
    from dr_console.restore.loader import LoadReport
    from dr_console.schema import MySQLServer, Site, Store

NAME = "metadata-db"
# What a metadata database is restored from.
DUMP_KINDS = frozenset({"sql-dump"})
MY_CNF = "~/.my.cnf"  # the equivalent commands name a file, never a password
PLAN_TIMEOUT = 3  # seconds the plan waits for the server's answer about LOAD DATA LOCAL
# Smoke checks that prove the service works, not just its tables.
OPENSTACK_SMOKE = {"keystone": "token issue", "nova": "server list"}


def staging_name(db: str, run_short_id: str) -> str:
    return f"{db}__staging_{run_short_id}"


def keep_name(db: str, when: datetime | None = None) -> str:
    return f"{db}__pre_restore_{(when or datetime.now(UTC)).strftime('%Y%m%dT%H%M%SZ')}"


# --------------------------------------------------------------------------
# Site lookups


def mysql_base(server: MySQLServer) -> str:
    return f"mysql --defaults-extra-file={MY_CNF} -h {server.host} -P {server.port}"


def written_since(conn: Any, db: str, moment: str | None) -> set[str]:
    """Tables of `db` written after `moment` (the server's own clock, whole
    seconds); none when no moment was recorded."""
    if not moment:
        return set()
    with conn.cursor() as cur:
        cur.execute("SELECT TABLE_NAME FROM information_schema.TABLES "
                    "WHERE TABLE_SCHEMA = %s AND UPDATE_TIME > %s", (db, moment))
        return {row[0] for row in cur.fetchall()}


def read_manifest(client: Any, store: Store, key: str) -> Manifest | None:
    """The copy's manifest, None when it has none; an unreadable one is an error."""
    from dr_console.manifest import Manifest, ManifestError, manifest_key
    from dr_console.providers._boto import BOTO_ERRORS, error_code, reason

    try:
        body = client.get_object(Bucket=store.bucket, Key=manifest_key(key))["Body"].read()
    except BOTO_ERRORS as exc:
        if error_code(exc) in ("NoSuchKey", "404", "NotFound"):
            return None
        raise StepFailed("cannot read the manifest: " + reason(
            exc, where=f"store {store.name} (bucket {store.bucket}, key {manifest_key(key)})",
            timeout=store.timeout)) from None
    try:
        return Manifest.from_json(body)
    except ManifestError as exc:
        raise StepFailed(f"s3://{store.bucket}/{key}: {exc}") from None


def bulk_outlook(server: MySQLServer, db: str) -> str:
    """The plan's clause on how the rows will load, from one read-only look
    at the server: whether it takes LOAD DATA LOCAL, and which of the live
    tables would replay their INSERTs whatever their values."""
    from dataclasses import replace

    from dr_console.restore import bulkload

    try:
        account = mysqldb.Account.restore(server)
        conn = mysqldb.connect(replace(account, timeout=min(account.timeout, PLAN_TIMEOUT)),
                               read_timeout=PLAN_TIMEOUT)
    except mysqldb.MySQLAccessError as exc:
        return (f"{server.name} could not be asked about LOAD DATA LOCAL now ({exc}); it is asked "
                "again before the load")
    try:
        refused, replays = bulkload.outlook(conn, db)
    except Exception as exc:  # the plan shows whatever the server says, and goes on
        return f"{server.name}'s answer about LOAD DATA LOCAL could not be read ({type(exc).__name__})"
    finally:
        conn.close()
    if refused:
        return f"{server.name}: {refused}, so every table replays its INSERTs"
    if not replays:
        return f"{server.name} takes LOAD DATA LOCAL; as {db} stands, no table needs INSERT replay"
    shown = "; ".join(f"{t} ({why})" for t, why in list(replays.items())[:6])
    more = f"; {len(replays) - 6} more" if len(replays) > 6 else ""
    return f"{server.name} takes LOAD DATA LOCAL; as {db} stands, INSERT replay for {shown}{more}"


def manifest_from_state(state: dict[str, Any]) -> Manifest | None:
    from dr_console.manifest import Manifest

    data = state.get("manifest")
    return Manifest.from_json(json.dumps(data)) if data else None


# --------------------------------------------------------------------------
# The runbook


def build(site: Site | None, params: dict[str, Any]) -> Runbook:
    from dr_console.config import load_site

    if site is None:
        site = load_site(params.get("site_file") or None)
    db = params["db"]
    server = site.mysql_server(db, params.get("server"))
    drill = bool(params.get("drill"))
    params = {"db": db, "server": server.name, "copy": params.get("copy"), "drill": drill,
              "site_file": str(Path(site.path).resolve())}
    rb = _MetadataRestore(site, server, db, params.get("copy"), drill=drill)
    rb.bulk_outlook = bulk_outlook(server, db)
    if drill:
        return Runbook(
            name=NAME, title=f"Drill: restore metadata database {db} into a scratch schema",
            target=f"drill:mysql:{server.name}/{db}", params=params, steps=rb.drill_steps(),
            site_file=params["site_file"], kind=DRILL,
            finally_steps=[record_failure_step(rb.write_record, rb.copy_location), rb.drop_scratch_step()],
        )
    return Runbook(
        name=NAME, title=f"Restore metadata database {db}", target=f"mysql:{server.name}/{db}",
        params=params, steps=rb.steps(), site_file=params["site_file"],
    )


def drill_name(db: str, run_short_id: str) -> str:
    return f"{db}__drill_{run_short_id}"


class _MetadataRestore:
    def __init__(self, site: Site, server: MySQLServer, db: str, copy: str | None, *,
                 drill: bool = False) -> None:
        self.site = site
        self.server = server
        self.db = db
        self.copy = copy
        # A drill restores into a scratch schema and never touches `db`.
        self.drill = drill
        self._swap_seen = False  # the swap, once seen done, stays done for this process
        # table -> (rows, checksum) taken by the loading connections of this
        # process's load (a resumed run scans again: the schema was out of sight).
        self._scans: dict[str, tuple[int, int | None]] = {}
        self._drill_fetch: tuple[str, Future[Any]] | None = None  # (copy key, its drill record)
        self.bulk_outlook = ""  # the plan's sentence on LOAD DATA LOCAL (build() asks the server)
        self.ref = copies.AssetRef(server.name, "database", db)
        self._hint = copy or copies.cached_choice(site, self.ref, DUMP_KINDS)

    # -- helpers

    def _conn(self) -> Any:
        return mysqldb.connect(mysqldb.Account.restore(self.server))

    def _checksums(self, db: str) -> dict[str, int | None]:
        """CHECKSUM TABLE of every base table of `db`, several tables at once."""
        return scan_tables(self._conn, db, rows=False)[1]

    def _staging(self, ctx: Context) -> str:
        name = (drill_name if self.drill else staging_name)(self.db, ctx.short_id)
        return str(ctx.state.setdefault("staging", name))

    def _swapped(self, ctx: Context) -> bool:
        """Is the restored data live? Asked of the server: the staging
        schema is gone, the live tables carry the checksums the staging
        tables had, and what they replaced is kept."""
        if self._swap_seen:
            return True
        expected = ctx.state.get("checksums")
        staging = ctx.state.get("staging")
        if not expected or not staging:
            return False
        conn = self._conn()
        try:
            if schema_exists(conn, staging) or not schema_exists(conn, self.db):
                return False
            keep = ctx.state.get("keep")
            if ctx.state.get("live_existed") and keep and not schema_exists(conn, keep):
                return False
            live = self._checksums(self.db)
            written = written_since(conn, self.db, ctx.state.get("swap_started"))
            if set(live) != set(expected):
                return False
            # A live service (nova's heartbeat) may already have written some
            # restored tables: those cannot match, every other one must.
            self._swap_seen = all(live[t] == expected[t] for t in live if t not in written)
            if self._swap_seen and written:
                ctx.log(f"written by a running service since the swap, so not compared: "
                        f"{', '.join(sorted(written))}")
            return self._swap_seen
        finally:
            conn.close()

    def copy_location(self, state: dict[str, Any]) -> str:
        copy = (state.get("copy") or {}).get("location") or self._hint
        return copy or f"s3://<last good sql-dump of {self.db}>"

    # -- commands an operator could type

    def _cmd_choose(self, state: dict[str, Any]) -> str:
        stores = [s for s in self.site.stores]
        listing = ""
        if stores:
            store = stores[0]
            endpoint = f" --endpoint-url {store.endpoint_url}" if store.endpoint_url else ""
            listing = f"aws s3 ls{endpoint} s3://{store.bucket}/ --recursive | grep {self.db}"
        return f"dr-console inventory --class metadata  # or: {listing}" if listing \
            else "dr-console inventory --class metadata"

    def _cmd_restore(self, state: dict[str, Any]) -> str:
        location = self.copy_location(state)
        staging = state.get("staging", staging_name(self.db, "<run>"))
        endpoint = ""
        for store in self.site.stores:
            if location.startswith(f"s3://{store.bucket}/") and store.endpoint_url:
                endpoint = f" --endpoint-url {store.endpoint_url}"
        unzip = " | gunzip" if location.endswith(".gz") or "<" in location else ""
        base = mysql_base(self.server)
        return (f"{base} -e {shlex.quote(f'CREATE DATABASE {quote_ident(staging)}')} && "
                f"aws s3 cp{endpoint} {location} -{unzip} | {base} {staging}"
                f"  # {_paths_note(state, self.bulk_outlook)}")

    def _cmd_verify(self, state: dict[str, Any]) -> str:
        staging = state.get("staging", staging_name(self.db, "<run>"))
        return (f"{mysql_base(self.server)} -e "
                + shlex.quote(f"SELECT COUNT(*) FROM {staging}.<table>; CHECKSUM TABLE "
                              f"{staging}.<table>, ..."))

    def _cmd_swap(self, state: dict[str, Any]) -> str:
        staging = state.get("staging", staging_name(self.db, "<run>"))
        keep = state.get("keep", f"{self.db}__pre_restore_<ts>")
        sql = (f"CREATE DATABASE {keep}; RENAME TABLE {self.db}.<t> TO {keep}.<t>, ..., "
               f"{staging}.<t> TO {self.db}.<t>, ...; DROP DATABASE {staging}")
        return f"{mysql_base(self.server)} -e {shlex.quote(sql)}"

    def _cmd_smoke(self, state: dict[str, Any]) -> str:
        cloud = self._openstack_cloud()
        if self.db in OPENSTACK_SMOKE and cloud is not None:
            return f"openstack --os-cloud {cloud.cloud} {OPENSTACK_SMOKE[self.db]}"
        return f"{mysql_base(self.server)} -e " + shlex.quote(f"SELECT COUNT(*) FROM {self.db}.<table>")

    def _cmd_report(self, state: dict[str, Any]) -> str:
        keep = state.get("keep", f"{self.db}__pre_restore_<ts>")
        return f"dr-console drop-kept {keep}  # once you no longer need it"

    def _openstack_cloud(self) -> Any:
        from dr_console.schema import OpenStackCloud

        return next((c for c in self.site.clouds if isinstance(c, OpenStackCloud)), None)

    # -- steps

    def steps(self) -> list[Step]:
        db, server = self.db, self.server
        return [
            Step("choose-copy", "Choose the copy", self.check_choose, self.choose, self.verify_choose,
                 guidance=f"The newest **good** `sql-dump` of `{db}`: its size and sha256 equal its "
                          "manifest's and it ends with the dump's completion trailer (or, without a "
                          "manifest, it is complete: unverified, and it needs your typed "
                          "confirmation). Or the one given with `--copy`. A cached inventory that "
                          "is old or could not see the stores is gathered anew first.",
                 command=self._cmd_choose),
            Step("restore-staging", "Restore into a staging schema", self.check_staging,
                 self.restore, self.verify_restored,
                 guidance=f"Streams the dump from the store into a new schema next to `{db}`; "
                          "the live database is not touched. The stream's sha256 and size are "
                          "compared with the manifest and the dump must end with its completion "
                          "trailer: a damaged or truncated copy stops here, staging dropped.\n\n"
                          "Each table's rows are bulk-loaded with LOAD DATA LOCAL INFILE, streamed "
                          "from its INSERTs, where they convert exactly (decided from the table's "
                          "DDL before it loads, then statement by statement); the rest replay "
                          "their INSERTs as the command does. The log names each table's path "
                          "and why; the plan asked the server beforehand: "
                          + (self.bulk_outlook or "not asked") + ".",
                 command=self._cmd_restore, cleanup=self.drop_staging),
            Step("verify-staging", "Verify the staging schema", self.check_verified,
                 self.verify_staging_action,
                 guidance="Every table of the manifest is there with the row count the manifest "
                          "recorded (without a manifest: only that tables exist). CHECKSUM TABLE "
                          "of each staging table is recorded: after the swap the live tables "
                          "must carry the same checksums.",
                 command=self._cmd_verify),
            Step("swap-in", f"Swap it in as {db}", self._swapped, self.swap, self.verify_swap,
                 guidance=f"One atomic `RENAME TABLE` moves the current tables of `{db}` into a "
                          f"kept schema and the restored ones into `{db}`. Services see either "
                          "the old or the new tables, never a mix. Stop the services that write "
                          f"to `{db}` first: triggers, views and routines are recreated just after.",
                 command=self._cmd_swap, destructive=True, target=db),
            Step("smoke-check", "Smoke check the service", lambda ctx: False, self.smoke,
                 guidance="Proves the service works on the restored data: Keystone issues a "
                          "token, Nova lists servers, other databases answer a query. "
                          "Skippable: in a full recovery the service may not be running yet.",
                 command=self._cmd_smoke, skippable=True),
            Step("report", "Report what was kept", lambda ctx: False, self.report,
                 guidance=f"What the swap replaced stays on {server.name} until you drop it.",
                 command=self._cmd_report),
        ]

    # -- the drill: the same restore and checks into a scratch schema ----------

    def drill_steps(self) -> list[Step]:
        db = self.db
        choose, restore, verify = self.steps()[:3]
        restore = Step("restore-scratch", "Restore into a scratch schema", self.check_staging,
                       self.restore, self.verify_restored,
                       guidance=f"As a real restore does, into `{db}__drill_<run>`: the live `{db}` "
                                "is never named, read or written.",
                       command=self._cmd_restore, cleanup=self.drop_staging)
        return [
            choose, restore, verify,
            Step("smoke-scratch", "Smoke-test the restored data", lambda ctx: False, self.drill_smoke,
                 guidance="The site's smoke command for this database (drills.smoke: e.g. a "
                          "scratch service issuing a token from the scratch schema); without one, "
                          "a query of its largest table, and the copy is drilled but not "
                          "smoke-tested.",
                 command=self._cmd_drill_smoke),
            Step("record-drill", "Record the drill beside the copy", lambda ctx: False,
                 self.record_drill,
                 guidance="`<copy>.drill.json` in the store: the run, when, every check, the "
                          "checksums. Every operator's inventory then shows the copy drilled; a "
                          "real restore of it compares its checksums with these.",
                 command=lambda state: f"aws s3 cp - {self.copy_location(state)}.drill.json"),
        ]

    def drop_scratch_step(self) -> Step:
        def command(state: dict[str, Any]) -> str:
            scratch = state.get("staging", drill_name(self.db, "<run>"))
            return f"{mysql_base(self.server)} -e " + shlex.quote(f"DROP DATABASE IF EXISTS {scratch}")

        return Step("drop-scratch", "Drop the scratch schema (always)", lambda ctx: False,
                    self.drop_scratch,
                    guidance="Whatever happened: the drill's schema, found by its name.",
                    command=command)

    def drop_scratch(self, ctx: Context) -> None:
        name = drill_name(self.db, ctx.short_id)
        conn = self._conn()
        try:
            with conn.cursor() as cur:
                cur.execute(f"DROP DATABASE IF EXISTS {quote_ident(name)}")
            if schema_exists(conn, name):
                raise StepFailed(f"schema {name} is still on {self.server.name}")
        finally:
            conn.close()
        ctx.log(f"dropped {name} on {self.server.name}: nothing of the drill is left")

    def _cmd_drill_smoke(self, state: dict[str, Any]) -> str:
        command = self.site.drills.smoke.get(self.db)
        scratch = state.get("staging", drill_name(self.db, "<run>"))
        if command:
            return command.replace("{schema}", scratch).replace("{db}", self.db)
        return f"{mysql_base(self.server)} -e " + shlex.quote(f"SELECT COUNT(*) FROM {scratch}.<table>")

    def drill_smoke(self, ctx: Context) -> None:
        import os
        import subprocess
        import tempfile

        scratch = ctx.state["staging"]
        command = self.site.drills.smoke.get(self.db)
        if not command:
            self._count_largest(ctx, scratch)
            ctx.evidence("smoke: the service works on the restored data", None,
                         f"no smoke command for {self.db} in the site file (drills.smoke): only "
                         "its data was proven")
            ctx.state["smoke_tested"] = False
            return
        account = mysqldb.Account.restore(self.server)
        fd, defaults = tempfile.mkstemp(prefix="drc-drill-", suffix=".cnf")
        try:
            with os.fdopen(fd, "w") as out:  # 0600: the password never on a command line
                secret = account.password.reveal() if account.password else ""
                out.write(f'[client]\nuser={account.user}\npassword="{secret}"\n')
            line = (command.replace("{schema}", scratch).replace("{db}", self.db)
                    .replace("{host}", self.server.host).replace("{port}", str(self.server.port))
                    .replace("{site_dir}", str(Path(self.site.path).resolve().parent))
                    .replace("{defaults_file}", defaults))
            ran = subprocess.run(line, shell=True, capture_output=True, text=True, timeout=600,
                                 stdin=subprocess.DEVNULL)
        finally:
            os.unlink(defaults)
        output = (ran.stdout + ran.stderr).strip()[-2000:]
        ctx.evidence("smoke: the service works on the restored data", ran.returncode == 0,
                     output, command=command)
        if ran.returncode != 0:
            raise StepFailed(f"the smoke command failed (exit {ran.returncode}): {output[-600:]}")
        ctx.log(f"smoke: {output.splitlines()[-1] if output else 'passed'}")
        ctx.state["smoke_tested"] = True

    def _count_largest(self, ctx: Context, schema: str) -> None:
        manifest = manifest_from_state(ctx.state)
        conn = self._conn()
        try:
            tables = base_tables(conn, schema)
            expected = dict(manifest.tables) if manifest else {}
            table = max(tables, key=lambda name: expected.get(name, -1))
            with conn.cursor() as cur:
                cur.execute(f"SELECT COUNT(*) FROM {quote_ident(schema)}.{quote_ident(table)}")
                count = int(cur.fetchone()[0])
        finally:
            conn.close()
        ctx.log(f"SELECT COUNT(*) FROM {schema}.{table}: {count}")

    def record_drill(self, ctx: Context) -> None:
        from datetime import UTC

        from dr_console import __version__

        evidence = ctx.state.get("evidence", {})
        failed = failed_checks(ctx.state)
        if failed:
            raise StepFailed(f"not recorded: checks failed: {', '.join(failed)}")
        copy = ctx.state["copy"]
        record = drillrecord.DrillRecord(
            run_id=ctx.run_id, at=datetime.now(UTC).isoformat(timespec="seconds"),
            copy=copy["location"], smoke_tested=bool(ctx.state.get("smoke_tested")),
            checks={name: {"passed": c.get("passed"), "detail": c.get("detail", "")}
                    for name, c in evidence.items()},
            checksums=ctx.state.get("checksums", {}), tool_version=__version__)
        self.write_record(ctx, record)
        ctx.log(f"drill recorded beside the copy: {copy['location']}.drill.json"
                + ("" if record.smoke_tested else " (drilled; not smoke-tested)"))

    def write_record(self, ctx: Context, record: drillrecord.DrillRecord) -> None:
        """A drill's record as `<copy>.drill.json` beside the dump in its store."""
        from dr_console.backup.s3 import store_client

        copy = ctx.state["copy"]
        store = self.site.store(copy["store"])
        store_client(store).put_object(Bucket=store.bucket, Key=drillrecord.record_key(copy["key"]),
                                       Body=record.to_json().encode(),
                                       ContentType="application/json")

    def _read_drill_record(self, copy: dict[str, Any]) -> Any:
        from dr_console.providers.store import StoreProvider

        return StoreProvider(self.site.store(copy["store"]), self.site.copies).drill_record(copy["key"])

    def _prefetch_drill_record(self, copy: dict[str, Any]) -> None:
        """Read the copy's drill record while the copy loads: the verify
        step compares with it (an S3 client and a GET, ~0.4 s) right after."""
        if self.drill:
            return
        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="drc-drill-record")
        self._drill_fetch = (copy["key"], pool.submit(self._read_drill_record, dict(copy)))
        pool.shutdown(wait=False)

    def _compare_with_drill(self, ctx: Context, checksums: dict[str, int | None]) -> None:
        """A real restore of a copy a drill proved must load the same data."""
        if self.drill:
            return
        copy = ctx.state["copy"]
        fetched = self._drill_fetch
        record = (fetched[1].result() if fetched is not None and fetched[0] == copy["key"]
                  else self._read_drill_record(copy))
        if record is None or not record.checksums:
            return
        differ = sorted(t for t in set(record.checksums) | set(checksums)
                        if record.checksums.get(t) != checksums.get(t))
        if differ:
            raise StepFailed(f"CHECKSUM TABLE differs from the drill of {record.at} (run "
                             f"{record.run_id}) for: {', '.join(differ[:10])}")
        ctx.log(f"CHECKSUM TABLE equals the drill of {record.at} for all {len(checksums)} tables")
        ctx.evidence("CHECKSUM TABLE equals the drill's", True,
                     f"drill {record.run_id} of {record.at}")

    # 1. choose the copy

    def check_choose(self, ctx: Context) -> bool:
        # The choice is this run's decision, so it lives in the run's state.
        return "copy" in ctx.state

    def choose(self, ctx: Context) -> None:
        if self.copy is not None:
            location, created = self.copy, None
            ctx.log(f"the copy named with --copy: {location}")
        else:
            best = copies.choose(self.site, self.ref, DUMP_KINDS, ctx.log)
            location, created = best.location, best.created_at.isoformat()
        try:
            self._take(ctx, location, created)
        except CopyGone as gone:
            self._take(ctx, *self._next_copy(ctx, gone))

    def _take(self, ctx: Context, location: str, created: str | None) -> None:
        """Make `location` this run's copy: it must be there, of this
        database, and verified by a manifest or confirmed by the operator."""
        from dr_console.backup.s3 import store_client
        from dr_console.restore.pipeline import head_copy

        store, key = self.site.store_for(location)
        client = store_client(store)
        head_copy(client, store, key)
        manifest = read_manifest(client, store, key)
        if manifest is None:
            ctx.log(f"{location} has no manifest: it is UNVERIFIED. There is no sha256 or size "
                    "to compare it with and no row counts to check the load against; only the "
                    "dump's own completion trailer will be checked", "warning")
            if not ctx.confirm(self.db, f"restore {self.db} from an unverified copy"):
                raise Refused("an unverified copy needs the typed confirmation; nothing changed")
        else:
            source_db = manifest.source.get("database")
            if source_db and source_db != self.db:
                raise StepFailed(f"{location} is a dump of {source_db!r}, not {self.db!r}")
            created = manifest.created_at.isoformat()
            ctx.log(f"its manifest gives sha256 and size, checked while it streams, and the row "
                    f"counts of {len(manifest.tables)} tables, checked after the load")
        ctx.state["manifest"] = json.loads(manifest.to_json()) if manifest else None
        ctx.state["copy"] = {"location": location, "kind": "sql-dump", "store": store.name, "key": key,
                             "created_at": created, "verified": manifest is not None}
        self._staging(ctx)  # named now, so the next step's command shows it

    def _next_copy(self, ctx: Context, gone: CopyGone) -> tuple[str, str]:
        """The chosen copy vanished from its store: the next good one, after
        the operator agrees (--yes agrees, and the journal says so)."""
        ctx.log(str(gone), "warning")
        if self.copy is not None:
            found = copies.find(self.site, self.ref, DUMP_KINDS, ctx.log, refresh=True)
            others = "; ".join(f"--copy {c.location}" for c in found.good) or "none is good"
            raise StepFailed(f"{gone}. The good copies of {self.db} now: {others}")
        best = copies.choose(self.site, self.ref, DUMP_KINDS, ctx.log, exclude={gone.location},
                             refresh=True)
        if not ctx.confirm(self.db, f"{gone.location} is gone; restore {self.db} from "
                                    f"{best.location}, made {copies.when_text(best.created_at)}, "
                                    "instead"):
            raise Refused("the next good copy was not confirmed; nothing changed")
        ctx.log(f"restoring from {best.location} instead of {gone.location}, which is gone")
        return best.location, best.created_at.isoformat()

    def verify_choose(self, ctx: Context) -> None:
        if "copy" not in ctx.state:
            raise StepFailed("no copy chosen")

    # 2. restore into staging

    def check_staging(self, ctx: Context) -> bool:
        if self._swapped(ctx):
            return True
        staging = ctx.state.get("staging")
        if not (staging and ctx.state.get("staging_loaded")):
            return False
        conn = self._conn()
        try:
            return schema_exists(conn, staging)
        finally:
            conn.close()

    def restore(self, ctx: Context) -> None:
        from dr_console.restore import pipeline

        staging = self._staging(ctx)
        ctx.state.pop("staging_loaded", None)
        ctx.state.pop("checksums", None)
        self._scans = {}
        self.drop_staging(ctx)  # a half-loaded schema left by a killed run
        phases: set[str] = set()

        def progress(phase: str, done: int, total: int, rows: int) -> None:
            if phase == "load":
                ctx.progress(done, total or None, "B")
            elif phase not in phases:
                phases.add(phase)
                if phase in _PHASES:
                    ctx.log(_PHASES[phase])

        def on_table(table: str, path: str, why: str) -> None:
            ctx.log(f"table {table}: {_PATH_NAMES.get(path, path)} ({why})")

        self._prefetch_drill_record(ctx.state["copy"])
        for _attempt in range(3):
            copy = ctx.state["copy"]
            try:
                report = pipeline.restore_into_staging(
                    self.site.store(copy["store"]), copy["key"], mysqldb.Account.restore(self.server),
                    self.db, manifest=manifest_from_state(ctx.state), progress=progress,
                    cancel=ctx.cancel_event, expect_database=self.db, staging_db=staging,
                    on_table=on_table, scan=True,
                )
                break
            except CopyGone as gone:  # deleted since it was chosen: the next good one
                self._take(ctx, *self._next_copy(ctx, gone))
            except (CorruptCopy, WrongDatabase) as bad:
                ctx.evidence("the copy loads whole, as the right database", False, str(bad), about=COPY)
                raise
        else:
            raise StepFailed(f"three chosen copies of {self.db} vanished while restoring; "
                             "the store is changing under us: look at its lifecycle rules")
        ctx.log(describe_load(report))
        for note in report.notes:
            ctx.log(note)
        copy = ctx.state["copy"]
        ctx.evidence("sha256 and size of the copy equal its manifest's",
                     True if report.verified else None,
                     f"sha256 {report.sha256}" if report.verified
                     else "no manifest: nothing to compare with", sha256=report.sha256,
                     location=copy["location"])
        ctx.evidence("the dump ends with its completion trailer", True, copy["location"])
        ctx.state["load"] = {"rows": report.rows, "plain_bytes": report.bytes,
                             "stored_bytes": report.stored_bytes, "seconds": round(report.seconds, 3),
                             "workers": report.workers, "parallel": report.parallel,
                             "spool_bytes": report.spool_bytes, "verified": report.verified,
                             "bulk_refused": report.bulk_refused,
                             "paths": {t: list(p) for t, p in sorted(report.paths.items())}}
        ctx.state["staging_loaded"] = True
        self._scans = dict(report.scans)

    def verify_restored(self, ctx: Context) -> None:
        conn = self._conn()
        try:
            if not schema_exists(conn, ctx.state["staging"]):
                raise StepFailed(f"staging schema {ctx.state['staging']} is missing after the load")
        finally:
            conn.close()

    def drop_staging(self, ctx: Context) -> None:
        staging = ctx.state.get("staging")
        # Only ever a schema this run named: <db>__staging_<id> or <db>__drill_<id>.
        if staging not in (staging_name(self.db, ctx.short_id), drill_name(self.db, ctx.short_id)):
            return
        conn = self._conn()
        try:
            with conn.cursor() as cur:
                cur.execute(f"DROP DATABASE IF EXISTS {quote_ident(staging)}")
        finally:
            conn.close()

    # 3. verify staging

    def check_verified(self, ctx: Context) -> bool:
        if self._swapped(ctx):
            return True
        staging = ctx.state.get("staging")
        if not (staging and ctx.state.get("checksums")):
            return False
        conn = self._conn()
        try:
            return schema_exists(conn, staging) and self._checksums(staging) == ctx.state["checksums"]
        finally:
            conn.close()

    def verify_staging_action(self, ctx: Context) -> None:
        from dr_console.restore import checks

        staging = ctx.state["staging"]
        manifest = manifest_from_state(ctx.state)
        conn = self._conn()
        try:
            tables = base_tables(conn, staging)
            if not tables:
                raise StepFailed(f"staging schema {staging} has no tables")
            # Tables this process just loaded were counted and checksummed by
            # their loading connections; the others in one pass, several at once.
            loaded = {t: scanned for t, scanned in self._scans.items() if t in tables}
            rest = [t for t in tables if t not in loaded]
            counts, checksums = (scan_tables(self._conn, staging, rest, rows=manifest is not None)
                                 if rest else ({}, {}))
            for table, (rows, checksum) in loaded.items():
                counts[table], checksums[table] = rows, checksum
            checksums = {t: checksums[t] for t in tables if t in checksums}
            if manifest is not None:
                problems = checks.verify_staging(conn, staging, manifest, counts)
                if problems:
                    shown = "; ".join(problems[:5])
                    more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
                    ctx.evidence("tables and row counts equal the manifest's", False, shown + more,
                                 about=COPY)
                    raise StepFailed(f"staging {staging} does not match the manifest: {shown}{more}")
                ctx.log(f"{len(manifest.tables)} tables and their row counts match the manifest")
                ctx.evidence("tables and row counts equal the manifest's", True,
                             f"{len(manifest.tables)} tables", rows=dict(manifest.tables), about=COPY)
            else:
                ctx.log("no manifest: row counts cannot be compared (unverified copy)", "warning")
                ctx.evidence("tables and row counts equal the manifest's", None,
                             "no manifest: not compared")
            ctx.log(f"CHECKSUM TABLE recorded for {len(checksums)} tables"
                    + (f" ({len(loaded)} taken as each finished loading)" if loaded else ""))
        finally:
            conn.close()
        ctx.state["checksums"] = checksums
        ctx.evidence("CHECKSUM TABLE of every restored table", True, f"{len(checksums)} tables",
                     checksums=checksums)
        self._compare_with_drill(ctx, checksums)

    # 4. swap in

    def swap(self, ctx: Context) -> None:
        from dr_console.restore import swap

        staging = ctx.state["staging"]
        keep = ctx.state.setdefault("keep", swap.keep_name(self.db))
        conn = self._conn()
        try:
            if not schema_exists(conn, staging):
                raise StepFailed(f"staging schema {staging} is gone; resume to restore it again")
            ctx.state["live_existed"] = schema_exists(conn, self.db)
            # The server's clock, before the RENAME: tables a running service
            # writes after it are told apart from tables the swap left as is.
            # UPDATE_TIME has whole seconds, so wait for the next one: every
            # load write is then at or before the mark, every later write after.
            with conn.cursor() as cur:
                cur.execute("SELECT NOW()")
                mark = cur.fetchone()[0]
                while True:
                    cur.execute("SELECT NOW() > %s", (mark,))
                    if cur.fetchone()[0]:
                        break
                    time.sleep(0.05)
            ctx.state["swap_started"] = str(mark)
            result = swap.swap_in(conn, self.db, staging, keep)
            ctx.log(f"{len(result.restored_tables)} tables swapped in, {len(result.kept_tables)} "
                    f"kept in {keep}; triggers/views/routines recreated: {len(result.recreated)} "
                    f"(unprotected for {result.seconds_unprotected * 1000:.0f} ms)")
            if not result.kept_tables:
                # The database was missing or empty: an empty kept schema keeps nothing.
                swap.drop_kept(conn, keep)
                ctx.state["live_existed"] = False
        finally:
            conn.close()

    def verify_swap(self, ctx: Context) -> None:
        if not self._swapped(ctx):
            raise StepFailed(f"after the swap, the tables of {self.db} are not the restored ones")
        ctx.evidence("the live tables carry the restored checksums", True, self.db)

    # 5. smoke check

    def smoke(self, ctx: Context) -> None:
        cloud = self._openstack_cloud()
        if self.db in OPENSTACK_SMOKE and cloud is not None:
            self._smoke_openstack(ctx, cloud)
        else:
            self._smoke_sql(ctx)

    def _smoke_openstack(self, ctx: Context, cloud: Any) -> None:
        from dr_console.errors import ProviderError
        from dr_console.providers.openstack import OpenStackProvider

        provider = OpenStackProvider(cloud)
        try:
            conn = provider.connect()
            if self.db == "keystone":
                token = conn.authorize()
                if not token:
                    raise StepFailed("Keystone issued no token")
                ctx.log(f"Keystone issued a token for cloud {cloud.cloud!r}")
                ctx.evidence("smoke: Keystone issues a token", True, f"cloud {cloud.cloud}")
            else:
                servers = list(conn.compute.servers())
                ctx.log(f"Nova listed {len(servers)} server(s)")
                ctx.evidence("smoke: Nova lists servers", True, f"{len(servers)} servers")
        except ProviderError as exc:
            raise StepFailed(f"smoke check failed: {exc}") from None
        except StepFailed:
            raise
        except Exception as exc:  # openstacksdk raises many kinds; the operator needs the sentence
            raise StepFailed(f"smoke check failed: {type(exc).__name__}: {str(exc)[:200]}") from None

    def _smoke_sql(self, ctx: Context) -> None:
        manifest = manifest_from_state(ctx.state)
        conn = self._conn()
        try:
            tables = base_tables(conn, self.db)
            if not tables:
                raise StepFailed(f"{self.db} has no tables")
            expected = dict(manifest.tables) if manifest else {}
            table = max(tables, key=lambda t: expected.get(t, -1))
            with conn.cursor() as cur:
                cur.execute(f"SELECT COUNT(*) FROM {quote_ident(self.db)}.{quote_ident(table)}")
                count = int(cur.fetchone()[0])
        finally:
            conn.close()
        if table in expected and expected[table] != count:
            raise StepFailed(f"{self.db}.{table} has {count} rows, the copy had {expected[table]}")
        ctx.log(f"SELECT COUNT(*) FROM {self.db}.{table}: {count}")
        ctx.evidence("smoke: the database answers a query", True,
                     f"SELECT COUNT(*) FROM {table}: {count}")

    # 6. report

    def report(self, ctx: Context) -> None:
        keep = ctx.state.get("keep")
        conn = self._conn()
        try:
            kept = bool(keep) and schema_exists(conn, keep)
        finally:
            conn.close()
        copy = ctx.state.get("copy", {})
        ctx.log(f"{self.db} restored from {copy.get('location')} ({copy.get('created_at')})")
        if kept:
            ctx.state["kept"] = keep
            ctx.log(f"kept what it replaced as {keep}: drop it with `dr-console drop-kept {keep}` "
                    "once the service is fine", "warning")
        else:
            ctx.log(f"{self.db} did not exist before the restore: nothing was kept")


_PATH_NAMES = {"bulk": "LOAD DATA LOCAL", "replay": "INSERT replay",
               "bulk+replay": "LOAD DATA LOCAL, then INSERT replay"}


def _paths_note(state: dict[str, Any], outlook: str) -> str:
    """The equivalent command's comment: how dr-console loads the rows
    (after the load: each table's path; before: the rule and the plan's
    look at the server)."""
    load = state.get("load") or {}
    paths = load.get("paths")
    if not paths:
        return ("dr-console streams each table's INSERT rows into LOAD DATA LOCAL INFILE where "
                "they convert exactly (the same rows) and replays the INSERTs elsewhere"
                + (f"; {outlook}" if outlook else ""))
    if load.get("bulk_refused"):
        return f"dr-console replayed every table's INSERTs: {load['bulk_refused']}"
    bulk = [t for t, (p, _w) in paths.items() if p == "bulk"]
    other = [f"{t} ({_PATH_NAMES.get(p, p)}: {w})" for t, (p, w) in paths.items() if p != "bulk"]
    parts = [f"LOAD DATA LOCAL for {len(bulk)} table(s)" + (f": {', '.join(bulk[:10])}"
                                                             + (", ..." if len(bulk) > 10 else "")
                                                             if bulk else "")]
    if other:
        parts.append("INSERT replay for " + "; ".join(other[:10]) + ("; ..." if len(other) > 10 else ""))
    return "dr-console: " + "; ".join(parts)


_PHASES = {
    "data": "the copy is read to its end; loading the rest of the data",
    "objects": "creating views, triggers and routines",
    "verify": "checking every table's row count against the manifest",
}


def describe_load(report: LoadReport) -> str:
    """What was loaded and exactly what was checked on the way."""
    from dr_console.humanize import size

    mode = f"{report.workers} connections" if report.parallel else "one connection"
    checked = ("sha256 and size equal the manifest's" if report.verified
               else "no manifest, so sha256 and size were compared with nothing (unverified)")
    bulk = sum(1 for p, _w in report.paths.values() if p == "bulk")
    if report.bulk_refused:
        paths = f"every table's INSERTs replayed ({report.bulk_refused})"
    else:
        paths = f"{bulk} of {len(report.paths)} table(s) with rows bulk-loaded with LOAD DATA LOCAL"
        if bulk < len(report.paths):
            paths += f", {len(report.paths) - bulk} replayed their INSERTs (in part or whole)"
    return (f"loaded {len(report.tables)} tables, {report.rows} rows, {size(report.bytes)} of SQL "
            f"in {report.seconds:.1f}s over {mode}; {paths}; the dump ends with its completion "
            f"trailer; {checked}")
