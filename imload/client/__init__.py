"""The pure device engine (sans-I/O): feed it events, drain its actions.

See ``engine.py`` for the theory of operation, ``states.py`` for the message
state table, ``instructions.py`` for the offline queue of ops and reads,
``display.py`` for the display policies and ``actions.py`` for what a driver
must do with each action.
"""

from imload.client.actions import (
    Action,
    CancelTimer,
    Close,
    Connect,
    FetchRoute,
    Metric,
    Record,
    SendFrame,
    SetTimer,
)
from imload.client.backoff import POLICIES, Backoff, with_floor
from imload.client.config import DISPLAY_POLICIES, EngineConfig
from imload.client.core import Conn
from imload.client.display import Display, hybrid_order
from imload.client.engine import DeviceEngine
from imload.client.states import TRANSITIONS, IllegalTransition, MsgEvent, MsgState

__all__ = [
    "DISPLAY_POLICIES",
    "POLICIES",
    "TRANSITIONS",
    "Action",
    "Backoff",
    "CancelTimer",
    "Close",
    "Conn",
    "Connect",
    "DeviceEngine",
    "Display",
    "EngineConfig",
    "FetchRoute",
    "IllegalTransition",
    "Metric",
    "MsgEvent",
    "MsgState",
    "Record",
    "SendFrame",
    "SetTimer",
    "hybrid_order",
    "with_floor",
]
