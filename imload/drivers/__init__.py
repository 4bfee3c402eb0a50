"""Drivers: the I/O around the pure device engine (``imload.client``).

``gevent_ws.GeventDevice`` runs an engine under gevent over websocket-client
(asking the LBS with ``lbs_http.fetch_route``); it is what the Locust users use.
Another backend's wire protocol would be another driver, not a fork of the engine.
"""

from imload.drivers.gevent_ws import GeventDevice
from imload.drivers.lbs_http import RouteError, fetch_route
from imload.drivers.wsopen import measure_wall_offset, open_websocket, retry_after_ms

__all__ = ["GeventDevice", "RouteError", "fetch_route", "measure_wall_offset", "open_websocket",
           "retry_after_ms"]
