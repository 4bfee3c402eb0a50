"""Watching a run while it happens: an incremental journal reader and running figures."""
