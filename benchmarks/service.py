"""Service benchmark: what the HTTP server adds to a turn, against the same graph in-process.

Run `python benchmarks/service.py` (`--quick` for a smaller run). Everything runs on the offline
model (`COSMIC_WORKS_MODEL=offline`), so the model's own time is a few milliseconds and the
server's cost is visible. A real uvicorn serves the app in a subprocess on a free loopback port
over a fresh temporary data dir; this process opens runtimes on the same data dir (the same
catalog and checkpoint files) for the in-process variants: a bare one (`open_runtime`) for the
baseline, and the app itself, started by its lifespan, for the references. All run on uvloop
(as uvicorn picks it) with one OpenBLAS thread (`--blas-threads`), so that query embeddings do
not swamp the comparison with thread-scheduling noise. Every number in the table is measured
in this run:

1. First-token latency, from sending the request to the first token of the answer:
   `POST /ai/stream` (first `event: token`), LangServe `POST /agent/stream_events` (first
   `on_chat_model_stream` with text) and the in-process baseline `graph.astream(...,
   stream_mode="messages")` (first text chunk of the agent node), with the service's
   checkpoint durability (`graphs.runtime.TURN_DURABILITY`), so only the serving differs.
   Each request uses a new thread; every round runs each variant once, in a shuffled order
   (seeded), so machine noise and any after-effect of the previous sample hit them equally;
   every response is read to its end and followed by a short idle gap before the next request
   starts. Three references locate the server's cost between the graph and the socket:
   `app.turns.stream_turn` on the served runtime (the turn layer and whatever the lifespan
   binds to the graph), `/ai/stream` called at the ASGI boundary (the whole app: FastAPI,
   middleware, SSE; no socket, no client) and `GET /healthz` (the HTTP round-trip floor of
   this client and server).
2. Turns per second: `POST /ai` vs LangServe `POST /agent/invoke`, sequential and with
   `CONCURRENCY` clients, in alternating blocks; `graph.ainvoke` in-process as a reference.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import random
import shlex
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from uuid import uuid4

import httpx
import orjson

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script from a checkout
    sys.path.insert(0, str(ROOT))

from langchain_core.messages import AIMessageChunk, HumanMessage  # noqa: E402

from app.main import create_app  # noqa: E402
from app.turns import stream_turn, thread_config  # noqa: E402
from core.settings import Settings  # noqa: E402
from graphs.graph import AGENT_NODE  # noqa: E402
from graphs.runtime import TURN_DURABILITY, AgentRuntime, open_runtime  # noqa: E402

SKU_QUESTION = "What was the price of the product with sku `FR-R92B-58`?"
SEARCH_QUESTION = "What is HL Road Frame?"
QUESTIONS = {"sku": SKU_QUESTION, "search": SEARCH_QUESTION}
SKU_ANSWER = "$1431.50"

CONCURRENCY = 8
GAP_S = 0.005  # idle time between two samples: the previous one's tail work does not overlap
SEED = 20240601
STARTUP_TIMEOUT_S = 120.0
TARGET_ADDED_MS = 2.0
TARGET_SHARE_OF_LANGSERVE = 0.2
TARGET_TPS_RATIO = 1.0

Row = tuple[str, str, str, str, str, str]


@dataclass(frozen=True)
class Plan:
    """How many samples a run takes."""

    warmup: int  # unmeasured rounds of every variant, per question
    latency_rounds: int  # measured rounds per question (one sample of every variant each)
    tps_rounds: int  # alternating blocks per throughput variant
    sequential_block: int  # turns per sequential block
    concurrent_block: int  # turns per concurrent block


FULL = Plan(warmup=10, latency_rounds=100, tps_rounds=4, sequential_block=25, concurrent_block=64)
QUICK = Plan(warmup=4, latency_rounds=25, tps_rounds=2, sequential_block=10, concurrent_block=32)


# --------------------------------------------------------------------------------------------
# Statistics and the table
# --------------------------------------------------------------------------------------------


def percentile_ms(samples: list[float], pct: int) -> float:
    """The `pct`-th percentile of `samples` (seconds) in milliseconds, interpolated."""
    return statistics.quantiles(samples, n=100, method="inclusive")[pct - 1] * 1000.0


def verdict(ok: bool) -> str:
    return "yes" if ok else "NO"


def print_table(rows: list[Row]) -> None:
    header: Row = ("metric", "ours", "baseline (same run)", "ratio / added", "target", "met")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, tuple("-" * w for w in widths), *rows]:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))


# --------------------------------------------------------------------------------------------
# The server under test
# --------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def is_service_setting(key: str) -> bool:
    """Whether an environment variable configures the service (model, store, keys, ...)."""
    prefixes = ("COSMIC_WORKS_", "AZURE_OPENAI_", "OPENAI_", "AOAI_", "MONGODB_")
    return key.startswith(prefixes) or key == "DB_CONNECTION_STRING"


def server_env(data_dir: Path) -> dict[str, str]:
    """This process's environment without service settings, plus the benchmark's ones.

    `OPENBLAS_NUM_THREADS`, when `main` sets it, reaches the server through this copy.
    """
    env = {key: value for key, value in os.environ.items() if not is_service_setting(key)}
    env.update(
        {
            "COSMIC_WORKS_DATA_DIR": str(data_dir),
            "COSMIC_WORKS_MODEL": "offline",
            "COSMIC_WORKS_EMBEDDINGS": "local",
            "COSMIC_WORKS_STORE": "sqlite",
            "COSMIC_WORKS_CHECKPOINTER": "sqlite",
            "COSMIC_WORKS_LOG_LEVEL": "WARNING",
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")])),
        }
    )
    return env


def runtime_settings(data_dir: Path) -> Settings:
    """The server's settings, for the in-process runtimes (no `.env`, same data dir).

    `main` removes service settings from this process's environment first, as for the server.
    """
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        data_dir=data_dir,
        model="offline",
        embeddings="local",
        store="sqlite",
        checkpointer="sqlite",
        log_level="WARNING",
    )


@contextmanager
def uvicorn_server(data_dir: Path, profile: Path | None = None) -> Iterator[str]:
    """Serve the app over `data_dir` (optionally under cProfile); yields the base URL."""
    with uvicorn_process(data_dir, profile) as (base_url, _pid):
        yield base_url


@contextmanager
def uvicorn_process(data_dir: Path, profile: Path | None = None) -> Iterator[tuple[str, int]]:
    """`uvicorn_server`, yielding the server's pid too (for its memory and for profilers)."""
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    log_path = data_dir / "uvicorn.log"
    prefix = ["-m", "cProfile", "-o", str(profile)] if profile else []
    command = [
        sys.executable, *prefix, "-m", "uvicorn", "app.main:create_app", "--factory",
        "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning",
    ]  # fmt: skip
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command, cwd=data_dir, env=server_env(data_dir), stdout=log, stderr=subprocess.STDOUT
        )
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"uvicorn exited:\n{log_path.read_text()[-4000:]}")
            try:
                if httpx.get(f"{base_url}/healthz", timeout=2.0).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"uvicorn not healthy:\n{log_path.read_text()[-4000:]}")
            time.sleep(0.1)
        yield base_url, process.pid
    finally:
        # Both stop uvicorn gracefully; it then re-raises the signal, and only SIGINT (as
        # KeyboardInterrupt) lets cProfile write its file.
        process.send_signal(signal.SIGINT if profile else signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


# --------------------------------------------------------------------------------------------
# The variants: first-token ones return seconds to the first token, whole-turn ones the answer
# --------------------------------------------------------------------------------------------

FirstToken = Callable[[str], Awaitable[float]]


class SseReader:
    """Splits a byte stream into SSE events (`event` name, `data` bytes)."""

    def __init__(self) -> None:
        self._pending = b""

    def feed(self, chunk: bytes) -> list[tuple[bytes, bytes]]:
        self._pending = (self._pending + chunk).replace(b"\r\n", b"\n")
        *complete, self._pending = self._pending.split(b"\n\n")
        events = []
        for block in complete:
            name, data = b"message", b""
            for line in block.split(b"\n"):
                if line.startswith(b"event:"):
                    name = line[6:].strip()
                elif line.startswith(b"data:"):
                    data = line[5:].strip()
            events.append((name, data))
        return events


def langserve_token(data: bytes) -> bool:
    """Whether a LangServe `stream_events` payload is a text chunk of the agent's model."""
    if b'"on_chat_model_stream"' not in data:
        return False
    event = orjson.loads(data)
    chunk = event.get("data", {}).get("chunk") or {}
    node = event.get("metadata", {}).get("langgraph_node")
    return node == AGENT_NODE and not chunk.get("tool_call_chunks") and bool(chunk.get("content"))


@dataclass
class Variants:
    """The ways of running one turn: over HTTP (one client), and in this process."""

    client: httpx.AsyncClient
    runtime: AgentRuntime  # the bare runtime (`open_runtime`): the baseline
    app: Any  # the FastAPI app, started in this process (its lifespan ran; no socket)
    served: AgentRuntime  # the runtime the app's lifespan built and serves

    async def ai_stream(self, question: str) -> float:
        """`POST /ai/stream` over the socket, read to its `end` event."""
        start = time.perf_counter()
        first = 0.0
        reader = SseReader()
        async with self.client.stream("POST", "/ai/stream", json={"prompt": question}) as resp:
            resp.raise_for_status()
            async for chunk in resp.aiter_raw():
                for name, _ in reader.feed(chunk):
                    if name == b"token" and not first:
                        first = time.perf_counter() - start
                    elif name == b"error":
                        raise RuntimeError(f"/ai/stream failed: {chunk!r}")
        return _first_or_fail(first, "/ai/stream")

    async def langserve_stream(self, question: str) -> float:
        """LangServe `POST /agent/stream_events` over the socket, read to its end."""
        start = time.perf_counter()
        first = 0.0
        reader = SseReader()
        body = {
            "input": {"messages": [{"type": "human", "content": question}]},
            "config": {"configurable": {"thread_id": uuid4().hex}},
        }
        async with self.client.stream("POST", "/agent/stream_events", json=body) as resp:
            resp.raise_for_status()
            async for chunk in resp.aiter_raw():
                for name, data in reader.feed(chunk):
                    if not first and name == b"data" and langserve_token(data):
                        first = time.perf_counter() - start
                    elif name == b"error":
                        raise RuntimeError(f"/agent/stream_events failed: {data!r}")
        return _first_or_fail(first, "/agent/stream_events")

    async def in_process(self, question: str) -> float:
        """The baseline: `graph.astream(stream_mode="messages")` on the in-process runtime."""
        start = time.perf_counter()
        first = 0.0
        graph_input = {"messages": [HumanMessage(content=question, id=uuid4().hex)]}
        config = thread_config(self.runtime, uuid4().hex, owner="")
        async for chunk, metadata in self.runtime.graph.astream(
            graph_input, config, stream_mode="messages", durability=TURN_DURABILITY
        ):
            node = metadata.get("langgraph_node") if isinstance(metadata, dict) else None
            if (
                not first
                and node == AGENT_NODE
                and isinstance(chunk, AIMessageChunk)
                and not chunk.tool_call_chunks
                and chunk.text
            ):
                first = time.perf_counter() - start
        return _first_or_fail(first, "graph.astream")

    async def turn_layer(self, question: str) -> float:
        """`app.turns.stream_turn` on the served runtime (what `/ai/stream` runs), no app."""
        start = time.perf_counter()
        first = 0.0
        async for event in stream_turn(self.served, uuid4().hex, question, ""):
            if event.kind == "token" and not first:
                first = time.perf_counter() - start
        return _first_or_fail(first, "stream_turn")

    async def asgi_stream(self, question: str) -> float:
        """`POST /ai/stream` through the ASGI app directly: the app's cost without transport."""
        body = orjson.dumps({"prompt": question})
        finished = asyncio.Event()
        first = 0.0
        reader = SseReader()
        requested = False
        start = time.perf_counter()

        async def receive() -> dict[str, Any]:
            nonlocal requested
            if not requested:
                requested = True
                return {"type": "http.request", "body": body, "more_body": False}
            await finished.wait()
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            nonlocal first
            if message["type"] != "http.response.body":
                return
            for name, _ in reader.feed(message.get("body", b"")):
                if name == b"token" and not first:
                    first = time.perf_counter() - start
            if not message.get("more_body", False):
                finished.set()

        await self.app(asgi_scope("POST", "/ai/stream", len(body)), receive, send)
        return _first_or_fail(first, "ASGI /ai/stream")

    async def healthz(self, question: str) -> float:
        """`GET /healthz`: the round trip of this client and server with no work behind it."""
        start = time.perf_counter()
        (await self.client.get("/healthz")).raise_for_status()
        return time.perf_counter() - start

    # -- whole turns, for throughput --------------------------------------------------------

    async def ai(self, question: str) -> str:
        resp = await self.client.post("/ai", json={"prompt": question})
        resp.raise_for_status()
        return str(resp.json()["message"])

    async def langserve_invoke(self, question: str) -> str:
        body = {
            "input": {"messages": [{"type": "human", "content": question}]},
            "config": {"configurable": {"thread_id": uuid4().hex}},
        }
        resp = await self.client.post("/agent/invoke", json=body)
        resp.raise_for_status()
        return str(resp.json()["output"]["messages"][-1]["content"])

    async def graph_invoke(self, question: str) -> str:
        graph_input = {"messages": [HumanMessage(content=question, id=uuid4().hex)]}
        result = await self.runtime.graph.ainvoke(
            graph_input,
            thread_config(self.runtime, uuid4().hex, owner=""),
            durability=TURN_DURABILITY,
        )
        return str(result["messages"][-1].text)


def asgi_scope(method: str, path: str, length: int) -> dict[str, Any]:
    """An HTTP scope as uvicorn builds it for a JSON request from 127.0.0.1."""
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"127.0.0.1"),
            (b"content-type", b"application/json"),
            (b"content-length", str(length).encode()),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 80),
        "state": {},
    }


