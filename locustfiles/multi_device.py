"""People on phone, laptop and tablet at once (the ``multi-device`` mix): read markers
and messages must reach every device of a user.

    locust -f locustfiles/multi_device.py --headless -u 300 -r 50 -t 2m \
        --imload-target cluster/target.toml --imload-journal out/journal
"""

from imload.users.chat import IMUser


class MultiDeviceUser(IMUser):
    mix = "multi-device"


__all__ = ["MultiDeviceUser"]
