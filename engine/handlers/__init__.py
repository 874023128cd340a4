"""Application handlers: decode nothing, decide nothing. Each loads what a pure
decision needs through the ports, calls it with ``now``, commits, and runs the
effects. Agents call these; tests call them with the fakes from ``engine.fakes``.
"""
