"""What every figure shares: matplotlib, imported only when a figure is drawn, and the PNG.

matplotlib is the ``[plots]`` extra, so nothing imports it at module level: ``import
hivejax`` works without it, and drawing without it is a ``RuntimeError`` that says what to
install. Figures are ``matplotlib.figure.Figure`` objects drawn by the Agg canvas, never
``pyplot``: no display is needed, no global figure list grows, and a notebook's backend is
left as it was. Every PNG is written atomically (``files.write_atomic``).
"""

import os
import textwrap

from hivejax._src.program.files import write_atomic

DPI = 120
"""Pixels per inch of the written PNGs."""
WIDTH = 10.0
"""Inches: every figure is this wide; its height depends on its panels."""
MISSING = "plotting needs matplotlib: install the [plots] extra (pip install 'hivejax[plots]')"


def require():
    """``matplotlib``, with its ``figure`` and ``ticker`` modules; ``RuntimeError``
    (``MISSING``) when it is not installed."""
    try:
        import matplotlib.figure  # late: the [plots] extra, imported only to draw
        import matplotlib.ticker  # late: the [plots] extra, imported only to draw
    except ImportError:
        raise RuntimeError(MISSING) from None
    return matplotlib


def figure(rows: int = 1, cols: int = 1, height: float = 4.0, **subplots):
    """A new figure of ``rows`` x ``cols`` panels, ``height`` inches per row, and its axes
    as ``Figure.subplots`` returns them (one ``Axes``, or an array); ``subplots`` go to it."""
    fig = require().figure.Figure(figsize=(WIDTH, height * rows), layout="constrained")
    return fig, fig.subplots(rows, cols, **subplots)


def wrap(text: str, width: int = 110, lines: int = 2) -> str:
    """``text`` in at most ``lines`` lines of ``width`` characters (an ellipsis marks a cut),
    for titles and labels.

    Example:
      >>> print(wrap("a * b + c", width=5, lines=2))
      a * b
      + c
      >>> print(wrap("a * b + c * d", width=5, lines=2))
      a * b
      + c…
    """
    parts = textwrap.wrap(text, width) or [""]
    if len(parts) > lines:
        parts = [*parts[: lines - 1], parts[lines - 1][: width - 1].rstrip() + "…"]
    return "\n".join(parts)


def save(fig, path: str | os.PathLike) -> None:
    """Write ``fig`` as a PNG at ``path``, atomically."""
    write_atomic(path, lambda f: fig.savefig(f, format="png", dpi=DPI))
