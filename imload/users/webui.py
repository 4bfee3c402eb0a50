"""The imload tab of Locust's web UI (Locust's ``extend_web_ui`` pattern, React UI).

``install(environment)`` runs from the user module's ``init`` listener. It does
nothing at all unless Locust runs its web UI (``environment.web_ui`` is None in a
headless run and on a worker), so a headless run pays one function call per journal
record (``feed``, a no-op). With the web UI it:

- makes ONE process-wide ``LiveBoard`` (``webui_board.py``) that every journal
  record of the process's devices feeds (``feed``, called from ``IMUser._on_record``);
  on a master, which runs no devices, the workers' shipped journal lines feed it
  instead (``feed_lines``, with ``--imload-ship-journal``: ``runtime.line_listeners``);
- samples it every ``SAMPLE_EVERY_S`` seconds (the acked-but-unseen curve);
- adds a tab ``imload`` to the page (``template_args["extended_tabs"]`` and
  ``["extended_tables"]``) whose rows ride on Locust's own ``/stats/requests`` answer
  (``extended_stats``, added by an ``after_request`` hook, as Locust's example does);
- serves ``/imload/live`` (the board as JSON) and ``/imload/tab.js`` (``webui_js.py``),
  and adds that script to the index page (the table cannot colour or draw).

Routes sit under ``--web-base-path`` like Locust's own, behind its ``--web-login``.
"""

from __future__ import annotations

import logging
from typing import Any

import orjson

from imload.users import pushes
from imload.users.webui_board import SAMPLE_EVERY_S, LiveBoard
from imload.users.webui_js import TAB_JS

log = logging.getLogger("imload.users")

TAB = "imload"
TABLE = {"key": TAB, "structure": [{"key": "figure", "title": "imload figure"},
                                   {"key": "value", "title": "value"},
                                   {"key": "note", "title": "note"}]}
SCRIPT_TAG = '<script src="./imload/tab.js"></script>'
STANDALONE = "this Locust process: every device it runs"
MASTER_SHIPPED = ("the master: its workers' devices, from the journal lines they ship "
                  "(--imload-ship-journal)")
MASTER_ALONE = ("the master's own process only: it runs no devices, so its figures stay "
                "at 0; run the workers with --imload-ship-journal to see theirs here")

_board: LiveBoard | None = None


def board() -> LiveBoard | None:
    """The process's board; None unless the web UI runs."""
    return _board


def feed(ev: dict[str, Any]) -> None:
    """One journal record of this process (a no-op without the web UI)."""
    if _board is not None:
        _board.feed(ev)


def feed_lines(lines: bytes) -> int:
    """Journal lines a worker shipped (JSON, one per line) into the board; how many were
    events it could take (a line that is not one is skipped: the checker names it)."""
    if _board is None or not lines:
        return 0
    n = 0
    for line in lines.split(b"\n"):
        if not line.strip():
            continue
        try:
            ev = orjson.loads(line)
            if not isinstance(ev, dict) or not isinstance(ev.get("ev"), str):
                continue
            _board.feed(ev)
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            continue
        n += 1
    return n


def install(environment: Any) -> LiveBoard | None:
    """Register the tab, its routes and its sampler when Locust runs its web UI."""
    global _board
    web_ui = getattr(environment, "web_ui", None)
    if web_ui is None:
        return None
    from locust.runners import MasterRunner

    from imload.users import runtime

    options = environment.parsed_options
    scope = STANDALONE
    if isinstance(environment.runner, MasterRunner):
        shipped = bool(getattr(options, "imload_ship_journal", False))
        scope = MASTER_SHIPPED if shipped else MASTER_ALONE
        if shipped:
            runtime.line_listeners.append(feed_lines)
    master = scope != STANDALONE
    _board = LiveBoard(scope, unknown_ages=None if master else pushes.PROCESS.unknown)
    base = (getattr(options, "web_base_path", "") or "").rstrip("/")
    _extend_page(web_ui)
    _routes(web_ui, base, _board)
    sampler = _start_sampler(_board)
    environment.events.quitting.add_listener(lambda **_: sampler.kill(block=False))
    log.info("imload: the web UI has an imload tab (%s/imload/live)", base)
    return _board


def _extend_page(web_ui: Any) -> None:
    args = web_ui.template_args
    args["extended_tabs"] = [*(args.get("extended_tabs") or []),
                             {"title": "imload", "key": TAB}]
    args["extended_tables"] = [*(args.get("extended_tables") or []), TABLE]


def _routes(web_ui: Any, base: str, live: LiveBoard) -> None:
    from flask import Response, request

    app = web_ui.app

    def live_json() -> Response:
        return Response(orjson.dumps(live.data()), mimetype="application/json",
                        headers={"Cache-Control": "no-store"})

    def tab_js() -> Response:
        return Response(TAB_JS, mimetype="application/javascript")

    app.add_url_rule(f"{base}/imload/live", "imload_live",
                     web_ui.auth_required_if_enabled(live_json))
    app.add_url_rule(f"{base}/imload/tab.js", "imload_tab_js",
                     web_ui.auth_required_if_enabled(tab_js))

    @app.after_request
    def _extend(response: Response) -> Response:
        if response.status_code != 200:
            return response
        if request.path == f"{base}/stats/requests" and response.is_json:
            body = response.get_json()
            if isinstance(body, dict):
                extended = [s for s in body.get("extended_stats") or [] if s.get("key") != TAB]
                body["extended_stats"] = [*extended, {"key": TAB, "data": live.rows()}]
                response.set_data(orjson.dumps(body))
        elif request.path == f"{base}/" and response.mimetype == "text/html":
            page = response.get_data(as_text=True)
            if SCRIPT_TAG not in page and "</body>" in page:
                response.set_data(page.replace("</body>", f"  {SCRIPT_TAG}\n  </body>", 1))
        return response


def _start_sampler(live: LiveBoard) -> Any:
    import gevent

    def every() -> None:
        while True:
            live.sample()
            gevent.sleep(SAMPLE_EVERY_S)

    return gevent.spawn(every)
