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
  learning run likewise credits a cached function only to the first test that
  fills the cache. So the learning run empties those caches before every test, and
  a mutant's child empties them, and forgets the test modules (their module-level
  values were built by the original code), before it collects.

Normal test runs do not load this plugin.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator

import pytest


def _cache_clearers() -> Iterator[Callable[[], None]]:
    """``cache_clear`` of every memoized function a loaded ``engine`` module holds."""
    for name, module in list(sys.modules.items()):
        if name == "engine" or name.startswith("engine."):
            for value in list(vars(module).values()):
                clear = getattr(value, "cache_clear", None) if callable(value) else None
                if callable(clear):
                    yield clear


def _empty_caches() -> None:
    for clear in _cache_clearers():
        clear()


def _under_test() -> str:
    return os.environ.get("MUTANT_UNDER_TEST", "")


def pytest_sessionstart(session: pytest.Session) -> None:
    """In a mutant's child: start from empty caches and freshly imported test modules."""
    if "__mutmut_" not in _under_test():
        return
    _empty_caches()
    for name in [n for n in sys.modules if n.startswith("tests.unit.") and n != __name__]:
        del sys.modules[name]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Give every item the ``_nodeid`` attribute mutmut reads, where pytest no longer does."""
    for item in items:
        if not hasattr(item, "_nodeid"):
            item._nodeid = item.nodeid  # type: ignore[attr-defined]


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """While mutmut learns which tests call what: each test starts from empty caches."""
    if _under_test() == "stats":
        _empty_caches()
