"""`schema.normalize_names: snake_case` and the hint for a key column a file names otherwise."""

from __future__ import annotations

import pytest

from elt_dagster.engine.sources.files.names import key_hint, loose, snake_case


@pytest.mark.parametrize(
    ("name", "normalised"),
    [
        ("Order ID", "order_id"),
        ("OrderID", "order_id"),
        ("orderId", "order_id"),
        ("order-id", "order_id"),
        ("  Customer   Name ", "customer_name"),
        ("HTTPServer", "http_server"),
        ("amountEUR", "amount_eur"),
        ("2024 Total", "_2024_total"),
        ("Café", "cafe"),
        ("ﬁle", "file"),
        ("Straße", "stra_e"),
        ("__a__b__", "a_b"),
        ("order_id", "order_id"),
        ("€", ""),
    ],
)
def test_snake_case_follows_the_documented_rule(name: str, normalised: str) -> None:
    assert snake_case(name) == normalised


def test_snake_case_is_stable_on_its_own_output() -> None:
    for name in ["Order ID", "HTTPServer", "2024 Total", "Straße", "amountEUR"]:
        assert snake_case(snake_case(name)) == snake_case(name)


def test_loose_ignores_case_spaces_and_punctuation() -> None:
    assert loose("Order ID") == loose("order_id") == loose("ORDERID") == "orderid"


def test_a_key_header_that_snake_case_would_map_suggests_both_ways() -> None:
    hint = key_hint("target.primary_key", "order_id", ["Order ID", "Amount"], False, "orders.csv")
    assert hint == (
        "target.primary_key 'order_id': no column of orders.csv is named so; its header 'Order ID' would be with "
        'schema.normalize_names: snake_case, or columns.order_id: {from: "Order ID"}'
    )


def test_a_key_header_matching_only_loosely_suggests_from() -> None:
    hint = key_hint("target.order_by", "updated_at", ["UPDATEDAT"], False, "a.json")
    assert hint == (
        "target.order_by 'updated_at': no column of a.json is named so; its header 'UPDATEDAT' would be with "
        'columns.updated_at: {from: "UPDATEDAT"}'
    )
    normalizing = key_hint("target.primary_key", "order_id", ["Order-ID!"], True, "a.csv")
    assert normalizing is not None and "normalize_names" not in normalizing


def test_no_hint_when_no_header_resembles_the_key() -> None:
    assert key_hint("target.primary_key", "order_id", ["id", "amount"], False, "a.csv") is None
