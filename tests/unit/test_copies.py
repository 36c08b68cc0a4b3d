"""How every runbook decides which copy to trust: when a cached inventory may
decide (pure rules), and what the operator reads when nothing is usable."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

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
from dr_console.runbooks.copies import AssetRef, Found, distrust, no_usable_copy_message
from dr_console.schema import Site

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
REF = AssetRef("control-db", "database", "keystone")
KINDS = {"sql-dump"}
SITE = Site.model_validate({
    "site": "t", "path": Path("site.yaml"),
    "stores": [{"name": "offsite", "bucket": "b"}, {"name": "images", "bucket": "i"}],
    "mysql": [{"name": "control-db", "user": "u"}],
    "copies": [
        {"store": "offsite", "pattern": "mysql/{asset}/{asset}-{timestamp}.sql.gz",
         "kind": "sql-dump", "asset_kind": "database"},
        {"store": "images", "pattern": "img/{asset}-{timestamp}.img", "kind": "image-export",
         "asset_kind": "image"},
    ],
})


def snapshot(age: timedelta = timedelta(minutes=1), *problems: tuple[str, str]) -> Snapshot:
    asset = Asset(REF.id, REF.name, "mysql", "database", REF.source)
    coverage = Coverage(asset, Classification(AssetClass.METADATA, "t"), Status.OK, (), (), None, 86400)
    return Snapshot("t", NOW - age, (coverage,),
                    tuple(SourceProblem(source, provider, "connection refused")
                          for source, provider in problems))


def test_a_fresh_snapshot_with_every_source_read_may_decide() -> None:
    assert distrust(snapshot(), SITE, REF, KINDS, NOW) is None


def test_no_cache_or_an_old_one_is_gathered_anew() -> None:
    assert distrust(None, SITE, REF, KINDS, NOW) == "no cached inventory"
    assert "11m old" in str(distrust(snapshot(timedelta(minutes=11)), SITE, REF, KINDS, NOW))


def test_a_snapshot_made_while_its_store_or_its_server_was_down_cannot_decide() -> None:
    store_down = distrust(snapshot(timedelta(0), ("offsite", "store")), SITE, REF, KINDS, NOW)
    assert store_down == "the cached inventory was made while store offsite could not be read"
    server_down = distrust(snapshot(timedelta(0), ("control-db", "mysql")), SITE, REF, KINDS, NOW)
    assert server_down is not None and "mysql control-db" in server_down


def test_a_source_that_holds_nothing_of_this_asset_does_not_matter() -> None:
    # The images store holds image exports only, never a dump of keystone.
    assert distrust(snapshot(timedelta(0), ("images", "store")), SITE, REF, KINDS, NOW) is None


def dump(name: str, hours: int, **check: object) -> BackupCopy:
    return BackupCopy(f"offsite:sql-dump:{name}", REF.id, "sql-dump", Strategy.EXPORT,
                      f"s3://b/mysql/keystone/{name}", NOW - timedelta(hours=hours),
                      verification=Verification(**check))  # type: ignore[arg-type]


def test_nothing_usable_lists_each_copy_with_its_reason_and_what_can_be_forced() -> None:
    found = Found((
        dump("k-3.sql.gz", 1, size_ok=True, checksum_ok=False, has_manifest=True,
             detail="sha256 mismatch: manifest 1234…, object abcd…"),
        dump("k-2.sql.gz", 2, has_manifest=False),  # not checked yet: can be forced
        dump("k-1.sql.gz", 3, size_ok=False, has_manifest=True,
             detail="size mismatch: manifest 10 bytes, object 5 bytes"),
    ), "the sources just now")
    text = no_usable_copy_message(REF, KINDS, found)
    lines = text.splitlines()
    assert lines[0] == "no usable sql-dump of keystone in the sources just now; found 3:"
    assert "s3://b/mysql/keystone/k-3.sql.gz" in lines[1] and "sha256 mismatch" in lines[1]
    assert "no manifest, and its content was not checked yet" in lines[2]
    assert "size mismatch" in lines[3]
    assert lines[-1] == "  --copy s3://b/mysql/keystone/k-2.sql.gz"  # only the one that may work
    assert not any(line.strip() == "--copy s3://b/mysql/keystone/k-3.sql.gz" for line in lines)


def test_no_copy_at_all_and_broken_ones_only() -> None:
    assert "no sql-dump of keystone at all" in no_usable_copy_message(REF, KINDS, Found((), "x"))
    broken = Found((dump("k.sql.gz", 1, complete=False, has_manifest=True, size_ok=True,
                         checksum_ok=True, detail="no '-- Dump completed' trailer"),), "x")
    text = no_usable_copy_message(REF, KINDS, broken)
    assert "trailer" in text and text.endswith("none of them can be restored")
