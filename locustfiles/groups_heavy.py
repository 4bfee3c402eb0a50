"""Group chats first (the ``groups-heavy`` mix): many groups, some in the hundreds.

    locust -f locustfiles/groups_heavy.py --headless -u 300 -r 50 -t 2m \
        --imload-target cluster/target.toml --imload-journal out/journal
"""

from imload.users.chat import IMUser


class GroupsHeavyUser(IMUser):
    mix = "groups-heavy"


__all__ = ["GroupsHeavyUser"]
