"""`cosmic-works load`: counts, rejects (exit 2), fatal errors (exit 1, one line, no traceback)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from langchain_core.embeddings import DeterministicFakeEmbedding, Embeddings

import app.cli as cli
from catalog.loader import SAMPLE_CUSTOMERS, SAMPLE_PRODUCTS, sample_path
from tests.conftest import HashingEmbeddings

ROOT = Path(__file__).resolve().parents[1]


def sample_counts() -> dict[str, int]:
    products = json.loads(sample_path(SAMPLE_PRODUCTS).read_text("utf-8-sig"))
    mixed = json.loads(sample_path(SAMPLE_CUSTOMERS).read_text("utf-8-sig"))
    return {
        "products": len(products),
        "customers": sum(1 for d in mixed if d.get("type") == "customer"),
        "sales": sum(1 for d in mixed if d.get("type") == "salesOrder"),
    }


def product(i: int, **extra: Any) -> dict[str, Any]:
    return {
        "id": f"p-{i}",
        "categoryName": "Components, Road Frames",
        "sku": f"FR-C{i:03d}",
        "name": f"Frame {i}",
        "price": 10 + i,
        **extra,
    }


CUSTOMER = {"type": "customer", "id": "c-1", "firstName": "Ann", "lastName": "Lee"}


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """A clean environment: data dir under tmp, no `.env`, cheap embeddings."""
    data = tmp_path / "data"
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.startswith("COSMIC_WORKS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("COSMIC_WORKS_DATA_DIR", str(data))
    monkeypatch.setattr(cli, "_build_embeddings", lambda settings: HashingEmbeddings())
    return data


COUNT_LINE = re.compile(r"^\s+(products|customers|sales)\s+(\d+) written\s+(\d+) in store$")


def counts_from(output: str) -> dict[str, tuple[int, int]]:
    """`{collection: (written, in store)}` from the report lines."""
    matches = (COUNT_LINE.match(line) for line in output.splitlines())
    return {m[1]: (int(m[2]), int(m[3])) for m in matches if m}


def test_load_sample_prints_counts(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["load"]) == 0
    out, err = capsys.readouterr()
    expected = sample_counts()
    assert counts_from(out) == {name: (n, n) for name, n in expected.items()}
    assert (env / "catalog.sqlite").is_file()
    assert f"products: {expected['products']}/{expected['products']}" in err  # no TTY: lines
    assert cli.main(["load"]) == 0  # idempotent
    assert counts_from(capsys.readouterr().out) == {n: (c, c) for n, c in expected.items()}


def test_broken_document_exits_2_and_names_it(
    env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    docs = [product(i) for i in range(20)]
    docs[17]["price"] = None
    products = tmp_path / "products.json"
    products.write_text(json.dumps(docs))
    customers = tmp_path / "customers.jsonl"
    customers.write_text(json.dumps(CUSTOMER) + "\n")
    code = cli.main(["load", "--products", str(products), "--customers", str(customers)])
    out = capsys.readouterr().out
    assert code == 2
    assert f"{products}[17]: price: Input should be a valid number" in out
    assert counts_from(out)["products"] == (19, 19)
    assert counts_from(out)["customers"] == (1, 1)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('[{"id": "a"},\n  {"id": ]', "invalid JSON at line 2 column"),
        (None, "no such file"),
    ],
)
def test_fatal_errors_exit_1_with_one_line(
    env: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    content: str | None,
    message: str,
) -> None:
    path = tmp_path / "products.json"
    if content is not None:
        path.write_text(content)
    assert cli.main(["load", "--products", str(path)]) == 1
    out, err = capsys.readouterr()
    assert err.startswith("error: ") and message in err and str(path) in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_changed_embeddings_need_replace(
    env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    products = tmp_path / "p.json"
    products.write_text(json.dumps([product(1), product(2)]))
    args = ["load", "--products", str(products), "--customers", str(products)]
    assert cli.main(args) == 0
    other: Embeddings = DeterministicFakeEmbedding(size=16)
    monkeypatch.setattr(cli, "_build_embeddings", lambda settings: other)
    capsys.readouterr()
    assert cli.main(args) == 1
    err = capsys.readouterr().err
    assert "load --replace" in err and "COSMIC_WORKS_EMBEDDINGS" in err
    assert cli.main([*args, "--replace"]) == 0
    assert counts_from(capsys.readouterr().out)["products"] == (2, 2)


def test_mongodb_store_is_a_clear_error(
    env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("COSMIC_WORKS_STORE", "mongodb")
    assert cli.main(["load"]) == 1
    assert "MongoDB" in capsys.readouterr().err


def test_no_subcommand_prints_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main([]) == 2
    assert "load" in capsys.readouterr().err


def test_real_process_with_local_embeddings(tmp_path: Path) -> None:
    """The installed entry point's module, in its own process, with the real local model."""
    products = tmp_path / "products.json"
    products.write_bytes(
        b"\xef\xbb\xbf" + json.dumps([product(1), product(2, price="cheap")]).encode()
    )
    customers = tmp_path / "customer.json"
    customers.write_text(json.dumps([CUSTOMER]))
    env = {k: v for k, v in os.environ.items() if not k.startswith("COSMIC_WORKS_")}
    env |= {"COSMIC_WORKS_DATA_DIR": str(tmp_path / "data"), "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "app.cli",
            "load",
            "--products",
            str(products),
            "--customers",
            str(customers),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 2, result.stderr
    assert f"{products}[1]: price: Input should be a valid number" in result.stdout
    assert counts_from(result.stdout)["products"] == (1, 1)
    assert "Traceback" not in result.stderr
