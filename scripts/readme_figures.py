#!/usr/bin/env python3
"""Regenerate the README's "Measured" figures from a `make bench` results
file (.bench/results.json): the text between the two markers below is
replaced, everything else is left as it is.

    python scripts/readme_figures.py                  # rewrite README.md in place
    python scripts/readme_figures.py --print          # only print the section
    python scripts/readme_figures.py --check          # exit 1 if README.md is not up to date

Every figure, condition and baseline in the section comes from the
results file; nothing is typed in by hand.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
BEGIN = "<!-- measured:begin (scripts/readme_figures.py writes this part from .bench/results.json) -->"
END = "<!-- measured:end -->"
SCHEMA = "dr-console/bench/v1"
# Settings the lab tunes for restore, in the order a reader cares about them.
TIMES, DASH = "\u00d7", "\u2013"  # the README's multiplication sign and range dash
KEY_SETTINGS = ("innodb_flush_log_at_trx_commit", "innodb_doublewrite", "innodb_buffer_pool_size",
                "innodb_log_file_size", "max_allowed_packet", "log_bin")


class FiguresError(Exception):
    pass


# --------------------------------------------------------------------------
# Formatting


def size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}" if n < 100 else f"{n:.0f} {unit}"
        n /= 1000
    return f"{n:.0f} TB"


def setting(name: str, value: str) -> str:
    if value.isdigit() and int(value) >= 1024 * 1024:
        mib = int(value) / (1024 * 1024)
        return f"{mib / 1024:g}G" if mib >= 1024 and mib % 1024 == 0 else f"{mib:g}M"
    return value


def seconds(stats: dict[str, Any]) -> str:
    """Median with the range of the samples: `44.6 s (44.0-45.1)`, en dash."""
    med, lo, hi = stats["median"], stats["min"], stats["max"]
    if med >= 10:
        return f"{med:.1f} s ({lo:.1f}{DASH}{hi:.1f})"
    if med >= 1:
        return f"{med:.2f} s ({lo:.2f}{DASH}{hi:.2f})"
    return f"{med * 1000:.0f} ms ({lo * 1000:.0f}{DASH}{hi * 1000:.0f})"


def ms(value: float) -> str:
    return f"{value:,.0f} ms" if value >= 100 else f"{value:.1f} ms"


def faster(ratio: float) -> str:
    """baseline / dr-console."""
    if ratio >= 1:
        return f"{ratio:.2f}{TIMES} faster"
    return f"{ratio:.2f}{TIMES} (the baseline is {1 / ratio:.2f}{TIMES} faster)"


def count(n: int) -> str:
    return f"{n / 1e6:.2f} M" if n >= 1e6 else f"{n:,}"


def esc(text: str) -> str:
    """For a Markdown table cell."""
    return text.replace("|", "\\|")


# --------------------------------------------------------------------------
# The section


def _servers(restore: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["role"]: s for s in restore["servers"]}


def table(results: dict[str, Any]) -> list[str]:
    restore, refresh = results["restore"], results["inventory"]["refresh"]
    providers, startup = results["inventory"]["providers"], results["startup"]
    dump = restore["dump"]
    n = restore["samples_per_side"]
    lines = ["| measure | dr-console | baseline | ratio |", "|---|---|---|---|"]
    what = (f"restore of a {size(dump['plain_bytes'])} dump ({size(dump['stored_bytes'])} gzip, "
            f"{count(dump['rows'])} rows) from the lab's S3: `dr-console run metadata-db` end to end vs "
            "`aws s3 cp … - | gunzip | mariadb` plus the `RENAME TABLE` swap")
    servers = _servers(restore)
    for role, where in (("tuned", "the lab's MariaDB, tuned for restore"),
                        ("stock", "a stock-settings MariaDB")):
        if role not in servers:
            continue
        server = servers[role]
        lines.append(f"| {esc(what)}, into {where} (n={n} each) "
                     f"| {seconds(server['product']['seconds'])} "
                     f"| {seconds(server['baseline']['seconds'])} | {faster(server['ratio'])} |")
        what = "same"
    memory = "; ".join(
        f"{role}: {size(max(s['product']['peak_rss_bytes']))} peak RSS, "
        f"{size(max(s['product']['spool_bytes']))} spooled to disk"
        for role, s in servers.items())
    largest = max(max(s["baseline"]["largest_process_rss_bytes"]) for s in servers.values())
    lines.append(f"| restore: dr-console's memory and disk (the largest of its samples) | {memory} "
                 f"| largest process of the pipeline: {size(largest)} peak RSS, nothing on disk | |")
    lines.append(f"| inventory refresh: `dr-console status --refresh` vs the same listings by the "
                 f"`openstack`, `aws`, `mariadb` and `ssh` clients one after the other "
                 f"(n={refresh['samples_per_side']} each) | {seconds(refresh['product']['seconds'])} "
                 f"| {seconds(refresh['baseline']['seconds'])} | {faster(refresh['ratio'])} |")
    lines.append(f"| inventory: the providers concurrently (as a refresh runs them) vs one after another, "
                 f"in one process (n={len(providers['serial']['samples'])} each) "
                 f"| {seconds(providers['concurrent'])} | {seconds(providers['serial'])} "
                 f"| {providers['ratio']:.2f}{TIMES} faster |")
    target = (f"target < {startup['target_seconds']:g} s: "
              f"{'met' if startup['meets_target'] else 'not met'}")
    lines.append(f"| start-up: `dr-console status` from the cache vs `python -c pass` "
                 f"(n={startup['samples_per_side']} each) | {seconds(startup['product']['seconds'])} "
                 f"| {seconds(startup['baseline']['seconds'])} | {startup['ratio']:.1f}{TIMES} the bare "
                 f"interpreter ({target}) |")
    payload = results["payload"]
    copy = payload["copy"]
    lines.append(f"| drill of the payload volume `{payload['volume']}` ({payload['size_gb']} GiB, from its "
                 f"{copy['kind'].replace('volume-', 'Cinder ')}) onto the scratch server "
                 f"`{payload['scratch_server']}`: `dr-console drill payload-volume` vs the same steps by "
                 f"hand with the `openstack` CLI and `ssh` (n={payload['samples_per_side']} each) "
                 f"| {seconds(payload['product']['seconds'])} | {seconds(payload['baseline']['seconds'])} "
                 f"| {faster(payload['ratio'])} |")
    for row in results.get("tui", {}).get("rows", []):
        ours, theirs = row["columns"]
        runs = f", median of {row['runs']}" if row.get("runs") else ""
        if ours == "dr-console":  # start-up under a pty: ratio = dr-console / baseline
            measure = f"console start-up under a pty: {row['measure']}{runs}"
            ratio = f"{row['ratio']:.1f}{TIMES} the bare import"
        else:
            measure = f"console at 20,000 assets: {row['measure']} ({ours} vs Textual's {theirs})"
            ratio = f"{row['ratio']:.1f}{TIMES}"
        lines.append(f"| {esc(measure)} | {ms(row['a_ms'])} | {ms(row['b_ms'])} | {ratio} |")
    return lines


def conditions(results: dict[str, Any]) -> list[str]:
    restore, inventory, startup = results["restore"], results["inventory"], results["startup"]
    dump = restore["dump"]
    servers = _servers(restore)
    out: list[str] = []

    differ = restore.get("settings_differ", {})
    tuned_bits = [f"`{k}={setting(k, differ[k]['tuned'])}`" for k in KEY_SETTINGS if k in differ]
    stock_bits = [f"`{k}={setting(k, differ[k]['stock'])}`" for k in KEY_SETTINGS if k in differ]
    versions = sorted(set(restore.get("server_versions", {}).values()))
    out.append(
        f"**Restore.** The dump is an OpenStack-like nova database generated by "
        f"`tests/bench/novagen.py` ({dump['tables']} tables, {count(dump['rows'])} rows, "
        f"{dump['triggers']} trigger{'' if dump['triggers'] == 1 else 's'}), made by "
        f"`dr-console backup db` and read back from the lab's "
        f"S3 (moto) over loopback; both sides are given its location. Each side ran "
        f"{restore['samples_per_side']} times per server, alternating, each sample a whole process "
        f"from the same state (the live database present, the previous sample's schemas dropped "
        f"untimed). The **tuned** server is "
        f"the lab's MariaDB ({', '.join(versions)}) as `make lab-up` starts it: "
        f"{', '.join(tuned_bits) or 'see results.json'}; the **stock** one is started by the bench with "
        f"`--no-defaults` and nothing else but its datadir and 127.0.0.1: {', '.join(stock_bits)} "
        f"({len(differ)} server variables differ in all; results.json lists them).")
    out.append(_how_each_loaded(servers))
    cpu = _cpu_used(servers)
    if cpu:
        out.append(cpu)
    out.append(
        f"dr-console verifies as it restores ({restore['product_verifies']}); the baseline verifies "
        f"nothing. It swaps with one `RENAME TABLE` too (dropping and recreating the trigger around it, "
        f"which MariaDB requires). `CHECKSUM TABLE` of every restored table equals the baseline's on "
        f"both servers (the bench fails otherwise). Peak RSS: {restore['peak_rss_method']}; bytes "
        f"spooled: {restore['spool_bytes_source']}.")

    refresh = inventory["refresh"]
    reads = [c["reads"] for c in refresh["baseline"]["commands"]]
    out.append(
        f"**Inventory** ({inventory['assets']} assets in the lab). dr-console's verify cache was warmed "
        f"first, so no sample re-hashes a dump (the bench checks it); the baseline hashes nothing "
        f"either. The baseline runs {len(reads)} commands one after the other: "
        + "; ".join(reads) + ". The in-process comparison runs each provider's `discover()` one after "
        "another against the same providers run concurrently, alternating, after an untimed round "
        "of each; neither includes binding and policy.")
    out.append(
        f"**Start-up.** `dr-console status` reads an inventory cache written just before (younger "
        f"than `--max-age`; the bench checks it is not rewritten), beside `python -c pass` with the "
        f"same interpreter, {startup['samples_per_side']} samples each, alternating.")
    out.append(payload_conditions(results))
    if results.get("tui", {}).get("rows"):
        out.append("**Console** rows come from `tests/bench/bench_tui.py` in the same run, as it "
                   "prints them.")
    return out


def _load_path(load: dict[str, Any]) -> str:
    """How one sample's rows went in, from its load report."""
    paths = [path for path, _why in load.get("paths", {}).values()]
    bulk = sum(1 for p in paths if p == "bulk")
    how = (f"{load['workers']} connections in parallel, the data spooled to a temporary file meanwhile"
           if load["parallel"] else "one connection in dump order, streamed (nothing spooled)")
    if load.get("bulk_refused"):
        return f"{how}, every table's INSERTs replayed ({load['bulk_refused']})"
    rest = f" (the other {len(paths) - bulk} replayed their INSERTs)" if bulk < len(paths) else ""
    return f"{how}, {bulk} of {len(paths)} tables by `LOAD DATA LOCAL`{rest}"


