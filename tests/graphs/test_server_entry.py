"""`langgraph.json` names a graph factory that a LangGraph server can load: no checkpointer of
its own (the server refuses one), settings from the environment, a working agent."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from langchain_core.messages import HumanMessage

from graphs.server import make_graph

ROOT = Path(__file__).resolve().parents[2]


def test_langgraph_json_points_at_the_factory() -> None:
    config = json.loads((ROOT / "langgraph.json").read_text())
    module, _, attribute = config["graphs"]["agent"].partition(":")
    assert (ROOT / module).is_file() and attribute == "make_graph"
    assert config["dependencies"] == ["."]


@pytest.mark.timeout(900)
async def test_factory_yields_the_agent_without_a_checkpointer(
    sample_store_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shutil.copy(sample_store_path, tmp_path / "catalog.sqlite")
    monkeypatch.setenv("COSMIC_WORKS_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("COSMIC_WORKS_MODEL", "offline")
    monkeypatch.chdir(tmp_path)  # no .env of the checkout
    async with make_graph({}) as graph:
        assert graph.checkpointer is None
        state = await graph.ainvoke(
            {"messages": [HumanMessage("What was the price of the product with sku FR-R92B-58?")]}
        )
    assert "$1431.50" in state["messages"][-1].text
    assert not (tmp_path / "checkpoints.sqlite").exists()
