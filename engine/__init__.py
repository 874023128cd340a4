"""Nightline: an event-driven dispatch engine for medical answering services."""

__version__ = "0.1.0"
