"""How the metadata-db runbook says which path each table's rows took: the
restore step's equivalent command before and after the load, and the
load's one-line summary."""

from __future__ import annotations

from dr_console.restore.loader import LoadReport
from dr_console.runbooks.metadata_db import _paths_note, describe_load


def test_before_the_load_the_command_says_the_rule_and_the_servers_answer() -> None:
    note = _paths_note({}, "db1 takes LOAD DATA LOCAL; as nova stands, INSERT replay for t (bit column)")
    assert "LOAD DATA LOCAL INFILE where they convert exactly" in note
    assert note.endswith("INSERT replay for t (bit column)")


def test_after_the_load_the_command_names_each_path() -> None:
    state = {"load": {"bulk_refused": "", "paths": {
        "a": ["bulk", "its 3 columns' values convert exactly"],
        "b": ["replay", "generated column `g`"],
        "c": ["bulk+replay", "its first 2 statement(s) bulk-loaded, then ..."]}}}
    note = _paths_note(state, "ignored once the load ran")
    assert note == ("dr-console: LOAD DATA LOCAL for 1 table(s): a; INSERT replay for b (INSERT replay: "
                    "generated column `g`); c (LOAD DATA LOCAL, then INSERT replay: its first 2 statement(s) "
                    "bulk-loaded, then ...)")
    refused = {"load": {"bulk_refused": "the server refuses LOAD DATA LOCAL (local_infile=OFF)",
                        "paths": {"a": ["replay", "the server refuses LOAD DATA LOCAL (local_infile=OFF)"]}}}
    assert _paths_note(refused, "") == ("dr-console replayed every table's INSERTs: the server refuses "
                                        "LOAD DATA LOCAL (local_infile=OFF)")


def test_the_summary_counts_the_paths() -> None:
    report = LoadReport("s", tables={"a": 3, "b": 2}, bytes=2048, seconds=1.0, verified=True,
                        paths={"a": ("bulk", ""), "b": ("replay", "x")})
    assert "1 of 2 table(s) with rows bulk-loaded with LOAD DATA LOCAL, 1 replayed" in describe_load(report)
    report.paths = {"a": ("bulk", ""), "b": ("bulk", "")}
    assert "2 of 2 table(s) with rows bulk-loaded with LOAD DATA LOCAL;" in describe_load(report)
    report.bulk_refused = "bulk load turned off"
    assert "every table's INSERTs replayed (bulk load turned off)" in describe_load(report)
