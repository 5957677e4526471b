"""Checkpoint benchmark: what checkpointing costs per conversation turn, SQLite vs MongoDB.

Run `python benchmarks/checkpoints.py` (`--quick` for a smaller run). The script starts its own
SecantusDB (a MongoDB-wire-protocol server, test dependency) on a free loopback port over a
temporary directory, so nothing but the checkout is needed. Every number comes from this run:

* The graph is the real agent graph with a scripted model (no network, no model time): each
  turn is prompt → tool call → tool result → answer, i.e. the agent node twice and the tool
  node once, as a lookup question takes with a real model. The tool answers "not found" at once.
* Three checkpointers: `memory` (the graph's own cost, the baseline), `sqlite` (the embedded
  default: `AsyncSqliteSaver`, WAL) and `mongodb` (`MongoDBSaver` through our guarded wrapper,
  against SecantusDB on loopback; a real MongoDB or a remote cluster adds its network round
  trips on top: see the writes and reads per turn).
* The backends take turns (rotating order) on their own threads, so machine noise hits them
  alike. Each thread's history grows turn after turn, so early and late turns are shown apart.
* `write ms/turn` is the time spent inside the saver's `aput` + `aput_writes` during a turn,
  `read ms/turn` inside `aget_tuple`; `turn ms` is the whole `ainvoke` (LangGraph overlaps
  writes with the next step, so it rises less than the write time).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script from a checkout
    sys.path.insert(0, str(ROOT))

import bson  # noqa: E402
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage  # noqa: E402
from pydantic import SecretStr  # noqa: E402
from pymongo import monitoring  # noqa: E402

from core.settings import CheckpointerBackend, Settings  # noqa: E402
from graphs.checkpointer import open_checkpointer  # noqa: E402
from graphs.graph import build_graph  # noqa: E402
from tests.fakes import ScriptedChatModel, tool_call  # noqa: E402
from tests.mongo_server import secantus_server  # noqa: E402
from tools import build_tools  # noqa: E402

BACKENDS: tuple[CheckpointerBackend, ...] = ("memory", "sqlite", "mongodb")
Durability = Literal["async", "sync", "exit"]
MODES: tuple[Durability, ...] = ("async", "sync", "exit")
EARLY = 5  # turns counted as "early" (short history) and, from the end, as "late"


class _NoStore:
    """The tool is called but finds nothing: no catalog cost in the turn."""

    async def get_product_by_sku(self, sku: str) -> None:
        return None


def _responder(messages: list[BaseMessage]) -> AIMessage:
    """Look the sku up first, then answer from the tool result (two model calls per turn)."""
    if isinstance(messages[-1], ToolMessage):
        return AIMessage(content=f"Nothing found for that sku ({len(messages)} messages so far).")
    return tool_call("get_product_by_sku", {"sku": "FR-R92B-58"}, f"call_{len(messages)}")


@dataclass
class Meter:
    """Per turn: time with at least one saver write (or read) in flight, and call counts.

    LangGraph runs a step's writes concurrently with the next step (and with each other), so
    summing call durations would count overlapping time twice: this is wall time instead.
    """

    write_s: float = 0.0
    read_s: float = 0.0
    writes: int = 0
    reads: int = 0
    _active: dict[str, int] = field(default_factory=lambda: {"write": 0, "read": 0})
    _since: dict[str, float] = field(default_factory=dict)

    def reset(self) -> None:
        self.write_s = self.read_s = 0.0
        self.writes = self.reads = 0

    def enter(self, kind: str) -> None:
        if kind == "write":
            self.writes += 1
        else:
            self.reads += 1
        self._active[kind] += 1
        if self._active[kind] == 1:
            self._since[kind] = time.perf_counter()

    def leave(self, kind: str) -> None:
        self._active[kind] -= 1
        if self._active[kind] == 0:
            busy = time.perf_counter() - self._since[kind]
            if kind == "write":
                self.write_s += busy
            else:
                self.read_s += busy


def _instrument(saver: Any, meter: Meter) -> None:
    """Wrap the async methods the graph calls, on this instance only (event-loop side)."""

    def timed(name: str, kind: str) -> None:
        inner: Callable[..., Awaitable[Any]] = getattr(saver, name)

        async def wrapper(*args: Any, **kwargs: Any) -> Any:
            meter.enter(kind)
            try:
                return await inner(*args, **kwargs)
            finally:
                meter.leave(kind)

        setattr(saver, name, wrapper)

    timed("aput", "write")
    timed("aput_writes", "write")
    timed("aget_tuple", "read")


class WireCounter(monitoring.CommandListener):
    """MongoDB commands and bytes sent, for the round trips a networked server would add."""

    def __init__(self) -> None:
        self.commands = 0
        self.bytes_out = 0

    def reset(self) -> None:
        self.commands = self.bytes_out = 0

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        self.commands += 1
        self.bytes_out += len(bson.encode(event.command))

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


@dataclass
class Samples:
    turn_ms: dict[Durability, list[float]] = field(
        default_factory=lambda: {mode: [] for mode in MODES}
    )
    write_ms: list[float] = field(default_factory=list)
    read_ms: list[float] = field(default_factory=list)
    writes: list[int] = field(default_factory=list)
    reads: list[int] = field(default_factory=list)
    commands: list[int] = field(default_factory=list)
    kb_out: list[float] = field(default_factory=list)
    turn_index: list[int] = field(default_factory=list)


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def _p95(values: list[float]) -> float:
    if len(values) < 2:
        return values[0] if values else float("nan")
    return statistics.quantiles(values, n=20)[-1]


async def run(
    turns: int, threads: int, workdir: Path, mongodb_uri: str
) -> dict[CheckpointerBackend, Samples]:
    settings = {
        "memory": Settings(_env_file=None, data_dir=workdir, checkpointer="memory"),
        "sqlite": Settings(_env_file=None, data_dir=workdir, checkpointer="sqlite"),
        "mongodb": Settings(
            _env_file=None,
            data_dir=workdir,
            checkpointer="mongodb",
            mongodb_uri=SecretStr(mongodb_uri),
            mongodb_database="cw_bench",
        ),
    }
    samples = {backend: Samples() for backend in BACKENDS}
    wire = WireCounter()
    monitoring.register(wire)  # clients created from now on report their commands
    async with AsyncExitStack() as stack:
        graphs: dict[str, Any] = {}
        meters: dict[str, Meter] = {}
        for backend in BACKENDS:
            saver = await stack.enter_async_context(open_checkpointer(settings[backend]))
            meters[backend] = Meter()
            _instrument(saver, meters[backend])
            model = ScriptedChatModel(responder=_responder)
            graphs[backend] = build_graph(model, build_tools(_NoStore()), saver)  # type: ignore[arg-type]
        # Warm-up: first-call costs (connections, statement caches) stay out of the numbers.
        for backend in BACKENDS:
            for mode in MODES:
                config = {"configurable": {"thread_id": f"warm-{mode}"}, "recursion_limit": 10}
                await graphs[backend].ainvoke(
                    {"messages": [HumanMessage("warm up")]}, config, durability=mode
                )
        for turn in range(turns):
            for thread in range(threads):
                shift = (turn + thread) % len(BACKENDS)
                for backend in BACKENDS[shift:] + BACKENDS[:shift]:
                    for mode in MODES:  # each mode on threads of its own
                        meter = meters[backend]
                        meter.reset()
                        wire.reset()
                        config = {
                            "configurable": {"thread_id": f"{mode}-{thread}"},
                            "recursion_limit": 10,
                        }
                        prompt = HumanMessage(f"What is the price of FR-R92B-58? ({turn})")
                        started = time.perf_counter()
                        await graphs[backend].ainvoke(
                            {"messages": [prompt]}, config, durability=mode
                        )
                        sample = samples[backend]
                        sample.turn_ms[mode].append((time.perf_counter() - started) * 1000)
                        if mode != "async":
                            continue
                        sample.write_ms.append(meter.write_s * 1000)
                        sample.read_ms.append(meter.read_s * 1000)
                        sample.writes.append(meter.writes)
                        sample.reads.append(meter.reads)
                        sample.commands.append(wire.commands)
                        sample.kb_out.append(wire.bytes_out / 1024)
                        sample.turn_index.append(turn)
    return samples


def _window(sample: Samples, values: list[float], early: bool, turns: int) -> list[float]:
    keep = (lambda t: t < EARLY) if early else (lambda t: t >= turns - EARLY)
    return [v for v, t in zip(values, sample.turn_index, strict=True) if keep(t)]


def report(samples: dict[CheckpointerBackend, Samples], turns: int, threads: int) -> str:
    baseline_sync = _median(samples["memory"].turn_ms["sync"])
    cost = {b: _median(samples[b].turn_ms["sync"]) - baseline_sync for b in BACKENDS}
    turn = {b: _median(samples[b].turn_ms["async"]) for b in BACKENDS}
    header = (
        f"{'backend':<8} | {'exit turn':>9} | {'turn ms':>7} {'p95':>6} | "
        f"{'sync turn':>9} {'ckpt ms':>7} | "
        f"{'write busy':>10} {'early':>6} {'late':>6} {'read':>5} | {'puts':>4} {'gets':>4} "
        f"{'cmds':>4} {'KB out':>6} | {'ckpt vs sqlite':>14} {'turn vs sqlite':>14}"
    )
    lines = [
        f"Checkpoint cost per turn: {turns} turns x {threads} threads per backend and mode "
        "(turn = agent -> tool -> agent; history grows each turn)",
        header,
        "-" * len(header),
    ]
    for backend in BACKENDS:
        s = samples[backend]
        wire_cmds = f"{statistics.median(s.commands):>4.0f}" if backend == "mongodb" else "   -"
        wire_kb = f"{_median(s.kb_out):>6.1f}" if backend == "mongodb" else "     -"
        lines.append(
            f"{backend:<8} | {_median(s.turn_ms['exit']):>9.2f} | "
            f"{turn[backend]:>7.2f} {_p95(s.turn_ms['async']):>6.1f} | "
            f"{_median(s.turn_ms['sync']):>9.2f} {cost[backend]:>7.2f} | "
            f"{_median(s.write_ms):>10.2f} "
            f"{_median(_window(s, s.write_ms, True, turns)):>6.2f} "
            f"{_median(_window(s, s.write_ms, False, turns)):>6.2f} "
            f"{_median(s.read_ms):>5.2f} | {statistics.median(s.writes):>4.0f} "
            f"{statistics.median(s.reads):>4.0f} {wire_cmds} {wire_kb} | "
            f"{cost[backend] / cost['sqlite']:>13.2f}x {turn[backend] / turn['sqlite']:>13.2f}x"
        )
    lines += [
        "",
        "exit turn: one turn as the service runs it (durability 'exit': one checkpoint when",
        "  the turn ends; graphs.runtime.TURN_DURABILITY).",
        "turn ms: LangGraph's default (durability 'async': a step's checkpoint is written",
        "  while the next step runs); p95 of the same.",
        "sync turn: the same turn with durability 'sync' (each step waits for its checkpoint);",
        "  ckpt ms = sync turn - memory's sync turn: the checkpoint cost on the critical path.",
        f"write busy: wall ms with a saver write in flight (async mode); early/late: first/last "
        f"{EARLY} turns; read: aget_tuple.",
        "puts/gets: saver calls per turn; cmds/KB out: MongoDB commands and bytes sent per turn",
        "  (each is a network round trip on a remote server).",
        "MongoDB here is SecantusDB on loopback, a Python server: its per-command time is far",
        "  above a real mongod's; the ratios measure this pair, not MongoDB at its best.",
    ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10 turns x 2 threads")
    parser.add_argument("--turns", type=int, default=None)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    turns = args.turns or (10 if args.quick else 30)
    threads = args.threads or (2 if args.quick else 4)
    with tempfile.TemporaryDirectory(prefix="cw-bench-checkpoints-") as tmp:
        workdir = Path(tmp)
        print("starting SecantusDB on loopback ...", file=sys.stderr, flush=True)
        with secantus_server(workdir / "mongo") as uri:
            started = time.perf_counter()
            samples = asyncio.run(run(turns, threads, workdir, uri))
            elapsed = time.perf_counter() - started
    print(report(samples, turns, threads))
    print(f"(measured in {elapsed:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
