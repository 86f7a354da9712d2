"""Pagination kinds against a real HTTP server, each with its stop reason."""

from __future__ import annotations

import pytest

from elt_dagster.engine.sources.api.client import ApiError, ApiStats, iter_api_batches
from elt_dagster.engine.sources.api.paginators import Page, Request, build_paginator
from elt_dagster_tests.engine.sources.api.helpers import TOKEN, ids, numbered, rows, source
from elt_dagster_tests.http_api import FakeApi, Reply, Seen


def test_page_number_until_an_empty_page(server: FakeApi) -> None:
    pages = {1: numbered(3, 1), 2: numbered(3, 4), 3: numbered(1, 7)}
    url = server.route("/items", lambda s: Reply(pages.get(int(s.params["page"]), [])))
    stats = ApiStats()
    paginate = {"type": "page_number", "page_size_param": "per_page", "page_size": 3}
    assert ids(rows(source(url, paginate=paginate), stats=stats)) == [str(i) for i in range(1, 8)]
    sent = server.requests_to("/items")
    assert [s.params["page"] for s in sent] == ["1", "2", "3", "4"]
    assert all(s.params["per_page"] == "3" for s in sent)
    assert (stats.pages, stats.records, stats.stopped) == (4, 7, "empty_page")


def test_page_number_stops_at_total_pages(server: FakeApi) -> None:
    def handler(seen: Seen) -> Reply:
        page = int(seen.params["p"])
        return Reply({"meta": {"pages": 3}, "data": numbered(2, page * 2 + 1)})

    url = server.route("/items", handler)
    paginate = {"type": "page_number", "param": "p", "start": 0, "total_pages_path": "meta.pages"}
    stats = ApiStats()
    assert ids(rows(source(url, paginate=paginate, records_path="data"), stats=stats)) == [str(i) for i in range(1, 7)]
    assert [s.params["p"] for s in server.seen] == ["0", "1", "2"]
    assert stats.stopped == "total_reached"


def test_offset_with_total_path_makes_no_extra_request(server: FakeApi) -> None:
    everything = numbered(5)

    def handler(seen: Seen) -> Reply:
        offset, limit = int(seen.params["skip"]), int(seen.params["take"])
        return Reply({"total": len(everything), "results": everything[offset : offset + limit]})

    url = server.route("/items", handler)
    paginate = {"type": "offset", "offset_param": "skip", "limit_param": "take", "limit": 2, "total_path": "total"}
    stats = ApiStats()
    assert ids(rows(source(url, paginate=paginate, records_path="results"), stats=stats)) == ["1", "2", "3", "4", "5"]
    assert [(s.params["skip"], s.params["take"]) for s in server.seen] == [("0", "2"), ("2", "2"), ("4", "2")]
    assert stats.stopped == "total_reached"


def test_offset_without_total_stops_at_an_empty_page(server: FakeApi) -> None:
    everything = numbered(3)
    url = server.route("/items", lambda s: Reply(everything[int(s.params["offset"]) :][: int(s.params["limit"])]))
    assert ids(rows(source(url, paginate={"type": "offset", "limit": 2}))) == ["1", "2", "3"]
    assert [s.params["offset"] for s in server.seen] == ["0", "2", "3"]


def test_cursor_pagination(server: FakeApi) -> None:
    pages = {"": ("c1", numbered(2, 1)), "c1": ("c2", numbered(2, 3)), "c2": (None, numbered(1, 5))}

    def handler(seen: Seen) -> Reply:
        after, records = pages[seen.params.get("after", "")]
        return Reply({"items": records, "paging": {"next": after}})

    url = server.route("/items", handler)
    paginate = {"type": "cursor", "cursor_path": "paging.next", "param": "after"}
    stats = ApiStats()
    got = rows(source(url, paginate=paginate, records_path="items", params={"sort": "id"}), stats=stats)
    assert ids(got) == ["1", "2", "3", "4", "5"]
    assert [s.params for s in server.seen] == [
        {"sort": "id"},
        {"sort": "id", "after": "c1"},
        {"sort": "id", "after": "c2"},
    ]
    assert stats.stopped == "no_next"


