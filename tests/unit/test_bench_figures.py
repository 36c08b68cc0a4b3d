"""`make bench`'s last two steps on a results file made of small parts:
tests/bench/summary.py combines and prints every part (the payload drill's
too, which it requires), and scripts/readme_figures.py writes the README
section from the result, the payload drill's row and conditions included."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
RUN = "20261201T050000Z"


def _load(name: str, path: Path) -> ModuleType:
    sys.path.insert(0, str(path.parent))  # summary.py imports benchlib beside it
    try:
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(path.parent))


summary = _load("bench_summary", REPO / "tests" / "bench" / "summary.py")
figures = _load("readme_figures", REPO / "scripts" / "readme_figures.py")


def _stats(*samples: float) -> dict[str, Any]:
    ordered = sorted(samples)
    return {"samples": list(samples), "median": ordered[len(ordered) // 2], "min": ordered[0],
            "max": ordered[-1]}


def _machine(load: float) -> dict[str, Any]:
    return {"cores": 2, "ram_bytes": 24_000_000_000, "cpu": "Test CPU", "kernel": "6.1", "os": "Debian 12",
            "python": "3.11.2", "load_average": [load, load, load]}


def _inventory() -> dict[str, Any]:
    return {
        "bench": "inventory", "run_id": RUN, "started_at": "2026-12-01T05:00:00+00:00",
        "finished_at": "2026-12-01T05:01:00+00:00", "machine": _machine(1.0), "assets": 60,
        "refresh": {"samples_per_side": 3, "product": {"seconds": _stats(1.6, 1.7, 1.5)},
                    "baseline": {"seconds": _stats(7.6, 7.7, 7.5),
                                 "commands": [{"reads": "openstack server list", "argv": ["openstack"]}]},
                    "ratio": 4.7},
        "providers": {"serial": _stats(3.0, 3.1, 2.9), "concurrent": _stats(1.0, 1.1, 0.9), "ratio": 3.0},
        "startup": {"samples_per_side": 10, "product": {"seconds": _stats(0.4, 0.41, 0.42)},
                    "baseline": {"seconds": _stats(0.02, 0.02, 0.02)}, "ratio": 20.0,
                    "target_seconds": 0.25, "meets_target": False},
    }


def _restore() -> dict[str, Any]:
    server = {"role": "tuned", "ratio": 1.6, "checksums_equal": True,
              "product": {"seconds": _stats(44.0, 45.0, 44.6), "peak_rss_bytes": [134_000_000],
                          "spool_bytes": [0], "load": [{"workers": 3, "parallel": True}]},
              "baseline": {"seconds": _stats(72.0, 71.0, 73.0), "largest_process_rss_bytes": [9_000_000]}}
    return {
        "bench": "restore", "run_id": RUN, "machine": _machine(2.0), "samples_per_side": 3,
        "dump": {"plain_bytes": 50_000_000, "stored_bytes": 9_000_000, "rows": 140_000, "tables": 12,
                 "triggers": 1},
        "servers": [server], "settings_differ": {}, "server_versions": {"tuned": "10.11.6-MariaDB"},
        "product_verifies": "sha256", "peak_rss_method": "wait4", "spool_bytes_source": "journal",
    }


def _payload() -> dict[str, Any]:
    """Shaped as tests/bench/bench_payload.py writes it."""
    return {
        "bench": "payload", "run_id": RUN, "machine": _machine(3.0), "load_average_at_start": [3, 3, 3],
        "volume": "app-media", "cloud": "lab-openstack", "size_gb": 1,
        "copy": {"id": "539d87c5-d548-4e01-a159-aee6b09d9558", "kind": "volume-backup",
                 "location": "cinder backup 539d87c5 (lab-openstack)",
                 "created_at": "2026-12-01T04:51:12+00:00"},
        "scratch_server": "drill-1", "scratch_host": "drill1",
        "checks": {"files": ["README.txt"], "sha256_list": "/lab/payload/app-media.sha256", "rule": "r"},
        "poll_seconds": 1.0, "samples_per_side": 3, "order": ["dr-console", "baseline"] * 3,
        "product": {"command": ["python", "-m", "dr_console"], "xdg": "private XDG dirs",
                    "seconds": _stats(15.7, 16.1, 15.9), "rto_measured_seconds": _stats(14.5, 14.9, 14.7),
                    "samples": [], "verified": "every report says passed"},
        "baseline": {"command": ["bash", "-c", "..."], "what": "one bash script of openstack and ssh",
                     "openstack_cli": "openstack 6.0.0", "seconds": _stats(42.0, 46.9, 44.0),
                     "samples": []},
        "equal_work": "restore, attach, prove and remove", "product_also": "journals",
        "baseline_polls": "each poll a whole process", "left_behind": "nothing is left",
        "ratio_means": "baseline / dr-console", "ratio": 2.77,
    }


_TUI = """start-up, whole process under an 80x24 pty, median of 5:
measure                                         dr-console      baseline    ratio
cached inventory on screen vs import textual      700.0 ms      170.0 ms      4.1x
"""


def _parts(tmp_path: Path, *, payload: dict[str, Any] | None) -> Path:
    parts = tmp_path / "parts"
    parts.mkdir()
    (parts / "inventory.json").write_text(json.dumps(_inventory()))
    (parts / "restore.json").write_text(json.dumps(_restore()))
    (parts / "tui.txt").write_text(_TUI)
    if payload is not None:
        (parts / "payload.json").write_text(json.dumps(payload))
    return parts


def test_summary_and_readme_carry_the_payload_drill(tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    results = summary.combine(_parts(tmp_path, payload=_payload()))
    assert results["payload"]["ratio"] == 2.77
    assert "machine" not in results["payload"] and "run_id" not in results["payload"]
    assert results["machine"]["load_average"]["payload"] == [3.0, 3.0, 3.0]

    summary.print_all(results)
    printed = capsys.readouterr().out
    assert "payload drill app-media vs openstack CLI + ssh (n=3)" in printed
    assert "15.90 s (15.70-16.10)" in printed and "44.00 s (42.00-46.90)" in printed

    # Through JSON, as readme_figures reads the results file.
    body = figures.section(json.loads(json.dumps(results)))
    row = next(line for line in body.splitlines() if "drill of the payload volume" in line)
    assert "`app-media` (1 GiB, from its Cinder backup)" in row and "`drill-1`" in row
    assert "| 15.9 s (15.7\u201316.1) | 44.0 s (42.0\u201346.9) | 2.77\u00d7 faster |" in row
    assert "**Payload drill.**" in body and "one bash script of openstack and ssh (openstack 6.0.0)" in body
    assert "checks that nothing is left" in body and "load average at the end 3.0, 3.0, 3.0" in body


def test_summary_requires_the_payload_part(tmp_path: Path) -> None:
    with pytest.raises(summary.BenchError, match=r"missing payload\.json"):
        summary.combine(_parts(tmp_path, payload=None))


def test_summary_refuses_a_payload_part_of_another_run(tmp_path: Path) -> None:
    with pytest.raises(summary.BenchError, match="parts of different runs"):
        summary.combine(_parts(tmp_path, payload={**_payload(), "run_id": "19990101T000000Z"}))


def test_readme_says_how_each_server_loaded_from_the_run_reports() -> None:
    restore = _restore()
    tuned = restore["servers"][0]
    tuned["product"]["load"] = [{"workers": 3, "parallel": True, "bulk_refused": "",
                                 "paths": {"a": ["bulk", ""], "b": ["bulk", ""], "c": ["replay", "gbk"]}}]
    tuned["product"]["step_seconds"] = [{"restore-staging": s, "verify-staging": 4.0, "swap-in": 5.0}
                                        for s in (40.0, 48.0, 44.0)]
    stock = json.loads(json.dumps(tuned))
    stock.update(role="stock", ratio=1.4)
    stock["product"]["load"] = [{"workers": 1, "parallel": False,
                                 "bulk_refused": "the server refuses LOAD DATA LOCAL (local_infile=OFF)",
                                 "paths": {"a": ["replay", ""], "b": ["replay", ""], "c": ["replay", ""]}}]
    sentence = figures._how_each_loaded({"tuned": tuned, "stock": stock})
    assert ("on the tuned server, 3 connections in parallel, the data spooled to a temporary file "
            "meanwhile, 2 of 3 tables by `LOAD DATA LOCAL` (the other 1 replayed their INSERTs)") in sentence
    assert "load 44.0 s, verify 4.0 s, swap 5.0 s (1.60\u00d7)" in sentence
    assert ("on the stock server, one connection in dump order, streamed (nothing spooled), every "
            "table's INSERTs replayed (the server refuses LOAD DATA LOCAL (local_infile=OFF))") in sentence
    assert "(1.40\u00d7)" in sentence


def test_readme_states_each_sides_cpu_and_the_floor_it_sets() -> None:
    restore = _restore()
    tuned = restore["servers"][0]
    tuned["product"]["cpu"] = {"cores": 2, "command": 12.08, "server": 78.29, "machine_busy": 104.26,
                               "machine_idle": 9.95, "floor_seconds": 52.13}
    tuned["baseline"]["cpu"] = {"cores": 2, "command": 23.43, "server": None, "machine_busy": 132.71,
                                "machine_idle": 89.92, "floor_seconds": 66.36}
    sentence = figures._cpu_used({"tuned": tuned})
    median = tuned["product"]["seconds"]["median"]
    assert (f"dr-console's process 12.1, MariaDB 78.3, the whole machine 104.3 busy and 9.9 idle: at "
            f"least 52.1 s of work on 2 cores, against its median {median:.1f} s") in sentence
    assert "(baseline: its processes 23.4, MariaDB not measured, machine 132.7 busy" in sentence
    # Results from before the bench measured CPU say nothing rather than something wrong.
    del tuned["baseline"]["cpu"]
    assert figures._cpu_used({"tuned": tuned}) == ""
