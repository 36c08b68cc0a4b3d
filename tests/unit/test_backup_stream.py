"""The streaming pieces of dr_console.backup, without services: the row
counter on both dump layouts, and the bounded-memory S3 upload (moto's
in-process S3)."""

from __future__ import annotations

import hashlib
import os

import boto3
import pytest
from moto import mock_aws

from dr_console.backup import timestamp
from dr_console.backup.dump import RowCounter
from dr_console.backup.s3 import MIN_PART_SIZE, StreamUpload

AWKWARD = rb"""(1,'O\'Brien','paren),(trick',NULL),
(2,'back\\slash','semi;colon',0x00FF),
(3,'ends with paren)','(',NULL);
"""


def _count(text: bytes) -> RowCounter:
    counter = RowCounter()
    for line in text.splitlines(keepends=True):
        counter.feed(line)
    return counter


def test_row_counter_one_row_per_line_layout() -> None:
    counter = _count(b"CREATE TABLE `t` (\n  `id` int\n);\nCREATE TABLE `empty` (id int);\n"
                     b"INSERT INTO `t` VALUES\n" + AWKWARD +
                     b"INSERT INTO `t` VALUES\n(4,'x','y',NULL);\n"
                     b"-- Dump completed on 2025-01-01  0:00:00\n")
    assert counter.tables == {"t": 4, "empty": 0}
    assert counter.complete


def test_row_counter_single_line_extended_insert() -> None:
    line = b"INSERT INTO `we``ird` VALUES " + AWKWARD.replace(b"\n", b"") + b"\n"
    counter = _count(line + b"INSERT INTO `we``ird` (`a`, `b`) VALUES (9,'),(');\n")
    assert counter.tables == {"we`ird": 4}
    assert not counter.complete  # no trailer: an incomplete dump


def test_timestamp_format() -> None:
    from datetime import UTC, datetime

    assert timestamp(datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)) == "20250102T030405Z"


@mock_aws
def test_stream_upload_small_object_is_one_put() -> None:
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="bkt")
    with StreamUpload(s3, "bkt", "small") as up:
        up.write(b"hello ")
        up.write(b"world")
    assert up.size == 11
    assert up.sha256 == hashlib.sha256(b"hello world").hexdigest()
    assert s3.get_object(Bucket="bkt", Key="small")["Body"].read() == b"hello world"


@mock_aws
def test_stream_upload_goes_multipart_with_bounded_buffer() -> None:
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="bkt")
    data = os.urandom(MIN_PART_SIZE * 2 + 12345)
    with StreamUpload(s3, "bkt", "big", part_size=MIN_PART_SIZE) as up:
        for start in range(0, len(data), 1 << 20):
            up.write(data[start:start + (1 << 20)])
            assert len(up._buffer) < MIN_PART_SIZE  # never more than one part held
    assert len(up._parts) == 3
    body = s3.get_object(Bucket="bkt", Key="big")["Body"].read()
    assert body == data and up.sha256 == hashlib.sha256(data).hexdigest()


@mock_aws
def test_stream_upload_aborts_on_error_and_leaves_nothing() -> None:
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="bkt")
    with pytest.raises(RuntimeError), StreamUpload(s3, "bkt", "broken",
                                                   part_size=MIN_PART_SIZE) as up:
        up.write(os.urandom(MIN_PART_SIZE + 1))
        raise RuntimeError("dump failed")
    assert s3.list_objects_v2(Bucket="bkt")["KeyCount"] == 0
    assert not s3.list_multipart_uploads(Bucket="bkt").get("Uploads")
