"""One-to-one chat with a few groups (the ``chat`` mix): one Locust user per device.

    locust -f locustfiles/chat.py --headless -u 100 -r 20 -t 2m \
        --imload-target cluster/target.toml --imload-journal out/journal

See ``imload/users/options.py`` for the ``--imload-*`` options (``--imload-mix``
picks another mix with this file too) and docs/traffic.md for the mixes.
"""

from imload.users.chat import ChatUser

__all__ = ["ChatUser"]