def test_cursor_that_repeats_stops(server: FakeApi) -> None:
    url = server.route("/items", lambda s: Reply({"items": numbered(1, len(server.seen)), "next": "same"}))
    stats = ApiStats()
    src = source(url, paginate={"type": "cursor", "cursor_path": "next"}, records_path="items")
    assert len(rows(src, stats=stats)) == 2
    assert (len(server.seen), stats.stopped) == (2, "repeated_cursor")


@pytest.mark.parametrize(
    "paginate",
    [{"type": "page_number"}, {"type": "cursor", "cursor_path": "next"}, {"type": "next_url", "next_url_path": "next"}],
)
def test_a_page_the_api_already_sent_ends_paging_without_reading_it_twice(server: FakeApi, paginate: dict) -> None:
    def cycling(seen: Seen) -> Reply:  # ignores the page number; its cursors and links go A -> B -> A
        here = seen.params.get("cursor") or seen.path.rsplit("/", 1)[-1]
        there = "b" if here in ("a", "items") else "a"
        return Reply(
            {
                "items": numbered(1, 1 if there == "b" else 2),
                "next": there if "cursor" in str(paginate) else f"/p/{there}",
            }
        )

    url = server.route("/items", cycling)
    server.route("/p/a", cycling)
    server.route("/p/b", cycling)
    stats = ApiStats()
    got = ids(rows(source(url, paginate=paginate, records_path="items"), stats=stats))
    assert stats.stopped == "repeated_page" and len(server.seen) <= 4
    assert len(got) == len(set(got))  # no page's records twice


def test_next_url_pagination_relative_and_absolute(server: FakeApi) -> None:
    def handler(seen: Seen) -> Reply:
        page = int(seen.params.get("page", "1"))
        nxt = {1: "/items?page=2", 2: server.url("/items?page=3"), 3: None}[page]
        return Reply({"links": {"next": nxt}, "data": numbered(2, page * 10)})

    url = server.route("/items", handler)
    stats = ApiStats()
    got = rows(
        source(url, paginate={"type": "next_url", "next_url_path": "links.next"}, records_path="data"), stats=stats
    )
    assert ids(got) == ["10", "11", "20", "21", "30", "31"]
    assert [s.params for s in server.seen] == [{}, {"page": "2"}, {"page": "3"}]
    assert stats.stopped == "no_next"


def test_link_header_pagination(server: FakeApi) -> None:
    def handler(seen: Seen) -> Reply:
        page = int(seen.params.get("page", "1"))
        links = [f'<{server.url("/items")}?page=1>; rel="first"']
        if page < 3:
            links.append(f'<{server.url("/items")}?page={page + 1}&per_page=2>; rel="next"')
        return Reply(numbered(2, page * 10), headers={"Link": ", ".join(links)})

    url = server.route("/items", handler)
    got = rows(source(url, paginate="link_header", params={"per_page": 2}))
    assert ids(got) == ["10", "11", "20", "21", "30", "31"]
    assert [s.params.get("page") for s in server.seen] == [None, "2", "3"]


def test_next_url_on_another_host_is_not_sent_credentials(server: FakeApi) -> None:
    other = server.url("/items").replace("127.0.0.1", "localhost")
    url = server.route("/items", lambda s: Reply({"next": other, "data": numbered(1)}))
    src = source(
        url,
        auth={"type": "bearer", "token": TOKEN},
        paginate={"type": "next_url", "next_url_path": "next"},
        records_path="data",
    )
    with pytest.raises(ApiError, match="another host"):
        rows(src)
    assert len(server.seen) == 1


@pytest.mark.parametrize("link", ["http://[::1", "http://127.0.0.1:99999/items"])
def test_a_malformed_next_link_is_one_error_naming_the_page(server: FakeApi, link: str) -> None:
    url = server.route("/items", lambda s: Reply({"next": link, "data": numbered(1)}))
    src = source(
        url + "?api_key=hidden",
        auth={"type": "bearer", "token": TOKEN},
        paginate={"type": "next_url", "next_url_path": "next"},
        records_path="data",
    )
    with pytest.raises(ApiError, match="the next page's link is not a valid URL") as raised:
        rows(src)
    message = str(raised.value)
    assert "/items" in message and "hidden" not in message and TOKEN not in message and "\n" not in message


