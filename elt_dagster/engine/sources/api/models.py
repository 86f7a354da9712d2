"""The YAML model of an API source (`type: api`): auth, pagination, incremental cursor, and its redacted URL.

Only pydantic and the standard library: loading a config never imports the HTTP client. How each auth and
paginator kind acts on requests lives in `auth.py` and `paginators.py`, keyed by these models' `type`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal
from urllib.parse import parse_qsl, urlsplit

from pydantic import ConfigDict, Field, PrivateAttr, ValidationInfo, field_validator, model_validator

from elt_dagster.engine.errors import StrictModel as _Strict
from elt_dagster.engine.redaction import SECRETS_CONTEXT, is_secret_name, mask_values, redact_text, redact_url


class BearerAuth(_Strict):
    """`Authorization: Bearer <token>` on every request."""

    type: Literal["bearer"]
    token: str = Field(min_length=1, repr=False)

    def secrets(self) -> list[str]:
        """The credential values, never to appear in a message."""
        return [self.token]

    def query_names(self) -> set[str]:
        """Query parameters that carry a credential."""
        return set()


class ApiKeyAuth(_Strict):
    """An API key sent as a header (default) or as a query parameter named `name`."""

    model_config = ConfigDict(validate_by_name=True, validate_by_alias=True)

    type: Literal["api_key"]
    name: str = Field(min_length=1)
    value: str = Field(min_length=1, repr=False)
    in_: Literal["header", "query"] = Field(default="header", alias="in")

    def secrets(self) -> list[str]:
        """The credential values, never to appear in a message."""
        return [self.value]

    def query_names(self) -> set[str]:
        """Query parameters that carry a credential."""
        return {self.name} if self.in_ == "query" else set()


class BasicAuth(_Strict):
    """HTTP basic authentication."""

    type: Literal["basic"]
    username: str
    password: str = Field(repr=False)

    def secrets(self) -> list[str]:
        """The credential values, never to appear in a message."""
        return [self.password]

    def query_names(self) -> set[str]:
        """Query parameters that carry a credential."""
        return set()


Auth = Annotated[BearerAuth | ApiKeyAuth | BasicAuth, Field(discriminator="type")]


class NoPagination(_Strict):
    """One request, one page."""

    type: Literal["none"] = "none"


class PageNumberPagination(_Strict):
    """`?page=1`, `?page=2`, … until an empty page or, with `total_pages_path`, the last page."""

    type: Literal["page_number"]
    param: str = "page"
    start: int = Field(default=1, ge=0)
    page_size_param: str | None = None
    page_size: int | None = Field(default=None, ge=1)
    total_pages_path: str | None = None

    @model_validator(mode="after")
    def _size_needs_param(self) -> PageNumberPagination:
        if (self.page_size_param is None) != (self.page_size is None):
            raise ValueError("give both page_size_param and page_size, or neither")
        return self


class OffsetPagination(_Strict):
    """`?offset=0&limit=100`, `?offset=100&limit=100`, … until an empty page or, with `total_path`, the total."""

    type: Literal["offset"]
    offset_param: str = "offset"
    limit_param: str = "limit"
    limit: int = Field(default=100, ge=1)
    total_path: str | None = None


class CursorPagination(_Strict):
    """The next page is requested with `?<param>=<the value at cursor_path in the previous response>`."""

    type: Literal["cursor"]
    cursor_path: str = Field(min_length=1)
    param: str = "cursor"


class NextUrlPagination(_Strict):
    """The next page is the URL at `next_url_path` in the previous response (absolute or relative)."""

    type: Literal["next_url"]
    next_url_path: str = Field(min_length=1)


class LinkHeaderPagination(_Strict):
    """The next page is the `Link: <url>; rel="next"` header of the previous response (RFC 8288)."""

    type: Literal["link_header"]


Paginate = Annotated[
    NoPagination
    | PageNumberPagination
    | OffsetPagination
    | CursorPagination
    | NextUrlPagination
    | LinkHeaderPagination,
    Field(discriminator="type"),
]


class Incremental(_Strict):
    """Fetch only new records: send `<param>=<highest cursor_field value loaded so far>` with the requests."""

    cursor_field: str = Field(min_length=1)
    param: str = Field(min_length=1)
    initial_value: str | None = None

    @property
    def column(self) -> str:
        """The flattened column holding the cursor: `updated.at` -> `updated_at`."""
        return self.cursor_field.replace(".", "_")


class ApiSource(_Strict):
    """An HTTP API returning JSON records, fetched page by page."""

    model_config = ConfigDict(validate_by_name=True, validate_by_alias=True)

    type: Literal["api"]
    url: str
    method: Literal["GET", "POST"] = "GET"
    params: dict[str, str | int | float | bool] = Field(default_factory=dict)
    headers: dict[str, str] = Field(default_factory=dict, repr=False)
    json_body: dict[str, Any] | None = Field(default=None, alias="json")
    auth: Auth | None = None
    records_path: str | None = None
    paginate: Paginate = Field(default_factory=NoPagination)
    max_pages: int = Field(default=1000, ge=1)
    on_max_pages: Literal["warn", "fail"] = "warn"
    timeout_seconds: float = Field(default=30, gt=0)
    incremental: Incremental | None = None
    snapshot: bool = False
    """Each run's records are the table's full current state: keys absent from them are deleted."""
    _env_secrets: frozenset[str] = PrivateAttr(default_factory=frozenset)

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str, info: ValidationInfo) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            shown = mask_values(redact_url(value), _context_secrets(info))
            raise ValueError(f"{shown!r} is not an http:// or https:// URL")
        return value

    @model_validator(mode="after")
    def _keep_env_secrets(self, info: ValidationInfo) -> ApiSource:
        """The config's values from the environment: never shown, wherever in the request they are."""
        self._env_secrets = _context_secrets(info)
        return self

    @field_validator("paginate", mode="before")
    @classmethod
    def _paginate_shorthand(cls, value: Any) -> Any:
        """`paginate: link_header` is short for `paginate: {type: link_header}`."""
        return {"type": value} if isinstance(value, str) else value

    @model_validator(mode="after")
    def _body_needs_post(self) -> ApiSource:
        if self.json_body is not None and self.method != "POST":
            raise ValueError("json (a request body) needs method: POST")
        return self

    @model_validator(mode="after")
    def _one_line_credentials(self) -> ApiSource:
        """A line break can't travel in an HTTP header; said without showing the value (it may be a secret)."""
        values = {f"headers.{name}": value for name, value in self.headers.items()}
        values |= {f"auth ({self.auth.type})": secret for secret in self.auth.secrets()} if self.auth else {}
        broken = [where for where, value in values.items() if "\n" in value or "\r" in value]
        if broken:
            raise ValueError(
                f"{', '.join(broken)}: holds a line break, which HTTP headers can't carry (check the value)"
            )
        return self

    def describe(self, base_dir: Any = None) -> str:
        """The source for a person: its URL without credentials."""
        return f"API `{self.display_url()}`"

    def display_url(self) -> str:
        """The URL without credentials (userinfo, the api key parameter): what each row records as its source."""
        return mask_values(redact_url(self.url, self.secret_query_names(), drop=True), self.secrets())

    def shown_url(self, url: str) -> str:
        """`url` (this source's, or a next page's) for a message: credentials and values from the environment
        masked."""
        return mask_values(redact_url(url, self.secret_query_names()), self.secrets())

    def redact(self, text: str) -> str:
        """`text` (a message, a response excerpt) without this source's secrets."""
        return redact_text(text, self.secrets())

    def secret_query_names(self) -> set[str]:
        """Query parameters of this source that carry a credential (beyond the usual secret names)."""
        return self.auth.query_names() if self.auth else set()

    def secrets(self) -> list[str]:
        """Credential values and the config's values from the environment: never to appear in a message."""
        values = self.auth.secrets() if self.auth else []
        values += [value for name, value in self.headers.items() if is_secret_name(name)]
        values += [str(value) for name, value in self.params.items() if is_secret_name(name)]
        parts = urlsplit(self.url)
        values += [parts.password] if parts.password else []
        names = {name.lower() for name in self.secret_query_names()}
        values += [v for k, v in parse_qsl(parts.query) if v and (is_secret_name(k) or k.lower() in names)]
        values += sorted(self._env_secrets)
        return [v for v in values if len(v) >= 3]


def _context_secrets(info: ValidationInfo) -> frozenset[str]:
    """The secret values the config loader passed in the validation context (none when built without one)."""
    context = info.context if isinstance(info.context, dict) else {}
    return frozenset(context.get(SECRETS_CONTEXT, ()))
