"""Pure decisions: no I/O, no clock reads. Every function takes ``now`` when it needs time."""
