"""The CLI behaves like a Unix tool, on real processes: a reader that closes
the pipe early gets a quiet exit, and a hang-up during a restore lets the
running step finish, stops the run before the next one, and `resume` goes
on from there."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from labhelpers import DB, PrivateStore, checksums, schemas, sql, wait_for_rows_in_staging

from dr_console.mysqldb import Account, connect
from dr_console.runbooks.journal import read_records

pytestmark = pytest.mark.lab

ROWS = 400_000  # a load of a few seconds: long enough to hang up in its middle


def dr_console(site: Path, env: dict[str, str], *args: str, **popen: object) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "dr_console", "--site", str(site), *args],
                            env=dict(os.environ, **env, COLUMNS="200"), text=True,
                            stdin=subprocess.DEVNULL, **popen)  # type: ignore[call-overload]


def test_a_closed_pipe_ends_quietly(site_file: Path, xdg: dict[str, str]) -> None:
    for args in (("runs", "--json"), ("status", "--json")):
        proc = dr_console(site_file, xdg, *args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert proc.stdout is not None and proc.stderr is not None
        proc.stdout.close()  # `| head -1` that has read all it wanted, before a byte came
        err = proc.stderr.read()
        assert proc.wait(timeout=120) == 141, err
        assert err == "", err  # no "internal error", no BrokenPipeError


@pytest.fixture
def big_database(admin: Account) -> Iterator[dict[str, int | None]]:
    sql(admin, f"DROP DATABASE IF EXISTS `{DB}`", f"CREATE DATABASE `{DB}`",
         f"CREATE TABLE `{DB}`.items (id INT PRIMARY KEY, label VARCHAR(64), body TEXT) ENGINE=InnoDB",
         f"INSERT INTO `{DB}`.items SELECT seq, CONCAT('item-', seq), REPEAT(SHA2(seq, 256), 2) "
         f"FROM `{DB}`.seq_1_to_{ROWS}")
    yield checksums(admin, DB)
    for name in schemas(admin, "drtest\\_choice%"):
        sql(admin, f"DROP DATABASE IF EXISTS `{name}`")


def test_a_hang_up_finishes_the_running_step_then_stops_and_resume_goes_on(
        big_database: dict[str, int | None], private: PrivateStore, site_file: Path,
        xdg: dict[str, str], admin: Account) -> None:
    private.start()
    private.dump(admin, DB, datetime.now(UTC))
    sql(admin, f"DELETE FROM `{DB}`.items WHERE id <= 1000")  # the live data moves on

    proc = dr_console(site_file, xdg, "run", "metadata-db", "--db", DB, "--yes",
                      stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    conn = connect(admin)
    try:
        staging = wait_for_rows_in_staging(conn, proc, "drtest\\_choice\\_\\_staging\\_%")
    finally:
        conn.close()
    proc.send_signal(signal.SIGHUP)  # the SSH session dropped, mid-load
    out, _ = proc.communicate(timeout=300)
    assert proc.returncode == 130, out

    (journal,) = (Path(xdg["XDG_STATE_HOME"]) / "dr-console" / "runs").glob("*.jsonl")
    records = read_records(journal)
    events = [(r.get("event"), r.get("step")) for r in records if r.get("type") == "event"]
    assert ("StepDone", "restore-staging") in events  # finished, not thrown away
    assert ("StepStarted", "verify-staging") not in events  # and nothing after it
    finished = [r for r in records if r.get("event") == "RunFinished"][-1]
    assert finished["outcome"] == "aborted" and "hung up" in finished["message"]
    assert schemas(admin, staging.replace("_", "\\_")) == [staging]  # loaded staging kept

    resumed = dr_console(site_file, xdg, "resume", journal.stem, "--yes",
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    out, _ = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, out
    assert "already done (checked just now)" in out  # the load was not done twice
    assert checksums(admin, DB) == big_database
    run = json.loads(subprocess.run(
        [sys.executable, "-m", "dr_console", "runs", "--json"], env=dict(os.environ, **xdg),
        capture_output=True, text=True, check=True).stdout)[0]
    assert run["outcome"] == "succeeded"
