"""Load test: N concurrent sessions × M turns through `POST /ai` and `POST /ai/stream`.

Run `python benchmarks/load.py` (default 50 sessions × 20 turns; `--sessions`, `--turns` to
change). The script starts a real uvicorn (`app.main:create_app`) on a free loopback port over a
fresh temporary data dir (the bundled sample is loaded on first start; offline model, SQLite
store and checkpointer), then runs every session concurrently, each one turn after the other:

* turns alternate between `/ai` (JSON) and `/ai/stream` (SSE; the `end` event is the answer),
  so half the turns take each route, and each session's first turn starts it the way the
  frontend does (`session_id` `"1234"`; the server mints the id);
* every prompt is unique to its session and turn (`[<run> s07 t13] What was the price of the
  product with sku `...`?`, a different sku per turn), so a turn stored in the wrong session, or
  an answer meant for another turn, is detectable.

Then it checks, for every session, that `GET /session/load/{id}` holds exactly its own turns in
order with the answers its client received, and that `GET /session/list` lists every session.
It prints errors (non-200, `error` events, wrong session id, an answer about another sku),
lost turns (sent and answered but not in the history), crossed turns (another session's prompt
in the history, or a turn out of place), p50/p99 turn latency per route and the total time;
the exit code is 1 if anything is wrong. Only 127.0.0.1 is contacted.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from uuid import uuid4

import httpx
import orjson

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script from a checkout
    sys.path.insert(0, str(ROOT))

from catalog.loader import SAMPLE_PRODUCTS, parse_documents, sample_path  # noqa: E402

DEFAULT_SESSIONS = 50
DEFAULT_TURNS = 20
NEW_SESSION_ID = "1234"  # the frontend's "no session yet"
REQUEST_TIMEOUT_S = 120.0
STARTUP_TIMEOUT_S = 180.0
SHOWN_PROBLEMS = 10
ROUTES = ("/ai", "/ai/stream")
_TAG = re.compile(r"^\[(?P<run>[0-9a-f]+) s(?P<session>\d+) t(?P<turn>\d+)\] ")


# --------------------------------------------------------------------------------------------
# The server under test
# --------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def server_env(data_dir: Path) -> dict[str, str]:
    """The shell's environment without model, store or key settings, plus the offline ones."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("COSMIC_WORKS_", "AZURE_OPENAI_", "OPENAI_", "AOAI_", "MONGODB_"))
        and key != "DB_CONNECTION_STRING"
    }
    env.update(
        {
            "COSMIC_WORKS_DATA_DIR": str(data_dir),
            "COSMIC_WORKS_MODEL": "offline",
            "COSMIC_WORKS_EMBEDDINGS": "local",
            "COSMIC_WORKS_STORE": "sqlite",
            "COSMIC_WORKS_CHECKPOINTER": "sqlite",
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")])),
        }
    )
    return env


@contextmanager
def uvicorn_server(data_dir: Path) -> Iterator[str]:
    """Serve the app over `data_dir` on a free loopback port; yields the base URL."""
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    log_path = data_dir / "uvicorn.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "--factory", "app.main:create_app",
             "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
            cwd=data_dir,
            env=server_env(data_dir),
            stdout=log,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"uvicorn exited with {process.returncode}:\n{_tail(log_path)}")
            try:
                if httpx.get(f"{base_url}/healthz", timeout=2.0).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"uvicorn not healthy after {STARTUP_TIMEOUT_S} s")
            time.sleep(0.2)
        yield base_url
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def _tail(path: Path) -> str:
    return path.read_text(errors="replace")[-4000:] if path.exists() else ""


# --------------------------------------------------------------------------------------------
# The load
# --------------------------------------------------------------------------------------------


