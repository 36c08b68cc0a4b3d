"""An S3-compatible backup store: the objects in it that match a copy
pattern are copies of the asset the pattern names. Manifests say what an
object should be; deep verification (streamed, cached once per object
version) says what it is."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from dr_console import drillrecord
from dr_console import manifest as mf
from dr_console.contentcheck import ContentFacts, Inspector
from dr_console.errors import ProviderError
from dr_console.model import BackupCopy, Verification, is_good
from dr_console.providers import Discovery, UnboundCopy
from dr_console.providers._boto import (
    BOTO_ERRORS,
    endpoint_key,
    endpoint_label,
    error_code,
    make_client,
    reason,
    session,
)
from dr_console.schema import CopyPattern, Site, Store, parse_location
from dr_console.verifycache import VerifyCache, cache_key

CHUNK = 1024 * 1024
DEEP_PER_ASSET = 3
# Deep checks inside discover() stop starting new work after this long, so
# a first run over big dumps cannot hold the inventory past its deadline;
# what is left is checked on the next run (results are cached) or by
# `dr-console verify`.
DEEP_BUDGET_SECONDS = 30.0
_MANIFEST_MAX = 1024 * 1024
_DB_ASSET_KINDS = (None, "database")


# --------------------------------------------------------------------------
# Pure helpers: key matching and timestamps


def parse_key_timestamp(text: str) -> datetime | None:
    """'20261123T150000Z', '2026-11-23T15:00:00Z', '2026-11-23_150000',
    '20261123' -> an aware UTC datetime; None if it is not a valid date."""
    digits = re.sub(r"\D", "", text)
    try:
        if len(digits) == 14:
            return datetime.strptime(digits, "%Y%m%d%H%M%S").replace(tzinfo=UTC)
        if len(digits) == 8:
            return datetime.strptime(digits, "%Y%m%d").replace(tzinfo=UTC)
    except ValueError:
        return None
    return None


@dataclass(frozen=True)
class KeyMatch:
    pattern: CopyPattern
    asset: str
    timestamp: datetime | None


def match_key(
    key: str, patterns: Sequence[CopyPattern], prefix: str = "",
    compiled: Sequence[re.Pattern[str]] | None = None,
) -> KeyMatch | None:
    """The first pattern (in site-file order) matching the key, tried on the
    key relative to the store's prefix and then on the whole key."""
    regexes = compiled if compiled is not None else [p.regex() for p in patterns]
    candidates = [key[len(prefix):]] if prefix and key.startswith(prefix) else []
    candidates.append(key)
    for pattern, regex in zip(patterns, regexes, strict=True):
        for text in candidates:
            found = regex.match(text)
            if found:
                stamp = found.groupdict().get("timestamp")
                return KeyMatch(pattern, found.group("asset"),
                                parse_key_timestamp(stamp) if stamp else None)
    return None


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _short(digest: str) -> str:
    return digest[:12] + "…"


def verification_for(
    *,
    size: int,
    manifest: mf.Manifest | None,
    manifest_problem: str = "",
    facts: ContentFacts | None = None,
    expected_database: str | None = None,
    note: str = "",
    drill: drillrecord.DrillRecord | None = None,
) -> Verification:
    """Combine the listing, the manifest and (if deep-checked) the content
    facts into one Verification, with the reason in `detail`. Pure."""
    problems: list[str] = []
    if manifest_problem:
        problems.append(manifest_problem)
    size_ok = checksum_ok = complete = None
    if manifest is not None:
        size_ok = size == manifest.size
        if not size_ok:
            problems.append(f"size mismatch: manifest {manifest.size} bytes, object {size} bytes")
    if facts is not None:
        if manifest is not None:
            checksum_ok = facts.sha256 == manifest.sha256.lower()
            if not checksum_ok:
                problems.append(f"sha256 mismatch: manifest {_short(manifest.sha256)}, "
                                f"object {_short(facts.sha256)}")
        complete = facts.complete
        if facts.detail:
            problems.append(facts.detail)
        if facts.database and expected_database and facts.database != expected_database:
            # A dump of another database cannot restore this one.
            problems.append(f"dump is of database {facts.database!r}, "
                            f"expected {expected_database!r}")
            complete = False
    if note:
        problems.append(note)
    return drillrecord.apply(Verification(
        present=True,
        size_ok=size_ok,
        checksum_ok=checksum_ok,
        complete=complete,
        has_manifest=manifest is not None,
        detail="; ".join(problems),
    ), drill)


