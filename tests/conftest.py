"""Settings for the whole suite.

Hypothesis: no per-example deadline and no "data generation is too slow" health
check. Both are wall-clock limits (200 ms by default) that fail a correct test on a
loaded machine; how fast the code is belongs in ``make bench``, not in the tests.
"""

from __future__ import annotations

from hypothesis import HealthCheck, settings

settings.register_profile("nightline", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("nightline")
