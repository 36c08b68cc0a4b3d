"""`dr-console status / inventory / verify` as an operator or a monitoring
system runs them: a real process against the real lab."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from dr_console.lab.procs import free_port
from dr_console.schema import Site

pytestmark = pytest.mark.lab

# What each seeded fault must say to the operator (a phrase of its reason).
FAULT_REASONS = {
    "corrupt-newest-dump": "sha256 mismatch",
    "truncated-newest-dump": "fell back to an older one",
    "stale-host-copies": "RPO is 7d",
    "metadata-db-one-strategy": "only one of the two strategies",
    "metadata-db-no-copy": "no copy found",
    "volume-no-copy": "no copy found",
    "unclassified": "policy gap",
    "error-newest-backup": "fell back to an older one",
}


def run_cli(site: Path, *args: str, cache: Path, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, XDG_CACHE_HOME=str(cache), XDG_STATE_HOME=str(cache / "state"))
    return subprocess.run(
        [sys.executable, "-m", "dr_console", "--site", str(site), *args],
        capture_output=True, text=True, timeout=timeout, env=env,
    )


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("xdg")


@pytest.fixture(scope="module")
def status_run(lab_site: Site, cache: Path) -> tuple[int, dict[str, Any], str]:
    proc = run_cli(lab_site.path, "status", "--json", "--refresh", cache=cache)
    assert "Traceback" not in proc.stderr
    return proc.returncode, json.loads(proc.stdout), proc.stderr


def by_name(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {a["name"]: a for a in doc["assets"]}


def test_status_exit_code_is_critical_and_json_follows_the_contract(
        status_run: tuple[int, dict[str, Any], str]) -> None:
    code, doc, _ = status_run
    assert code == 2
    assert doc["schema"] == "dr-console/status/v1"
    assert doc["overall"] == "CRITICAL"
    assert set(doc["summary"]) == {"ok", "warning", "critical", "unknown"}
    assert sum(doc["summary"].values()) == len(doc["assets"])
    for asset in doc["assets"]:
        assert {"id", "name", "provider", "kind", "class", "rule", "status", "reasons",
                "last_good", "copies"} <= set(asset)
        if asset["last_good"] is not None:
            assert {"id", "kind", "location", "created_at", "age_seconds", "verified"} <= \
                set(asset["last_good"])


def test_all_five_classes_from_every_kind_of_source(
        status_run: tuple[int, dict[str, Any], str], lab_site: Site) -> None:
    _, doc, _ = status_run
    classes = {a["class"] for a in doc["assets"]}
    assert classes == {"boot-infra", "metadata", "payload", "reproducible", "unclassified"}
    providers = {a["provider"] for a in doc["assets"]}
    assert {"aws", "host", "mysql", "declared"} <= providers
    if any(c.type == "openstack" for c in lab_site.clouds):
        assert "openstack" in providers
    # Copies came from the offsite store too, not only from the clouds.
    locations = [c["location"] for a in doc["assets"] for c in a["copies"]]
    assert any(loc.startswith("s3://") for loc in locations)
    assert doc["problems"] == []


def test_every_seeded_fault_has_its_status_and_reason(
        status_run: tuple[int, dict[str, Any], str], lab_state: dict[str, Any]) -> None:
    _, doc, _ = status_run
    assets = by_name(doc)
    assert lab_state["faults"], "the lab recorded no faults"
    for fault in lab_state["faults"]:
        asset = assets.get(fault["asset"])
        assert asset is not None, f"fault {fault['id']}: asset {fault['asset']} not listed"
        assert asset["status"] == fault["expected_status"], (fault, asset["reasons"])
        phrase = FAULT_REASONS[fault["id"]]
        assert any(phrase in r for r in asset["reasons"]), (fault["id"], asset["reasons"])


def test_healthy_metadata_database_has_a_verified_last_good_dump_and_snapshot(
        status_run: tuple[int, dict[str, Any], str], lab_site: Site) -> None:
    _, doc, _ = status_run
    keystone = by_name(doc)["keystone"]
    assert keystone["class"] == "metadata"
    assert "openstack-service-dbs" in keystone["rule"] or "dr:class" in keystone["rule"]
    good = [c for c in keystone["copies"] if c["good"]]
    assert any(c["kind"] == "sql-dump" and c["verified"] for c in good)
    if any(c.type == "openstack" for c in lab_site.clouds):
        assert keystone["status"] == "OK", keystone["reasons"]
        assert any(c["strategy"] == "snapshot" for c in good)


def test_corrupt_dump_is_never_the_last_good_copy(
        status_run: tuple[int, dict[str, Any], str], lab_state: dict[str, Any]) -> None:
    _, doc, _ = status_run
    assets = by_name(doc)
    for fault in lab_state["faults"]:
        if fault["id"] in ("corrupt-newest-dump", "truncated-newest-dump"):
            asset = assets[fault["asset"]]
            bad = {f"s3://{loc}" if not loc.startswith("s3://") else loc for loc in fault["objects"]}
            assert asset["last_good"] is not None
            assert not any(asset["last_good"]["location"].endswith(k) for k in fault["objects"]), bad


def test_status_from_cache_does_not_ask_the_backends(
        status_run: tuple[int, dict[str, Any], str], lab_site: Site, cache: Path) -> None:
    _, first, _ = status_run
    proc = run_cli(lab_site.path, "status", "--json", cache=cache)
    assert proc.returncode == 2
    assert json.loads(proc.stdout)["generated_at"] == first["generated_at"]
    plain = run_cli(lab_site.path, "status", cache=cache)
    assert plain.returncode == 2
    assert plain.stdout.startswith("drlab: CRITICAL")
    assert "scratch-data" in plain.stdout or "logs-archive" in plain.stdout


def test_inventory_filters_by_class(lab_site: Site, cache: Path,
                                    status_run: tuple[int, dict[str, Any], str]) -> None:
    proc = run_cli(lab_site.path, "inventory", "--class", "metadata", "--json", cache=cache)
    assert proc.returncode == 0
    doc = json.loads(proc.stdout)
    assert doc["assets"] and {a["class"] for a in doc["assets"]} == {"metadata"}
    bad = run_cli(lab_site.path, "inventory", "--class", "precious", cache=cache)
    assert bad.returncode == 3
    assert "unknown class 'precious'" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_verify_deep_rehashes_and_names_the_corrupt_copy(
        lab_site: Site, cache: Path, lab_state: dict[str, Any]) -> None:
    corrupt = next(f for f in lab_state["faults"] if f["id"] == "corrupt-newest-dump")
    proc = run_cli(lab_site.path, "verify", corrupt["asset"], "--deep", "--json", cache=cache)
    assert proc.returncode == 2, proc.stderr
    rows = json.loads(proc.stdout)
    bad = [r for r in rows if r["status"] == "CRITICAL"]
    assert bad and all("sha256 mismatch" in r["detail"] for r in bad)
    assert any(r["status"] == "OK" and r["kind"] == "sql-dump" for r in rows)
    unknown = run_cli(lab_site.path, "verify", "no-such-asset", cache=cache)
    assert unknown.returncode == 3
    assert "no asset named 'no-such-asset'" in unknown.stderr


def test_unreachable_cloud_keeps_its_assets_as_unknown_and_the_rest_still_reported(
        lab_site: Site, tmp_path: Path) -> None:
    raw = yaml.safe_load(lab_site.path.read_text())
    # Same site file twice: first healthy (fills the cache), then its AWS
    # endpoint dies, as in an outage.
    site = lab_site.path.parent / f"site-outage-{os.getpid()}.yaml"
    dead = f"http://127.0.0.1:{free_port()}"
    try:
        site.write_text(yaml.safe_dump(raw))
        healthy = json.loads(run_cli(site, "status", "--json", "--refresh", cache=tmp_path).stdout)
        for cloud in raw["clouds"]:
            if cloud["type"] == "aws":
                cloud["endpoint_url"] = dead
                cloud["timeout"] = 3
        site.write_text(yaml.safe_dump(raw))
        started = time.monotonic()
        proc = run_cli(site, "status", "--json", "--refresh", cache=tmp_path)
        elapsed = time.monotonic() - started
    finally:
        site.unlink(missing_ok=True)
    assert "Traceback" not in proc.stderr
    doc = json.loads(proc.stdout)
    assert any(p["source"] == "lab-aws" for p in doc["problems"])
    before = {a["id"] for a in healthy["assets"] if a["source"] == "lab-aws"}
    after = [a for a in doc["assets"] if a["source"] == "lab-aws"]
    assert before and {a["id"] for a in after} == before
    assert all(a["status"] == "UNKNOWN" and "unreachable" in a["reasons"][0] for a in after)
    assert any(a["provider"] == "mysql" and a["status"] != "UNKNOWN" for a in doc["assets"])
    assert elapsed < 60


def test_plain_dump_from_another_tool_counts_but_is_flagged_unverified(
        status_run: tuple[int, dict[str, Any], str]) -> None:
    _, doc, _ = status_run
    shop = by_name(doc)["shop"]
    plain = [c for c in shop["copies"] if c["kind"] == "sql-dump" and c["good"]]
    assert plain and not plain[0]["verified"]
    assert plain[0]["verification"]["has_manifest"] is False
    assert shop["status"] == "WARNING"
    assert any("no manifest" in r for r in shop["reasons"])


def test_no_secret_reaches_output_or_cache(status_run: tuple[int, dict[str, Any], str],
                                           lab_site: Site, cache: Path) -> None:
    _, doc, stderr = status_run
    secrets_dir = lab_site.path.parent / "secrets"
    secrets = [p.read_text().strip() for p in secrets_dir.iterdir() if p.is_file()]
    aws = (lab_site.path.parent / "aws-credentials").read_text()
    secrets += [line.split("=", 1)[1].strip() for line in aws.splitlines()
                if "secret" in line and "=" in line]
    assert secrets and all(len(s) >= 8 for s in secrets)
    cached = "".join(p.read_text() for p in cache.rglob("*.json"))
    for secret in secrets:
        assert secret not in json.dumps(doc)
        assert secret not in stderr
        assert secret not in cached