def _how_each_loaded(servers: dict[str, dict[str, Any]]) -> str:
    """Why the two servers' ratios differ: what dr-console's load did on
    each (read from its run reports), against the same baseline."""
    parts = []
    for role, server in servers.items():
        product = server["product"]
        steps = product.get("step_seconds") or []
        timing = ""
        if steps:
            med = {name: statistics.median(s.get(name, 0.0) for s in steps) for name in steps[0]}
            timing = (f"; its steps, median: load {med.get('restore-staging', 0):.1f} s, verify "
                      f"{med.get('verify-staging', 0):.1f} s, swap {med.get('swap-in', 0):.1f} s")
        parts.append(f"on the {role} server, {_load_path(product['load'][0])}{timing} "
                     f"({server['ratio']:.2f}{TIMES})")
    return ("The ratio differs between the servers because dr-console's load does, while the baseline is "
            "the `mariadb` client replaying INSERTs over one connection on both. dr-console loads in "
            "parallel only where the server is tuned for restore (`innodb_flush_log_at_trx_commit` not 1 "
            "or doublewrite off): with stock settings every commit flushes the redo log and every page is "
            "written twice, so it loads over one connection like the client. From the run reports: "
            + "; ".join(parts) + ". The verify and swap steps are work the baseline does not do.")


