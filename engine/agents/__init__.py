"""Faust stream agents: decode, call a handler, send. No decisions live here."""