def _first_or_fail(first: float, what: str) -> float:
    if not first:
        raise RuntimeError(f"{what}: the answer streamed no token")
    return first


# --------------------------------------------------------------------------------------------
# Measurements
# --------------------------------------------------------------------------------------------


@dataclass
class Samples:
    """First-token latencies (seconds) per variant and question."""

    by_key: dict[tuple[str, str], list[float]] = field(default_factory=dict)

    def add(self, variant: str, question: str, seconds: float) -> None:
        self.by_key.setdefault((variant, question), []).append(seconds)

    def get(self, variant: str, question: str) -> list[float]:
        return self.by_key[(variant, question)]


async def measure_first_token(variants: Variants, plan: Plan) -> Samples:
    """Rounds of every variant once per question, in a shuffled order; warm-up not kept."""
    runners: dict[str, FirstToken] = {
        "ai_stream": variants.ai_stream,
        "langserve": variants.langserve_stream,
        "in_process": variants.in_process,
        "turn_layer": variants.turn_layer,
        "asgi": variants.asgi_stream,
        "healthz": variants.healthz,
    }
    order = list(runners)
    rng = random.Random(SEED)
    samples = Samples()
    for round_index in range(plan.warmup + plan.latency_rounds):
        for qkey, question in QUESTIONS.items():
            rng.shuffle(order)
            for name in order:
                seconds = await runners[name](question)
                if round_index >= plan.warmup:
                    samples.add(name, qkey, seconds)
                await asyncio.sleep(GAP_S)
    return samples


