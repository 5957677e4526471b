"""Load (issue 6, item 6): the CI-sized run of `benchmarks/load.py`, and proof that its checks
would see a lost or crossed turn.

The full run (50 sessions × 20 turns) is `python benchmarks/load.py`; this one runs the same
function, 10 × 5, on a real uvicorn over a fresh data dir.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]


def _load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "benchmarks_load", ROOT / "benchmarks" / "load.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while being built
    spec.loader.exec_module(module)
    return module


load = _load_script()


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_concurrent_sessions_lose_and_cross_nothing(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    with load.uvicorn_server(data_dir) as base_url:
        report = load.asyncio.run(load.run_load(base_url, sessions=10, turns=5))
    print("\n".join(report.lines()))
    assert report.ok, "\n".join(report.lines())
    assert report.turns == 50
    assert {route: len(v) for route, v in report.latencies.items()} == {
        "/ai": 25,
        "/ai/stream": 25,
    }


# --- the checks are not vacuous ---------------------------------------------------------------


def _run(index: int, run_tag: str, session_id: str, turns: int) -> Any:
    run = load.SessionRun(index, session_id=session_id)
    for turn in range(turns):
        prompt = f"[{run_tag} s{index:02d} t{turn:02d}] What was the price of sku `X-{turn}`?"
        run.turns.append(load.Turn(index, turn, "/ai", prompt, f"X-{turn}", f"A{turn}", 0.1))
    return run


def _history(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    items = []
    for prompt, answer in pairs:
        items += [{"role": "user", "content": prompt}, {"role": "assistant", "content": answer}]
    return {"history": items}


async def _check(run: Any, run_tag: str, stored: list[tuple[str, str]]) -> Any:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=_history(stored))

    report = load.LoadReport(sessions=1, turns_per_session=len(run.turns))
    transport = httpx.MockTransport(handler)
    async with httpx.AsyncClient(transport=transport, base_url="http://load.test") as client:
        await load._check_history(client, run, run_tag, report)
    return report


async def test_the_history_check_sees_lost_and_crossed_turns() -> None:
    run = _run(1, "abc123", "s-one", turns=3)
    other = _run(2, "abc123", "s-two", turns=3)
    own = [(turn.prompt, turn.answer) for turn in run.turns]

    assert (await _check(run, "abc123", own)).ok

    lost = await _check(run, "abc123", own[:2])
    assert len(lost.lost) == 1 and not lost.crossed

    foreign = await _check(run, "abc123", [*own, (other.turns[0].prompt, "A0")])
    assert len(foreign.crossed) == 1 and "foreign" in foreign.crossed[0]

    swapped = await _check(run, "abc123", [own[1], own[0], own[2]])
    assert len(swapped.crossed) == 2

    wrong_answer = await _check(run, "abc123", [own[0], (own[1][0], "A2"), own[2]])
    assert len(wrong_answer.crossed) == 1 and "answer" in wrong_answer.crossed[0]
