"""Streaming decompression of a stored dump: gzip (several members, as pigz
and `cat a.gz b.gz` make) and zstd (several frames), with bounded memory
per step. A stream that stops before its end is a truncated copy."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

# ISA-L's inflate: zlib's API and format, about twice as fast.
from isal import isal_zlib

from dr_console.contentcheck import GZIP_MAGIC, ZSTD_MAGIC
from dr_console.restore.errors import CorruptCopy

try:
    import zstandard as _zstd
except ImportError:  # pragma: no cover - a hard dependency, but keep the error readable
    _zstd = None

# Bounds one decompression step, so a chunk that expands hugely (zeros, or
# a bomb) never needs more than this much memory at once.
_MAX_OUT = 4 * 1024 * 1024


def detect(first: bytes) -> str:
    if first.startswith(GZIP_MAGIC):
        return "gzip"
    if first.startswith(ZSTD_MAGIC):
        return "zstd"
    return "none"


def decompress(chunks: Iterable[bytes], compression: str = "auto") -> Iterator[bytes]:
    """Plain bytes from stored bytes. `compression`: auto | none | gzip | zstd.
    Raises CorruptCopy on damaged data, a truncated stream, or junk after it."""
    it = iter(chunks)
    if compression == "auto":
        first = b""
        for chunk in it:
            first += chunk
            if len(first) >= 4:
                break
        compression = detect(first)
        it = _chain(first, it)
    if compression == "none":
        yield from (c for c in it if c)
    elif compression == "gzip":
        yield from _gunzip(it)
    elif compression == "zstd":
        yield from _unzstd(it)
    else:
        raise CorruptCopy(f"unknown compression {compression!r}")


def _chain(first: bytes, rest: Iterator[bytes]) -> Iterator[bytes]:
    if first:
        yield first
    yield from rest


def _gunzip(chunks: Iterator[bytes]) -> Iterator[bytes]:
    decomp: isal_zlib.Decompress | None = isal_zlib.decompressobj(16 + isal_zlib.MAX_WBITS)
    seen = False
    for data in chunks:
        while data:
            seen = True
            if decomp is None:
                # A finished member followed by more bytes: another member, or junk.
                if data.strip(b"\0") == b"":
                    break
                if not data.startswith(GZIP_MAGIC[:1]):
                    raise CorruptCopy("corrupt: unexpected bytes after the gzip stream")
                decomp = isal_zlib.decompressobj(16 + isal_zlib.MAX_WBITS)
            try:
                out = decomp.decompress(data, _MAX_OUT)
                if out:
                    yield out
                while decomp.unconsumed_tail:
                    out = decomp.decompress(decomp.unconsumed_tail, _MAX_OUT)
                    if out:
                        yield out
            except isal_zlib.error as exc:
                raise CorruptCopy(f"corrupt: gzip data error ({exc})") from None
            if decomp.eof:
                data = decomp.unused_data
                decomp = None
            else:
                data = b""
    if decomp is not None and seen:
        raise CorruptCopy("truncated: the gzip stream ends early")
    if not seen:
        raise CorruptCopy("truncated: the copy is empty")


def _unzstd(chunks: Iterator[bytes]) -> Iterator[bytes]:
    if _zstd is None:
        raise CorruptCopy("cannot read a zstd copy: the zstandard module is not installed")
    decomp = _zstd.ZstdDecompressor().decompressobj()
    open_frame = False
    for data in chunks:
        while data:
            if decomp is None:
                if data.strip(b"\0") == b"":
                    break
                decomp = _zstd.ZstdDecompressor().decompressobj()
            try:
                out = decomp.decompress(data)
            except _zstd.ZstdError as exc:
                raise CorruptCopy(f"corrupt: zstd data error ({exc})") from None
            open_frame = True
            if out:
                yield out
            if decomp.eof:
                data = decomp.unused_data
                decomp = None
                open_frame = False
            else:
                data = b""
    if open_frame:
        raise CorruptCopy("truncated: the zstd stream ends early")
