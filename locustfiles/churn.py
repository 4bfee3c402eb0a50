"""Presence churn (the ``churn`` mix): devices drop off every half minute or so and come
back, often having typed meanwhile (queued messages, ops and reads).

    locust -f locustfiles/churn.py --headless -u 300 -r 50 -t 2m \
        --imload-target cluster/target.toml --imload-journal out/journal
"""

from imload.users.chat import IMUser


class ChurnUser(IMUser):
    mix = "churn"


__all__ = ["ChurnUser"]
