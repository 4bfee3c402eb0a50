"""The ``imload`` subcommands, one module per family: each adds its parsers to ``imload``'s
subparsers (``add_*``) and runs what was parsed (``cmd_*``); ``imload/cli.py`` assembles them.

| module | commands |
|---|---|
| ``drills.py`` | ``run``, ``avalanche``, ``capacity`` |
| ``results.py`` | ``compare``, ``verify``, ``probe`` |
| ``shrink.py`` | ``shrink`` |
| ``files.py`` | ``journal``, ``trace`` |
| ``cluster.py`` | ``cluster`` |
| ``sweep.py`` | ``sweep`` |
| ``imload.init`` | ``init`` |

``args.py`` holds what they share: the parser class (one clear line and exit 2 on a bad
argument) and the argument types.
"""
