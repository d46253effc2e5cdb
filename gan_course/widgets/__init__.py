"""Every ipywidgets control of the course lives in this package (one module per lesson family), so
notebooks stay about the lesson. This module holds the shared building blocks.

`interactive_plot(draw, **controls)` is the pattern used throughout: sliders and dropdowns on top, a
figure below that `draw(fig, **values)` redraws whenever a control moves. When no live front end is
watching (run-all, nbval, a web reader of the saved notebook) it draws the figure once at the default
values, so the saved notebook still shows a picture.
"""
from __future__ import annotations

import matplotlib.pyplot as plt

from ..runtime import headless as _headless


def slider(value, lo, hi, step=None, description=""):
    """A float or int slider, chosen by the type of `value`; `lo <= value <= hi` is enforced."""
    import ipywidgets as w

    if not lo <= value <= hi:
        raise ValueError(f"slider {description!r}: value={value} must lie in [{lo}, {hi}]")
    style = {"description_width": "initial"}
    layout = w.Layout(width="340px")
    if all(isinstance(v, int) for v in (value, lo, hi)) and (step is None or isinstance(step, int)):
        return w.IntSlider(value=value, min=lo, max=hi, step=step or 1, description=description,
                           continuous_update=False, style=style, layout=layout)
    return w.FloatSlider(value=value, min=lo, max=hi, step=step or (hi - lo) / 100,
                         description=description, continuous_update=False, style=style, layout=layout,
                         readout_format=".3g")


def dropdown(options, value=None, description=""):
    import ipywidgets as w

    options = list(options)
    if value is not None and value not in options:
        raise ValueError(f"dropdown {description!r}: value={value!r} is not one of {options}")
    return w.Dropdown(options=options, value=value if value is not None else options[0],
                      description=description, style={"description_width": "initial"})


def interactive_plot(draw, figsize=(7.0, 3.2), headless=None, **controls):
    """Controls on top, a figure below, redrawn by `draw(fig, **values)` whenever a control changes.

    controls: name=widget (use `slider`/`dropdown`). Returns the container widget (or, headless, the
    figure drawn once at the controls' current values).
    """
    import ipywidgets as w
    from IPython.display import display

    if not callable(draw):
        raise TypeError("draw must be a function draw(fig, **values)")
    values = {k: c.value for k, c in controls.items()}
    if _headless() if headless is None else headless:
        fig = plt.figure(figsize=figsize)
        draw(fig, **values)
        display(fig)
        plt.close(fig)  # displayed once, explicitly: works with any matplotlib backend
        return fig

    out = w.Output()

    def redraw(*_):
        with out:
            out.clear_output(wait=True)
            fig = plt.figure(figsize=figsize)
            draw(fig, **{k: c.value for k, c in controls.items()})
            display(fig)
            plt.close(fig)

    for c in controls.values():
        c.observe(redraw, names="value")
    box = w.VBox([w.HBox(list(controls.values()), layout=w.Layout(flex_flow="row wrap")), out])
    display(box)
    redraw()
    return box
