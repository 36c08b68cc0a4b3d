"""Deep verification of a backup's bytes, fed chunk by chunk: sha256 of the
stored bytes, on-the-fly decompression, and the completeness signals the
content itself carries (gzip end of stream, mysqldump's trailer, a tar's
end-of-archive). Pure: no I/O, bounded memory, so the store provider, the
`verify` command and a restore step can all feed it from wherever the bytes
come from."""

from __future__ import annotations

import hashlib
import re
import zlib
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

try:  # optional: zstd dumps are only checked when the library is present
    import zstandard as _zstd  # type: ignore[import-not-found]
except ImportError:  # pragma: no cover - depends on the environment
    _zstd = None

GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
DUMP_TRAILER = b"-- Dump completed"
_DUMP_HEADS = (b"-- MySQL dump", b"-- MariaDB dump")
_HEADER_DB = re.compile(rb"^-- Host: [^\n]*?Database: ([^\s]*)", re.MULTILINE)

_HEAD_BYTES = 16 * 1024
_TAIL_BYTES = 8 * 1024
# Bounds each decompression step, so a small compressed chunk that expands
# hugely (zeros, or a bomb) never needs more than this much memory.
_MAX_OUT = 4 * 1024 * 1024


@dataclass(frozen=True)
class ContentFacts:
    """What the bytes of one object say about themselves. Cached per object
    version: it does not depend on any manifest."""

    sha256: str
    size: int
    compression: str  # none | gzip | zstd
    complete: bool | None  # None: the format carries no completeness signal
    database: str | None = None  # from a dump header "-- Host: ... Database: X"
    sql_dump: bool = False
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ContentFacts:
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})


class Inspector:
    """Feed it the stored bytes in order; `finish()` returns the facts."""

    def __init__(self, *, sql_dump: bool = False) -> None:
        self._sha = hashlib.sha256()
        self._size = 0
        self._sql_hint = sql_dump
        self._pending = b""  # first bytes, until the format is known
        self._compression: str | None = None
        self._decomp: Any = None
        self._error = ""
        self._trailing_garbage = False
        self._head = bytearray()
        self._tail = b""
        self._out_size = 0

    @property
    def size(self) -> int:
        return self._size

    def feed(self, chunk: bytes) -> None:
        if not chunk:
            return
        self._sha.update(chunk)
        self._size += len(chunk)
        if self._compression is None:
            self._pending += chunk
            if len(self._pending) < len(ZSTD_MAGIC):
                return
            self._start(self._pending)
            chunk, self._pending = self._pending, b""
        if self._error:
            return  # keep hashing, stop decompressing
        self._decompress(chunk)

    def _start(self, first: bytes) -> None:
        if first.startswith(GZIP_MAGIC):
            self._compression = "gzip"
            self._decomp = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif first.startswith(ZSTD_MAGIC):
            self._compression = "zstd"
            self._decomp = _zstd.ZstdDecompressor().decompressobj() if _zstd else None
        else:
            self._compression = "none"

    def _decompress(self, data: bytes) -> None:
        if self._compression == "none":
            self._plain(data)
        elif self._compression == "gzip":
            self._gunzip(data)
        elif self._decomp is not None:
            self._unzstd(data)

    def _gunzip(self, data: bytes) -> None:
        while data:
            if self._decomp is None:
                # A finished member followed by more bytes: another member
                # (concatenated gzip, as pigz and `cat a.gz b.gz` make) or junk.
                if data.strip(b"\0") == b"":
                    return
                if not data.startswith(GZIP_MAGIC[:1]):
                    self._trailing_garbage = True
                    return
                self._decomp = zlib.decompressobj(16 + zlib.MAX_WBITS)
            try:
                out = self._decomp.decompress(data, _MAX_OUT)
                self._plain(out)
                while self._decomp.unconsumed_tail:
                    out = self._decomp.decompress(self._decomp.unconsumed_tail, _MAX_OUT)
                    self._plain(out)
            except zlib.error as exc:
                self._error = f"corrupt: gzip data error ({exc})"
                return
            if self._decomp.eof:
                data = self._decomp.unused_data
                self._decomp = None
            else:
                data = b""

    def _unzstd(self, data: bytes) -> None:
        while data:
            if self._decomp is None:
                if data.strip(b"\0") == b"":
                    return
                self._decomp = _zstd.ZstdDecompressor().decompressobj()
            try:
                self._plain(self._decomp.decompress(data))
            except _zstd.ZstdError as exc:
                self._error = f"corrupt: zstd data error ({exc})"
                return
            if getattr(self._decomp, "eof", False):
                data = getattr(self._decomp, "unused_data", b"")
                self._decomp = None
            else:
                data = b""

    def _plain(self, out: bytes) -> None:
        if not out:
            return
        self._out_size += len(out)
        if len(self._head) < _HEAD_BYTES:
            self._head += out[: _HEAD_BYTES - len(self._head)]
        self._tail = (self._tail + out)[-_TAIL_BYTES:]

    def finish(self) -> ContentFacts:
        if self._compression is None:  # fewer than 4 bytes in all
            self._start(self._pending)
            self._decompress(self._pending)
        head = bytes(self._head)
        sql = self._sql_hint or head.lstrip().startswith(_DUMP_HEADS)
        database = None
        if sql:
            found = _HEADER_DB.search(head)
            if found and found.group(1):
                database = found.group(1).decode("utf-8", "replace")

        problems: list[str] = []
        complete: bool | None = None
        compression = self._compression or "none"
        if self._error:
            problems.append(self._error)
            complete = False
        elif compression == "zstd" and _zstd is None:
            problems.append("zstd content not checked: the zstandard module is not installed")
        else:
            if compression != "none":
                if self._decomp is not None:  # a member was still open at the end
                    problems.append(f"truncated: {compression} stream ends early")
                    complete = False
                elif self._trailing_garbage:
                    problems.append(f"corrupt: unexpected bytes after the {compression} stream")
                    complete = False
                else:
                    complete = True
            if sql and complete is not False:
                if DUMP_TRAILER in self._tail:
                    complete = True
                else:
                    problems.append("no '-- Dump completed' trailer")
                    complete = False
            elif _is_tar(head) and complete is not False:
                # An archive ends with two zero blocks; a cut-off tar does not.
                if self._out_size % 512 == 0 and self._tail[-1024:] == b"\0" * 1024:
                    complete = True
                else:
                    problems.append("truncated: tar archive has no end-of-archive marker")
                    complete = False
        return ContentFacts(
            sha256=self._sha.hexdigest(),
            size=self._size,
            compression=compression,
            complete=complete,
            database=database,
            sql_dump=sql,
            detail="; ".join(problems),
        )


def _is_tar(head: bytes) -> bool:
    return len(head) >= 262 and head[257:262] == b"ustar"


def inspect(chunks: Iterable[bytes], *, sql_dump: bool = False) -> ContentFacts:
    inspector = Inspector(sql_dump=sql_dump)
    for chunk in chunks:
        inspector.feed(chunk)
    return inspector.finish()