def _cpu_used(servers: dict[str, dict[str, Any]]) -> str:
    """What each side's restore cost in CPU, and the shortest wall time that
    work allows on the machine's cores (older results have no CPU figures)."""
    parts = []
    for role, server in servers.items():
        ours, theirs = server["product"].get("cpu"), server["baseline"].get("cpu")
        if not ours or not theirs:
            return ""
        parts.append(
            f"on the {role} server, dr-console's process {ours['command']:.1f}, MariaDB "
            f"{_cpu_s(ours['server'])}, the whole machine {ours['machine_busy']:.1f} busy and "
            f"{ours['machine_idle']:.1f} idle: at least {ours['floor_seconds']:.1f} s of work on "
            f"{ours['cores']} cores, against its median {server['product']['seconds']['median']:.1f} s "
            f"(baseline: its processes {theirs['command']:.1f}, MariaDB {_cpu_s(theirs['server'])}, "
            f"machine {theirs['machine_busy']:.1f} busy and {theirs['machine_idle']:.1f} idle)")
    return ("Where the CPU goes, CPU-seconds per sample (median; the machine's busy time includes the "
            "S3 server, the kernel and the lab's idle services): " + "; ".join(parts)
            + ". No scheduling of the same work finishes in less than its busy CPU-seconds over the "
            "cores.")


