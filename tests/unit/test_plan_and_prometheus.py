"""The site's recovery plan (order, dependencies, drilled RTO), the
node_exporter textfile (parsed by Prometheus's own parser), and the
evidence report's verdicts and self-digest. Pure: the sample snapshot and
journals written in a private state dir."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sampledata import SAMPLE_NOW, sample_snapshot

from dr_console.prometheus import textfile
from dr_console.runbooks import evidence
from dr_console.runbooks.engine import DRILL, Engine, Runbook, Step, StepFailed
from dr_console.runbooks.journal import iter_runs
from dr_console.runbooks.plan import BOOT, METADATA, PAYLOAD, LastDrill, expected_rto, recovery_plan


def test_the_plan_goes_boot_then_metadata_keystone_first_then_payload() -> None:
    items = recovery_plan(sample_snapshot(), [])
    phases = [i.phase for i in items]
    assert phases == sorted(phases, key=[BOOT, METADATA, PAYLOAD].index)  # never back
    assert items[0].phase == BOOT and items[0].runbook == "boot-infra"
    metadata = [i for i in items if i.phase == METADATA]
    assert metadata[0].name == "keystone"
    assert all("keystone" in i.depends_on for i in metadata[1:])
    assert all(i.depends_on == (BOOT, METADATA) for i in items if i.phase == PAYLOAD)
    volume = next(i for i in items if i.name == "cust-data-0042")
    assert volume.runbook == "payload-volume" and volume.params == {"volume": "0042", "cloud": "os-prod"}
    # Reproducible and unclassified assets are not recovered by the plan.
    assert not {i.asset_class for i in items} & {"reproducible", "unclassified"}


def test_the_expected_rto_adds_the_finished_drills_and_counts_the_others() -> None:
    items = recovery_plan(sample_snapshot(), [])
    drilled = [replace(items[0], last_drill=LastDrill("r1", SAMPLE_NOW.isoformat(), "passed", 600.0)),
               replace(items[1], last_drill=LastDrill("r2", SAMPLE_NOW.isoformat(), "unverified", 90.5)),
               replace(items[2], last_drill=LastDrill("r3", SAMPLE_NOW.isoformat(), "failed", 12.0)),
               *items[3:]]
    # The failed drill stopped early: its 12 s are no RTO.
    assert expected_rto(drilled) == (690.5, len(items) - 2)


def test_the_prometheus_textfile_parses_and_says_what_it_should() -> None:
    snapshot = sample_snapshot()
    odd = snapshot.coverages[0]
    # A label value with a quote, a backslash and a newline must stay one sample.
    snapshot = replace(snapshot, coverages=(
        replace(odd, asset=replace(odd.asset, name='pxe "01"\\\nb')), *snapshot.coverages[1:]))
    items = recovery_plan(snapshot, [])
    keystone = next(i for i in items if i.name == "keystone")
    items = [replace(i, last_drill=LastDrill("r1", (SAMPLE_NOW - timedelta(hours=2)).isoformat(),
                                             "passed", 42.0)) if i is keystone else i for i in items]
    text = textfile(snapshot, items, SAMPLE_NOW)
    families = {f.name: f for f in text_string_to_metric_families(text)}
    status = {s.labels["name"]: s.value for s in families["dr_console_asset_status"].samples}
    assert len(status) == len(snapshot.coverages)
    assert status['pxe "01"\\\nb'] == 0  # the odd name survived escaping
    assert status["nova"] == 2  # CRITICAL
    drill_age = {s.labels["name"]: s.value for s in families["dr_console_last_drill_age_seconds"].samples}
    assert drill_age == {"keystone": 7200}
    rto = {s.labels["name"]: s.value for s in families["dr_console_drill_rto_seconds"].samples}
    assert rto == {"keystone": 42.0}
    assert families["dr_console_overall_status"].samples[0].value == int(snapshot.overall)


# -- the evidence report -----------------------------------------------------------------


class _Quiet:
    def emit(self, event: object) -> None:
        pass

    def confirm(self, step: object, expected_text: str) -> bool:
        return False


@pytest.fixture
def state_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    return tmp_path / "state"


def _drill(checks: dict[str, bool | None], fail: bool = False) -> Runbook:
    def check_all(ctx: object) -> None:
        for name, passed in checks.items():
            ctx.evidence(name, passed, f"{name} detail")  # type: ignore[attr-defined]
        if fail:
            raise StepFailed("the smoke command failed (exit 1): token refused")

    def clean(ctx: object) -> None:
        ctx.log("removed the scratch schema")  # type: ignore[attr-defined]

    return Runbook("test-drill", "A drill", "drill:test", {}, [
        Step("prove", "Prove it", lambda ctx: False, check_all)],
        kind=DRILL, finally_steps=[Step("clean", "Clean up (always)", lambda ctx: False, clean)])


def test_two_writers_of_one_report_never_leave_a_torn_file(state_home: Path) -> None:
    """The engine writes the report as a run ends, `dr-console report` or a
    console may write it again meanwhile: every read finds a whole report."""
    import threading

    result = Engine(_drill({"row counts": True}), _Quiet()).run()
    json_path, md_path = evidence.report_paths(result.run_id)
    torn: list[str] = []

    def writer() -> None:
        for _ in range(40):
            evidence.write(result.run_id)
            try:
                json.loads(json_path.read_text())
            except ValueError as exc:
                torn.append(str(exc))
            if not md_path.read_text().startswith("# Drill"):
                torn.append("markdown")

    threads = [threading.Thread(target=writer) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert torn == []
    assert sorted(p.name for p in json_path.parent.iterdir() if p.name.endswith(".tmp")) == []


@pytest.mark.parametrize(("checks", "fail", "verdict"), [
    ({"row counts": True, "smoke": True}, False, "passed"),
    ({"row counts": True, "smoke": None}, False, "unverified"),
    ({}, False, "unverified"),
    ({"row counts": True, "smoke": False}, True, "failed"),
])
def test_a_drill_is_passed_only_when_every_check_ran_and_passed(
        state_home: Path, checks: dict[str, bool | None], fail: bool, verdict: str) -> None:
    result = Engine(_drill(checks, fail), _Quiet()).run()
    report = evidence.build(result.run_id)
    assert report["kind"] == "drill" and report["verdict"] == verdict
    assert report["cleanup"] == {"ok": True, "left": []}  # the finally step ran, even after a failure
    assert [s["id"] for s in report["steps"]] == ["prove", "clean"]
    assert report["sha256"] == evidence.digest(report)
    tampered = {**report, "verdict": "passed" if verdict != "passed" else "failed"}
    assert evidence.digest(tampered) != report["sha256"]
    json_path, md_path = evidence.report_paths(result.run_id)
    assert json.loads(json_path.read_text())["verdict"] == verdict  # written beside the journal
    text = md_path.read_text()
    assert text.startswith(f"# Drill {result.run_id}: {verdict.upper()}")
    if fail:
        assert "token refused" in text and "✗ failed: smoke" in text
    assert (next(iter_runs())).kind == "drill"
