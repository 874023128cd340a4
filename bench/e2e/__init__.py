"""The end-to-end benchmark (``bench/bench_e2e.py``): real workers, Kafka, Redis, the fake
APNs and FCM and virtual phones, measured from outside the engine.

Modules: :mod:`.stats` (percentiles, pairing pushes with calls, the step-stop rule),
:mod:`.procstat` (CPU and peak RSS from ``/proc``), :mod:`.fakes` (the push fakes and
what they received), :mod:`.deployment` (topics, practices, phones, worker processes),
:mod:`.load` (a paced intake producer), one module per scenario (:mod:`.steps`,
:mod:`.floor`, :mod:`.timers`, :mod:`.mixed`), :mod:`.report` and :mod:`.cli`.
"""
