"""S3's ListObjectsV2, sent and signed here (AWS Signature V4 with the standard library's hmac: no new
dependency), for what pyarrow's listing lacks: starting after a key (the sensor's bounded pages, `listing.py`) and
each object's ETag (runs' fingerprints, `store.list_objects`). It needs the keys at hand: the source's own or
`AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY`; with a profile or an instance role it returns None and pyarrow
lists instead (without ETags)."""

from __future__ import annotations

import calendar
import hashlib
import hmac
import os
import sys
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING
from urllib.parse import quote, urlsplit

import requests

from elt_dagster.engine.sources.files.readers import ExtractError
from elt_dagster.engine.sources.objects.models import key_pattern
from elt_dagster.engine.sources.objects.s3_errors import CONNECT_SECONDS, REQUEST_SECONDS, reason_for_code
from elt_dagster.engine.sources.objects.stored import StoredObject

if TYPE_CHECKING:
    from elt_dagster.engine.sources.objects.s3 import S3Source

PAGE_KEYS = 1_000
"""Keys one ListObjectsV2 request returns at most (S3's own limit)."""
_XMLNS = "{http://s3.amazonaws.com/doc/2006-03-01/}"
_EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


@dataclass(frozen=True)
class ListingPage:
    """What one tick listed of a source: the objects whose key matches its pattern, and where to go on."""

    objects: list[StoredObject]
    listed: int
    next_after: str
    """The last key listed; "" when the listing reached the prefix's end (the next sweep starts again)."""


@dataclass(frozen=True)
class _Credentials:
    access_key: str
    secret_key: str
    token: str | None = None


def list_page(source: S3Source, start_after: str, budget: int) -> ListingPage | None:
    """Up to `budget` keys under the source's prefix after `start_after` (all from its first key when ""), or None
    when the credentials can't be signed here (a profile or an instance role: list whole instead)."""
    credentials = _credentials(source)
    if credentials is None:
        return None
    folder = _folder(source)
    matches = key_pattern(source.pattern).match
    objects: list[StoredObject] = []
    listed, after, truncated = 0, start_after, True
    while truncated and listed < budget:
        keys, truncated = _list_request(source, credentials, after, min(PAGE_KEYS, budget - listed))
        if not keys:
            break
        listed += len(keys)
        after = keys[-1].key
        objects += [item for item in keys if matches(item.key[len(folder) :])]
    return ListingPage(objects, listed, after if truncated else "")


def signed_objects(source: S3Source) -> list[StoredObject] | None:
    """Every object the source names (the one object of a key URL, or those under its prefix whose key matches its
    pattern), with their ETags; None when the credentials can't be signed here."""
    credentials = _credentials(source)
    if credentials is None:
        return None
    if source.prefix and not source.url.endswith("/"):  # one object: the first key it prefixes is itself, if there
        keys, _ = _list_request(source, credentials, "", 1, prefix=source.prefix)
        if keys and keys[0].key == source.prefix:
            return keys
    page = list_page(source, "", sys.maxsize)
    return [] if page is None else page.objects


def _folder(source: S3Source) -> str:
    """The prefix as a folder (`in/`), so that `s3://bucket/in` does not list `inbox/`."""
    return source.prefix.rstrip("/") + "/" if source.prefix.strip("/") else ""


def _credentials(source: S3Source) -> _Credentials | None:
    if source.access_key_id is not None and source.secret_access_key is not None:
        return _Credentials(source.access_key_id, source.secret_access_key)
    access, secret = os.environ.get("AWS_ACCESS_KEY_ID"), os.environ.get("AWS_SECRET_ACCESS_KEY")
    return _Credentials(access, secret, os.environ.get("AWS_SESSION_TOKEN")) if access and secret else None


def _region(source: S3Source) -> str:
    return source.region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"


