"""The registry that finds every optimizer (the interface is maao.contract).

A method turns a prompt problem and a budget into a final prompt: a soft
context (gradient methods, the combined optimizer) or a hard template (LLM-only
search). The runner evaluates the final prompt on the test split once.
Baselines register through the `maao.methods` entry point group, so this
package never imports them.
"""
from __future__ import annotations

from importlib.metadata import entry_points

# The contract lives in maao.contract; re-exported here for existing imports.
from .contract import Budget, Method, MethodResult, RunContext, RunLog

__all__ = ["Budget", "Method", "MethodResult", "RunContext", "RunLog",
           "available_methods", "get_method"]


def _builtin() -> dict[str, type[Method]]:
    from .combined import Combined

    return {Combined.name: Combined}


def available_methods() -> dict[str, type[Method]]:
    methods = _builtin()
    for ep in entry_points(group="maao.methods"):
        methods.setdefault(ep.name, ep)       # loaded lazily in get_method
    return methods


def get_method(name: str) -> type[Method]:
    methods = available_methods()
    if name not in methods:
        raise ValueError(f"unknown method {name!r}; available: {', '.join(sorted(methods))}")
    found = methods[name]
    return found.load() if hasattr(found, "load") else found
