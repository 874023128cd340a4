"""The ``nightline`` command line, one module per command group.

``main`` (the root group, the worker and the small tools) is in :mod:`engine.cli.main`;
each group lives in its own module: ``schedule``, ``device``, ``deadletter``, ``repair``
(``nightline dispatches``), ``triage``, ``verify`` and ``stack``.
"""

from engine.cli.main import main

__all__ = ["main"]
