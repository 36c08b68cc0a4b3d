"""A realistic, fixed snapshot: the TUI tests, the SVG snapshots and the
README screenshots all render this, so they agree and never drift with the
wall clock.

Every class and every status is represented, and the copies mix verified,
unverified, failed and incomplete ones, so each branch of the screens shows.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from dr_console.commandlog import Kind
from dr_console.model import (
    Asset,
    AssetClass,
    BackupCopy,
    Classification,
    Coverage,
    Snapshot,
    SourceProblem,
    Status,
    Strategy,
    Verification,
)
from dr_console.remedies import Plan, PlanStep, Remedy

# "Now" for every age shown from the sample: the data is two minutes old.
SAMPLE_NOW = datetime(2024, 11, 23, 12, 5, 41, tzinfo=UTC)
SAMPLE_GENERATED_AT = datetime(2024, 11, 23, 12, 3, 41, tzinfo=UTC)
SAMPLE_SITE = "lab-eu1"

_H = 3600
_D = 86400

_VERIFIED_DUMP = Verification(
    present=True, size_ok=True, checksum_ok=True, complete=True, has_manifest=True
)
_PLATFORM_OK = Verification(present=True, platform_ok=True)


def _ago(seconds: float) -> datetime:
    return SAMPLE_GENERATED_AT - timedelta(seconds=seconds)


def _asset(
    source: str, kind: str, native: str, name: str, provider: str, **tags: str
) -> Asset:
    return Asset(
        id=f"{source}:{kind}:{native}",
        name=name,
        provider=provider,
        kind=kind,
        source=source,
        tags=dict(tags),
    )


def _copy(
    asset: Asset,
    n: int,
    kind: str,
    strategy: Strategy,
    location: str,
    age: float,
    size: int | None,
    verification: Verification,
) -> BackupCopy:
    return BackupCopy(
        id=f"{asset.id}#{n}",
        asset_id=asset.id,
        kind=kind,
        strategy=strategy,
        location=location,
        created_at=_ago(age),
        size=size,
        verification=verification,
    )


def _coverage(
    asset: Asset,
    asset_class: AssetClass,
    rule: str,
    status: Status,
    reasons: tuple[str, ...],
    copies: tuple[BackupCopy, ...] = (),
    last_good: BackupCopy | None = None,
    rpo: int | None = None,
) -> Coverage:
    return Coverage(
        asset=asset,
        classification=Classification(asset_class, rule),
        status=status,
        reasons=reasons,
        copies=copies,
        last_good=last_good,
        rpo_seconds=rpo,
    )


def sample_snapshot() -> Snapshot:
    covs: list[Coverage] = []

    # --- boot infra: the germ cell -----------------------------------------
    pxe = _asset("boot-hosts", "host", "pxe-01", "pxe-01", "host", role="dhcp-tftp")
    pxe_etc = _copy(pxe, 1, "etc-archive", Strategy.EXPORT,
                    "s3://dr-offsite/boot/pxe-01/etc-20241123.tar.gz", 7 * _H, 4_812_330,
                    _VERIFIED_DUMP)
    pxe_pkgs = _copy(pxe, 2, "package-list", Strategy.EXPORT,
                     "s3://dr-offsite/boot/pxe-01/dpkg-20241123.txt", 7 * _H, 38_912,
                     _VERIFIED_DUMP)
    covs.append(_coverage(pxe, AssetClass.BOOT_INFRA,
                          "site rule 'boot-hosts' (site.yaml:58): declared host",
                          Status.OK, ("verified offsite export 7h ago, inside RPO 24h",),
                          (pxe_etc, pxe_pkgs), pxe_etc, 24 * _H))

    ntp = _asset("boot-hosts", "host", "ntp-01", "ntp-01", "host", role="ntp")
    ntp_etc = _copy(ntp, 1, "etc-archive", Strategy.EXPORT,
                    "s3://dr-offsite/boot/ntp-01/etc-20241123.tar.gz", 7 * _H, 1_204_551,
                    _VERIFIED_DUMP)
    covs.append(_coverage(ntp, AssetClass.BOOT_INFRA,
                          "site rule 'boot-hosts' (site.yaml:58): declared host",
                          Status.OK, ("verified offsite export 7h ago, inside RPO 24h",),
                          (ntp_etc,), ntp_etc, 24 * _H))

    repo = _asset("declared", "repo", "boot-infra", "boot-infra.git", "declared")
    repo_old = _copy(repo, 1, "git-bundle", Strategy.EXPORT,
                     "s3://dr-offsite/boot/boot-infra-20241122.bundle", 31 * _H, 2_210_004,
                     _VERIFIED_DUMP)
    covs.append(_coverage(repo, AssetClass.BOOT_INFRA,
                          "site rule 'boot-repo' (site.yaml:64): explicit list",
                          Status.WARNING,
                          ("last good copy 31h ago exceeds RPO 24h",
                           "offsite sync job did not run last night"),
                          (repo_old,), repo_old, 24 * _H))

    # --- metadata: the cloud's own databases --------------------------------
    keystone = _asset("galera-ctl", "database", "keystone", "keystone", "mysql")
    ks_snap = _copy(keystone, 1, "volume-snapshot", Strategy.SNAPSHOT,
                    "cinder snapshot 7b1f0c2e-0d4a-4a77-9c55-2f1f3e0c9a11", 3 * _H, None,
                    _PLATFORM_OK)
    ks_dump = _copy(keystone, 2, "sql-dump", Strategy.EXPORT,
                    "s3://dr-offsite/mysql/keystone/keystone-20241123T0900.sql.gz",
                    3 * _H, 18_733_120, _VERIFIED_DUMP)
    covs.append(_coverage(keystone, AssetClass.METADATA,
                          "site rule 'service-dbs' (site.yaml:41): name in list",
                          Status.OK,
                          ("snapshot and verified offsite export inside RPO 24h",),
                          (ks_dump, ks_snap), ks_dump, 24 * _H))

    nova = _asset("galera-ctl", "database", "nova", "nova", "mysql")
    nova_bad = _copy(nova, 1, "sql-dump", Strategy.EXPORT,
                     "s3://dr-offsite/mysql/nova/nova-20241123T0900.sql.gz", 3 * _H,
                     402_112_000,
                     Verification(present=True, size_ok=True, checksum_ok=False,
                                  complete=True, has_manifest=True,
                                  detail="sha256 differs from manifest"))
    nova_old = _copy(nova, 2, "sql-dump", Strategy.EXPORT,
                     "s3://dr-offsite/mysql/nova/nova-20241119T0900.sql.gz", 4 * _D + 3 * _H,
                     398_004_224, _VERIFIED_DUMP)
    covs.append(_coverage(nova, AssetClass.METADATA,
                          "site rule 'service-dbs' (site.yaml:41): name in list",
                          Status.CRITICAL,
                          ("latest export failed its checksum (sha256 differs from manifest)",
                           "last good copy 4d ago exceeds RPO 24h",
                           "no snapshot strategy: metadata needs both"),
                          (nova_bad, nova_old), nova_old, 24 * _H))

    gnocchi = _asset("galera-ctl", "database", "gnocchi", "gnocchi", "mysql")
    gn_snap = _copy(gnocchi, 1, "volume-snapshot", Strategy.SNAPSHOT,
                    "cinder snapshot 5d2e81aa-3c1f-4d0e-8f6b-9e0d7c6b5a44", 2 * _H, None,
                    _PLATFORM_OK)
    covs.append(_coverage(gnocchi, AssetClass.METADATA,
                          "site rule 'accounting' (site.yaml:47): tag dr/class=metadata",
                          Status.WARNING,
                          ("no platform-agnostic export: only a snapshot",
                           "accounting records: export required by legal"),
                          (gn_snap,), gn_snap, 24 * _H))

    trove = _asset("os-prod", "db-instance", "f3a9", "billing-db", "openstack")
    covs.append(_coverage(trove, AssetClass.METADATA,
                          "site rule 'dbaas' (site.yaml:52): kind db-instance",
                          Status.UNKNOWN,
                          ("trove backups could not be listed: 503 from database endpoint",),
                          (), None, 24 * _H))

    # --- payload: customer data ----------------------------------------------
    vol = _asset("os-prod", "volume", "0042", "cust-data-0042", "openstack",
                 project="acme")
    vol_b1 = _copy(vol, 1, "volume-backup", Strategy.SNAPSHOT,
                   "cinder backup 9a0c1d2e-1111-4bbb-8ccc-0d1e2f3a4b5c", 5 * _H,
                   107_374_182_400, _PLATFORM_OK)
    vol_b0 = _copy(vol, 2, "volume-backup", Strategy.SNAPSHOT,
                   "cinder backup 2f3e4d5c-2222-4aaa-9bbb-6c7d8e9f0a1b", 29 * _H,
                   107_374_182_400, Verification(present=True, platform_ok=True, drilled=True,
                                                 detail="restored in drill 2024-11-22"))
    covs.append(_coverage(vol, AssetClass.PAYLOAD,
                          "site rule 'customer-volumes' (site.yaml:70): tag dr/backup=yes",
                          Status.OK, ("platform backup available 5h ago, inside RPO 24h",),
                          (vol_b1, vol_b0), vol_b1, 24 * _H))

    ebs = _asset("aws-eu", "volume", "vol-0abc", "orders-db-data", "aws", team="orders")
    ebs_s = _copy(ebs, 1, "ebs-snapshot", Strategy.SNAPSHOT,
                  "ebs snap-0f1e2d3c4b5a69788 (eu-west-1)", 4 * _D, 536_870_912_000,
                  Verification(present=True, platform_ok=False, complete=False,
                               detail="snapshot state: error"))
    covs.append(_coverage(ebs, AssetClass.PAYLOAD,
                          "site rule 'db-data' (site.yaml:76): name matches *-db-data",
                          Status.CRITICAL,
                          ("no good copy: the only snapshot is in state error",
                           "RPO 12h exceeded"),
                          (ebs_s,), None, 12 * _H))

    bucket = _asset("minio-dr", "bucket", "media-assets", "media-assets", "store")
    mirror_new = _copy(bucket, 1, "bucket-mirror", Strategy.EXPORT,
                       "s3://dr-offsite/mirror/media-assets/2024-11-23/", 6 * _H,
                       81_604_378_624,
                       Verification(present=True, size_ok=None, checksum_ok=None,
                                    complete=False, has_manifest=True,
                                    detail="1 204 of 98 312 objects missing"))
    mirror_old = _copy(bucket, 2, "bucket-mirror", Strategy.EXPORT,
                       "s3://dr-offsite/mirror/media-assets/2024-11-22/", 30 * _H,
                       81_200_001_024, _VERIFIED_DUMP)
    covs.append(_coverage(bucket, AssetClass.PAYLOAD,
                          "site rule 'buckets' (site.yaml:82): kind bucket",
                          Status.WARNING,
                          ("latest mirror incomplete (1 204 of 98 312 objects missing)",
                           "last good copy 30h ago exceeds RPO 24h"),
                          (mirror_new, mirror_old), mirror_old, 24 * _H))

    scratch = _asset("aws-eu", "volume", "vol-0def", "analytics-scratch", "aws")
    covs.append(_coverage(scratch, AssetClass.PAYLOAD,
                          "site rule 'db-data' (site.yaml:76): tag dr/class=payload",
                          Status.UNKNOWN,
                          ("source 'aws-eu' partly unreadable: snapshots listing timed out",),
                          (), None, 12 * _H))

    # --- reproducible: redeployed, not restored ------------------------------
    web = _asset("os-prod", "server", "a1b2", "web-01", "openstack", role="web")
    covs.append(_coverage(web, AssetClass.REPRODUCIBLE,
                          "site rule 'from-images' (site.yaml:88): metadata built_by=ci",
                          Status.OK, ("redeployed by automation; no backup expected",)))

    runner = _asset("aws-eu", "server", "i-0c0ffee", "ci-runner-7", "aws")
    covs.append(_coverage(runner, AssetClass.REPRODUCIBLE,
                          "site rule 'from-images' (site.yaml:88): tag built_by=ci",
                          Status.OK, ("redeployed by automation; no backup expected",)))

    # --- unclassified: a policy gap ----------------------------------------
    legacy = _asset("os-prod", "volume", "77aa", "legacy-ftp-vol", "openstack")
    legacy_snap = _copy(legacy, 1, "volume-snapshot", Strategy.SNAPSHOT,
                        "cinder snapshot 0e1d2c3b-4a59-4687-a5b4-c3d2e1f00f1e", 12 * _D, None,
                        Verification(present=True, platform_ok=None))
    covs.append(_coverage(legacy, AssetClass.UNCLASSIFIED,
                          "no rule matched (rules checked: 9)",
                          Status.WARNING,
                          ("unclassified: no rule matched, policy gap",
                           "only copy is 12d old and unverified"),
                          (legacy_snap,), None, None))

    tmp = _asset("minio-dr", "bucket", "tmp-import", "tmp-import", "store")
    covs.append(_coverage(tmp, AssetClass.UNCLASSIFIED, "no rule matched (rules checked: 9)",
                          Status.WARNING, ("unclassified: no rule matched, policy gap",)))

    return Snapshot(
        site=SAMPLE_SITE,
        generated_at=SAMPLE_GENERATED_AT,
        coverages=tuple(covs),
        problems=(
            SourceProblem("aws-eu", "aws", "snapshots listing timed out after 20s"),
        ),
        provider_seconds={"os-prod": 1.8, "aws-eu": 20.0, "galera-ctl": 0.4},
        wall_seconds=20.3,
    )


# --- runbook plans and a command log, for the asset and command-log screens ---


def sample_plan(remedy: Remedy) -> Plan:
    """The metadata-db runbook's plan as the engine lists it for nova; the
    other runbooks are not written yet (as in the product today)."""
    if remedy.runbook != "metadata-db":
        return Plan(unavailable=f"runbook {remedy.runbook!r} is not written yet")
    db = remedy.params.get("db", "nova")
    base = "mysql --defaults-extra-file=~/.my.cnf -h 10.0.0.11 -P 3306"
    return Plan(steps=(
        PlanStep("Choose the copy", "dr-console inventory --class metadata"),
        PlanStep("Restore into a staging schema",
                 f"aws s3 cp s3://dr-offsite/mysql/{db}/{db}-20241119T0900.sql.gz - | gunzip"
                 f" | {base} {db}__staging_<run>"),
        PlanStep("Verify the staging schema", f"{base} -e 'CHECKSUM TABLE {db}__staging_<run>.<table>, ...'"),
        PlanStep(f"Swap it in as {db}",
                 f"{base} -e 'RENAME TABLE {db}.<t> TO {db}__pre_restore_<ts>.<t>, ...'",
                 destructive=True, target=db),
        PlanStep("Smoke check the service", "openstack --os-cloud prod server list"),
        PlanStep("Report what was kept", f"dr-console drop-kept {db}__pre_restore_<ts>"),
    ))


def sample_commands() -> list[tuple[datetime, Kind, str, str]]:
    """What a refresh of the sample site runs, as the command log records it."""
    t = SAMPLE_GENERATED_AT - timedelta(seconds=20)
    rows: list[tuple[int, Kind, str, str]] = [
        (0, "api", "10.0.0.5:5000", "GET /v3"),
        (1, "api", "10.0.0.5:8774", "GET /v2.1/servers/detail"),
        (1, "api", "10.0.0.5:8776", "GET /v3/9f1c2e/volumes/detail"),
        (2, "api", "10.0.0.5:8776", "GET /v3/9f1c2e/backups/detail"),
        (2, "s3", "s3.eu-west-1.amazonaws.com", "s3 ListObjectsV2 GET /dr-offsite"),
        (3, "api", "ec2.eu-west-1.amazonaws.com", "ec2 DescribeVolumes POST /"),
        (3, "sql", "10.0.0.11:3306", "SELECT"),
        (3, "sql", "10.0.0.11:3306", "SELECT"),
        (4, "ssh", "backup@10.0.1.2:22", "dpkg --get-selections"),
        (4, "ssh", "backup@10.0.1.3:22", "tar -czf - /etc"),
        (5, "playbook", "pxe-01", "ansible-playbook -i inventory.yml boot-infra.yml --check"),
        (20, "api", "ec2.eu-west-1.amazonaws.com", "ec2 DescribeSnapshots POST /"),
    ]
    return [(t + timedelta(seconds=s), kind, target, summary) for s, kind, target, summary in rows]
