"""Write (or check) the precomputed local-model vectors of the bundled sample.

    python -m catalog.sample_vectors          # rewrite catalog/sample/vectors-all-MiniLM-L6-v2.npz
    python -m catalog.sample_vectors --check  # exit 1 when a sample text has no stored vector

The texts are exactly those the stores embed (`catalog.documents`; sales orders with their
customer's name), so loading the sample needs no model run on a fresh machine.
"""

from __future__ import annotations

import argparse
import sys

from catalog.documents import customer_text, product_text, sales_order_text
from catalog.embeddings.local import IDENTITY, LocalMiniLMEmbeddings
from catalog.embeddings.precomputed import (
    PrecomputedVectors,
    bundled_vectors_path,
)
from catalog.loader import SAMPLE_CUSTOMERS, SAMPLE_PRODUCTS, read_documents, sample_path
from catalog.models import Customer, Product, SalesOrder


def sample_texts() -> list[str]:
    """Every text embedded when the bundled sample is loaded, in file order, deduplicated."""
    texts: list[str] = []
    for raw in read_documents(sample_path(SAMPLE_PRODUCTS)):
        texts.append(product_text(Product.model_validate(raw)))
    raws = read_documents(sample_path(SAMPLE_CUSTOMERS))
    customers = [Customer.model_validate(r) for r in raws if r.get("type") == "customer"]
    names: dict[str, str] = {}
    for customer in customers:
        texts.append(customer_text(customer))
        for key in (customer.customerId, customer.id):
            if key and customer.full_name:
                names.setdefault(key, customer.full_name)
    for raw in raws:
        if raw.get("type") == "salesOrder":
            order = SalesOrder.model_validate(raw)
            texts.append(sales_order_text(order, names.get(order.customerId)))
    return list(dict.fromkeys(texts))


def missing_texts() -> list[str]:
    path = bundled_vectors_path()
    if not path.is_file():
        return sample_texts()
    table = PrecomputedVectors.load(path)
    texts = sample_texts()
    found, _ = table.lookup(texts)
    known = set(found)
    return [text for i, text in enumerate(texts) if i not in known]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only verify the shipped file")
    args = parser.parse_args(argv)
    path = bundled_vectors_path()
    if args.check:
        missing = missing_texts()
        if missing:
            print(
                f"{len(missing)} sample texts have no vector in {path}; run "
                "`python -m catalog.sample_vectors`",
                file=sys.stderr,
            )
            return 1
        print(f"{path} covers every sample text")
        return 0
    texts = sample_texts()
    vectors = LocalMiniLMEmbeddings().embed_array(texts)  # computed, never from the old file
    PrecomputedVectors.from_texts(IDENTITY, texts, vectors).save(path)
    print(f"wrote {len(texts)} vectors to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
