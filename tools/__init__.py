"""LangChain tools the agent calls; built per store by `build_tools`, never global."""

from tools.catalog_tools import TOOL_NAMES, build_tools

__all__ = ["TOOL_NAMES", "build_tools"]