async def turns_per_second(
    turn: Callable[[str], Awaitable[str]], turns: int, concurrency: int
) -> tuple[int, float]:
    """Run `turns` turns (questions alternating) with `concurrency` clients: (turns, seconds)."""
    questions = [list(QUESTIONS.values())[i % len(QUESTIONS)] for i in range(turns)]
    queue = iter(questions)

    async def client() -> None:
        for question in queue:  # a shared iterator: each turn is taken once
            await turn(question)

    start = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    return turns, time.perf_counter() - start


async def measure_throughput(variants: Variants, plan: Plan) -> dict[tuple[str, int], float]:
    """Turns/s per (variant, concurrency), from alternating blocks of each variant."""
    runners: dict[str, Callable[[str], Awaitable[str]]] = {
        "ai": variants.ai,
        "langserve": variants.langserve_invoke,
        "in_process": variants.graph_invoke,
    }
    names = list(runners)
    totals: dict[tuple[str, int], list[float]] = {}
    for concurrency, block in ((1, plan.sequential_block), (CONCURRENCY, plan.concurrent_block)):
        for name in names:  # warm-up block, not kept
            await turns_per_second(runners[name], max(concurrency, 8), concurrency)
        for round_index in range(plan.tps_rounds):
            shift = round_index % len(names)
            for name in names[shift:] + names[:shift]:
                turns, seconds = await turns_per_second(runners[name], block, concurrency)
                total = totals.setdefault((name, concurrency), [0.0, 0.0])
                total[0] += turns
                total[1] += seconds
    return {key: turns / seconds for key, (turns, seconds) in totals.items()}


