"""A restore must not trust an inventory that could not see the stores.

Against the lab's real MariaDB and a private moto S3 store this module
starts and stops by PID (so "the store was down, then came back" is real:
moto forgets its objects when it restarts, as the lab's does):

- status runs while the store is down, the store comes back with a good
  dump, and the restore at once finds it (it gathers anew, and says so);
- the chosen copy is deleted between the choice and the download: the run
  takes the next good copy (with --yes, journaled), or stops if refused;
- a store holding only broken dumps: the run lists each with its reason.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from labhelpers import BUCKET, DB, OTHER, PrivateStore, checksums, flat, run_cli, schemas, sql

from dr_console.config import load_site
from dr_console.manifest import manifest_key
from dr_console.mysqldb import Account
from dr_console.runbooks import Engine, Outcome, events, registry
from dr_console.runbooks.journal import read_records, runs_dir

pytestmark = pytest.mark.lab


def test_status_while_the_store_is_down_does_not_hide_the_copy_that_arrived(
        databases: dict[str, int | None], private: PrivateStore, site_file: Path,
        xdg: dict[str, str], admin: Account) -> None:
    down = run_cli(site_file, xdg, "status", "--json")
    problems = json.loads(down.stdout)["problems"]
    assert [p["source"] for p in problems] == ["private"], problems

    private.start()  # the store is back: fresh and seeded anew, as after an outage
    private.dump(admin, DB, datetime.now(UTC))
    sql(admin, f"INSERT INTO `{DB}`.items VALUES (9001, 'written after the dump')")

    run = run_cli(site_file, xdg, "run", "metadata-db", "--db", DB, "--yes")
    text = flat(run)
    assert run.returncode == 0, text
    assert "store private could not be read: gathering the inventory anew" in text
    assert checksums(admin, DB) == databases  # the dump's data, not the later row
    # A CLI run keeps the same command log as the console, beside its journal.
    (commands,) = (Path(xdg["XDG_STATE_HOME"]) / "dr-console" / "runs").glob("*.commands.ndjson")
    entries = [json.loads(line) for line in commands.read_text().splitlines()]
    summaries = {(e["kind"], e["summary"]) for e in entries}
    assert {("sql", "CREATE DATABASE"), ("sql", "RENAME TABLE"), ("sql", "CHECKSUM TABLE")} <= summaries
    assert any(kind == "s3" and "GET" in summary for kind, summary in summaries), summaries
    assert not any("INSERT" in summary for _, summary in summaries)


def test_the_dumps_of_a_dropped_database_are_listed_as_orphans(
        databases: dict[str, int | None], private: PrivateStore, site_file: Path,
        xdg: dict[str, str], admin: Account) -> None:
    private.start()
    key, _ = private.dump(admin, DB, datetime.now(UTC))
    sql(admin, f"DROP DATABASE `{DB}`")
    report = json.loads(run_cli(site_file, xdg, "status", "--json", "--refresh").stdout)
    assert DB not in [a["name"] for a in report["assets"]]
    (orphan,) = report["orphans"]
    assert (orphan["name"], orphan["kind"], orphan["class"]) == (DB, "database", "metadata")
    assert orphan["last_good"]["location"] == f"s3://{BUCKET}/{key}"


def test_a_copy_deleted_between_choice_and_download_is_replaced_by_the_next_good_one(
        databases: dict[str, int | None], private: PrivateStore, site_file: Path,
        xdg: dict[str, str], admin: Account) -> None:
    private.start()
    older, _ = private.dump(admin, DB, datetime.now(UTC) - timedelta(hours=2))
    newer, _ = private.dump(admin, DB, datetime.now(UTC))
    site = load_site(site_file)
    runbook = registry.build("metadata-db", site, {"db": DB})
    sink = DeletingSink(private, refuse=False)
    engine = Engine(runbook, sink, assume_yes=True)
    sink.engine = engine
    result = engine.run()
    assert result.outcome is Outcome.SUCCEEDED, result.message
    assert sink.deleted == [newer]
    assert result.state["copy"]["key"] == older
    logs = [r.get("text", "") for r in read_records(runs_dir() / f"{result.run_id}.jsonl")
            if r.get("event") == "LogLine"]
    assert any(f"no such object in store private (bucket {BUCKET}, key {newer})" in line
               for line in logs), logs
    assert any(line.startswith("confirmed by --yes:") and older in line for line in logs), logs
    assert checksums(admin, DB) == databases


def test_refusing_the_next_copy_changes_nothing(
        databases: dict[str, int | None], private: PrivateStore, site_file: Path,
        xdg: dict[str, str], admin: Account) -> None:
    private.start()
    private.dump(admin, DB, datetime.now(UTC) - timedelta(hours=2))
    private.dump(admin, DB, datetime.now(UTC))
    sql(admin, f"INSERT INTO `{DB}`.items VALUES (9002, 'live change')")
    live = checksums(admin, DB)
    sink = DeletingSink(private, refuse=True)
    engine = Engine(registry.build("metadata-db", load_site(site_file), {"db": DB}), sink)
    sink.engine = engine
    result = engine.run()
    assert result.outcome is Outcome.REFUSED
    assert sink.asked and "is gone; restore drtest_choice from" in sink.asked[0]
    assert checksums(admin, DB) == live
    assert schemas(admin, "drtest\\_choice\\_\\_%") == []  # no staging, nothing kept


def test_a_store_with_only_broken_dumps_says_why_each_cannot_be_used(
        databases: dict[str, int | None], private: PrivateStore, site_file: Path,
        xdg: dict[str, str], admin: Account) -> None:
    private.start()
    client = private.client()
    now = datetime.now(UTC)
    corrupt, manifest = private.dump(admin, DB, now - timedelta(hours=3))
    tampered = json.loads(manifest.to_json()) | {"sha256": "0" * 64}
    client.put_object(Bucket=BUCKET, Key=manifest_key(corrupt), Body=json.dumps(tampered).encode())
    truncated, _ = private.dump(admin, DB, now - timedelta(hours=2))
    body = client.get_object(Bucket=BUCKET, Key=truncated)["Body"].read()
    client.put_object(Bucket=BUCKET, Key=truncated, Body=body[: len(body) // 2])
    wrong, _ = private.dump(admin, OTHER, now - timedelta(hours=1), name=DB)

    run = run_cli(site_file, xdg, "run", "metadata-db", "--db", DB, "--yes")
    text = flat(run)
    assert run.returncode == 1, text
    assert f"no usable sql-dump of {DB}" in text and "found 3:" in text
    for key, why in ((corrupt, "sha256 mismatch"), (truncated, "size mismatch"),
                     (wrong, f"dump is of database '{OTHER}', expected '{DB}'")):
        assert f"s3://{BUCKET}/{key} — made" in text, key
        assert why in text, why
    assert "none of them can be restored" in text
    assert checksums(admin, DB) == databases
    assert schemas(admin, "drtest\\_choice\\_\\_%") == []


class DeletingSink:
    """Deletes the chosen copy from the store as soon as the choice is made
    (someone's lifecycle rule, at the worst moment); answers a confirmation
    with `not refuse` and records what it was asked."""

    def __init__(self, private: PrivateStore, refuse: bool) -> None:
        self.private = private
        self.refuse = refuse
        self.engine: Engine | None = None
        self.deleted: list[str] = []
        self.asked: list[str] = []
        self._reason = ""

    def emit(self, event: events.Event) -> None:
        if isinstance(event, events.NeedsConfirmation):
            self._reason = event.reason
        if isinstance(event, events.StepDone) and event.step == "choose-copy" and not self.deleted:
            assert self.engine is not None
            key = self.engine.ctx.state["copy"]["key"]
            self.private.client().delete_object(Bucket=BUCKET, Key=key)
            self.deleted.append(key)

    def confirm(self, step: events.StepInfo, expected_text: str) -> bool:
        self.asked.append(self._reason)
        return not self.refuse
