"""Locust user classes: one Locust user plays one device of one person.

``imload.users.chat.ChatUser`` is the user class (import it from a locustfile,
as ``locustfiles/chat.py`` does); ``options`` adds the ``--imload-*`` command
line options; ``identity`` turns a Locust user into a (user, device) that is
unique across processes; ``process_journal`` keeps one journal per process.

This package's ``__init__`` imports nothing from Locust on purpose: importing
Locust monkey-patches the process, and the pure helpers (``identity``) are
used by tests and tools that must not be patched.
"""
