"""Widgets for the text lessons: sample from a language model with a temperature and a top-k slider.

    sampling_widget(lambda temperature, top_k: [...list of strings...], temperature=1.0, top_k=0, k_max=50)

Sliders on top ("temperature", "top-k"; top-k 0 means no cut), the samples below in an HTML widget,
regenerated whenever a slider moves. Each redraw uses the same random seed, so what changes between two
settings is the effect of the setting, not luck. When no live front end is watching (run-all, nbval, the
saved notebook on the web), the samples at the default settings are printed once instead.
"""
from __future__ import annotations

import html

from ..runtime import headless as _headless
from . import slider


def samples_html(samples, title: str = "") -> str:
    """A numbered list of samples as HTML (text escaped), in a monospace font."""
    items = "".join(f"<li>{html.escape(s) if s else '<i>(empty)</i>'}</li>" for s in samples)
    head = f"<b>{html.escape(title)}</b>" if title else ""
    return f"{head}<ol style='font-family: monospace; margin-top: 4px'>{items}</ol>"


def sampling_widget(sample, temperature: float = 1.0, top_k: int = 0, t_min: float = 0.1,
                    t_max: float = 2.0, k_max: int = 50, headless=None):
    """Temperature / top-k sampling widget around `sample(temperature, top_k) -> list[str]`.

    top_k: 0 = no cut (all tokens), else keep the k most likely tokens at each step.
    Returns the container widget (or, headless, the list of samples printed once).
    """
    if not callable(sample):
        raise TypeError("sample must be a function sample(temperature, top_k) -> list of strings")
    if not t_min <= temperature <= t_max or t_min <= 0:
        raise ValueError(f"temperature={temperature} must lie in [t_min={t_min}, t_max={t_max}] with t_min > 0")
    if not isinstance(top_k, int) or not 0 <= top_k <= k_max:
        raise ValueError(f"top_k={top_k!r} must be an integer in 0..k_max={k_max} (0 = no cut)")

    def title(t, k):
        return f"temperature {t:.2f}, " + ("all tokens" if k == 0 else f"top-{k}")

    if _headless() if headless is None else headless:
        out = list(sample(temperature, top_k))
        print(title(temperature, top_k))
        for i, s in enumerate(out, 1):
            print(f"{i:2d}. {s}")
        return out

    import ipywidgets as w
    from IPython.display import display

    t_slider = slider(float(temperature), float(t_min), float(t_max), 0.05, "temperature")
    k_slider = slider(int(top_k), 0, int(k_max), 1, "top-k")
    view = w.HTML(layout=w.Layout(min_height="120px"))

    def redraw(*_):
        t, k = t_slider.value, k_slider.value
        view.value = samples_html(sample(t, k), title(t, k))

    t_slider.observe(redraw, names="value")
    k_slider.observe(redraw, names="value")
    box = w.VBox([w.HBox([t_slider, k_slider]), view])
    redraw()
    display(box)
    return box