async def check_answers(variants: Variants) -> None:
    """Every variant answers the acceptance question with the catalogue's price."""
    answers = {
        "/ai": await variants.ai(SKU_QUESTION),
        "/agent/invoke": await variants.langserve_invoke(SKU_QUESTION),
        "graph.ainvoke": await variants.graph_invoke(SKU_QUESTION),
    }
    for route, answer in answers.items():
        if SKU_ANSWER not in answer:
            raise RuntimeError(f"{route} answered {answer!r}, expected {SKU_ANSWER}")


# --------------------------------------------------------------------------------------------
# Rows
# --------------------------------------------------------------------------------------------


def p50_p90(samples: list[float]) -> str:
    return f"{percentile_ms(samples, 50):.2f} / {percentile_ms(samples, 90):.2f} ms"


def added(ours: list[float], base: list[float]) -> tuple[float, str]:
    """Added p50 (ms) over the baseline, and its cell text with the ratio of p50s."""
    ours50, base50 = percentile_ms(ours, 50), percentile_ms(base, 50)
    extra = ours50 - base50
    return extra, f"{extra:+.2f} ms ({ours50 / base50:.2f}x)"


def latency_rows(samples: Samples) -> list[Row]:
    floor = samples.get("healthz", "sku") + samples.get("healthz", "search")
    floor50 = percentile_ms(floor, 50)
    rows: list[Row] = []
    for qkey in QUESTIONS:
        base = samples.get("in_process", qkey)
        base_cell = f"graph.astream {p50_p90(base)}"
        ours = samples.get("ai_stream", qkey)
        ours_added, ours_cell = added(ours, base)
        rows.append(
            (
                f"first token p50/p90 [{qkey}] /ai/stream",
                p50_p90(ours),
                base_cell,
                f"{ours_cell}; {ours_added - floor50:+.2f} net of floor",
                f"<= +{TARGET_ADDED_MS:.0f} ms p50",
                verdict(ours_added <= TARGET_ADDED_MS),
            )
        )
        lang = samples.get("langserve", qkey)
        lang_added, lang_cell = added(lang, base)
        rows.append(
            (
                f"first token p50/p90 [{qkey}] /agent/stream_events",
                p50_p90(lang),
                base_cell,
                f"{lang_cell}; {lang_added - floor50:+.2f} net of floor",
                "",
                "",
            )
        )
        share = ours_added / lang_added if lang_added > 0 else float("inf")
        rows.append(
            (
                f"added p50 [{qkey}] /ai/stream vs LangServe's",
                f"{ours_added:+.2f} ms",
                f"LangServe {lang_added:+.2f} ms",
                f"{share:.2f} of LangServe's",
                f"<= {TARGET_SHARE_OF_LANGSERVE:.2f}",
                verdict(share <= TARGET_SHARE_OF_LANGSERVE),
            )
        )
        for name, label in (
            ("turn_layer", "app.turns.stream_turn in-process"),
            ("asgi", "/ai/stream at the ASGI boundary"),
        ):
            layer = samples.get(name, qkey)
            rows.append(
                (
                    f"  ref [{qkey}] {label}",
                    p50_p90(layer),
                    base_cell,
                    added(layer, base)[1],
                    "",
                    "",
                )
            )
    rows.append(("  ref HTTP floor: GET /healthz (httpx)", p50_p90(floor), "", "", "", ""))
    return rows


