"""Secrets never shown or stored: one list of secret names, one function per form (URL, mapping, text, YAML).

Used wherever config or connection details leave the process: config history, logs, asset metadata, error
messages and connection strings.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from typing import Any
from urllib.parse import quote, quote_plus

import yaml

MASK = "***"
SECRETS_CONTEXT = "secrets"
"""Key of the pydantic validation context holding the config's secret values (those taken from the environment)."""
SECRET_NAME = re.compile(
    r"password|passwd|^pass$|^pwd$|secret|token|api[-_]?key|apikey|access[-_]?key|private[-_]?key|credential"
    r"|authorization|cookie|session|signature|^sig$|^key$|^auth$",
    re.IGNORECASE,
)
"""A key, header, setting or query parameter whose value is a secret (client_secret, X-API-Key, access_token ...)."""
SAFE_HEADERS = frozenset(
    {"accept", "accept-encoding", "accept-language", "content-type", "user-agent", "cache-control"}
)
"""Headers shown as written; every other header value is masked in stored config (it may carry a credential)."""
AUTH_PLAIN_KEYS = frozenset({"type", "in", "name", "username"})
"""Keys under `auth:` that name how to authenticate rather than hold the credential."""
ENV_REFERENCE = re.compile(r"^\$\{[A-Za-z_][A-Za-z0-9_]*\}$")
"""A bare `${VAR}`: it holds no secret (its value never reaches stored text). With `:-default`, the default may."""

_SETTING = re.compile(r"(?P<lead>(?:^|[?&;\s]))(?P<name>[A-Za-z][\w.-]*)=(?P<value>'(?:[^'\\]|\\.)*'|[^&#\s;]*)")
_URL_USERINFO = re.compile(r"(\b[a-z][a-z0-9+.-]*://[^:/@\s'\"]+:)([^@\s'\"]+)(@)", re.IGNORECASE)


def is_secret_name(name: str) -> bool:
    """Whether a key, header, setting or query parameter called `name` holds a secret."""
    return bool(SECRET_NAME.search(name.strip()))


def redact_settings(text: str, extra_names: Iterable[str] = (), *, drop: bool = False) -> str:
    """`name=value` pairs (a URL's query, a libpq `key=value` string) with secret values masked, or dropped."""
    extra = {name.lower() for name in extra_names}

    def replace(match: re.Match[str]) -> str:
        name = match["name"]
        if not (is_secret_name(name) or name.lower() in extra):
            return match[0]
        return "" if drop else f"{match['lead']}{name}={MASK}"

    redacted = _SETTING.sub(replace, text)
    return re.sub(r"\?&+", "?", redacted).replace("&&", "&").rstrip("?&") if drop else redacted


def redact_url(url: str, extra_names: Iterable[str] = (), *, drop: bool = False) -> str:
    """A URL or connection string without its secrets, otherwise exactly as written.

    The password in `user:password@host` and secret query parameters (or `password=` in a libpq `key=value`
    string) are masked; with `drop` (a URL shown as a data source), userinfo and secret parameters are removed.
    `extra_names` are more query parameters to treat as secret (an API key's configured name).
    """
    scheme, sep, rest = url.partition("://")
    if not sep:  # a libpq "host=... password=..." string
        return redact_settings(url, extra_names, drop=drop)
    netloc_end = next((i for i, ch in enumerate(rest) if ch in "/?#"), len(rest))
    user, at, host = rest[:netloc_end].rpartition("@")
    netloc = host
    if at and not drop:
        netloc = f"{user.partition(':')[0]}:{MASK}@{host}" if ":" in user else f"{user}@{host}"
    tail, hash_, fragment = rest[netloc_end:].partition("#")
    path, question, query = tail.partition("?")
    query = redact_settings(query, extra_names, drop=drop).lstrip("&")
    return f"{scheme}://{netloc}{path}{question if query else ''}{query}{hash_}{fragment}"


