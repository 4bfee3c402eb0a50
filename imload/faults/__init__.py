"""Faults: Toxiproxy toxics, process kills and restarts, and the timeline that runs them."""
