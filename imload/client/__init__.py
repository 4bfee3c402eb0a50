"""The pure device engine (sans-I/O): feed it events, drain its actions.

See ``engine.py`` for the theory of operation, ``states.py`` for the message
state table and ``actions.py`` for what a driver must do with each action.
"""

from imload.client.actions import (
    Action,
    CancelTimer,
    Close,
    Connect,
    Metric,
    Record,
    SendFrame,
    SetTimer,
)
from imload.client.backoff import POLICIES, Backoff, with_floor
from imload.client.config import EngineConfig
from imload.client.core import Conn
from imload.client.engine import DeviceEngine
from imload.client.states import TRANSITIONS, IllegalTransition, MsgEvent, MsgState

__all__ = [
    "POLICIES",
    "TRANSITIONS",
    "Action",
    "Backoff",
    "CancelTimer",
    "Close",
    "Conn",
    "Connect",
    "DeviceEngine",
    "EngineConfig",
    "IllegalTransition",
    "Metric",
    "MsgEvent",
    "MsgState",
    "Record",
    "SendFrame",
    "SetTimer",
    "with_floor",
]
