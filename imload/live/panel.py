"""The live panel of ``imload run``: shown on a terminal, silent otherwise."""

from __future__ import annotations

from types import TracebackType
from typing import Any

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text


def render_panel(snapshot: dict[str, Any], elapsed_s: float, duration_s: float,
                 faults: list[str]) -> RenderableType:
    bar = ProgressBar(total=duration_s, completed=min(elapsed_s, duration_s), width=40)
    head = Text.assemble(("load ", "bold"), f"{elapsed_s:5.0f} / {duration_s:.0f} s  ")
    grid = Table.grid(padding=(0, 3))
    for _ in range(5):
        grid.add_column()
    p99 = snapshot.get("ack_p99_ms")
    seen = snapshot.get("anomalies", {})
    bad = sum(seen.values())
    grid.add_row(f"devices connected [bold]{snapshot.get('connected', 0)}[/]",
                 f"acked/s [bold]{snapshot.get('msgs_per_s', 0):g}[/]",
                 f"ack p99 [bold]{'-' if p99 is None else f'{p99:.0f} ms'}[/]",
                 f"awaiting ack [bold]{snapshot.get('pending', 0)}[/]",
                 (f"[red]anomalies so far: {seen}[/]" if bad else "[green]no anomaly so far[/]"))
    lines: list[RenderableType] = [Group(Text.assemble(head), bar), grid]
    if faults:
        lines.append(Text("faults: " + ", ".join(faults), style="yellow"))
    return Group(*lines)


class LiveView:
    """A rich Live region on a terminal; on anything else it does nothing at all."""

    def __init__(self, console: Console) -> None:
        self._live = Live(console=console, refresh_per_second=4, transient=True) \
            if console.is_terminal else None

    def __enter__(self) -> LiveView:
        if self._live is not None:
            self._live.__enter__()
        return self

    def update(self, renderable: RenderableType) -> None:
        if self._live is not None:
            self._live.update(renderable)

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._live is not None:
            self._live.__exit__(exc_type, exc, tb)
