"""The shipped sample data set: format, facts the acceptance test relies on, determinism."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from catalog import sample_generator
from catalog.models import Customer, Product, SalesOrder
from catalog.sample import CUSTOMERS_FILE, PRODUCTS_FILE, SAMPLE_FILES, sample_dir, sample_path

Doc = dict[str, Any]

PRICE_RANGES = {
    "Bikes": (500, 3600),
    "Clothing": (8, 80),
    "Accessories": (2, 160),
}
FRAME_PRICE_RANGE = (250, 1500)


def _load(name: str) -> list[Doc]:
    data = json.loads(sample_path(name).read_text(encoding="utf-8"))
    assert isinstance(data, list)
    return data


@pytest.fixture(scope="module")
def products() -> list[Doc]:
    return _load(PRODUCTS_FILE)


@pytest.fixture(scope="module")
def mixed() -> list[Doc]:
    return _load(CUSTOMERS_FILE)


@pytest.fixture(scope="module")
def customers(mixed: list[Doc]) -> list[Doc]:
    return [doc for doc in mixed if doc["type"] == "customer"]


@pytest.fixture(scope="module")
def orders(mixed: list[Doc]) -> list[Doc]:
    return [doc for doc in mixed if doc["type"] == "salesOrder"]


@pytest.fixture(scope="module")
def by_sku(products: list[Doc]) -> dict[str, Doc]:
    return {product["sku"]: product for product in products}


# --- shape and counts -------------------------------------------------------------------------


def test_counts_in_range(products: list[Doc], customers: list[Doc], orders: list[Doc]) -> None:
    assert 280 <= len(products) <= 320
    assert 350 <= len(customers) <= 450
    assert 1200 <= len(orders) <= 1600


def test_customer_file_only_holds_customers_and_orders(mixed: list[Doc]) -> None:
    assert {doc["type"] for doc in mixed} == {"customer", "salesOrder"}


def test_files_are_small_utf8_without_bom() -> None:
    for name in SAMPLE_FILES:
        raw = sample_path(name).read_bytes()
        assert not raw.startswith(b"\xef\xbb\xbf"), name
        assert len(raw) < 2_500_000, name
        raw.decode("utf-8")


def test_every_document_validates(products: list[Doc], mixed: list[Doc]) -> None:
    for product in products:
        Product.model_validate(product)
    for doc in mixed:
        model = Customer if doc["type"] == "customer" else SalesOrder
        model.model_validate(doc)


def test_ids_unique_across_all_documents(products: list[Doc], mixed: list[Doc]) -> None:
    ids = [doc["id"] for doc in products + mixed]
    duplicates = [doc_id for doc_id, n in Counter(ids).items() if n > 1]
    assert duplicates == []


def test_skus_unique(products: list[Doc]) -> None:
    duplicates = [sku for sku, n in Counter(p["sku"] for p in products).items() if n > 1]
    assert duplicates == []


def test_categories_are_group_comma_sub_with_one_stable_id(products: list[Doc]) -> None:
    ids_by_name: dict[str, set[str]] = {}
    for product in products:
        group, _, sub = product["categoryName"].partition(", ")
        assert group in {"Bikes", "Components", "Clothing", "Accessories"}, product["sku"]
        assert sub, product["sku"]
        ids_by_name.setdefault(product["categoryName"], set()).add(product["categoryId"])
    assert all(len(ids) == 1 for ids in ids_by_name.values())
    all_ids = [next(iter(ids)) for ids in ids_by_name.values()]
    assert len(set(all_ids)) == len(all_ids)
    assert len(ids_by_name) >= 30


def test_prices_realistic_with_two_decimals(products: list[Doc]) -> None:
    for product in products:
        price = product["price"]
        assert round(price, 2) == price, product["sku"]
        group = product["categoryName"].split(",")[0]
        if product["categoryName"].endswith("Frames"):
            low, high = FRAME_PRICE_RANGE
        elif group in PRICE_RANGES:
            low, high = PRICE_RANGES[group]
        else:
            low, high = 2, 500
        assert low <= price <= high, (product["sku"], price)


def test_products_have_descriptions_and_tags(products: list[Doc]) -> None:
    for product in products:
        assert len(product["description"]) >= 40, product["sku"]
        assert product["tags"], product["sku"]
        assert all(tag["_id"] and tag["name"] for tag in product["tags"]), product["sku"]


# --- facts the acceptance test relies on ------------------------------------------------------


def _family(products: list[Doc], prefix: str) -> dict[str, Doc]:
    return {p["sku"]: p for p in products if p["sku"].startswith(prefix)}


@pytest.mark.parametrize(
    ("prefix", "label", "sizes", "price"),
    [
        ("FR-R92B-", "HL Road Frame - Black", (44, 48, 58, 62), 1431.5),
        ("FR-R92R-", "HL Road Frame - Red", (44, 56, 58, 62), 1431.5),
        ("FR-R38B-", "LL Road Frame - Black", (44, 48, 52, 58, 60, 62), 337.22),
        ("FR-R38R-", "LL Road Frame - Red", (44, 48, 52, 58, 60, 62), 337.22),
        ("FR-R72R-", "ML Road Frame - Red", (44, 48, 52, 58, 60), 594.83),
    ],
)
def test_road_frame_families(
    products: list[Doc], prefix: str, label: str, sizes: tuple[int, ...], price: float
) -> None:
    family = _family(products, prefix)
    assert sorted(family) == sorted(f"{prefix}{size}" for size in sizes)
    for size in sizes:
        product = family[f"{prefix}{size}"]
        assert product["name"] == f"{label}, {size}"
        assert product["categoryName"] == "Components, Road Frames"
        assert product["price"] == price


def test_acceptance_product(by_sku: dict[str, Doc]) -> None:
    product = by_sku["FR-R92B-58"]
    assert product["name"] == "HL Road Frame - Black, 58"
    assert product["categoryName"] == "Components, Road Frames"
    assert product["price"] == 1431.5
    assert "lightest" in product["description"]
    assert "road frame" in product["description"].lower()


def test_no_other_fr_r92_sku(products: list[Doc]) -> None:
    expected = {f"FR-R92B-{n}" for n in (44, 48, 58, 62)} | {
        f"FR-R92R-{n}" for n in (44, 56, 58, 62)
    }
    assert {p["sku"] for p in products if p["sku"].startswith("FR-R92")} == expected


def test_red_road_frame_size_56_is_unambiguous(products: list[Doc]) -> None:
    matches = [
        p["sku"]
        for p in products
        if p["categoryName"] == "Components, Road Frames"
        and "Red" in p["name"]
        and p["name"].endswith(", 56")
    ]
    assert matches == ["FR-R92R-56"]


def test_helmets_protect_your_head(products: list[Doc]) -> None:
    helmets = [p for p in products if p["categoryName"] == "Accessories, Helmets"]
    assert len(helmets) >= 4
    assert {"Sport-100 Helmet, Red", "Sport-100 Helmet, Black", "Sport-100 Helmet, Blue"} <= {
        h["name"] for h in helmets
    }
    for helmet in helmets:
        assert "head" in helmet["description"].lower(), helmet["sku"]


# --- customers and orders ---------------------------------------------------------------------


def test_order_details_reference_real_products(orders: list[Doc], by_sku: dict[str, Doc]) -> None:
    for order in orders:
        assert 1 <= len(order["details"]) <= 5, order["id"]
        skus = [line["sku"] for line in order["details"]]
        assert len(set(skus)) == len(skus), order["id"]
        for line in order["details"]:
            product = by_sku.get(line["sku"])
            assert product is not None, line["sku"]
            assert line["name"] == product["name"]
            assert line["price"] == product["price"]
            assert 1 <= line["quantity"] <= 3


def test_acceptance_product_is_ordered_several_times(orders: list[Doc]) -> None:
    with_frame = [o for o in orders if any(d["sku"] == "FR-R92B-58" for d in o["details"])]
    assert len(with_frame) >= 5


def test_orders_follow_their_customer_and_counts_match(mixed: list[Doc]) -> None:
    current: Doc | None = None
    seen: Counter[str] = Counter()
    customers = []
    for doc in mixed:
        if doc["type"] == "customer":
            current = doc
            customers.append(doc)
        else:
            assert current is not None
            assert doc["customerId"] == current["id"]
            seen[current["id"]] += 1
    for customer in customers:
        assert customer["salesOrderCount"] == seen[customer["id"]], customer["id"]
    assert any(c["salesOrderCount"] == 0 for c in customers)


def test_order_dates(orders: list[Doc], customers: list[Doc]) -> None:
    created = {c["id"]: datetime.fromisoformat(c["creationDate"]) for c in customers}
    for order in orders:
        ordered = datetime.fromisoformat(order["orderDate"])
        assert datetime.fromisoformat(order["shipDate"]) - ordered == timedelta(days=7)
        assert ordered >= created[order["customerId"]]


def test_customer_fields(customers: list[Doc]) -> None:
    emails = [c["emailAddress"] for c in customers]
    assert len(set(emails)) == len(emails)
    for customer in customers:
        assert customer["customerId"] == customer["id"]
        assert customer["title"] in {"Mr.", "Ms.", "Mrs.", ""}
        assert customer["emailAddress"].endswith("@adventure-works.com")
        datetime.fromisoformat(customer["creationDate"])
        (address,) = customer["addresses"]
        assert address["country"] in {"US", "CA", "GB", "FR", "DE", "AU"}
        lon, lat = address["location"]["coordinates"]
        assert address["location"]["type"] == "Point"
        assert -180 <= lon <= 180 and -90 <= lat <= 90
    assert len({(c["firstName"], c["lastName"]) for c in customers}) >= 300
    assert len({c["addresses"][0]["country"] for c in customers}) == 6


def test_raw_customers_carry_secrets_that_the_model_strips(customers: list[Doc]) -> None:
    for raw in customers:
        password = raw["password"]
        assert len(password["hash"]) == 88  # base64 of 64 bytes
        assert len(password["salt"]) == 8 and password["salt"] == password["salt"].upper()
        public = Customer.model_validate(raw).public_dict()
        text = json.dumps(public)
        assert "password" not in public
        assert password["hash"] not in text
        assert password["salt"] not in text


# --- determinism ------------------------------------------------------------------------------


def test_shipped_files_equal_generator_output() -> None:
    generated = sample_generator.generate()
    assert set(generated) == set(SAMPLE_FILES)
    for name, content in generated.items():
        assert sample_path(name).read_bytes() == content, f"{name} is stale: regenerate it"


def test_generator_is_deterministic() -> None:
    assert sample_generator.generate() == sample_generator.generate()


def test_check_passes_on_shipped_files() -> None:
    assert sample_generator.main(["--check"]) == 0
    assert sample_generator.main(["--check", "--directory", str(sample_dir())]) == 0


def test_check_fails_on_a_stale_copy(tmp_path: Path) -> None:
    for name in SAMPLE_FILES:
        shutil.copy(sample_path(name), tmp_path / name)
    assert sample_generator.main(["--check", "--directory", str(tmp_path)]) == 0
    stale = tmp_path / PRODUCTS_FILE
    stale.write_bytes(stale.read_bytes().replace(b"1431.5", b"1431.6", 1))
    assert sample_generator.main(["--check", "--directory", str(tmp_path)]) == 1
    assert sample_generator.stale_files(tmp_path) == [PRODUCTS_FILE]


def test_write_then_check(tmp_path: Path) -> None:
    written = sample_generator.write(tmp_path / "out")
    assert sorted(path.name for path in written) == sorted(SAMPLE_FILES)
    assert sample_generator.stale_files(tmp_path / "out") == []
    assert sample_generator.stale_files(tmp_path / "missing") == list(SAMPLE_FILES)