def throughput_rows(tps: dict[tuple[str, int], float], plan: Plan) -> list[Row]:
    rows: list[Row] = []
    for concurrency, block in ((1, plan.sequential_block), (CONCURRENCY, plan.concurrent_block)):
        label = "sequential" if concurrency == 1 else f"{concurrency} concurrent clients"
        ours, lang = tps[("ai", concurrency)], tps[("langserve", concurrency)]
        inproc = tps[("in_process", concurrency)]
        rows.append(
            (
                f"turns/s {label} /ai vs /agent/invoke",
                f"{ours:.1f}/s",
                f"LangServe {lang:.1f}/s",
                f"{ours / lang:.2f}x",
                f">= {TARGET_TPS_RATIO:.1f}x",
                verdict(ours / lang >= TARGET_TPS_RATIO),
            )
        )
        rows.append(
            (
                f"  ref turns/s {label} graph.ainvoke",
                f"{inproc:.1f}/s",
                f"{plan.tps_rounds} x {block} turns",
                f"/ai at {ours / inproc:.2f}x of in-process",
                "",
                "",
            )
        )
    return rows


# --------------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------------


@asynccontextmanager
async def bench_variants(base_url: str, data_dir: Path) -> AsyncIterator[Variants]:
    limits = httpx.Limits(max_connections=CONCURRENCY * 2, max_keepalive_connections=CONCURRENCY)
    async with (
        httpx.AsyncClient(base_url=base_url, timeout=60.0, limits=limits) as client,
        open_runtime(runtime_settings(data_dir)) as runtime,
    ):
        app = create_app(runtime_settings(data_dir))
        async with app.router.lifespan_context(app):  # as uvicorn starts it
            served: AgentRuntime = app.state.runtime
            yield Variants(client=client, runtime=runtime, app=app, served=served)