def _list_request(
    source: S3Source,
    credentials: _Credentials,
    start_after: str,
    max_keys: int,
    region: str | None = None,
    prefix: str | None = None,
) -> tuple[list[StoredObject], bool]:
    """One ListObjectsV2 request (of the source's folder, or of `prefix`): the objects it returned and whether more
    follow."""
    region = region or _region(source)
    if source.endpoint_url:  # path-style, as S3-compatible stores take it
        parts = urlsplit(source.endpoint_url)
        scheme, host, path = parts.scheme, parts.netloc, f"/{source.bucket}"
    else:
        scheme, host, path = "https", f"{source.bucket}.s3.{region}.amazonaws.com", "/"
    query = {"list-type": "2", "max-keys": str(max_keys), "prefix": _folder(source) if prefix is None else prefix}
    if start_after:
        query["start-after"] = start_after
    canonical_query = "&".join(f"{_quote(key)}={_quote(value)}" for key, value in sorted(query.items()))
    headers = signed_headers(credentials, region, host, path, canonical_query)
    try:
        response = requests.get(
            f"{scheme}://{host}{path}?{canonical_query}",
            headers=headers,
            timeout=(CONNECT_SECONDS, REQUEST_SECONDS),
            allow_redirects=False,
        )
    except requests.RequestException as exc:
        reason = f"can't reach {source.endpoint_url or 'AWS S3'} ({type(exc).__name__})"
        raise ExtractError(source.redact(f"{source.url}: {reason}")) from None
    moved_to = response.headers.get("x-amz-bucket-region")
    if response.status_code == 301 and moved_to and moved_to != region and not source.endpoint_url:
        return _list_request(source, credentials, start_after, max_keys, moved_to, prefix)
    return _parse_listing(source, response)


def _parse_listing(source: S3Source, response: requests.Response) -> tuple[list[StoredObject], bool]:
    try:
        root = ElementTree.fromstring(response.content)
    except ElementTree.ParseError:
        raise ExtractError(source.redact(f"{source.url}: the store answered HTTP {response.status_code}")) from None
    if response.status_code != 200:
        code = root.findtext("Code") or f"HTTP {response.status_code}"
        detail = root.findtext("Message") or code
        raise ExtractError(source.redact(f"{source.url}: {reason_for_code(_snake(code), detail)}"))
    objects = [
        StoredObject(
            source,
            item.findtext(f"{_XMLNS}Key") or "",
            int(item.findtext(f"{_XMLNS}Size") or 0),
            _mtime_ns(item.findtext(f"{_XMLNS}LastModified") or ""),
            (item.findtext(f"{_XMLNS}ETag") or "").strip('"'),
        )
        for item in root.iter(f"{_XMLNS}Contents")
    ]
    return objects, root.findtext(f"{_XMLNS}IsTruncated") == "true"


def signed_headers(credentials: _Credentials, region: str, host: str, path: str, query: str) -> dict[str, str]:
    """The headers of a GET signed with AWS Signature V4 (an empty body)."""
    amz_date = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    headers = {"host": host, "x-amz-content-sha256": _EMPTY_SHA256, "x-amz-date": amz_date}
    if credentials.token:
        headers["x-amz-security-token"] = credentials.token
    names = ";".join(sorted(headers))
    header_lines = "".join(f"{name}:{headers[name]}\n" for name in sorted(headers))
    canonical = "\n".join(["GET", quote(path, safe="/-_.~"), query, header_lines, names, _EMPTY_SHA256])
    scope = f"{amz_date[:8]}/{region}/s3/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    key = f"AWS4{credentials.secret_key}".encode()
    for part in (amz_date[:8], region, "s3", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    authorization = f"AWS4-HMAC-SHA256 Credential={credentials.access_key}/{scope}, SignedHeaders={names}, "
    return headers | {"authorization": authorization + f"Signature={signature}"}


def _quote(text: str) -> str:
    return quote(text, safe="-_.~")


def _snake(code: str) -> str:
    """`NoSuchBucket` -> `NO_SUCH_BUCKET`, as pyarrow names the store's error codes."""
    return "".join(f"_{char}" if char.isupper() and index else char for index, char in enumerate(code)).upper()


def _mtime_ns(text: str) -> int:
    """An S3 `LastModified` (`2026-12-06T23:25:57.000Z`) in nanoseconds, as pyarrow's listing gives it."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return calendar.timegm(moment.utctimetuple()) * 1_000_000_000 + moment.microsecond * 1_000
