"""Deep verification of bytes: hashing, decompression and completeness."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from dr_console.contentcheck import ContentFacts, Inspector, inspect
from dr_console.verifycache import VerifyCache, cache_key

DUMP = (
    b"-- MariaDB dump 10.19  Distrib 10.11.6-MariaDB, for debian-linux-gnu (x86_64)\n"
    b"--\n-- Host: 127.0.0.1    Database: nova\n"
    b"-- ------------------------------------------------------\n"
    b"CREATE TABLE `instances` (id int);\n"
    + b"INSERT INTO `instances` VALUES (1),(2),(3);\n" * 2000
    + b"-- Dump completed on 2026-11-23 15:00:00\n"
)


def chunks(data: bytes, size: int) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start:start + size]


@pytest.mark.parametrize("size", [1, 7, 4096, 1 << 20])
def test_gzip_dump_complete_whatever_the_chunking(size: int) -> None:
    data = gzip.compress(DUMP)
    out = inspect(chunks(data, size), sql_dump=True)
    assert out.sha256 == hashlib.sha256(data).hexdigest()
    assert out.size == len(data)
    assert (out.compression, out.complete, out.database, out.detail) == ("gzip", True, "nova", "")


def test_truncated_gzip_is_incomplete() -> None:
    data = gzip.compress(DUMP)
    out = inspect([data[: len(data) // 2]], sql_dump=True)
    assert out.complete is False
    assert out.detail == "truncated: gzip stream ends early"


def test_corrupt_gzip_is_incomplete() -> None:
    data = bytearray(gzip.compress(DUMP))
    data[len(data) // 2] ^= 0xFF
    out = inspect([bytes(data)])
    assert out.complete is False
    assert out.detail.startswith("corrupt: ")


def test_dump_without_trailer() -> None:
    cut = DUMP.rsplit(b"-- Dump completed", 1)[0]
    out = inspect([gzip.compress(cut)], sql_dump=True)
    assert out.complete is False
    assert out.detail == "no '-- Dump completed' trailer"
    # Plain (uncompressed) dumps are recognised by their header.
    out = inspect([cut])
    assert out.sql_dump and out.complete is False and out.compression == "none"


def test_concatenated_gzip_members() -> None:
    half = len(DUMP) // 2
    data = gzip.compress(DUMP[:half]) + gzip.compress(DUMP[half:])
    out = inspect(chunks(data, 1000), sql_dump=True)
    assert out.complete is True and out.detail == ""


def test_garbage_after_gzip_stream() -> None:
    out = inspect([gzip.compress(DUMP) + b"garbage"], sql_dump=True)
    assert out.complete is False and "unexpected bytes" in out.detail


def test_all_databases_dump_has_no_single_database() -> None:
    dump = DUMP.replace(b"Database: nova", b"Database: ")
    assert inspect([dump]).database is None


def test_plain_text_carries_no_completeness_signal() -> None:
    out = inspect([b"bash\tinstall\ncoreutils\tinstall\n"])
    assert (out.complete, out.sql_dump, out.compression) == (None, False, "none")


def _tar_gz() -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        payload = b"nameserver 127.0.0.1\n" * 100
        info = tarfile.TarInfo("etc/resolv.conf")
        info.size = len(payload)
        tar.addfile(info, io.BytesIO(payload))
    return buf.getvalue()


def test_tar_archive_complete_and_cut() -> None:
    assert inspect([_tar_gz()]).complete is True
    # Cut inside the tar, then re-compressed: gzip is whole, the tar is not.
    raw = gzip.decompress(_tar_gz())
    out = inspect([gzip.compress(raw[:1200])])
    assert out.complete is False
    assert out.detail == "truncated: tar archive has no end-of-archive marker"


def test_tiny_and_empty_objects() -> None:
    assert inspect([]).size == 0
    assert inspect([b"ab"]).compression == "none"


def test_decompression_memory_is_bounded() -> None:
    # 64 MiB of zeros compresses to ~64 KiB; the inspector must not hold it.
    data = gzip.compress(b"\0" * (64 << 20))
    inspector = Inspector()
    for part in chunks(data, 1 << 16):
        inspector.feed(part)
    assert len(inspector._tail) <= 8192 and len(inspector._head) <= 16384
    assert inspector.finish().complete is True


def test_verify_cache_round_trip_and_merge(tmp_path: Path) -> None:
    path = tmp_path / "verify.json"
    facts = inspect([gzip.compress(DUMP)], sql_dump=True)
    key = cache_key("http://127.0.0.1:9000", "b", "k", '"etag"', 123)
    first = VerifyCache(path)
    assert first.get(key) is None
    first.put(key, facts)
    # Another process wrote meanwhile: both entries survive.
    other = VerifyCache(path)
    other.put("other", facts)
    other.save()
    first.save()
    again = VerifyCache(path)
    assert again.get(key) == facts and again.get("other") == facts
    assert ContentFacts.from_dict(json.loads(path.read_text())["entries"][key]) == facts
    assert not list(tmp_path.glob(".verify-*"))  # no temp file left behind


def test_damaged_cache_is_ignored(tmp_path: Path) -> None:
    path = tmp_path / "verify.json"
    path.write_text("{not json")
    assert VerifyCache(path).get("x") is None
