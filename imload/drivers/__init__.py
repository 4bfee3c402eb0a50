"""Drivers: the I/O around the pure device engine (``imload.client``).

``gevent_ws.GeventDevice`` runs an engine under gevent over websocket-client;
it is what the Locust users use. Another backend's wire protocol would be
another driver, not a fork of the engine.
"""

from imload.drivers.gevent_ws import GeventDevice, measure_wall_offset, retry_after_ms

__all__ = ["GeventDevice", "measure_wall_offset", "retry_after_ms"]
