"""Figures for the book: deterministic, readable matplotlib settings."""

from __future__ import annotations

import os


def setup_matplotlib(dpi: int = 100) -> None:
    """Make matplotlib output deterministic and readable for the book.

    * SVG files get a fixed ``svg.hashsalt`` (element ids otherwise change on every run) and PNG/SVG/PDF
      files carry no creation date, so re-running a chapter gives byte-identical figures;
    * a clean default style (light grid, no top/right spines) and a fixed figure size and dpi;
    * inline figures in Jupyter are 2x ("retina") PNGs shown at their design size, so they stay sharp on
      high-DPI screens and in the built book (nbval skips images, so they never make a cell fail);
    * arrays print at most 88 characters a line, the width of a code cell on the book's page.

    Figures in this book use English text only: matplotlib ships no Chinese font.
    """
    if not isinstance(dpi, int) or dpi <= 0:
        raise ValueError(f"dpi must be a positive int, got {dpi!r}")
    import matplotlib

    matplotlib.rcParams.update({
        "svg.hashsalt": "bertedu",
        "svg.fonttype": "path",
        "figure.figsize": (7.0, 3.6),
        "figure.dpi": dpi,
        "savefig.dpi": 2 * dpi,
        "savefig.bbox": "tight",
        "axes.grid": True,
        "grid.alpha": 0.3,
        "axes.spines.top": False,
        "axes.spines.right": False,
        "axes.titlesize": 12,
        "axes.titleweight": "bold",
        "font.size": 10,
        "image.cmap": "viridis",
    })
    # No timestamps in saved files (matplotlib otherwise writes the current date).
    os.environ.setdefault("SOURCE_DATE_EPOCH", "0")
    try:
        from matplotlib_inline.backend_inline import set_matplotlib_formats

        set_matplotlib_formats("retina", metadata={"Software": None})
    except Exception:  # not inside IPython: nothing to configure
        pass
    import torch

    torch.set_printoptions(linewidth=88)
    try:
        import numpy

        numpy.set_printoptions(linewidth=88)
    except ImportError:
        pass
