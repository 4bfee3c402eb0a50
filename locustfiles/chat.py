"""One-to-one chat: every Locust user is a device that sends to its peers.

    locust -f locustfiles/chat.py --headless -u 100 -r 20 -t 2m \
        --imload-target cluster/target.toml --imload-journal out/journal

See ``imload/users/options.py`` for the ``--imload-*`` options.
"""

from imload.users.chat import ChatUser

__all__ = ["ChatUser"]
