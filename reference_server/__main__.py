"""``python -m reference_server --node-id n1 --port P --redis URL --secret S``: run one node."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys

from reference_server.config import Config, parse_args
from reference_server.node import Node


def setup_logging(config: Config) -> logging.Logger:
    handler: logging.Handler
    if config.log_file:
        handler = logging.FileHandler(config.log_file)
    else:
        handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(
        f"%(asctime)s %(levelname)s {config.node_id} %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    logging.getLogger("websockets").setLevel(logging.WARNING)
    return logging.getLogger("reference_server")


async def serve_until_signalled(config: Config, log: logging.Logger) -> int:
    node = Node(config, log)
    try:
        await node.start()
    except OSError as e:
        log.error("cannot listen on %s:%d: %s", config.host, config.port, e.strerror or e)
        await node.stop()
        return 1
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log.info("signal received, stopping")
    await node.stop()
    return 0


def main(argv: list[str] | None = None) -> int:
    config = parse_args(argv)
    log = setup_logging(config)
    try:  # uvloop's event loop when installed: the node spends less time in the loop
        import uvloop
    except ImportError:
        return asyncio.run(serve_until_signalled(config, log))
    return uvloop.run(serve_until_signalled(config, log))


if __name__ == "__main__":
    sys.exit(main())
