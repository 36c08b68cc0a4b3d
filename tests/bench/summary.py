"""The last step of `make bench`: every figure of the run side by side with
its baseline and ratio, and one results file (.bench/results.json) with
the conditions they were measured under. scripts/readme_figures.py turns
that file into the README's "Measured" section.

Run: `.venv/bin/python tests/bench/summary.py --parts .bench/parts --out .bench/results.json`
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchlib import REPO, SCHEMA, BenchError, fmt_bytes, fmt_range, main_guard, now_iso, write_part

# bench_tui.py prints `label   12.3 ms   45.6 ms   3.7x` under a header line.
_TUI_ROW = re.compile(r"^(?P<label>\S.*?)\s+(?P<a>[\d.]+) ms\s+(?P<b>[\d.]+) ms\s+(?P<ratio>[\d.]+)x\s*$")
_TUI_HEADER = re.compile(r"^measure\s+(?P<a>\S+)\s+(?P<b>\S+)\s+ratio\s*$")
_TUI_MEDIAN = re.compile(r"median of (\d+)")


def parse_tui(text: str) -> dict[str, Any]:
    """bench_tui.py's printout as rows (it writes no JSON of its own)."""
    rows: list[dict[str, Any]] = []
    columns = ("", "")
    section = ""
    for line in text.splitlines():
        header = _TUI_HEADER.match(line)
        if header:
            columns = (header["a"], header["b"])
            continue
        if line and not line.startswith(" ") and line.endswith(":"):
            section = line[:-1]
            continue
        row = _TUI_ROW.match(line)
        if row:
            runs = _TUI_MEDIAN.search(section)
            rows.append({"measure": row["label"].strip(), "section": section,
                         "columns": list(columns), "a_ms": float(row["a"]), "b_ms": float(row["b"]),
                         "ratio": float(row["ratio"]), "runs": int(runs.group(1)) if runs else None})
    if not rows:
        raise BenchError("no figures found in bench_tui.py's output")
    return {"stdout": text, "rows": rows,
            "note": "parsed from tests/bench/bench_tui.py's printout; ratio as it prints it"}


def git_state() -> dict[str, Any]:
    def git(*args: str) -> str:
        proc = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True)
        return proc.stdout.strip()

    return {"commit": git("rev-parse", "HEAD"), "branch": git("rev-parse", "--abbrev-ref", "HEAD"),
            "dirty": bool(git("status", "--porcelain", "--untracked-files=no"))}


def combine(parts: Path) -> dict[str, Any]:
    missing = [n for n in ("inventory.json", "restore.json", "payload.json", "tui.txt")
               if not (parts / n).exists()]
    if missing:
        raise BenchError(f"{parts}: missing {', '.join(missing)} (a bench failed or did not run)")
    inventory = json.loads((parts / "inventory.json").read_text())
    restore = json.loads((parts / "restore.json").read_text())
    payload = json.loads((parts / "payload.json").read_text())
    runs = {"inventory": inventory["run_id"], "restore": restore["run_id"], "payload": payload["run_id"]}
    if len(set(runs.values())) != 1:
        raise BenchError("parts of different runs: " + ", ".join(f"{k} {v}" for k, v in runs.items()))
    machine = dict(inventory["machine"])
    machine["load_average"] = {"inventory": inventory["machine"]["load_average"],
                               "restore": restore["machine"]["load_average"],
                               "payload": payload["machine"]["load_average"]}
    restore = {k: v for k, v in restore.items() if k not in ("machine", "run_id", "bench")}
    payload = {k: v for k, v in payload.items() if k not in ("machine", "run_id", "bench")}
    return {
        "schema": SCHEMA,
        "run_id": inventory["run_id"],
        "generated_at": now_iso(),
        "git": git_state(),
        "machine": machine,
        "inventory": {"started_at": inventory["started_at"], "finished_at": inventory["finished_at"],
                      "assets": inventory["assets"], "refresh": inventory["refresh"],
                      "providers": inventory["providers"]},
        "startup": inventory["startup"],
        "restore": restore,
        "payload": payload,
        "tui": parse_tui((parts / "tui.txt").read_text()),
    }


def print_all(results: dict[str, Any]) -> None:
    m = results["machine"]
    print(f"\n=== make bench {results['run_id']}: {m['cores']} cores, {fmt_bytes(m['ram_bytes'])} RAM, "
          f"{m['cpu']}; commit {results['git']['commit'][:10]}"
          f"{' (dirty)' if results['git']['dirty'] else ''}")
    print(f"{'measure':<58}{'dr-console':>24}{'baseline':>24}{'ratio':>9}")

    def row(label: str, ours: str, theirs: str, value: float, suffix: str = "x") -> None:
        print(f"{label[:57]:<58}{ours:>24}{theirs:>24}{value:>8.2f}{suffix}")

    refresh, providers, startup = (results["inventory"]["refresh"], results["inventory"]["providers"],
                                   results["startup"])
    row(f"inventory refresh vs the same listings by CLIs (n={refresh['samples_per_side']})",
        fmt_range(refresh["product"]["seconds"]), fmt_range(refresh["baseline"]["seconds"]),
        refresh["ratio"])
    row(f"providers concurrent vs one after another (n={len(providers['serial']['samples'])})",
        fmt_range(providers["concurrent"]), fmt_range(providers["serial"]), providers["ratio"])
    row(f"start-up: status from the cache vs python -c pass (n={startup['samples_per_side']})",
        fmt_range(startup["product"]["seconds"]), fmt_range(startup["baseline"]["seconds"]),
        startup["ratio"], "x the bare interpreter")
    restore = results["restore"]
    dump = restore["dump"]
    for server in restore["servers"]:
        row(f"restore {fmt_bytes(dump['plain_bytes'])} dump, {server['role']} server "
            f"(n={restore['samples_per_side']})",
            fmt_range(server["product"]["seconds"]), fmt_range(server["baseline"]["seconds"]),
            server["ratio"])
    payload = results["payload"]
    row(f"payload drill {payload['volume']} vs openstack CLI + ssh (n={payload['samples_per_side']})",
        fmt_range(payload["product"]["seconds"]), fmt_range(payload["baseline"]["seconds"]),
        payload["ratio"])
    for tui in results["tui"]["rows"]:
        ours, theirs = tui["columns"]
        print(f"{('console: ' + tui['measure'])[:57]:<58}{tui['a_ms']:>20.1f} ms{tui['b_ms']:>21.1f} ms"
              f"{tui['ratio']:>8.1f}x  ({ours} vs {theirs})")
    for server in restore["servers"]:
        p = server["product"]
        print(f"restore, {server['role']}: dr-console peak RSS {fmt_bytes(max(p['peak_rss_bytes']))}, "
              f"spooled {fmt_bytes(max(p['spool_bytes']))} to disk, {p['load'][0]['workers']} "
              f"connection(s); CHECKSUM TABLE equal to the baseline's: {server['checksums_equal']}")
    print("ratios: baseline / dr-console (> 1: dr-console faster), except start-up: dr-console / "
          "python -c pass; console rows as bench_tui.py prints them")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--parts", type=Path, default=REPO / ".bench" / "parts")
    parser.add_argument("--out", type=Path, default=REPO / ".bench" / "results.json")
    args = parser.parse_args()
    results = combine(args.parts)
    write_part(args.out, results)
    print_all(results)
    print(f"\nresults: {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main_guard(main))
