"""What S3's errors mean for a person, and how long its requests may take: shared by the source model (`s3.py`,
pyarrow's errors) and the signed listing (`s3_listing.py`, S3's own error codes). Standard library only."""

from __future__ import annotations

import re

CONNECT_SECONDS, REQUEST_SECONDS = 10.0, 120.0
AWS_ERROR = re.compile(r"AWS Error (?P<code>[A-Z_]+)[^:]*:\s*(?P<detail>.*?)(?:\s*\(Request ID:[^)]*\))?$", re.S)
_REASONS = {
    "NO_SUCH_BUCKET": "the bucket does not exist",
    "NO_SUCH_KEY": "the object does not exist (deleted since it was listed?)",
    "RESOURCE_NOT_FOUND": "the object does not exist (deleted since it was listed?)",
    "ACCESS_DENIED": "access denied (the credentials may not read this bucket or prefix)",
    "SIGNATURE_DOES_NOT_MATCH": "the credentials were refused (check secret_access_key)",
    "INVALID_ACCESS_KEY_ID": "the credentials were refused (unknown access_key_id)",
    "MISSING_AUTHENTICATION_TOKEN": "no credentials were sent (set access_key_id and secret_access_key)",
}


def reason_for_code(code: str, detail: str) -> str:
    """What S3's error code (`ACCESS_DENIED`, as pyarrow spells it) means for a person; else its detail."""
    return _REASONS.get(code) or detail
