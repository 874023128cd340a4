"""A push gateway that records envelopes in Redis instead of sending them.

Stands in for APNs / FCM until the real gateways arrive; tests and the demo
read what a device "received" with :func:`recorded_pushes`. The envelope holds
only ids and generic text, as a real one must.
"""

from __future__ import annotations

import json
import time
from typing import Any

from redis.asyncio import Redis

from engine.ports import PushRequest, PushResult

__all__ = ["RedisRecordingPushGateway", "recorded_pushes"]


class RedisRecordingPushGateway:
    """:class:`engine.ports.PushGateway` that appends each envelope to a Redis list."""

    def __init__(self, redis: Redis, key: str) -> None:
        self._redis = redis
        self._key = key

    async def send(self, request: PushRequest) -> PushResult:
        envelope = {
            "dispatch_id": request.dispatch_id,
            "device_id": request.device.device_id,
            "clinician_id": request.device.clinician_id,
            "platform": request.device.platform,
            "urgency": request.urgency,
            "step": request.step,
            "attempt": request.attempt,
            "page": request.page,
            "alert": request.alert_text,
            "sent_at_unix": time.time(),
        }
        await self._redis.rpush(self._key, json.dumps(envelope))
        return PushResult(ok=True, detail="recorded")


async def recorded_pushes(redis: Redis, key: str) -> list[dict[str, Any]]:
    return [json.loads(item) for item in await redis.lrange(key, 0, -1)]