def sample_skus(limit: int = 64) -> list[str]:
    """Skus of the bundled sample (the server loads the same sample on first start)."""
    products = parse_documents(sample_path(SAMPLE_PRODUCTS).read_bytes(), SAMPLE_PRODUCTS)
    skus = sorted({str(p["sku"]) for p in products if isinstance(p, dict) and p.get("sku")})
    return skus[:: max(1, len(skus) // limit)][:limit]


@dataclass
class Turn:
    session: int
    index: int
    route: str
    prompt: str
    sku: str
    answer: str | None = None
    seconds: float | None = None


@dataclass
class SessionRun:
    index: int
    session_id: str | None = None
    turns: list[Turn] = field(default_factory=list)


@dataclass
class LoadReport:
    sessions: int
    turns_per_session: int
    total_s: float = 0.0
    errors: list[str] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)
    crossed: list[str] = field(default_factory=list)
    latencies: dict[str, list[float]] = field(default_factory=lambda: {r: [] for r in ROUTES})

    @property
    def turns(self) -> int:
        return self.sessions * self.turns_per_session

    @property
    def ok(self) -> bool:
        return not (self.errors or self.lost or self.crossed)

    def lines(self) -> list[str]:
        every = [s for samples in self.latencies.values() for s in samples]
        rate = len(every) / self.total_s if self.total_s else 0.0
        split = ", ".join(f"{len(v)} {route}" for route, v in self.latencies.items())
        rows = [
            ("sessions x turns", f"{self.sessions} x {self.turns_per_session} = {self.turns} "
             f"turns ({split})"),
            ("errors", str(len(self.errors))),
            ("lost turns", str(len(self.lost))),
            ("crossed turns", str(len(self.crossed))),
            ("turn latency, all", _percentiles(every)),
            *((f"turn latency, {route}", _percentiles(v)) for route, v in self.latencies.items()),
            ("total time", f"{self.total_s:.1f} s ({rate:.1f} turns/s)"),
        ]  # fmt: skip
        width = max(len(label) for label, _ in rows) + 2
        lines = [label.ljust(width) + value for label, value in rows]
        for title, items in (
            ("error", self.errors),
            ("lost", self.lost),
            ("crossed", self.crossed),
        ):
            lines += [f"  {title}: {item}" for item in items[:SHOWN_PROBLEMS]]
            if len(items) > SHOWN_PROBLEMS:
                lines.append(f"  ... and {len(items) - SHOWN_PROBLEMS} more {title} items")
        lines.append("result".ljust(width) + ("OK" if self.ok else "FAILED"))
        return lines


def _percentiles(samples: list[float]) -> str:
    if not samples:
        return "-"
    if len(samples) == 1:
        return f"p50 {samples[0] * 1000:.0f} ms, p99 {samples[0] * 1000:.0f} ms"
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return f"p50 {cuts[49] * 1000:.0f} ms, p99 {cuts[98] * 1000:.0f} ms (n={len(samples)})"


def _sse_events(text: str) -> list[tuple[str, dict[str, object]]]:
    events = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        name, data = "message", []
        for line in block.split("\n"):
            if line.startswith("event:"):
                name = line[len("event:") :].strip()
            elif line.startswith("data:"):
                data.append(line[len("data:") :].strip())
        if data:
            events.append((name, orjson.loads("\n".join(data))))
    return events


async def _ask(
    client: httpx.AsyncClient, route: str, session_id: str, prompt: str
) -> tuple[str, str]:
    """One turn; returns (session id, answer) or raises `AssertionError` naming the problem."""
    response = await client.post(route, json={"session_id": session_id, "prompt": prompt})
    assert response.status_code == 200, f"HTTP {response.status_code}: {response.text[:200]}"
    if route == "/ai":
        body = response.json()
        return str(body["session_id"]), str(body["message"])
    events = _sse_events(response.text)
    names = [name for name, _ in events]
    assert names and names[0] == "metadata", f"stream starts with {names[:1]}"
    assert "error" not in names, f"error event: {dict(events)['error']}"
    assert names[-1] == "end", f"stream ended with {names[-1:]}"
    end = events[-1][1]
    assert end["session_id"] == events[0][1]["session_id"], "metadata and end disagree"
    return str(end["session_id"]), str(end["message"])


async def _run_session(
    client: httpx.AsyncClient, run: SessionRun, run_tag: str, turns: int, skus: list[str]
) -> list[str]:
    errors: list[str] = []
    for index in range(turns):
        route = ROUTES[(run.index + index) % len(ROUTES)]
        sku = skus[(run.index * 7 + index) % len(skus)]
        prompt = (
            f"[{run_tag} s{run.index:02d} t{index:02d}] "
            f"What was the price of the product with sku `{sku}`?"
        )
        turn = Turn(run.index, index, route, prompt, sku)
        run.turns.append(turn)
        started = time.perf_counter()
        try:
            session_id, answer = await _ask(client, route, run.session_id or NEW_SESSION_ID, prompt)
        except (AssertionError, httpx.HTTPError, ValueError, KeyError) as exc:
            errors.append(f"s{run.index:02d} t{index:02d} {route}: {type(exc).__name__}: {exc}")
            continue
        turn.seconds = time.perf_counter() - started
        turn.answer = answer
        if run.session_id is None:
            run.session_id = session_id
        elif session_id != run.session_id:
            errors.append(f"s{run.index:02d} t{index:02d}: answered on session {session_id}")
        if sku not in answer:
            errors.append(f"s{run.index:02d} t{index:02d}: answer not about {sku}: {answer!r}")
    return errors


async def _check_history(
    client: httpx.AsyncClient, run: SessionRun, run_tag: str, report: LoadReport
) -> None:
    name = f"s{run.index:02d}"
    if run.session_id is None:
        report.lost += [f"{name} t{t.index:02d}: no session was created" for t in run.turns]
        return
    response = await client.get(f"/session/load/{run.session_id}")
    if response.status_code != 200:
        report.errors.append(f"{name}: /session/load answered {response.status_code}")
        return
    history = response.json()["history"]
    stored = [
        (history[i]["content"], history[i + 1]["content"])
        for i in range(0, len(history) - 1, 2)
        if history[i]["role"] == "user" and history[i + 1]["role"] == "assistant"
    ]
    if len(stored) * 2 != len(history):
        report.crossed.append(f"{name}: history does not alternate user/assistant")
    ours = {turn.prompt: turn for turn in run.turns}
    for position, (prompt, answer) in enumerate(stored):
        tag = _TAG.match(prompt)
        if tag is None or tag["run"] != run_tag or int(tag["session"]) != run.index:
            report.crossed.append(f"{name}: history holds a foreign prompt {prompt[:40]!r}")
            continue
        turn = ours.get(prompt)
        if turn is None or turn.index != position:
            report.crossed.append(f"{name}: turn {prompt[:24]!r} stored at position {position}")
        elif turn.answer is not None and answer != turn.answer:
            report.crossed.append(f"{name} t{turn.index:02d}: stored answer differs")
    stored_prompts = {prompt for prompt, _ in stored}
    for turn in run.turns:
        if turn.answer is not None and turn.prompt not in stored_prompts:
            report.lost.append(f"{name} t{turn.index:02d}: answered but not in the history")


async def run_load(
    base_url: str, sessions: int = DEFAULT_SESSIONS, turns: int = DEFAULT_TURNS
) -> LoadReport:
    """Run the load against a served app and check every session's history."""
    report = LoadReport(sessions=sessions, turns_per_session=turns)
    run_tag = uuid4().hex[:8]
    skus = sample_skus()
    runs = [SessionRun(index) for index in range(sessions)]
    limits = httpx.Limits(max_connections=sessions + 8, max_keepalive_connections=sessions + 8)
    async with httpx.AsyncClient(
        base_url=base_url, timeout=REQUEST_TIMEOUT_S, limits=limits
    ) as client:
        started = time.perf_counter()
        results = await asyncio.gather(
            *(_run_session(client, run, run_tag, turns, skus) for run in runs)
        )
        report.total_s = time.perf_counter() - started
        for errors in results:
            report.errors += errors
        for run in runs:
            for turn in run.turns:
                if turn.seconds is not None:
                    report.latencies[turn.route].append(turn.seconds)
            await _check_history(client, run, run_tag, report)
        listed = {item["session_id"] for item in (await client.get("/session/list")).json()}
        missing = [run.index for run in runs if run.session_id and run.session_id not in listed]
        report.lost += [f"s{index:02d}: not in /session/list" for index in missing]
        ids = [run.session_id for run in runs if run.session_id]
        if len(set(ids)) != len(ids):
            report.crossed.append("two sessions were given the same id")
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=DEFAULT_SESSIONS)
    parser.add_argument("--turns", type=int, default=DEFAULT_TURNS)
    args = parser.parse_args(argv)
    if args.sessions < 1 or args.turns < 1:
        parser.error("--sessions and --turns must be at least 1")
    data_dir = Path(tempfile.mkdtemp(prefix="cosmic-works-load-"))
    try:
        print(f"starting uvicorn over a fresh data dir ({data_dir}) ...", flush=True)
        with uvicorn_server(data_dir) as base_url:
            print(
                f"{args.sessions} sessions x {args.turns} turns against {base_url} "
                "(offline model, SQLite)",
                flush=True,
            )
            report = asyncio.run(run_load(base_url, args.sessions, args.turns))
        print("\n".join(report.lines()))
        return 0 if report.ok else 1
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
