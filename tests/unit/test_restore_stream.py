"""Stored bytes to plain bytes: streaming decompression and the resumable
S3 reader (against a fake client; tests/integration covers real moto)."""

from __future__ import annotations

import gzip
import hashlib
import io
from datetime import UTC, datetime
from typing import Any

import pymysql
import pytest
import zstandard
from botocore.exceptions import ClientError
from urllib3.exceptions import ProtocolError

from dr_console.manifest import Manifest
from dr_console.restore.decompress import decompress
from dr_console.restore.errors import CorruptCopy, RestoreError
from dr_console.restore.s3stream import ResumableReader, prefetch

PLAIN = b"".join(b"INSERT INTO `t` VALUES (%d,'row %d');\n" % (i, i) for i in range(20000))


def chunks(data: bytes, size: int = 777) -> list[bytes]:
    return [data[i:i + size] for i in range(0, len(data), size)]


def test_gzip_multi_member() -> None:
    half = len(PLAIN) // 2
    stored = gzip.compress(PLAIN[:half]) + gzip.compress(PLAIN[half:])
    assert b"".join(decompress(chunks(stored), "gzip")) == PLAIN
    assert b"".join(decompress(chunks(stored), "auto")) == PLAIN


def test_zstd_multi_frame() -> None:
    cctx = zstandard.ZstdCompressor()
    stored = cctx.compress(PLAIN[:1000]) + cctx.compress(PLAIN[1000:])
    assert b"".join(decompress(chunks(stored), "zstd")) == PLAIN
    assert b"".join(decompress(chunks(stored), "auto")) == PLAIN


def test_plain_passes_through() -> None:
    assert b"".join(decompress(chunks(PLAIN), "auto")) == PLAIN


@pytest.mark.parametrize("compress", [gzip.compress, zstandard.ZstdCompressor().compress])
def test_truncated_stream_is_refused(compress: Any) -> None:
    stored = compress(PLAIN)
    with pytest.raises(CorruptCopy, match="truncated"):
        b"".join(decompress(chunks(stored[: len(stored) * 2 // 3]), "auto"))


def test_gzip_garbage_after_the_stream() -> None:
    with pytest.raises(CorruptCopy, match="unexpected bytes"):
        b"".join(decompress(chunks(gzip.compress(PLAIN) + b"junk"), "gzip"))


def test_gzip_damaged_data() -> None:
    stored = bytearray(gzip.compress(PLAIN))
    for i in range(100, 200):
        stored[i] ^= 0xA5
    with pytest.raises(CorruptCopy, match="corrupt"):
        b"".join(decompress(chunks(bytes(stored)), "gzip"))


class _Body:
    def __init__(self, data: bytes, fail_after: int | None) -> None:
        self.stream = io.BytesIO(data)
        self.fail_after = fail_after
        self.sent = 0

    def read(self, n: int) -> bytes:
        if self.fail_after is not None and self.sent >= self.fail_after:
            raise ProtocolError("Connection broken: IncompleteRead")
        piece = self.stream.read(n if self.fail_after is None else min(n, self.fail_after - self.sent))
        self.sent += len(piece)
        return piece

    def close(self) -> None:
        pass


class FakeS3:
    def __init__(self, data: bytes, etag: str = '"e1"', fail_after: list[int] | None = None) -> None:
        self.data = data
        self.etag = etag
        self.fail_after = list(fail_after or [])
        self.ranges: list[str] = []

    def get_object(self, *, Bucket: str, Key: str, Range: str, IfMatch: str) -> dict[str, Any]:
        self.ranges.append(Range)
        if IfMatch != self.etag:
            raise ClientError({"Error": {"Code": "PreconditionFailed"},
                               "ResponseMetadata": {"HTTPStatusCode": 412}}, "GetObject")
        start, end = (int(x) for x in Range.removeprefix("bytes=").split("-"))
        fail = self.fail_after.pop(0) if self.fail_after else None
        return {"Body": _Body(self.data[start:end + 1], fail)}


def _manifest(data: bytes, **changes: Any) -> Manifest:
    fields = {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data), "compression": "gzip",
              "created_at": datetime.now(UTC), "kind": "sql-dump"}
    fields.update(changes)
    return Manifest(**fields)


def test_reader_resumes_at_the_offset_after_a_dropped_connection() -> None:
    data = bytes(range(256)) * 4000  # ~1 MB
    fake = FakeS3(data, fail_after=[100_000, 5])
    reader = ResumableReader(fake, "b", "k", size=len(data), etag='"e1"', chunk=300_000)
    reader_chunks = list(reader)
    assert b"".join(reader_chunks) == data
    assert reader.resumes == 2
    assert fake.ranges[:3] == ["bytes=0-299999", "bytes=100000-399999", "bytes=100005-400004"]
    reader.finish(_manifest(data))


def test_reader_gives_up_after_its_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("time.sleep", lambda _s: None)
    data = b"x" * 1000
    fake = FakeS3(data, fail_after=[0] * 10)
    reader = ResumableReader(fake, "b", "k", size=len(data), etag='"e1"', retries=3)
    with pytest.raises(RestoreError, match="failed 4 times at byte 0"):
        list(reader)


def test_reader_refuses_a_changed_object() -> None:
    reader = ResumableReader(FakeS3(b"abc", etag='"other"'), "b", "k", size=3, etag='"e1"')
    with pytest.raises(CorruptCopy, match="changed"):
        list(reader)


def test_finish_checks_size_and_sha256() -> None:
    data = b"hello world"
    reader = ResumableReader(FakeS3(data), "b", "k", size=len(data), etag='"e1"')
    list(reader)
    with pytest.raises(CorruptCopy, match="sha256"):
        reader.finish(_manifest(data, sha256="0" * 64))
    with pytest.raises(CorruptCopy, match="manifest says"):
        reader.finish(_manifest(data, size=99))
    reader.finish(None)
    reader.finish(_manifest(data))


def test_prefetch_passes_errors_through() -> None:
    def broken() -> Any:
        yield b"a"
        raise CorruptCopy("boom")

    out = []
    with pytest.raises(CorruptCopy, match="boom"):
        for piece in prefetch(broken()):
            out.append(piece)
    assert out == [b"a"]


# --- server faults become the operator's errors ------------------------------


@pytest.mark.parametrize(("exc", "kind"), [
    (pymysql.err.OperationalError(2013, "Lost connection to MySQL server during query"), "ConnectionLost"),
    (pymysql.err.OperationalError(1053, "Server shutdown in progress"), "ConnectionLost"),
    (pymysql.err.InterfaceError(0, ""), "ConnectionLost"),
    (pymysql.err.OperationalError(1114, "The table 'filler' is full"), "ServerFull"),
    (pymysql.err.OperationalError(3, "Error writing file './x' (Errcode: 28 \"No space left on device\")"),
     "ServerFull"),
    (pymysql.err.ProgrammingError(1064, "You have an error in your SQL syntax"), "RestoreError"),
])
def test_server_errors_are_classified(exc: Exception, kind: str) -> None:
    from dr_console.restore.loader import server_error

    error = server_error(exc, "loading table t")  # type: ignore[arg-type]
    assert type(error).__name__ == kind
    assert str(error).startswith("loading table t failed: MariaDB error")
