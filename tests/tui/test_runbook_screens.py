"""Pilot tests for the runbook screen (run, confirm, refuse, abort, resume)
and the history screen, with a small real runbook whose steps act on files
in tmp_path, run by the real engine in its thread worker. The journal and
locks live in a private XDG_STATE_HOME."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pilot_helpers import AppFactory, plain, settle, wait_for
from textual.pilot import Pilot
from textual.widgets import Button, DataTable, Input, RichLog, Static

from dr_console.remedies import Remedy
from dr_console.runbooks import Context, Engine, Runbook, Step, StepFailed, events, registry
from dr_console.runbooks.journal import find_run, iter_runs
from dr_console.tui.app import DrConsoleApp
from dr_console.tui.screens.confirm import ConfirmScreen
from dr_console.tui.screens.history import HistoryScreen, RunScreen
from dr_console.tui.screens.resume import ResumeScreen
from dr_console.tui.screens.runbook import RunbookScreen

SIZE = (120, 36)
NAME = "test-files"
TARGET = "demo-db"
SnapCompare = Callable[..., bool]
SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((120, 36), id="120x36")]


# Journals and locks in a private XDG_STATE_HOME (the fixture is in conftest.py).
pytestmark = pytest.mark.usefixtures("private_state")


@pytest.fixture
def hold() -> Iterator[threading.Event]:
    event = threading.Event()
    yield event
    event.set()


def files_runbook(site: object, params: dict[str, Any], hold: threading.Event | None = None) -> Runbook:
    """Three idempotent steps on files: each checks the disk first."""
    folder = Path(params["dir"])

    def exists(name: str) -> Callable[[Context], bool]:
        return lambda ctx: (folder / name).exists()

    def write(name: str) -> Callable[[Context], None]:
        def action(ctx: Context) -> None:
            (folder / name).write_text(name)
            ctx.log(f"wrote {name}")
            ctx.progress(1, 1, "files")

        return action

    def wait(ctx: Context) -> None:
        # A long step that honours a cancel between polls, as real ones do.
        ctx.log("waiting for the gate")
        while hold is not None and not hold.wait(0.02):
            ctx.raise_if_cancelled()
        write("waited")(ctx)

    steps = [Step("prepare", "Prepare the files", exists("a.txt"), write("a.txt"),
                  guidance="Writes **a.txt**.", command="touch a.txt")]
    if params.get("hold"):
        steps.append(Step("wait", "Wait for the gate", exists("waited"), wait, command="sleep"))
    steps.append(Step("swap", "Swap it in", exists("b.txt"), write("b.txt"),
                      guidance="Writes b.txt.", command="touch b.txt",
                      destructive=bool(params.get("destructive", True)), target=TARGET))
    if params.get("smoke"):
        def smoke(ctx: Context) -> None:
            if not (folder / "service-up").exists():
                raise StepFailed("the service does not answer yet")

        steps.append(Step("smoke", "Smoke check", lambda ctx: False, smoke, skippable=True))
    if params.get("drill"):
        return Runbook(NAME, "Drill: demo restore", f"drill:files:{TARGET}", dict(params), steps,
                       kind="drill")
    return Runbook(NAME, "Demo restore", f"files:{TARGET}", dict(params), steps)


@pytest.fixture
def registered(hold: threading.Event) -> Iterator[None]:
    registry.register(NAME, lambda site, params: files_runbook(site, params, hold))
    yield
    registry._EXTRA.pop(NAME, None)


def remedy(folder: Path, **params: Any) -> Remedy:
    return Remedy("demo restore", f"dr-console run {NAME}", runbook=NAME,
                  params={"dir": str(folder), **params})


async def open_runbook(pilot: Pilot[None], rem: Remedy) -> RunbookScreen:
    app = pilot.app
    assert isinstance(app, DrConsoleApp)
    await settle(pilot)
    app.start_runbook(rem)
    await wait_for(pilot, lambda: isinstance(app.screen, RunbookScreen | ResumeScreen))
    screen = app.screen_stack[-1] if isinstance(app.screen, RunbookScreen) else app.screen_stack[-2]
    assert isinstance(screen, RunbookScreen)
    await wait_for(pilot, lambda: screen.phase != "loading")
    return screen


async def finished(pilot: Pilot[None], screen: RunbookScreen) -> None:
    await wait_for(pilot, lambda: screen.phase == "finished", timeout=10)
    await pilot.pause()


def log_text(screen: RunbookScreen) -> str:
    return "\n".join(strip.text for strip in screen.query_one(RichLog).lines)


class ListSink:
    """For runs made outside the TUI: collects events, refuses confirmations."""

    def __init__(self) -> None:
        self.events: list[events.Event] = []

    def emit(self, event: events.Event) -> None:
        self.events.append(event)

    def confirm(self, step: events.StepInfo, expected_text: str) -> bool:
        return False


# -- runbook screen -------------------------------------------------------------


async def test_read_only_cannot_open_the_runbook_screen(
    make_app: AppFactory, registered: None, tmp_path: Path
) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        app.start_runbook(remedy(tmp_path))
        await pilot.pause()
        assert not any(isinstance(s, RunbookScreen) for s in app.screen_stack)
    assert not (tmp_path / "a.txt").exists()


async def test_a_drill_console_runs_the_drill_and_says_its_verdict(
    make_app: AppFactory, registered: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dr_console.tui import app as app_module

    monkeypatch.setattr(app_module, "DRILLABLE_RUNBOOKS", (NAME,))
    app = make_app(mode="drill", write=True)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_runbook(pilot, remedy(tmp_path, destructive=False))
        assert screen.runbook is not None and screen.runbook.kind == "drill"
        await pilot.press("g")
        await finished(pilot, screen)
        # The demo runbook records no checks: its drill proves nothing, so unverified.
        # The verdict is said by the engine's worker once the run and its evidence
        # report are written: wait for that worker, not a clock.
        await settle(pilot)
        try:
            await wait_for(pilot, lambda: "drill unverified; evidence:" in log_text(screen))
        except AssertionError:  # say what the console said instead
            raise AssertionError("no verdict line; the log says:\n" + log_text(screen)) from None
    [run] = list(iter_runs())
    assert run.kind == "drill" and run.params["drill"] is True


async def test_a_drill_console_refuses_a_runbook_without_a_drill(
    make_app: AppFactory, registered: None, tmp_path: Path
) -> None:
    app = make_app(mode="drill", write=True)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        app.start_runbook(remedy(tmp_path))
        await pilot.pause()
        assert not any(isinstance(s, RunbookScreen) for s in app.screen_stack)
        assert any("no drill for demo restore" in n.message for n in app._notifications)
    assert not (tmp_path / "a.txt").exists()


async def test_run_to_completion(make_app: AppFactory, registered: None, tmp_path: Path) -> None:
    app = make_app(write=True)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_runbook(pilot, remedy(tmp_path, destructive=False))
        assert [s.title for s in screen.steps] == ["Prepare the files", "Swap it in"]
        assert "touch a.txt" in plain(screen.query_one("#rb-command", Static).content)
        await pilot.press("g")
        await finished(pilot, screen)
        assert screen.outcome == "succeeded"
        assert screen.states == {"prepare": "done", "swap": "done"}
        assert (tmp_path / "a.txt").exists() and (tmp_path / "b.txt").exists()
        assert "wrote a.txt" in log_text(screen)
        assert "run" not in {a.binding.action for a in screen.active_bindings.values()}
    [run] = list(iter_runs())
    assert run.outcome == "succeeded" and run.runbook == NAME


async def test_destructive_step_needs_the_exact_name(
    make_app: AppFactory, registered: None, tmp_path: Path
) -> None:
    app = make_app(write=True)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_runbook(pilot, remedy(tmp_path))
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        modal = app.screen
        button = modal.query_one("#confirm-yes", Button)
        assert button.disabled
        await pilot.press(*"demo")
        await pilot.press("enter")  # a wrong name: enter does nothing
        await pilot.pause()
        assert app.screen is modal and button.disabled
        assert not (tmp_path / "b.txt").exists()
        await pilot.press(*"-db")
        await wait_for(pilot, lambda: not button.disabled)
        assert modal.query_one(Input).value == TARGET
        await pilot.click("#confirm-yes")
        await finished(pilot, screen)
        assert screen.outcome == "succeeded"
        assert (tmp_path / "b.txt").read_text() == "b.txt"


async def test_escape_refuses(make_app: AppFactory, registered: None, tmp_path: Path) -> None:
    app = make_app(write=True)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_runbook(pilot, remedy(tmp_path))
        await pilot.press("g")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("escape")
        await finished(pilot, screen)
        assert screen.outcome == "refused"
        assert screen.states["swap"] == "failed"
        assert not (tmp_path / "b.txt").exists()
        # Refused can be tried again.
        assert "retry" in {a.binding.action for a in screen.active_bindings.values()}
    assert find_run(screen.run_id or "").outcome == "refused"


async def test_abort_mid_step(make_app: AppFactory, registered: None, tmp_path: Path) -> None:
    app = make_app(write=True)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_runbook(pilot, remedy(tmp_path, hold=True))
        await pilot.press("g")
        await wait_for(pilot, lambda: screen.states.get("wait") == "running")
        # Back is refused while running: the run must not lose its face.
        await pilot.press("escape")
        assert app.screen is screen
        await pilot.press("a")
        await finished(pilot, screen)
        assert screen.outcome == "aborted"
        assert screen.states == {"prepare": "done", "wait": "failed", "swap": "pending"}
        assert not (tmp_path / "waited").exists()
    assert find_run(screen.run_id or "").outcome == "aborted"


async def test_retry_resumes_the_same_run(
    make_app: AppFactory, registered: None, tmp_path: Path, hold: threading.Event
) -> None:
    app = make_app(write=True)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_runbook(pilot, remedy(tmp_path, hold=True, destructive=False))
        await pilot.press("g")
        await wait_for(pilot, lambda: screen.states.get("wait") == "running")
        await pilot.press("a")
        await finished(pilot, screen)
        first = screen.run_id
        hold.set()
        await pilot.press("r")
        await wait_for(pilot, lambda: screen.outcome == "succeeded", timeout=10)
        assert screen.run_id == first
        # The finished step was checked, not repeated.
        assert screen.states["prepare"] == "skipped"
    assert [r.run_id for r in iter_runs()] == [first]


async def test_resume_prompt_for_an_unfinished_run(
    make_app: AppFactory, registered: None, tmp_path: Path
) -> None:
    rem = remedy(tmp_path, destructive=False)
    cancel = threading.Event()
    cancel.set()  # cancelled before it started: journaled "aborted"
    earlier = Engine(files_runbook(None, dict(rem.params)), ListSink(), cancel=cancel).run()
    assert earlier.outcome == "aborted"
    app = make_app(write=True)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_runbook(pilot, rem)
        await wait_for(pilot, lambda: isinstance(app.screen, ResumeScreen))
        assert earlier.run_id in str(app.screen.query_one("#resume-yes", Button).label)
        await pilot.press("r")
        await wait_for(pilot, lambda: app.screen is screen)
        assert screen.resume_id == earlier.run_id
        await pilot.press("g")
        await finished(pilot, screen)
        assert screen.outcome == "succeeded" and screen.run_id == earlier.run_id
    assert find_run(earlier.run_id).outcome == "succeeded"


async def test_start_new_instead_of_resuming(
    make_app: AppFactory, registered: None, tmp_path: Path
) -> None:
    rem = remedy(tmp_path, destructive=False)
    cancel = threading.Event()
    cancel.set()
    earlier = Engine(files_runbook(None, dict(rem.params)), ListSink(), cancel=cancel).run()
    app = make_app(write=True)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_runbook(pilot, rem)
        await wait_for(pilot, lambda: isinstance(app.screen, ResumeScreen))
        await pilot.press("n")
        await pilot.press("g")
        await finished(pilot, screen)
        assert screen.run_id != earlier.run_id
    assert len(list(iter_runs())) == 2


# -- history ------------------------------------------------------------------------


async def test_history_lists_runs_and_opens_one(
    make_app: AppFactory, registered: None, tmp_path: Path
) -> None:
    ok = Engine(files_runbook(None, {"dir": str(tmp_path), "destructive": False}), ListSink()).run()
    (tmp_path / "b.txt").unlink()
    refused = Engine(files_runbook(None, {"dir": str(tmp_path)}), ListSink()).run()
    app = make_app()  # read-only: history is offered anyway
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("H")
        await wait_for(pilot, lambda: isinstance(app.screen, HistoryScreen))
        screen = app.screen
        assert isinstance(screen, HistoryScreen)
        await wait_for(pilot, lambda: screen.query_one(DataTable).row_count == 2)
        table = screen.query_one(DataTable)
        rows = [[plain(c).strip() for c in table.get_row_at(i)] for i in range(2)]
        assert {(r[6], r[1]) for r in rows} == {(ok.run_id, "succeeded"), (refused.run_id, "refused")}
        assert rows[0][6] == refused.run_id  # newest first
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, RunScreen))
        run_screen = app.screen
        await wait_for(pilot, lambda: bool(run_screen.query_one(RichLog).lines))
        steps = plain(run_screen.query_one("#run-steps", Static).content)
        assert "Prepare the files" in steps and "skipped" in steps and "failed" in steps
        log = "\n".join(s.text for s in run_screen.query_one(RichLog).lines)
        assert "confirmation for Swap it in: refused" in log
        assert f"run {refused.run_id} refused after" in log
        assert "UTC" in log.splitlines()[0]  # times in the operator's zone, with its name


async def test_history_empty(make_app: AppFactory) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("H")
        await wait_for(pilot, lambda: isinstance(app.screen, HistoryScreen))
        await settle(pilot)
        assert "no runs yet" in str(app.screen.query_one("#history-title", Static).content)


# -- snapshots --------------------------------------------------------------------------

FROZEN_RUN = "20241123T120412Z-3fa9c1"


def frozen_mid_run(screen: RunbookScreen) -> None:
    """A run halfway through its second step, as fixed events."""
    steps = tuple(screen.steps)
    screen.apply(events.Plan(FROZEN_RUN, NAME, "Demo restore", f"files:{TARGET}", steps))
    screen.apply(events.StepStarted(steps[0], 1, len(steps)))
    screen.apply(events.LogLine(steps[0].id, "wrote a.txt"))
    screen.apply(events.StepDone(steps[0].id, 1.2))
    screen.apply(events.StepStarted(steps[1], 2, len(steps)))
    screen.apply(events.LogLine(steps[1].id, "waiting for the gate"))
    screen.apply(events.Progress(steps[1].id, 512 * 2**20, 2 * 2**30, "B", 48 * 2**20, 32.0))
    screen.phase = "running"
    screen.refresh_bindings()
    screen._render_title()


@pytest.mark.parametrize("size", SIZES)
def test_runbook_screen_mid_run(
    snap_compare: SnapCompare, make_app: AppFactory, registered: None, size: tuple[int, int]
) -> None:
    async def run_before(pilot: Pilot[None]) -> None:
        # A fixed folder name: it appears nowhere on screen, but stays stable.
        screen = await open_runbook(pilot, remedy(Path("/nonexistent/demo"), hold=True))
        frozen_mid_run(screen)
        await pilot.pause()
        # The step-done toast would cover the log; it is tested elsewhere.
        pilot.app.clear_notifications()
        await pilot.pause()

    assert snap_compare(make_app(write=True), terminal_size=size, run_before=run_before)


def _journal(state: Path, run_id: str, records: list[dict[str, Any]]) -> None:
    folder = state / "dr-console" / "runs"
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / f"{run_id}.jsonl").open("w") as fh:
        for rec in records:
            fh.write(json.dumps(rec) + "\n")


def _fixed_history(state: Path) -> None:
    head = {"type": "header", "runbook": "metadata-db", "params": {"db": "nova"},
            "target": "mysql:galera-ctl/nova", "site_file": "site.yaml", "operator": "oncall",
            "host": "bastion-1", "pid": 1, "version": "0"}
    plan = {"type": "event", "event": "Plan", "steps": [
        {"id": "choose", "title": "Choose the copy"}, {"id": "restore", "title": "Restore into staging"},
        {"id": "swap", "title": "Swap it in as nova"}]}
    _journal(state, "20241122T091500Z-aaa111", [
        {**head, "ts": "2024-11-22T09:15:00+00:00", "run_id": "20241122T091500Z-aaa111"},
        {**plan, "ts": "2024-11-22T09:15:00+00:00"},
        {"type": "event", "event": "StepStarted", "step": "choose", "ts": "2024-11-22T09:15:01+00:00"},
        {"type": "event", "event": "StepDone", "step": "choose", "seconds": 2.0,
         "ts": "2024-11-22T09:15:03+00:00"},
        {"type": "event", "event": "StepStarted", "step": "restore", "ts": "2024-11-22T09:15:03+00:00"},
        {"type": "event", "event": "StepFailed", "step": "restore", "message": "dump truncated",
         "ts": "2024-11-22T09:16:40+00:00"},
        {"type": "event", "event": "RunFinished", "outcome": "failed", "seconds": 100,
         "ts": "2024-11-22T09:16:40+00:00"},
    ])
    _journal(state, "20241123T110200Z-bbb222", [
        {**head, "ts": "2024-11-23T11:02:00+00:00", "run_id": "20241123T110200Z-bbb222",
         "operator": "alice"},
        {**plan, "ts": "2024-11-23T11:02:00+00:00"},
        {"type": "event", "event": "RunFinished", "outcome": "succeeded", "seconds": 754,
         "ts": "2024-11-23T11:14:34+00:00"},
    ])


@pytest.mark.parametrize("size", SIZES)
def test_history_screen(
    snap_compare: SnapCompare, make_app: AppFactory, private_state: Path, size: tuple[int, int]
) -> None:
    _fixed_history(private_state)

    async def run_before(pilot: Pilot[None]) -> None:
        await settle(pilot)
        await pilot.press("H")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, HistoryScreen))
        await wait_for(pilot, lambda: pilot.app.screen.query_one(DataTable).row_count == 2)
        await pilot.pause()

    assert snap_compare(make_app(), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_history_run_opened(
    snap_compare: SnapCompare, make_app: AppFactory, private_state: Path, size: tuple[int, int]
) -> None:
    _fixed_history(private_state)

    async def run_before(pilot: Pilot[None]) -> None:
        await settle(pilot)
        await pilot.press("H")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, HistoryScreen))
        await wait_for(pilot, lambda: pilot.app.screen.query_one(DataTable).row_count == 2)
        await pilot.press("down", "enter")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, RunScreen))
        await wait_for(pilot, lambda: bool(pilot.app.screen.query_one(RichLog).lines))
        await pilot.pause()

    assert snap_compare(make_app(), terminal_size=size, run_before=run_before)


async def test_a_failed_skippable_step_can_be_skipped(
    make_app: AppFactory, registered: None, tmp_path: Path
) -> None:
    app = make_app(write=True)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_runbook(pilot, remedy(tmp_path, destructive=False, smoke=True))
        # Before the run, the first step is not skippable: no skip on offer.
        assert "skip" not in {a.binding.action for a in screen.active_bindings.values()}
        await pilot.press("g")
        await finished(pilot, screen)
        assert screen.outcome == "failed" and screen.states["smoke"] == "failed"
        assert "skip" in {a.binding.action for a in screen.active_bindings.values()}
        first = screen.run_id
        await pilot.press("s")
        await wait_for(pilot, lambda: screen.outcome == "succeeded", timeout=10)
        assert screen.states["smoke"] == "skipped"
        assert screen.run_id == first
        assert "skipped by the operator" in log_text(screen)
    assert find_run(first or "").outcome == "succeeded"
