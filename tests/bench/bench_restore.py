"""Restore benchmark against the lab, with the operator's baseline in the
same run.

1. Generates an OpenStack-like (nova) database of about --size-mb of dump
   in a scratch schema on the lab's MariaDB (novagen.py), dumps it with
   `mariadb-dump | gzip` into the lab's offsite S3 store with a manifest
   (dr_console.backup.dump.backup_database).
2. (a) baseline: `aws s3 cp s3://… - | gunzip | mariadb DB` into a fresh
   schema (the aws CLI if installed, else boto3 download_fileobj to stdout);
   (b) dr-console: restore_into_staging with verification (sha256, trailer,
   row counts vs the manifest), in a child process so its peak RSS is its own.
3. Prints wall times, MB/s, the ratio, dr-console's peak RSS, the splitter's
   and sha256's own speed on this dump, and checks both copies checksum alike.

Run: `.venv/bin/python tests/bench/bench_restore.py --size-mb 100` (lab up).
Everything it creates (drbench_* schemas, drbench/ objects) is removed at
the end unless --keep.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import pymysql  # noqa: E402

from dr_console.backup.dump import ConnectionParams, backup_database  # noqa: E402
from dr_console.backup.s3 import store_client  # noqa: E402
from dr_console.config import load_site  # noqa: E402
from dr_console.manifest import Manifest, manifest_key  # noqa: E402
from dr_console.schema import Secret  # noqa: E402

SOURCE = "drbench_nova"
BASELINE = "drbench_baseline"
STAGING = "drbench_nova__staging"


def admin_params(site_path: Path) -> ConnectionParams:
    site = load_site(site_path)
    server = site.mysql[0]
    secret = (site_path.parent / "secrets" / "mariadb-admin").read_text().strip()
    return ConnectionParams(host=server.host, port=server.port, user="labadmin",
                            password=Secret(secret), name="lab-admin")


def connect(params: ConnectionParams) -> Any:
    assert params.password is not None
    return pymysql.connect(host=params.host, port=params.port, user=params.user,
                           password=params.password.reveal(), autocommit=True,
                           connect_timeout=10, read_timeout=3600)


def drop(conn: Any, *names: str) -> None:
    with conn.cursor() as cur:
        for name in names:
            assert name.startswith("drbench_")
            cur.execute(f"DROP DATABASE IF EXISTS `{name}`")


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# --- (b) in a child process ---------------------------------------------------------


def restore_child(site_path: Path, key: str, workers: int | None) -> dict[str, Any]:
    from dr_console.restore import restore_into_staging

    site = load_site(site_path)
    store = site.store("offsite")
    client = store_client(store)
    manifest = Manifest.from_json(client.get_object(Bucket=store.bucket,
                                                    Key=manifest_key(key))["Body"].read())
    start = time.perf_counter()
    report = restore_into_staging(store, key, admin_params(site_path), "drbench_nova", manifest=manifest,
                                  expect_database=SOURCE, staging_db=STAGING, workers=workers,
                                  client=client)
    return {"seconds": time.perf_counter() - start, "rows": report.rows, "workers": report.workers,
            "parallel": report.parallel, "phases": report.phase_seconds, "notes": report.notes,
            "verified": report.verified, "plain_bytes": report.bytes, "peak_rss_mb": peak_rss_mb()}


# --- (a) the operator's baseline -------------------------------------------------------


def baseline(site_path: Path, params: ConnectionParams, bucket: str, key: str,
             endpoint: str | None) -> tuple[float, str]:
    env = dict(os.environ)
    env["AWS_SHARED_CREDENTIALS_FILE"] = str(site_path.parent / "aws-credentials")
    env["AWS_DEFAULT_REGION"] = "us-east-1"
    assert params.password is not None
    env["MYSQL_PWD"] = params.password.reveal()  # the environment, not argv
    aws = shutil.which("aws")
    endpoint_arg = f"--endpoint-url {endpoint}" if endpoint else ""
    if aws:
        fetch = f"{aws} s3 cp {endpoint_arg} s3://{bucket}/{key} -"
        how = "aws s3 cp (awscli)"
    else:
        code = ("import boto3,sys,os; c=boto3.client('s3', endpoint_url=os.environ.get('EP') or None); "
                f"c.download_fileobj('{bucket}', '{key}', sys.stdout.buffer)")
        env["EP"] = endpoint or ""
        fetch = f"{sys.executable} -c \"{code}\""
        how = "boto3 download_fileobj to stdout (no aws CLI)"
    load = (f"mariadb --no-defaults --protocol=TCP -h {params.host} -P {params.port} -u {params.user} "
            f"--max-allowed-packet=256M {BASELINE}")
    start = time.perf_counter()
    subprocess.run(["bash", "-o", "pipefail", "-c", f"{fetch} | gunzip | {load}"], env=env, check=True,
                   timeout=3600)
    return time.perf_counter() - start, how


# --- component speeds on the real dump -------------------------------------------------


def component_speeds(client: Any, bucket: str, key: str) -> dict[str, float]:
    """sha256 and the splitter alone, on this dump (decompressed once in
    memory pieces streamed from S3, timing only each component)."""
    from dr_console.restore.decompress import decompress
    from dr_console.restore.s3stream import ResumableReader
    from dr_console.restore.sqlsplit import DumpSplitter

    head = client.head_object(Bucket=bucket, Key=key)
    reader = ResumableReader(client, bucket, key, size=head["ContentLength"], etag=head["ETag"])
    splitter = DumpSplitter()
    sha = hashlib.sha256()
    t_sha = t_split = t_total = 0.0
    plain_bytes = 0
    start = time.perf_counter()
    for piece in decompress(reader, "gzip"):
        t0 = time.perf_counter()
        sha.update(piece)
        t1 = time.perf_counter()
        splitter.feed(piece)
        t2 = time.perf_counter()
        t_sha += t1 - t0
        t_split += t2 - t1
        plain_bytes += len(piece)
    splitter.close()
    t_total = time.perf_counter() - start
    mb = plain_bytes / 1e6
    return {"plain_mb": mb, "split_mb_s": mb / t_split, "sha256_mb_s": mb / t_sha,
            "read_gunzip_split_mb_s": mb / t_total}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mb", type=float, default=1000, help="approximate plain dump size")
    parser.add_argument("--site", type=Path, default=REPO / ".lab" / "site.yaml")
    parser.add_argument("--workers", type=int, default=None, help="None: auto (server tuned → parallel)")
    parser.add_argument("--keep", action="store_true", help="keep the schemas and the S3 object")
    parser.add_argument("--restore-child", metavar="KEY", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.restore_child:
        print(json.dumps(restore_child(args.site, args.restore_child, args.workers)))
        return

    params = admin_params(args.site)
    site = load_site(args.site)
    store = site.store("offsite")
    client = store_client(store)
    conn = connect(params)
    key = f"drbench/{SOURCE}-{int(time.time())}.sql.gz"
    full_key = key
    try:
        import novagen

        t = time.perf_counter()
        rows = novagen.create(conn, SOURCE, args.size_mb)
        print(f"generated {SOURCE}: {sum(rows.values()):,} rows in {time.perf_counter() - t:.1f} s")
        t = time.perf_counter()
        full_key, manifest = backup_database(params, SOURCE, store, key, client=client)
        print(f"dumped with mariadb-dump | gzip to s3://{store.bucket}/{full_key}: "
              f"{manifest.size / 1e6:.1f} MB stored in {time.perf_counter() - t:.1f} s")

        speeds = component_speeds(client, store.bucket, full_key)
        print(f"plain dump {speeds['plain_mb']:.0f} MB: splitter {speeds['split_mb_s']:.0f} MB/s, "
              f"sha256 {speeds['sha256_mb_s']:.0f} MB/s, read+gunzip+split "
              f"{speeds['read_gunzip_split_mb_s']:.0f} MB/s")

        drop(conn, BASELINE, STAGING)
        with conn.cursor() as cur:
            cur.execute(f"CREATE DATABASE `{BASELINE}`")
        base_s, how = baseline(args.site, params, store.bucket, full_key, store.endpoint_url)

        argv = [sys.executable, __file__, "--site", str(args.site), "--restore-child", full_key]
        if args.workers is not None:
            argv += ["--workers", str(args.workers)]
        child = subprocess.run(argv, capture_output=True, check=True, timeout=3600)
        ours = json.loads(child.stdout.decode().strip().splitlines()[-1])

        from dr_console.restore import checksum_tables
        tables = sorted(rows)
        same = checksum_tables(conn, BASELINE, tables) == checksum_tables(conn, STAGING, tables)

        stored_mb = manifest.size / 1e6
        plain_mb = speeds["plain_mb"]
        print()
        print(f"dump: {stored_mb:.1f} MB gzip, {plain_mb:.0f} MB plain, {sum(rows.values()):,} rows, "
              f"{len(rows)} tables")
        print(f"(a) baseline  {how} | gunzip | mariadb: {base_s:7.1f} s  "
              f"{plain_mb / base_s:6.1f} MB/s plain")
        print(f"(b) dr-console restore_into_staging (sha256 + trailer + row counts verified, "
              f"{ours['workers']} connection(s)): {ours['seconds']:7.1f} s  "
              f"{plain_mb / ours['seconds']:6.1f} MB/s plain")
        print(f"ratio baseline/dr-console: {base_s / ours['seconds']:.2f}x")
        print(f"dr-console peak RSS: {ours['peak_rss_mb']:.0f} MB")
        print(f"phases: {json.dumps({k: round(v, 1) for k, v in ours['phases'].items()})}; "
              f"notes: {ours['notes']}")
        print(f"restored tables checksum like the baseline's: {same}")
    finally:
        if not args.keep:
            drop(conn, SOURCE, BASELINE, STAGING)
            for k in (full_key, manifest_key(full_key)):
                client.delete_object(Bucket=store.bucket, Key=k)
        conn.close()


if __name__ == "__main__":
    main()
