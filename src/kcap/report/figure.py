"""Where figures and fit files go, and how a figure says its fit is not identified.

Every command that writes a file checks its path here first, before any slow fit: an existing
directory, a missing parent directory or (for figures) an extension matplotlib cannot write is a
one-line error naming the option. Without the check matplotlib would write ``DIR.png`` when given a
directory DIR (it appends its default format to a name without an extension) while kcap reported
DIR, or fail after the work with a traceback.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

from kcap.errors import KcapError
from kcap.outdir import holding


def figure_formats() -> list[str]:
    """File extensions matplotlib can write (png, pdf, svg, ...), as this installation has them."""
    from matplotlib.backend_bases import FigureCanvasBase

    return sorted(FigureCanvasBase.get_supported_filetypes())


def output_path(path: Path | str, option: str = "--out") -> Path:
    """``path`` as a file to (over)write: not a directory, in a directory that exists."""
    path = Path(path)
    if path.is_dir():
        raise KcapError(f"{option} {path} is a directory; give a file name in it")
    if not path.parent.is_dir():
        raise KcapError(f"{option} {path}: directory {path.parent} does not exist")
    if path.exists():  # a figure or fit file may sit in a run directory, but never replace one of its files
        h = holding(path.parent)
        if h.kind in ("dataset", "run", "hf"):
            raise KcapError(f"{option} {path} is a file of {h.what}; choose another name")
    return path


def figure_path(path: Path | str, option: str = "--out") -> Path:
    """``path`` as an image file matplotlib can write, by its extension (checked as output_path)."""
    path = output_path(path, option)
    formats = figure_formats()
    ext = path.suffix.lower().lstrip(".")
    if ext not in formats:
        what = f"unknown image format .{ext}" if ext else "no file extension"
        raise KcapError(f"{option} {path}: {what} (matplotlib writes {', '.join('.' + f for f in formats)})")
    return path


def save(fig, path: Path) -> Path:
    """Write ``fig`` to a checked path, in the format its extension names (never a guessed one)."""
    import matplotlib.pyplot as plt

    path = figure_path(path)
    fig.savefig(path, format=path.suffix.lower().lstrip("."))
    plt.close(fig)
    return path


def not_identified_note(ax, why: str, what: str = "fit") -> None:
    """Write 'fit not identified: why' under the x-axis label, so a figure cannot be read as a
    result that its fit does not support. Anchored to the label (not inside the axes) it covers no
    data or annotation, and tight_layout makes room for it."""
    text = textwrap.fill(f"{what} not identified: {why}", width=95)
    ax.annotate(text, xy=(0.5, 0), xycoords=ax.xaxis.label, xytext=(0, -6), textcoords="offset points",
                ha="center", va="top", fontsize=7, color="firebrick")