# --------------------------------------------------------------------------
# The provider


@dataclass
class _Found:
    """One matched object while discover() works on it."""

    key: str
    size: int
    etag: str
    last_modified: datetime
    match: KeyMatch
    has_manifest_object: bool
    manifest: mf.Manifest | None = None
    manifest_problem: str = ""
    has_drill_object: bool = False
    drill: drillrecord.DrillRecord | None = None
    facts: ContentFacts | None = None
    note: str = ""

    @property
    def created_at(self) -> datetime:
        if self.manifest is not None:
            return _aware(self.manifest.created_at)
        return self.match.timestamp or self.last_modified


class StoreProvider:
    """One store entry, with every copy pattern that names it."""

    provider = "store"

    def __init__(
        self,
        store: Store,
        patterns: Iterable[CopyPattern],
        *,
        cache: VerifyCache | None = None,
        deep: bool = True,
        deep_per_asset: int = DEEP_PER_ASSET,
        deep_budget: float = DEEP_BUDGET_SECONDS,
        workers: int = 4,
        asset: str | None = None,
    ) -> None:
        self.store = store
        # Only this asset's copies: list the patterns' prefixes for it, not
        # the whole store (how a runbook confirms "no copy" cheaply).
        self.asset = asset
        self.source = store.name
        self.patterns = [p for p in patterns if p.store == store.name]
        self._regexes = [p.regex() for p in self.patterns]
        self.cache = cache
        self.deep = deep
        self.deep_per_asset = deep_per_asset
        self.deep_budget = deep_budget
        self.workers = workers
        self._where = (f"store {store.name} ({endpoint_label(store.endpoint_url, store.region)}, "
                       f"bucket {store.bucket})")
        self._endpoint = endpoint_key(store.endpoint_url, store.region)
        self._client: Any = None

    def _s3(self) -> Any:
        if self._client is None:
            sess = session(region=self.store.region, profile=self.store.profile,
                           credentials_file=self.store.credentials_file, what=self._where)
            self._client = make_client(sess, "s3", endpoint_url=self.store.endpoint_url,
                                       timeout=self.store.timeout, what=self._where)
        return self._client

    def _fail(self, exc: BaseException) -> ProviderError:
        code = error_code(exc)
        if code == "NoSuchBucket":
            return ProviderError(f"{self._where}: bucket does not exist")
        return ProviderError(reason(exc, where=self._where, timeout=self.store.timeout))

    # -- discover ----------------------------------------------------------

    def discover(self) -> Discovery:
        found = self._list_matching()
        self._read_manifests(found)
        if self.deep:
            self._deep_walk(found)
        if self.cache is not None:
            self.cache.save()
        unbound = [self._unbound(item) for item in found]
        return Discovery(source=self.source, provider=self.provider, unbound=unbound)

    def _prefixes(self) -> list[str]:
        if self.asset is None:
            return [self.store.prefix]
        prefixes = set()
        for pattern in self.patterns:
            literal = pattern.listing_prefix(self.asset)
            prefixes.add(literal if literal.startswith(self.store.prefix)
                         else self.store.prefix + literal)
        # A prefix inside another is listed with it.
        return sorted(p for p in prefixes if not any(o != p and p.startswith(o) for o in prefixes))

    def _list_matching(self) -> list[_Found]:
        s3 = self._s3()
        objects: dict[str, dict[str, Any]] = {}
        try:
            for prefix in self._prefixes():
                pages = s3.get_paginator("list_objects_v2").paginate(
                    Bucket=self.store.bucket, Prefix=prefix)
                for page in pages:
                    for obj in page.get("Contents", []):
                        objects[obj["Key"]] = obj
        except BOTO_ERRORS as exc:
            raise self._fail(exc) from None
        found = []
        for key, obj in objects.items():
            if key.endswith((mf.SUFFIX, drillrecord.SUFFIX)):
                continue
            match = match_key(key, self.patterns, self.store.prefix, self._regexes)
            if match is None or (self.asset is not None and match.asset != self.asset):
                continue
            found.append(_Found(
                key=key, size=int(obj["Size"]), etag=str(obj.get("ETag", "")),
                last_modified=_aware(obj["LastModified"]), match=match,
                has_manifest_object=mf.manifest_key(key) in objects,
                has_drill_object=drillrecord.record_key(key) in objects,
            ))
        return found

    def _read_manifests(self, found: list[_Found]) -> None:
        todo = [f for f in found if f.has_manifest_object]
        drilled = [f for f in found if f.has_drill_object]
        with ThreadPoolExecutor(max_workers=self.workers) as pool:
            for item, (manifest, problem) in zip(
                    todo, pool.map(lambda f: self._get_manifest(f.key), todo), strict=True):
                item.manifest, item.manifest_problem = manifest, problem
            for item, record in zip(drilled, pool.map(lambda f: self.drill_record(f.key), drilled),
                                    strict=True):
                item.drill = record

    def drill_record(self, key: str) -> drillrecord.DrillRecord | None:
        """The drill record beside a copy, or None (none, or unreadable: a
        record that cannot be read proves nothing)."""
        try:
            resp = self._s3().get_object(Bucket=self.store.bucket, Key=drillrecord.record_key(key))
            return drillrecord.DrillRecord.from_json(resp["Body"].read(_MANIFEST_MAX))
        except (*BOTO_ERRORS, drillrecord.DrillRecordError):
            return None

    def _get_manifest(self, key: str) -> tuple[mf.Manifest | None, str]:
        """(manifest, problem). A manifest that cannot be read makes the copy
        unverified, not the store unreadable."""
        try:
            resp = self._s3().get_object(Bucket=self.store.bucket, Key=mf.manifest_key(key))
            body = resp["Body"].read(_MANIFEST_MAX + 1)
        except BOTO_ERRORS as exc:
            code = error_code(exc)
            if code in ("NoSuchKey", "404"):
                return None, ""
            return None, "manifest unreadable: " + reason(exc, where="GET", timeout=self.store.timeout)
        if len(body) > _MANIFEST_MAX:
            return None, "manifest unreadable: larger than 1 MiB"
        try:
            return mf.Manifest.from_json(body), ""
        except mf.ManifestError as exc:
            return None, f"manifest unreadable: {exc}"

    def _deep_walk(self, found: list[_Found]) -> None:
        # Per asset and per kind of copy: a host needs a good /etc archive
        # AND a good package list, so one must not stop the walk for the other.
        groups: dict[tuple[str, str | None, str], list[_Found]] = {}
        for item in found:
            pattern = item.match.pattern
            groups.setdefault((item.match.asset, pattern.asset_kind, pattern.kind), []).append(item)
        deadline = time.monotonic() + self.deep_budget
        with ThreadPoolExecutor(max_workers=self.workers) as pool:
            list(pool.map(lambda items: self._walk_asset(items, deadline), groups.values()))

    def _walk_asset(self, items: list[_Found], deadline: float) -> None:
        """Newest first: check copies until one is good (by the policy's own
        test), at most `deep_per_asset` fresh checks (cached results are free)
        for each asset and kind of copy."""
        checked = 0
        for item in sorted(items, key=lambda f: f.created_at, reverse=True):
            shallow = self._verification(item)
            if not shallow.usable:
                continue  # already failed on size: hashing it would prove nothing more
            item.facts = self._cached(item)
            if item.facts is None:
                if checked >= self.deep_per_asset:
                    break
                if time.monotonic() > deadline:
                    item.note = "not deep-verified yet: over this run's time budget"
                    break
                checked += 1
                try:
                    item.facts = self._inspect(item.key, item.size, item.etag,
                                               sql=self._is_sql(item), deadline=deadline)
                except ProviderError as exc:
                    item.note = f"deep check failed: {exc}"
                    continue
                except _OverBudget:
                    item.note = "not deep-verified yet: over this run's time budget"
                    break
            if is_good(self._unbound(item).copy):
                break

    def _is_sql(self, item: _Found) -> bool:
        kind = item.manifest.kind if item.manifest else item.match.pattern.kind
        return kind == "sql-dump" or ".sql" in item.key.rsplit("/", 1)[-1]

    def _cache_key(self, key: str, etag: str, size: int) -> str:
        return cache_key(self._endpoint, self.store.bucket, key, etag, size)

    def _cached(self, item: _Found) -> ContentFacts | None:
        if self.cache is None:
            return None
        return self.cache.get(self._cache_key(item.key, item.etag, item.size))

    def _inspect(
        self, key: str, size: int, etag: str, *, sql: bool, deadline: float | None = None,
        progress: Callable[[int, int], None] | None = None,
        cancel: threading.Event | None = None,
    ) -> ContentFacts:
        """Stream one object through the inspector; cache the facts."""
        inspector = Inspector(sql_dump=sql)
        try:
            resp = self._s3().get_object(Bucket=self.store.bucket, Key=key, IfMatch=etag) \
                if etag else self._s3().get_object(Bucket=self.store.bucket, Key=key)
            for chunk in resp["Body"].iter_chunks(CHUNK):
                inspector.feed(chunk)
                if progress is not None:
                    progress(inspector.size, size)
                if cancel is not None and cancel.is_set():
                    raise ProviderError("verification cancelled")
                if deadline is not None and time.monotonic() > deadline:
                    resp["Body"].close()
                    raise _OverBudget
        except BOTO_ERRORS as exc:
            code = error_code(exc)
            if code in ("PreconditionFailed", "412"):
                raise ProviderError(f"{key} changed while being read") from None
            raise ProviderError(reason(exc, where=f"GET {key}",
                                       timeout=self.store.timeout)) from None
        facts = inspector.finish()
        if facts.size != size:
            raise ProviderError(f"read {facts.size} of {size} bytes of {key}")
        if self.cache is not None:
            self.cache.put(self._cache_key(key, etag, size), facts)
        return facts

    def _verification(self, item: _Found) -> Verification:
        kind = item.match.pattern.asset_kind
        return verification_for(
            size=item.size, manifest=item.manifest, manifest_problem=item.manifest_problem,
            facts=item.facts, note=item.note, drill=item.drill,
            expected_database=item.match.asset if kind in _DB_ASSET_KINDS else None,
        )

    def _unbound(self, item: _Found) -> UnboundCopy:
        pattern = item.match.pattern
        copy = BackupCopy(
            id=f"{self.source}:{pattern.kind}:{item.key}",
            asset_id="",
            kind=pattern.kind,
            strategy=pattern.strategy,
            location=f"s3://{self.store.bucket}/{item.key}",
            created_at=item.created_at,
            size=item.size,
            verification=self._verification(item),
        )
        return UnboundCopy(item.match.asset, pattern.asset_kind, copy)

    # -- verify one copy ---------------------------------------------------

    def verify_copy(
        self, location: str, deep: bool = True, *, use_cache: bool = True,
        progress: Callable[[int, int], None] | None = None,
        cancel: threading.Event | None = None,
    ) -> UnboundCopy:
        """Check one s3://bucket/key in this store: its manifest and, if
        `deep`, its bytes (from the cache unless use_cache=False). Returns the
        copy with the asset name its key maps to ('' if no pattern matches)."""
        bucket, key = parse_location(location)
        if bucket != self.store.bucket:
            raise ProviderError(f"{location} is not in {self._where}")
        try:
            head = self._s3().head_object(Bucket=bucket, Key=key)
        except BOTO_ERRORS as exc:
            code = error_code(exc)
            if code in ("404", "NoSuchKey", "NotFound"):
                raise ProviderError(f"{location}: no such object") from None
            raise self._fail(exc) from None
        match = match_key(key, self.patterns, self.store.prefix, self._regexes)
        if match is None:
            # Not a copy of anything the site names; still worth checking.
            kind = "sql-dump" if ".sql" in key.rsplit("/", 1)[-1] else "object"
            match = KeyMatch(CopyPattern(store=self.store.name, pattern="{asset}", kind=kind),
                             "", None)
        item = _Found(
            key=key, size=int(head["ContentLength"]), etag=str(head.get("ETag", "")),
            last_modified=_aware(head["LastModified"]), match=match, has_manifest_object=True,
        )
        item.manifest, item.manifest_problem = self._get_manifest(key)
        item.drill = self.drill_record(key)
        if deep:
            if use_cache:
                item.facts = self._cached(item)
            if item.facts is None:
                item.facts = self._inspect(key, item.size, item.etag, sql=self._is_sql(item),
                                           progress=progress, cancel=cancel)
            if self.cache is not None:
                self.cache.save()
        unbound = self._unbound(item)
        if not match.asset:
            unbound = replace(unbound, asset_kind=None)
        return unbound


class _OverBudget(Exception):
    """discover()'s deep-check time budget ran out mid-object."""


def verify_location(
    site: Site, location: str, *, deep: bool = True, use_cache: bool = True,
    cache: VerifyCache | None = None,
    progress: Callable[[int, int], None] | None = None,
    cancel: threading.Event | None = None,
) -> UnboundCopy:
    """The `verify` command: find the store holding `location` and check it."""
    store, _key = site.store_for(location)
    provider = StoreProvider(store, site.copies, cache=cache if cache is not None else VerifyCache())
    return provider.verify_copy(location, deep, use_cache=use_cache, progress=progress,
                                cancel=cancel)
