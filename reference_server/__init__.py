"""The reference IM node of imload: protocol v1 over WebSocket, state in Redis.

Run one with ``python -m reference_server --help``; ``imload cluster up`` runs several
behind Toxiproxy. Modules: ``config`` (command line), ``store`` (Redis keys and Lua),
``pubsub`` (the node's fan-in connection), ``session`` (one client connection),
``node`` (server, session index, push dispatch), ``bugs`` (deliberate bug modes).
"""