def mask_values(text: str, secrets: Iterable[str]) -> str:
    """`text` with each secret value masked wherever it shows: raw, URL-encoded or JSON-escaped."""
    for secret in sorted(_forms(secrets), key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text


def mask_cells(rows: Iterable[Sequence[Any]], secrets: Iterable[str]) -> list[list[Any]]:
    """Table rows (a preview, quarantined records) with each cell that holds a secret made its text, masked.

    Done before the rows are drawn: a table cuts long cells, which would leave part of a secret out of
    `mask_values`' reach.
    """
    secrets = list(secrets)
    return [[_masked_cell(value, secrets) if secrets else value for value in row] for row in rows]


def _masked_cell(value: Any, secrets: list[str]) -> Any:
    text = "" if value is None else str(value)
    masked = mask_values(text, secrets)
    return value if masked == text else masked


def redact_text(text: str, secrets: Iterable[str] = ()) -> str:
    """Free text (an error message, a log line) with the given secret values, raw or URL-encoded, and the
    passwords inside URLs and secret URL query parameters masked."""
    text = _URL_USERINFO.sub(rf"\1{MASK}\3", mask_values(text, secrets))
    return re.sub(r"(?:(?<=[?&;\s])|^)([\w.-]+)=('(?:[^'\\]|\\.)*'|[^&#\s'\";]+)", _mask_query_pair, text)


def _forms(secrets: Iterable[str]) -> set[str]:
    """Every way a secret may show in a message: raw, URL-encoded, JSON-escaped (a server echoing the request),
    with its whitespace collapsed (messages are put on one line), and each line of a secret that spans several."""
    forms: set[str] = set()
    for secret in secrets:
        for part in {secret, " ".join(secret.split()), *secret.splitlines()}:
            forms |= {part, quote(part, safe=""), quote_plus(part), quote(part), *_json_forms(part)}
    return {form for form in forms if len(form.strip()) >= 3}


def _json_forms(text: str) -> set[str]:
    """`text` as a JSON string holds it, escaping non-ASCII or not."""
    return {json.dumps(text)[1:-1], json.dumps(text, ensure_ascii=False)[1:-1]}


def redact_yaml(text: str) -> str:
    """YAML text with secret values replaced by '***', everything else (comments, layout) as written.

    Masked: values of secret-looking keys, every value under `auth:` but its type/in/name/username, every header
    but a few harmless ones, a `${VAR:-default}` whose default could be a secret (`${VAR}` stays), and (through
    `redact_text`) passwords in URLs.
    The `schema:` section is left alone (a column named token_count is not a secret).
    """
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        root = None
    spans: list[tuple[int, int]] = []
    _secret_spans(root, under_auth=False, under_headers=False, spans=spans)
    for start, end in sorted(spans, reverse=True):
        text = text[:start] + f"'{MASK}'" + text[end:]
    return redact_text(text)


def _is_secret_key(name: str, under_auth: bool, under_headers: bool) -> bool:
    return (
        is_secret_name(name)
        or (under_auth and name not in AUTH_PLAIN_KEYS)
        or (under_headers and name.lower() not in SAFE_HEADERS)
    )


def _is_env_reference(value: Any) -> bool:
    return isinstance(value, str) and bool(ENV_REFERENCE.match(value.strip()))


def _mask_query_pair(match: re.Match[str]) -> str:
    return f"{match[1]}={MASK}" if is_secret_name(match[1]) else match[0]


def _secret_spans(node: Any, under_auth: bool, under_headers: bool, spans: list[tuple[int, int]]) -> None:
    """Collect the text spans of secret scalar values in a YAML node tree."""
    if isinstance(node, yaml.SequenceNode):
        for item in node.value:
            _secret_spans(item, under_auth, False, spans)
    if not isinstance(node, yaml.MappingNode):
        return
    for key, value in node.value:
        name = str(key.value)
        if name == "schema":
            continue
        if isinstance(value, yaml.ScalarNode) and _is_secret_key(name, under_auth, under_headers):
            if not _is_env_reference(value.value):
                spans.append((value.start_mark.index, value.end_mark.index))
        else:
            _secret_spans(value, under_auth or name == "auth", name == "headers", spans)
