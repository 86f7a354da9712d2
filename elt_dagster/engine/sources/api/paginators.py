"""How each pagination kind of the YAML finds the next page: one small class per kind, picked by `type`.

A paginator owns its state (page number, offset). The client calls `init_request` once, then after each page
`update_state` (a stop reason ends paging) and `next_request` (None and a reason end it too). Stop reasons:
`single_page`, `empty_page`, `total_reached`, `no_next` (no next cursor, URL or link), `repeated_cursor`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin

from .json_paths import lookup, scalar_text, whole_number_at
from .models import (
    CursorPagination,
    LinkHeaderPagination,
    NextUrlPagination,
    OffsetPagination,
    PageNumberPagination,
    Paginate,
)


@dataclass
class Request:
    """The URL and query parameters of one page's request."""

    url: str
    params: dict[str, str] = field(default_factory=dict)


@dataclass
class Page:
    """A fetched page: its JSON, its URL (`shown`: redacted, for messages) and the `Link` header's next URL."""

    data: Any
    url: str
    shown: str
    next_link: str | None = None
    digest: bytes = b""
    """A hash of the body, to notice a page the API already sent (a cycle, or a page parameter it ignores)."""


class Paginator:
    """One request after another until a page is empty; subclasses say how the next one differs."""

    def __init__(self, config: Any):
        self.config = config

    def init_request(self, request: Request) -> None:
        """Set what the first request needs (page 1, offset 0, ...)."""

    def update_state(self, page: Page, records: list[Any]) -> str | None:
        """Take in a fetched page; a stop reason when there is nothing more to fetch."""
        return None if records else "empty_page"

    def next_request(self, request: Request, page: Page) -> tuple[Request | None, str | None]:
        """The request for the next page, or None and why there is none."""
        return Request(request.url, dict(request.params)), None


class SinglePage(Paginator):
    """`none`: one request, one page."""

    def update_state(self, page: Page, records: list[Any]) -> str | None:
        return "single_page"


class QueryParamPaginator(Paginator):
    """A paginator that asks for the next page by query parameters on the same URL (page number, offset)."""

    def init_request(self, request: Request) -> None:
        self.set_params(request)

    def next_request(self, request: Request, page: Page) -> tuple[Request | None, str | None]:
        following = Request(request.url, dict(request.params))
        self.set_params(following)
        return following, None

    def set_params(self, request: Request) -> None:
        """Put this paginator's position into the request's parameters."""
        raise NotImplementedError


class PageNumberPaginator(QueryParamPaginator):
    """`page_number`: `?page=1`, `?page=2`, … until an empty page or, with `total_pages_path`, the last page."""

    config: PageNumberPagination

    def __init__(self, config: PageNumberPagination):
        super().__init__(config)
        self.page = config.start

    def update_state(self, page: Page, records: list[Any]) -> str | None:
        if not records:
            return "empty_page"
        path = self.config.total_pages_path
        total = whole_number_at(page.data, path, "total_pages_path", page.shown) if path else None
        if total is not None and self.page - self.config.start + 1 >= total:
            return "total_reached"
        self.page += 1
        return None

    def set_params(self, request: Request) -> None:
        request.params[self.config.param] = str(self.page)
        if self.config.page_size_param and self.config.page_size:
            request.params[self.config.page_size_param] = str(self.config.page_size)


class OffsetPaginator(QueryParamPaginator):
    """`offset`: `?offset=0&limit=100`, `?offset=100&limit=100`, … until an empty page or the total."""

    config: OffsetPagination

    def __init__(self, config: OffsetPagination):
        super().__init__(config)
        self.offset = 0

    def update_state(self, page: Page, records: list[Any]) -> str | None:
        if not records:
            return "empty_page"
        self.offset += len(records)
        path = self.config.total_path
        total = whole_number_at(page.data, path, "total_path", page.shown) if path else None
        return "total_reached" if total is not None and self.offset >= total else None

    def set_params(self, request: Request) -> None:
        request.params[self.config.offset_param] = str(self.offset)
        request.params[self.config.limit_param] = str(self.config.limit)


class CursorPaginator(Paginator):
    """`cursor`: the next page is `?<param>=<the value at cursor_path in the previous response>`."""

    config: CursorPagination

    def next_request(self, request: Request, page: Page) -> tuple[Request | None, str | None]:
        cursor = scalar_text(lookup(page.data, self.config.cursor_path))
        if cursor is None:
            return None, "no_next"
        if cursor == request.params.get(self.config.param):
            return None, "repeated_cursor"
        return Request(request.url, {**request.params, self.config.param: cursor}), None


class NextUrlPaginator(Paginator):
    """`next_url`: the next page is the URL at `next_url_path` in the previous response (absolute or relative)."""

    config: NextUrlPagination

    def next_link(self, page: Page) -> str | None:
        return scalar_text(lookup(page.data, self.config.next_url_path))

    def next_request(self, request: Request, page: Page) -> tuple[Request | None, str | None]:
        link = self.next_link(page)
        if link is None:
            return None, "no_next"
        next_url = urljoin(page.url, link)
        if next_url == request.url:
            return None, "repeated_cursor"
        return Request(next_url), None


class LinkHeaderPaginator(NextUrlPaginator):
    """`link_header`: the next page is the `Link: <url>; rel="next"` header of the previous response (RFC 8288)."""

    config: LinkHeaderPagination  # type: ignore[assignment]

    def next_link(self, page: Page) -> str | None:
        return page.next_link


PAGINATORS: dict[str, type[Paginator]] = {
    "none": SinglePage,
    "page_number": PageNumberPaginator,
    "offset": OffsetPaginator,
    "cursor": CursorPaginator,
    "next_url": NextUrlPaginator,
    "link_header": LinkHeaderPaginator,
}
"""The YAML `paginate.type` -> the class that pages through the API."""


def build_paginator(config: Paginate) -> Paginator:
    """A fresh paginator (its own state) for one pass over the API."""
    return PAGINATORS[config.type](config)
