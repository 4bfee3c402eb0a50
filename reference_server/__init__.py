"""The reference IM node of imload: protocol v1 over WebSocket, state in Redis.

Run one with ``python -m reference_server --help``, the LBS with
``python -m reference_server.lbs --help``; ``imload cluster up`` runs several nodes and the
LBS behind Toxiproxy. Modules: ``config`` (command line), ``store`` (Redis keys) with
``scripts`` (its Lua) and ``resp`` (the pipelined connection the scripts use), ``pubsub``
(the node's fan-in connection), ``session`` (one client connection) with ``deadline``
(its idle close and login deadline), ``login``, ``sync``, ``groups``, ``ops`` and ``reads``
(those requests), ``admission`` (connection limit, login rate), ``limits`` (requests per
user and device, failed logins per address),
``presence`` (load reports for the LBS), ``lbs``, ``tls``, ``node`` (server, session index,
push dispatch), ``bugs`` (deliberate bug modes). docs/protocol.md is the protocol.
"""
