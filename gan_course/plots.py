"""Plotting helpers: the course's figure style and a live plot for training curves.

`LivePlot` redraws a figure in place while a model trains in JupyterLab (through an IPython display
handle), prints a short line now and then when no front end is watching (run-all, nbval, a terminal),
and always leaves one final static figure in the saved notebook.
"""
from __future__ import annotations

import math
import time

import matplotlib
import matplotlib.pyplot as plt


def use_course_style() -> None:
    """Small, readable figures: notebooks stay light (well under 3 MB) and render fast."""
    matplotlib.rcParams.update({
        "figure.figsize": (7.0, 3.2),
        "figure.dpi": 80,
        "savefig.dpi": 80,
        "axes.grid": True,
        "grid.alpha": 0.3,
        "axes.spines.top": False,
        "axes.spines.right": False,
        "font.size": 9,
        "legend.fontsize": 8,
        "legend.frameon": False,
    })


def _show(fig, handle=None):
    """Display `fig` (or update the display `handle`); return the handle. No-op outside IPython."""
    try:
        from IPython.display import display
    except ImportError:
        return None
    if handle is None:
        return display(fig, display_id=True)
    handle.update(fig)
    return handle


class LivePlot:
    """Curves that grow while training runs.

        live = LivePlot(["loss_d", "loss_g"], title="GAN losses", every_s=1.0)
        for step in range(n):
            ...
            live.update(step, loss_d=ld, loss_g=lg)
        live.close()          # the final static figure

    groups: a list of panel names, or a list of lists (one panel per inner list, curves share it).
    every_s: seconds between redraws in a live front end (redraws cost time; 0.5-2 s is plenty).
    headless: None to ask `runtime.headless()`; then nothing is drawn until `close()` and a text line
              is printed every `print_every` updates.
    """

    def __init__(self, groups, title: str = "", every_s: float = 1.0, headless=None,
                 print_every: int = 0, logy: bool = False):
        from .runtime import headless as _headless

        if isinstance(groups, str):
            raise TypeError("groups must be a list of curve names (or of lists of names), not a string")
        panels = [[g] if isinstance(g, str) else list(g) for g in groups]
        if not panels or not all(panels):
            raise ValueError("groups must name at least one curve in every panel")
        if every_s < 0:
            raise ValueError(f"every_s must be >= 0 seconds; got {every_s}")
        self.panels = panels
        self.title = title
        self.every_s = every_s
        self.logy = logy
        self.headless = _headless() if headless is None else bool(headless)
        self.print_every = print_every
        self.history = {name: ([], []) for panel in panels for name in panel}
        self._handle = None
        self._last = 0.0
        self._n_updates = 0
        self.fig = None

    def update(self, step: int, **values) -> None:
        """Record `values` (name=float) at `step`; redraw if enough time has passed."""
        for name, value in values.items():
            if name not in self.history:
                raise KeyError(f"LivePlot has no curve {name!r}; its curves are {list(self.history)}")
            xs, ys = self.history[name]
            xs.append(step)
            ys.append(float(value))
        self._n_updates += 1
        if self.headless:
            if self.print_every and self._n_updates % self.print_every == 0:
                print(f"step {step}: " + "  ".join(f"{k}={float(v):.4g}" for k, v in values.items()))
            return
        now = time.time()
        if now - self._last >= self.every_s:
            self._last = now
            self._draw()
            self._handle = _show(self.fig, self._handle)

    def _draw(self):
        n = len(self.panels)
        cols = min(n, 3)
        rows = math.ceil(n / cols)
        if self.fig is None:
            self.fig, axes = plt.subplots(rows, cols, figsize=(3.4 * cols, 2.6 * rows), squeeze=False)
            self.axes = axes.ravel()
            for ax in self.axes[n:]:
                ax.set_visible(False)
            plt.close(self.fig)  # we display it ourselves; keeps pyplot from showing it twice
        for ax, panel in zip(self.axes, self.panels):
            ax.clear()
            for name in panel:
                xs, ys = self.history[name]
                ax.plot(xs, ys, label=name, lw=1.2)
            if self.logy:
                ax.set_yscale("log")
            ax.set_xlabel("step")
            if len(panel) > 1:
                ax.legend()
            else:
                ax.set_title(panel[0])
        if self.title:
            self.fig.suptitle(self.title)
        self.fig.tight_layout()

    def close(self):
        """Draw the final figure once more and leave it as a static output. Returns the figure."""
        self._draw()
        if self._handle is not None:
            self._handle.update(self.fig)
        else:
            _show(self.fig)
        return self.fig
