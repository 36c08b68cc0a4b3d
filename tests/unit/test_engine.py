"""The runbook engine with real in-process steps on a little world of
files: ordering, checks that skip, verification, typed confirmation, dry
run, cancel, the journal (fsynced, append-only, no secrets), resume after a
real kill -9, and locks."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from dr_console.cli import main
from dr_console.cli.sink import RichSink
from dr_console.runbooks import Context, Engine, Outcome, Runbook, Step, StepFailed, registry, resume
from dr_console.runbooks import events as ev
from dr_console.runbooks.journal import find_run, read_records, runs_dir
from dr_console.runbooks.locks import LockHeld, TargetLock, is_locked, locks_dir

SECRET = "hunter2-Sup3rS3cret"
TARGET = "world:test/nova"


# --------------------------------------------------------------------------
# A little world: files stand for the real state a step changes.


def build_world(site: object, params: dict[str, Any]) -> Runbook:
    world = Path(params["world"])

    def exists(name: str) -> bool:
        return (world / name).exists()

    def touch(name: str) -> None:
        (world / name).write_text("x")

    def prepare(ctx: Context) -> None:
        touch("prepared")
        # A secret used by a step (as a restore uses a password) must never
        # reach the journal, even through state.
        ctx.state["staging"] = "nova__staging_" + ctx.short_id
        ctx.state["db_password"] = (world / "secret").read_text()
        # Row counts of tables whose names look secret are data: kept as they are.
        ctx.state["tables"] = {"access_token": 3, "credential": 0}

    def destroy(ctx: Context) -> None:
        count = world / "destroy-count"
        count.write_text(str(int(count.read_text() if count.exists() else "0") + 1))
        touch("swapped")

    def verify_destroy(ctx: Context) -> None:
        if not exists("swapped"):
            raise StepFailed("the swap did not happen")

    def load(ctx: Context) -> None:
        touch("loading")
        done = 0
        while not exists("release"):  # stands for a long load, killed or cancelled midway
            done += 1
            ctx.progress(done, 1000, "rows")
            ctx.raise_if_cancelled()
            time.sleep(0.01)
        touch("loaded")

    def load_cleanup(ctx: Context) -> None:
        (world / "loading").unlink(missing_ok=True)
        touch("cleaned")

    def finish(ctx: Context) -> None:
        if exists("fail-finish"):
            raise StepFailed("row counts differ: orders 4999 != 5000")
        with (world / "finished").open("a") as fh:
            fh.write("x")

    steps = [
        Step("prepare", "Prepare", lambda ctx: exists("prepared"), prepare,
             command="touch prepared"),
        Step("destroy", "Swap in", lambda ctx: exists("swapped"), destroy, verify_destroy,
             command="mv staging live", destructive=True, target="nova"),
    ]
    if params.get("with_load"):
        steps.append(Step("load", "Load", lambda ctx: exists("loaded"), load,
                          command="load --big", cleanup=load_cleanup))
    steps.append(Step("finish", "Finish", lambda ctx: False, finish,
                      command=lambda state: f"finish {state.get('staging', '<staging>')}"))
    return Runbook("test-world", "Test world", TARGET, dict(params), steps, site_file="")


registry.register("test-world", build_world)


class Recorder:
    def __init__(self, answer: bool = True) -> None:
        self.events: list[ev.Event] = []
        self.answer = answer
        self.asked: list[str] = []
        self.on_event: Any = None

    def emit(self, event: ev.Event) -> None:
        self.events.append(event)
        if self.on_event:
            self.on_event(event)

    def confirm(self, step: ev.StepInfo, expected_text: str) -> bool:
        self.asked.append(expected_text)
        return self.answer

    def kinds(self) -> list[str]:
        return [type(e).__name__ for e in self.events]

    def of(self, kind: type) -> list[Any]:
        return [e for e in self.events if isinstance(e, kind)]


@pytest.fixture(autouse=True)
def state_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    return tmp_path / "state"


@pytest.fixture
def world(tmp_path: Path) -> Path:
    path = tmp_path / "world"
    path.mkdir()
    (path / "secret").write_text(SECRET)
    return path


def journal_text(run_id: str) -> str:
    return (runs_dir() / f"{run_id}.jsonl").read_text()


# --------------------------------------------------------------------------


def test_steps_run_in_order_and_the_journal_tells_it(world: Path) -> None:
    sink = Recorder()
    result = Engine(build_world(None, {"world": str(world)}), sink, assume_yes=True).run()
    assert result.outcome is Outcome.SUCCEEDED and result.exit_code == 0
    assert [e.step.id for e in sink.of(ev.StepStarted)] == ["prepare", "destroy", "finish"]
    assert [e.step for e in sink.of(ev.StepDone)] == ["prepare", "destroy", "finish"]
    assert sink.kinds()[0] == "Plan" and sink.kinds()[-1] == "RunFinished"
    assert sink.asked == []  # --yes: no prompt, but the journal says it was --yes
    assert any("confirmed by --yes" in e.text for e in sink.of(ev.LogLine))
    # The finish step's command names what prepare chose (rendered from state).
    started = {e.step.id: e.step for e in sink.of(ev.StepStarted)}
    assert started["finish"].command == f"finish nova__staging_{result.run_id[-6:]}"

    records = read_records(runs_dir() / f"{result.run_id}.jsonl")
    head = records[0]
    assert head["type"] == "header" and head["runbook"] == "test-world"
    assert head["operator"] and head["host"] and head["pid"] == os.getpid() and head["version"]
    assert [r["event"] for r in records if r["type"] == "event"][-1] == "RunFinished"
    assert all("ts" in r for r in records)
    run = find_run(result.run_id)
    assert run.outcome == "succeeded" and run.state["staging"].startswith("nova__staging_")
    assert run.steps == {"prepare": "done", "destroy": "done", "finish": "done"}


def test_a_step_already_done_in_the_world_is_skipped(world: Path) -> None:
    (world / "prepared").write_text("x")
    (world / "swapped").write_text("x")
    sink = Recorder(answer=False)
    result = Engine(build_world(None, {"world": str(world)}), sink).run()
    assert result.outcome is Outcome.SUCCEEDED
    assert [e.step for e in sink.of(ev.StepSkipped)] == ["prepare", "destroy"]
    assert sink.asked == []  # a skipped destructive step asks nothing
    assert not (world / "destroy-count").exists()


def test_a_failed_verification_stops_the_run(world: Path) -> None:
    (world / "fail-finish").write_text("x")
    sink = Recorder()
    result = Engine(build_world(None, {"world": str(world)}), sink, assume_yes=True).run()
    assert result.outcome is Outcome.FAILED and result.exit_code == 1
    failed = sink.of(ev.StepFailed)
    assert [(f.step, f.message) for f in failed] == [("finish", "row counts differ: orders 4999 != 5000")]
    assert find_run(result.run_id).outcome == "failed"


def test_destructive_step_refused_without_the_typed_name(world: Path) -> None:
    sink = Recorder(answer=False)
    result = Engine(build_world(None, {"world": str(world)}), sink).run()
    assert result.outcome is Outcome.REFUSED and result.exit_code == 2
    assert sink.asked == ["nova"]
    assert sink.of(ev.NeedsConfirmation)[0].expected == "nova"
    assert not (world / "swapped").exists() and not (world / "finished").exists()


def test_destructive_step_runs_once_confirmed(world: Path) -> None:
    sink = Recorder(answer=True)
    result = Engine(build_world(None, {"world": str(world)}), sink).run()
    assert result.outcome is Outcome.SUCCEEDED
    assert sink.asked == ["nova"]
    assert (world / "destroy-count").read_text() == "1"
    confirmations = [r for r in read_records(runs_dir() / f"{result.run_id}.jsonl")
                     if r["type"] == "confirmation"]
    assert confirmations == [{**confirmations[0], "step": "destroy", "expected": "nova",
                              "given": True}]


def _rich_sink(stdin: str, interactive: bool) -> tuple[RichSink, io.StringIO]:
    out = io.StringIO()
    return RichSink(Console(file=out, width=200, no_color=True), io.StringIO(stdin), interactive), out


def test_rich_sink_asks_for_the_target_name(world: Path) -> None:
    sink, out = _rich_sink("nova\n", interactive=True)
    result = Engine(build_world(None, {"world": str(world)}), sink).run()
    assert result.outcome is Outcome.SUCCEEDED
    text = out.getvalue()
    assert "Type the name of the target (nova) to continue:" in text
    assert "mv staging live" in text  # the plan shows each equivalent command


def test_rich_sink_refuses_a_wrong_name_and_without_a_terminal(world: Path, tmp_path: Path) -> None:
    sink, _ = _rich_sink("nvoa\n", interactive=True)
    assert Engine(build_world(None, {"world": str(world)}), sink).run().outcome is Outcome.REFUSED
    sink, out = _rich_sink("nova\n", interactive=False)  # stdin is not read without a TTY
    result = Engine(build_world(None, {"world": str(world)}), sink).run()
    assert result.outcome is Outcome.REFUSED and result.exit_code == 2
    assert "no terminal" in out.getvalue() and "--yes" in out.getvalue()
    assert f"dr-console resume {result.run_id}" in out.getvalue()
    assert not (world / "swapped").exists()


def test_dry_run_shows_every_command_and_touches_nothing(world: Path, state_home: Path) -> None:
    sink = Recorder()
    result = Engine(build_world(None, {"world": str(world)}), sink, dry_run=True).run()
    assert result.outcome is Outcome.DRY_RUN and result.exit_code == 0
    plan = sink.of(ev.Plan)[0]
    assert plan.dry_run and [s.command for s in plan.steps] == [
        "touch prepared", "mv staging live", "finish <staging>"]
    assert [s.destructive for s in plan.steps] == [False, True, False]
    assert sink.kinds() == ["Plan", "RunFinished"]
    assert sorted(p.name for p in world.iterdir()) == ["secret"]
    assert not state_home.exists()  # no journal, no lock


def test_cancel_runs_the_step_cleanup_and_journals_aborted(world: Path) -> None:
    cancel = threading.Event()
    sink = Recorder()
    sink.on_event = lambda e: cancel.set() if isinstance(e, ev.Progress) else None
    runbook = build_world(None, {"world": str(world), "with_load": True})
    result = Engine(runbook, sink, assume_yes=True, cancel=cancel).run()
    assert result.outcome is Outcome.ABORTED and result.exit_code == 130
    assert (world / "cleaned").exists() and not (world / "loading").exists()
    assert sink.of(ev.StepFailed)[0].step == "load"
    assert "finish" not in [e.step.id for e in sink.of(ev.StepStarted)]
    assert find_run(result.run_id).outcome == "aborted"
    assert not is_locked(TARGET)


def test_journal_is_fsynced_append_only_and_holds_no_secret(
        world: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    synced: list[int] = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real_fsync(fd))[1])
    params = {"world": str(world), "password": SECRET, "nested": {"api_key": SECRET}}
    (world / "fail-finish").write_text("x")
    first = Engine(build_world(None, params), Recorder(), assume_yes=True).run()
    before = journal_text(first.run_id)
    lines = before.splitlines()
    assert len(synced) >= len(lines)  # every record, plus the new directory entry
    assert all(json.loads(line) for line in lines)

    (world / "fail-finish").unlink()
    resume(first.run_id, Recorder(), assume_yes=True)
    after = journal_text(first.run_id)
    assert after.startswith(before)  # appended, never rewritten
    assert SECRET not in after
    header = json.loads(lines[0])
    assert header["params"]["password"] == "***" and header["params"]["nested"]["api_key"] == "***"
    state = find_run(first.run_id).state
    assert state["db_password"] == "***"
    assert state["tables"] == {"access_token": 3, "credential": 0}


def test_resume_skips_what_is_done_and_never_repeats_the_destructive_step(world: Path) -> None:
    (world / "fail-finish").write_text("x")
    first = Engine(build_world(None, {"world": str(world)}), Recorder(), assume_yes=True).run()
    assert first.outcome is Outcome.FAILED
    (world / "fail-finish").unlink()
    sink = Recorder(answer=False)  # would refuse: it must not even be asked
    result = resume(first.run_id[-6:], sink)  # the short id is enough
    assert result.outcome is Outcome.SUCCEEDED and result.run_id == first.run_id
    assert [e.step for e in sink.of(ev.StepSkipped)] == ["prepare", "destroy"]
    assert sink.asked == []
    assert (world / "destroy-count").read_text() == "1"
    # The state a step chose survives: the same staging name.
    assert result.state["staging"] == first.state["staging"]
    assert find_run(first.run_id).outcome == "succeeded"


def test_resume_after_kill_9(world: Path, state_home: Path) -> None:
    """A real process killed with SIGKILL mid-load: the journal is readable,
    the kernel released the lock, resume skips the done destructive step."""
    params = {"world": str(world), "with_load": True}
    script = (
        "import sys, json\n"
        "from dr_console.runbooks import Engine\n"
        "from test_engine import build_world, Recorder\n"
        "Engine(build_world(None, json.loads(sys.argv[1])), Recorder(), assume_yes=True).run()\n"
    )
    env = dict(os.environ, XDG_STATE_HOME=str(state_home),
               PYTHONPATH=os.pathsep.join([str(Path(__file__).parent), *sys.path]))
    proc = subprocess.Popen([sys.executable, "-c", script, json.dumps(params)], env=env)
    try:
        deadline = time.monotonic() + 30
        while not (world / "loading").exists():
            assert proc.poll() is None, "the runbook process died early"
            assert time.monotonic() < deadline, "the load step never started"
            time.sleep(0.02)
        assert is_locked(TARGET)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL

    run_file = next(runs_dir().glob("*.jsonl"))
    run = find_run(run_file.stem)
    assert run.outcome == "interrupted"
    assert run.steps == {"prepare": "done", "destroy": "done", "load": "running"}
    assert not is_locked(TARGET)  # no stale lock: the kernel dropped it

    (world / "release").write_text("x")
    sink = Recorder(answer=False)
    result = resume(run.run_id, sink)
    assert result.outcome is Outcome.SUCCEEDED
    assert [e.step for e in sink.of(ev.StepSkipped)] == ["prepare", "destroy"]
    assert (world / "destroy-count").read_text() == "1"
    assert (world / "loaded").exists()


def test_a_second_run_on_the_same_target_fails_naming_the_holder(world: Path) -> None:
    with TargetLock(TARGET, "20250101T000000Z-abc123"):
        with pytest.raises(LockHeld) as caught:
            Engine(build_world(None, {"world": str(world)}), Recorder(), assume_yes=True).run()
        message = str(caught.value)
        assert "20250101T000000Z-abc123" in message and f"pid {os.getpid()}" in message
        assert TARGET in message
        assert caught.value.exit_code == 2
    assert not (world / "prepared").exists()
    assert Engine(build_world(None, {"world": str(world)}), Recorder(),
                  assume_yes=True).run().outcome is Outcome.SUCCEEDED
    assert list(locks_dir().glob("*.lock"))


def test_runs_lists_runs_as_json(world: Path, capsys: pytest.CaptureFixture[str]) -> None:
    result = Engine(build_world(None, {"world": str(world)}), Recorder(), assume_yes=True).run()
    assert main(["runs", "--json"]) == 0
    runs = json.loads(capsys.readouterr().out)
    assert [(r["run_id"], r["runbook"], r["target"], r["outcome"]) for r in runs] == [
        (result.run_id, "test-world", TARGET, "succeeded")]
    assert runs[0]["operator"] and runs[0]["duration_seconds"] is not None
    assert main(["resume", "nope"]) == 2
    assert "no run 'nope'" in capsys.readouterr().err


def test_the_engine_imports_no_screen_and_no_cloud_sdk() -> None:
    code = ("import sys, dr_console.runbooks.engine, dr_console.runbooks.registry, "
            "dr_console.runbooks.journal\n"
            "bad = [m for m in sys.modules if m.startswith(('textual', 'dr_console.tui', 'openstack', "
            "'boto3', 'pymysql'))]\n"
            "print(','.join(bad))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


# --------------------------------------------------------------------------
# Skipping a step by the operator's choice


def _skip_runbook(tmp_path: Path) -> Runbook:
    def write(name: str) -> Any:
        return lambda ctx: (tmp_path / name).write_text(name)

    def fails(ctx: Context) -> None:
        raise StepFailed("the service does not answer yet")

    return Runbook("skip-test", "Skip test", "world:test/skip", {}, [
        Step("load", "Load", lambda ctx: (tmp_path / "loaded").exists(), write("loaded")),
        Step("smoke", "Smoke check", lambda ctx: False, fails, skippable=True),
        Step("report", "Report", lambda ctx: False, write("reported")),
    ])


class _Collect:
    def __init__(self) -> None:
        self.events: list[ev.Event] = []

    def emit(self, event: ev.Event) -> None:
        self.events.append(event)

    def confirm(self, step: ev.StepInfo, expected_text: str) -> bool:
        return False


def test_a_skippable_step_can_be_skipped_and_the_journal_says_so(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    failed = Engine(_skip_runbook(tmp_path), _Collect()).run()
    assert failed.outcome is Outcome.FAILED
    assert not (tmp_path / "reported").exists()

    sink = _Collect()
    result = Engine(_skip_runbook(tmp_path), sink, skip={"smoke"}).run()
    assert result.outcome is Outcome.SUCCEEDED
    assert (tmp_path / "reported").exists()
    skipped = [e for e in sink.events if isinstance(e, ev.StepSkipped)]
    assert [(e.step, e.reason) for e in skipped] == [
        ("load", "already done (checked just now)"), ("smoke", "skipped by the operator")]
    journal = "\n".join(json.dumps(r) for r in read_records(runs_dir() / f"{result.run_id}.jsonl"))
    assert "skipped by the operator" in journal


def test_only_skippable_steps_can_be_skipped(tmp_path: Path) -> None:
    from dr_console.errors import DrConsoleError

    with pytest.raises(DrConsoleError, match="load cannot be skipped"):
        Engine(_skip_runbook(tmp_path), _Collect(), skip={"load"})
    with pytest.raises(DrConsoleError, match="no step nope in skip-test"):
        Engine(_skip_runbook(tmp_path), _Collect(), skip={"nope"})
