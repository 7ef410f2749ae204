"""Relays from the notice queue to an operator's SMS gateway (Kannel)."""