async def run(base_url: str, data_dir: Path, plan: Plan) -> list[Row]:
    async with bench_variants(base_url, data_dir) as variants:
        await check_answers(variants)
        start = time.perf_counter()
        samples = await measure_first_token(variants, plan)
        print(f"  first-token rounds done in {time.perf_counter() - start:.1f} s", flush=True)
        start = time.perf_counter()
        tps = await measure_throughput(variants, plan)
        print(f"  throughput blocks done in {time.perf_counter() - start:.1f} s", flush=True)
    return latency_rows(samples) + throughput_rows(tps, plan)


def event_loop_factory() -> tuple[Callable[[], asyncio.AbstractEventLoop] | None, str]:
    """uvloop when installed, as uvicorn picks it: the in-process baseline runs on the same."""
    try:
        import uvloop
    except ImportError:
        return None, "asyncio"
    return uvloop.new_event_loop, f"uvloop {uvloop.__version__}"


def git_commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        )
    except OSError:
        return "unknown"
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=no"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    ).stdout.strip()
    return (out.stdout.strip() or "unknown") + (" (+ uncommitted changes)" if dirty else "")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="fewer samples (about 4x faster)")
    parser.add_argument(
        "--blas-threads",
        type=int,
        default=1,
        metavar="N",
        help="OpenBLAS threads in the server and in this process (default 1; 0 keeps the "
        "library's default, which on a busy 2-core machine makes query embeddings erratic)",
    )
    parser.add_argument(
        "--profile-server",
        type=Path,
        metavar="FILE",
        help="run uvicorn under cProfile, writing FILE (timings are then inflated)",
    )
    args = parser.parse_args(argv)
    plan = QUICK if args.quick else FULL
    for key in [key for key in os.environ if is_service_setting(key)]:
        del os.environ[key]  # the in-process runtimes get the server's settings, nothing else
    if args.blas_threads > 0:  # numpy is first imported by `open_runtime`, after this
        os.environ["OPENBLAS_NUM_THREADS"] = str(args.blas_threads)
    blas = os.environ.get("OPENBLAS_NUM_THREADS", "library default")
    loop_factory, loop_name = event_loop_factory()

    print(f"service benchmark, {dt.datetime.now().astimezone().isoformat(timespec='seconds')}")
    print(f"  command: {shlex.join([sys.executable, *sys.argv])}")
    print(f"  commit: {git_commit()}; python {sys.version.split()[0]}; {os.cpu_count()} cpus")
    print(
        f"  model: offline; event loop: {loop_name} (both processes); OpenBLAS threads: {blas}; "
        f"{plan.latency_rounds} samples per variant and question after {plan.warmup} warm-up "
        "rounds",
        flush=True,
    )
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="cosmic-works-service-bench-") as tmp:
        data_dir = Path(tmp)
        with uvicorn_server(data_dir, args.profile_server) as base_url:
            print(f"  server ready in {time.perf_counter() - started:.1f} s at {base_url}")
            with asyncio.Runner(loop_factory=loop_factory) as runner:
                rows = runner.run(run(base_url, data_dir, plan))
    print(f"  total {time.perf_counter() - started:.1f} s")
    print()
    print_table(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