def _cpu_s(value: float | None) -> str:
    return f"{value:.1f}" if value is not None else "not measured"


def payload_conditions(results: dict[str, Any]) -> str:
    payload = results["payload"]
    copy, baseline, product = payload["copy"], payload["baseline"], payload["product"]
    load = results["machine"]["load_average"]
    load = load.get("payload") if isinstance(load, dict) else load
    return (
        f"**Payload drill.** `{payload['volume']}` ({payload['size_gb']} GiB) from its last good copy "
        f"({copy['kind']} `{copy['id'][:8]}…`) onto the scratch server `{payload['scratch_server']}` "
        f"(the lab host `{payload['scratch_host']}`): both sides {payload['equal_work']}. The baseline "
        f"is {baseline['what']} ({baseline['openstack_cli']}); {payload['baseline_polls']}. dr-console "
        f"in addition {payload['product_also']}; its own reports measured an RTO of "
        f"{seconds(product['rto_measured_seconds'])}. dr-console ran with a {product['xdg']}; "
        f"{product['verified']}. After every sample of either side the bench checks that "
        f"{payload['left_behind']}. {payload['samples_per_side']} samples per side, alternating"
        + (f"; load average at the end {', '.join(f'{x:.1f}' for x in load)}" if load else "") + ".")


def section(results: dict[str, Any]) -> str:
    if results.get("schema") != SCHEMA:
        raise FiguresError(f"not a results file of schema {SCHEMA}: {results.get('schema')!r}")
    m = results["machine"]
    when = datetime.fromisoformat(results["generated_at"]).strftime("%Y-%m-%d")
    dirty = ", with uncommitted changes" if results["git"]["dirty"] else ""
    head = (f"`make bench` on {when} (commit `{results['git']['commit'][:10]}`{dirty}): "
            f"{m['cores']} cores, {size(m['ram_bytes'])} RAM ({m['cpu']}, {m['os']}). Each figure is the "
            f"median of n whole-process samples with their range, beside its baseline measured in the "
            f"same run; ratios are the baseline's median over dr-console's unless the row says otherwise.")
    return "\n\n".join([head, "\n".join(table(results)), *conditions(results)])


def replace(readme: str, body: str) -> str:
    if readme.count(BEGIN) != 1 or readme.count(END) != 1 or readme.index(BEGIN) > readme.index(END):
        raise FiguresError(f"README needs exactly one pair of markers:\n{BEGIN}\n{END}")
    start = readme.index(BEGIN) + len(BEGIN)
    return readme[:start] + "\n" + body + "\n" + readme[readme.index(END):]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--results", type=Path, default=REPO / ".bench" / "results.json")
    parser.add_argument("--readme", type=Path, default=REPO / "README.md")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--print", action="store_true", help="print the section, change nothing")
    mode.add_argument("--check", action="store_true", help="exit 1 if the README is not up to date")
    args = parser.parse_args()
    try:
        results = json.loads(args.results.read_text())
        body = section(results)
        readme = args.readme.read_text()
        updated = replace(readme, body)
    except (OSError, ValueError, KeyError, FiguresError) as exc:
        print(f"readme_figures: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    if args.print:
        print(body)
        return 0
    if args.check:
        if updated != readme:
            print(f"readme_figures: {args.readme} is not up to date with {args.results}", file=sys.stderr)
            return 1
        return 0
    if updated != readme:
        args.readme.write_text(updated)
        print(f"readme_figures: {args.readme} updated from {args.results}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