def test_max_pages_stops_an_endless_paginator(server: FakeApi) -> None:
    url = server.route("/items", lambda s: Reply(numbered(1, int(s.params["page"]))))
    stats = ApiStats()
    assert ids(rows(source(url, paginate={"type": "page_number"}, max_pages=3), stats=stats)) == ["1", "2", "3"]
    assert (len(server.seen), stats.stopped) == (3, "max_pages")


def test_max_pages_is_an_error_when_the_yaml_says_so(server: FakeApi) -> None:
    url = server.route("/items", lambda s: Reply(numbered(1, int(s.params["page"]))))
    src = source(url + "?api_key=hidden", paginate={"type": "page_number"}, max_pages=2, on_max_pages="fail")
    with pytest.raises(ApiError, match=r"max_pages \(2\) was reached with more pages to fetch") as raised:
        rows(src)
    assert len(server.seen) == 2 and "hidden" not in str(raised.value)


def test_empty_first_page_gives_no_batches(server: FakeApi) -> None:
    url = server.route("/items", lambda s: Reply({"data": []}))
    stats = ApiStats()
    src = source(url, records_path="data", paginate={"type": "page_number"})
    assert list(iter_api_batches(src, stats=stats)) == []
    assert (len(server.seen), stats.stopped) == (1, "empty_page")


def test_a_paginator_owns_its_state_between_pages() -> None:
    def page(data: object, url: str = "https://h.example/x") -> Page:
        return Page(data, url, url, None)

    cursor = build_paginator(source("https://h.example/x", paginate={"type": "cursor", "cursor_path": "next"}).paginate)
    request = Request("https://h.example/x", {"cursor": "c0"})
    cursor.init_request(request)
    assert cursor.update_state(page({"next": "c1"}), [{"id": 1}]) is None
    following, stop = cursor.next_request(request, page({"next": "c1"}))
    assert following is not None and following.params == {"cursor": "c1"} and stop is None
    assert cursor.next_request(following, page({"next": "c1"})) == (None, "repeated_cursor")

    offset = build_paginator(source("https://h.example/x", paginate={"type": "offset", "limit": 2}).paginate)
    request = Request("https://h.example/x", {})
    offset.init_request(request)
    assert request.params == {"offset": "0", "limit": "2"}
    assert offset.update_state(page([]), [{"id": 1}, {"id": 2}]) is None
    following, _ = offset.next_request(request, page([]))
    assert following is not None and following.params == {"offset": "2", "limit": "2"}
    assert request.params == {"offset": "0", "limit": "2"}  # the earlier request is left as it was
    assert offset.update_state(page([]), []) == "empty_page"


def test_a_next_url_elsewhere_is_followed_only_without_credentials(server: FakeApi) -> None:
    elsewhere = server.url("/elsewhere").replace("127.0.0.1", "localhost")
    server.route("/elsewhere", lambda seen: Reply(numbered(1, start=3)))
    url = server.route("/items", lambda seen: Reply(numbered(2), headers={"Link": f'<{elsewhere}>; rel="next"'}))
    assert ids(rows(source(url, paginate="link_header"))) == ["1", "2", "3"]
    with pytest.raises(ApiError, match="another host or scheme; not sending the source's credentials"):
        rows(source(url, paginate="link_header", headers={"X-Team": "data"}))


def test_a_total_that_is_not_a_number_fails(server: FakeApi) -> None:
    url = server.route("/items", lambda s: Reply({"total": "many", "results": numbered(2)}))
    paginate = {"type": "offset", "total_path": "total"}
    with pytest.raises(ApiError, match=r"total_path 'total' in the response from .*/items.* is 'many', not a number"):
        rows(source(url, paginate=paginate, records_path="results"))
