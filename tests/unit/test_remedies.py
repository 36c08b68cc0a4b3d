"""Which runbooks apply to an asset, and their plans from the engine's registry."""

from __future__ import annotations

from typing import Any

import pytest
from sampledata import sample_snapshot

from dr_console.remedies import Remedy, remedies
from dr_console.runbooks.registry import names, plan_for


def _by_id(asset_id: str) -> Any:
    return next(c for c in sample_snapshot().coverages if c.asset.id == asset_id)


@pytest.mark.parametrize(
    ("asset_id", "runbook", "command"),
    [
        ("boot-hosts:host:pxe-01", "boot-infra", "dr-console run boot-infra --host pxe-01"),
        ("galera-ctl:database:nova", "metadata-db",
         "dr-console run metadata-db --db nova --server galera-ctl"),
        ("os-prod:volume:0042", "payload-volume",
         "dr-console run payload-volume --volume 0042 --cloud os-prod"),
        ("os-prod:server:a1b2", None, "none: rebuild it with the pipeline that made it"),
        ("minio-dr:bucket:tmp-import", None, "dr-console inventory --class unclassified"),
    ],
)
def test_remedy_by_class(asset_id: str, runbook: str | None, command: str) -> None:
    (remedy,) = remedies(_by_id(asset_id))
    assert remedy.runbook == runbook
    assert remedy.command == command


def test_names_are_shell_quoted() -> None:
    from dataclasses import replace

    cov = _by_id("galera-ctl:database:nova")
    odd = replace(cov, asset=replace(cov.asset, name="no va;rm -rf /"))
    assert "--db 'no va;rm -rf /'" in remedies(odd)[0].command


def test_reproducible_and_unclassified_change_nothing() -> None:
    assert not remedies(_by_id("os-prod:server:a1b2"))[0].writes
    assert not remedies(_by_id("os-prod:volume:77aa"))[0].writes


def test_plan_without_runbook_or_with_an_unknown_one() -> None:
    assert "no runbook" in plan_for(None, Remedy("x", "cmd")).unavailable
    assert "not written yet" in plan_for(None, Remedy("x", "cmd", runbook="no-such")).unavailable


@pytest.fixture
def registry(monkeypatch: pytest.MonkeyPatch) -> Any:
    """The engine's registry, with test runbooks that vanish after the test."""
    from dr_console.runbooks import registry

    monkeypatch.setattr(registry, "_EXTRA", {})
    return registry


def test_plan_comes_from_the_registry(registry: Any) -> None:
    from dr_console.runbooks.engine import Runbook, Step

    def build(site: Any, params: dict[str, Any]) -> Runbook:
        steps = [
            Step("a", "Look", lambda ctx: False, lambda ctx: None, command="ls"),
            Step("b", f"Replace {params['db']}", lambda ctx: False, lambda ctx: None,
                 command=lambda state: f"swap {params['db']}", destructive=True, target=params["db"]),
        ]
        return Runbook("test-plan", "t", "x", params, steps)

    registry.register("test-plan", build)
    assert "test-plan" in names()
    plan = plan_for(None, Remedy("t", "cmd", runbook="test-plan", params={"db": "nova"}))
    assert [(s.title, s.command, s.destructive, s.target) for s in plan.steps] == [
        ("Look", "ls", False, ""), ("Replace nova", "swap nova", True, "nova")]


def test_a_plan_that_cannot_be_built_says_why(registry: Any) -> None:
    def broken(site: Any, params: dict[str, Any]) -> Any:
        raise RuntimeError("no mysql server covers 'nova'\nsecond line")

    registry.register("test-broken", broken)
    plan = plan_for(None, Remedy("t", "cmd", runbook="test-broken"))
    assert plan.unavailable == "plan unavailable: no mysql server covers 'nova'"
