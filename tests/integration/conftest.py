"""Integration fixtures: the real local stack (started here if `make test` did
not), and isolated worker harnesses on it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.settings import Settings, load_settings
from engine.stack import stack_up
from tests.integration.harness import Harness


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/integration" in str(item.fspath):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def stack_settings() -> Settings:
    """Settings of a running Kafka + Redis; starts the local stack when needed."""
    settings = load_settings()
    stack_up(settings)
    return settings


@pytest.fixture(scope="module")
def harness(
    stack_settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Harness]:
    """One worker shared by the tests of a module."""
    h = Harness(stack_settings, tmp_path_factory.mktemp("worker"))
    h.start_worker()
    yield h
    h.close()


@pytest.fixture()
def own_harness(stack_settings: Settings, tmp_path: Path) -> Iterator[Harness]:
    """A deployment of its own, for tests that move the clock or kill the worker."""
    h = Harness(stack_settings, tmp_path)
    yield h
    h.close()
