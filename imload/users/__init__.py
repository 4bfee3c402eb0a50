"""Locust user classes: one Locust user plays one device of one person.

``imload.users.chat.IMUser`` is the user class (a locustfile subclasses it and
names a ``mix``, as ``locustfiles/*.py`` do); ``options`` adds the ``--imload-*``
command line options; ``identity`` turns a Locust user into a device of the
population (unique across processes); ``player`` plays a device's script;
``runtime`` keeps one journal per process; ``shipping`` sends workers'
journals to the master; ``pushes`` reports pushes to Locust with their age,
``pushstats`` merges them into Locust's table once per kind per second;
``webui`` (with ``webui_board`` and ``webui_js``) adds the imload tab to
Locust's web UI.

This package's ``__init__`` imports nothing from Locust on purpose: importing
Locust monkey-patches the process, and the pure helpers (``identity``,
``player``) are used by tests and tools that must not be patched.
"""
