"""The chat mix under a step load shape, for ``imload capacity`` (see imload/users/shape.py).

    locust -f locustfiles/capacity.py --headless --imload-steps 20,40,80 --imload-step-s 30 \
        --imload-target cluster/target.toml --imload-journal out/journal
"""

from imload.users.chat import ChatUser
from imload.users.shape import StepShape

__all__ = ["ChatUser", "StepShape"]
