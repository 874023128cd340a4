"""A pytest plugin for ``make mutation`` only (``-p tests.unit.mutmut_support``).

mutmut runs the unit tests inside its own process: once to learn which tests call
which function (``MUTANT_UNDER_TEST=stats``), then in one forked child per mutant,
running only those tests. Left alone, two things make mutants look alive although a
test would notice them:

- mutmut 3.7 reads ``item._nodeid``, which pytest 9.2 no longer sets; without it
  the first run fails. Every collected item gets it back, equal to ``nodeid``.
- Memoized results outlive the code that computed them. The packaged red-flag
  lexicon, a practice's compiled keywords and the wall-clock conversions are cached
  per process (``functools.lru_cache``), and a child inherits the caches the parent
  filled with the original code, so it never runs the mutant behind them; the
  learning run likewise credits a cached function only to the first test that fills
  the cache. So the learning run empties every engine cache before each test, and a
  mutant's child empties, before its tests, the caches whose module uses the mutated
  module (directly or through other engine modules); the others stay warm.

Values a test module builds when it is imported are still built once, by the original
code, in mutmut's parent process. Normal test runs do not load this plugin.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator

import pytest


def _cached_functions() -> Iterator[Callable[..., object]]:
    """Every memoized function a loaded ``engine`` module holds."""
    for name, module in list(sys.modules.items()):
        if name == "engine" or name.startswith("engine."):
            for value in list(vars(module).values()):
                if callable(value) and callable(getattr(value, "cache_clear", None)):
                    yield value


def _engine_modules_used_by(module_name: str) -> set[str]:
    """``module_name`` and the engine modules its module-level names come from, transitively."""
    found: set[str] = set()
    todo = [module_name]
    while todo:
        name = todo.pop()
        if name in found or name not in sys.modules:
            continue
        found.add(name)
        for value in list(vars(sys.modules[name]).values()):
            owner = (
                value.__name__ if isinstance(value, type(sys)) else getattr(value, "__module__", "")
            )
            if isinstance(owner, str) and owner.startswith("engine.") and owner not in found:
                todo.append(owner)
    return found


def _under_test() -> str:
    return os.environ.get("MUTANT_UNDER_TEST", "")


def pytest_sessionstart(session: pytest.Session) -> None:
    """In a mutant's child: empty the caches that may hold the mutated module's results."""
    mutant = _under_test()
    if "__mutmut_" not in mutant:
        return
    mutated_module = mutant.rpartition(".")[0]
    for cached in _cached_functions():
        if mutated_module in _engine_modules_used_by(cached.__module__):
            cached.cache_clear()  # type: ignore[attr-defined]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Give every item the ``_nodeid`` attribute mutmut reads, where pytest no longer does."""
    for item in items:
        if not hasattr(item, "_nodeid"):
            item._nodeid = item.nodeid  # type: ignore[attr-defined]


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """While mutmut learns which tests call what: each test starts from empty caches."""
    if _under_test() == "stats":
        for cached in _cached_functions():
            cached.cache_clear()  # type: ignore[attr-defined]
