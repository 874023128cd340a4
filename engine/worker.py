"""Start a Faust worker for the app, after making sure the topics exist."""

from __future__ import annotations

import faust

from engine.agents.app import create_app
from engine.producer import ensure_topics
from engine.settings import Settings

__all__ = ["run_worker"]


def run_worker(settings: Settings, ensure: bool = True) -> None:
    if ensure:
        ensure_topics(
            settings.kafka_servers,
            settings.topic_prefix,
            settings.topic_partitions,
            settings.topic_replication,
        )
    (settings.state_dir / "worker").mkdir(parents=True, exist_ok=True)
    app = create_app(settings)
    worker = faust.Worker(app, loglevel=settings.log_level, quiet=True)
    worker.execute_from_commandline()
