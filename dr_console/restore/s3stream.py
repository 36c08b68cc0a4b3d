"""Reading one stored object with ranged GETs that survive a dropped
connection: on a read error the next GET starts at the byte where the last
one stopped, with If-Match on the ETag so a copy replaced meanwhile is
refused rather than spliced. The bytes are hashed as they pass, so a copy is
verified in the same single read that restores it."""

from __future__ import annotations

import hashlib
import http.client
import queue
import threading
import time
from collections.abc import Generator, Iterable, Iterator
from typing import Any

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    EndpointConnectionError,
    ReadTimeoutError,
    ResponseStreamingError,
)
from urllib3.exceptions import HTTPError as Urllib3Error

from dr_console.backup.s3 import S3Client
from dr_console.manifest import Manifest
from dr_console.restore.errors import CopyGone, CorruptCopy, RestoreCancelled, RestoreError

DEFAULT_CHUNK = 8 * 1024 * 1024
_PIECE = 1024 * 1024  # what one body.read() hands on: small enough to keep the pipeline moving

# What a dropped or stalled connection looks like from boto3/urllib3.
_TRANSIENT: tuple[type[BaseException], ...] = (
    ConnectionClosedError, EndpointConnectionError, ReadTimeoutError, ResponseStreamingError,
    Urllib3Error, http.client.HTTPException, ConnectionError, TimeoutError,
)


class ResumableReader:
    """Iterate the stored bytes of s3://bucket/key in order.

    Each GET asks for at most `chunk` bytes (`Range`), with `If-Match: etag`.
    A transient error resumes at the current offset, up to `retries`
    consecutive failures without progress (backoff 0.5 s, 1 s, 2 s …, cut
    short by `cancel`). `bytes_read` and `sha256` follow what was yielded;
    `finish(manifest)` checks them.
    """

    def __init__(self, client: S3Client, bucket: str, key: str, *, size: int, etag: str,
                 chunk: int = DEFAULT_CHUNK, retries: int = 5,
                 cancel: threading.Event | None = None, store: str = "") -> None:
        if chunk <= 0:
            raise ValueError("chunk must be positive")
        self.client = client
        self.bucket = bucket
        self.key = key
        self.size = size
        self.etag = etag
        self.chunk = chunk
        self.retries = retries
        self.cancel = cancel
        self.store = store or bucket  # the site file's name for it, in messages
        self.bytes_read = 0
        self.resumes = 0  # how many times a GET was re-issued after an error
        self._sha = hashlib.sha256()

    @property
    def sha256(self) -> str:
        return self._sha.hexdigest()

    def _get(self, start: int, end: int) -> Any:
        """One ranged GET; returns the streaming body. A seam for tests."""
        response = self.client.get_object(Bucket=self.bucket, Key=self.key,
                                          Range=f"bytes={start}-{end}", IfMatch=self.etag)
        return response["Body"]

    def __iter__(self) -> Iterator[bytes]:
        failures = 0
        while self.bytes_read < self.size:
            self._check_cancel()
            start = self.bytes_read
            end = min(start + self.chunk, self.size) - 1
            body = None
            try:
                body = self._get(start, end)
                while self.bytes_read <= end:
                    piece = body.read(min(_PIECE, end + 1 - self.bytes_read))
                    if not piece:
                        # The server closed the range early without an error.
                        raise ConnectionError("short read")
                    self._sha.update(piece)
                    self.bytes_read += len(piece)
                    failures = 0
                    yield piece
                    self._check_cancel()
            except ClientError as exc:
                code = exc.response.get("Error", {}).get("Code", "")
                status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
                if code in ("PreconditionFailed", "412") or status == 412:
                    raise CorruptCopy(f"s3://{self.bucket}/{self.key} changed while it was being "
                                      "read (ETag no longer matches); start again") from None
                if code in ("NoSuchKey", "404", "NotFound") or status == 404:
                    raise CopyGone(self.store, self.bucket, self.key) from None
                raise RestoreError(f"cannot read s3://{self.bucket}/{self.key} from store "
                                   f"{self.store}: {code or exc}") from None
            except (*_TRANSIENT, BotoCoreError) as exc:
                failures += 1
                if failures > self.retries:
                    raise RestoreError(
                        f"reading s3://{self.bucket}/{self.key} failed {failures} times at byte "
                        f"{self.bytes_read} of {self.size}: {type(exc).__name__}") from None
                self.resumes += 1
                delay = min(0.5 * 2 ** (failures - 1), 8.0)
                if self.cancel is not None and self.cancel.wait(delay):
                    raise RestoreCancelled("restore cancelled while reading the copy") from None
                if self.cancel is None:
                    time.sleep(delay)
            finally:
                if body is not None:
                    body.close()

    def _check_cancel(self) -> None:
        if self.cancel is not None and self.cancel.is_set():
            raise RestoreCancelled("restore cancelled while reading the copy")

    def finish(self, manifest: Manifest | None) -> None:
        """Raise CorruptCopy unless every byte was read and, with a
        manifest, size and sha256 are the ones it records."""
        where = f"s3://{self.bucket}/{self.key}"
        if self.bytes_read != self.size:
            raise CorruptCopy(f"{where}: read {self.bytes_read} of {self.size} bytes")
        if manifest is None:
            return
        if manifest.size != self.size:
            raise CorruptCopy(f"{where} is {self.size} bytes, its manifest says {manifest.size}")
        if manifest.sha256 != self.sha256:
            raise CorruptCopy(f"{where}: sha256 {self.sha256[:16]}… differs from the manifest's "
                              f"{manifest.sha256[:16]}…: the copy is corrupt")


def prefetch(chunks: Iterable[bytes], *, depth: int = 8,
             cancel: threading.Event | None = None, timeout: float = 600.0) -> Generator[bytes, None, None]:
    """Run `chunks` in a thread, `depth` pieces ahead, so network waits
    overlap with decompressing and parsing. Errors surface in the consumer.
    `timeout` bounds how long the consumer waits for the next piece."""
    q: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: tuple[str, Any]) -> bool:
        while not stop.is_set():
            try:
                q.put(item, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False

    def run() -> None:
        try:
            for piece in chunks:
                if not put(("data", piece)):
                    return
            put(("end", None))
        except BaseException as exc:  # handed to the consumer, which re-raises it
            put(("error", exc))

    thread = threading.Thread(target=run, name="drc-s3-prefetch", daemon=True)
    thread.start()
    try:
        while True:
            try:
                kind, value = q.get(timeout=timeout)
            except queue.Empty:
                raise RestoreError(f"no data from the store for {timeout:.0f} s") from None
            if kind == "data":
                yield value
            elif kind == "end":
                return
            else:
                raise value
            if cancel is not None and cancel.is_set():
                raise RestoreCancelled("restore cancelled while reading the copy")
    finally:
        stop.set()
        thread.join(timeout=30)
