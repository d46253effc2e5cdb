"""A GAN Lab inside Jupyter: train a 2-D GAN interactively and watch it (notebook 02).

GAN Lab (Kahng et al. 2018) is the browser tool people know; this is the same idea with the course's
trainer (`gan_course.gan2d`) underneath, plus the things it lacks: five losses, the optimiser and its
settings, PacGAN packing, weight averaging, and VEEGAN's mode metrics over time.

    lab = gan_lab.GANLab(GAN2DConfig(data="ring8"))
    lab.show()              # JupyterLab: controls and a live view; Play / Pause / Step D / Step G / Step both

Views (one figure): real samples (green) and fake samples (purple) over the discriminator's output as a
heat map (green = "real"), arrows on the fakes showing where the next generator update moves them, the
loss curves, and modes captured / % high-quality samples over time. Play runs in a background thread and
redraws a small PNG about `fps` times a second, so the buttons stay responsive.

When no live front end is watching (run-all, nbval, a saved notebook read on the web), `show(steps)`
trains for `steps` steps with a progress bar and leaves one static figure: it never waits for a click.
"""
from __future__ import annotations

import io
import threading
import time
from dataclasses import asdict, replace

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from .. import gan2d, losses, train
from ..data import toy2d
from ..metrics import modes
from ..runtime import headless as _headless

REAL, FAKE = "#1a9850", "#762a83"      # GAN Lab's colours: green real, purple fake
LIVE_FIELDS = ("lr_g", "lr_d", "d_steps", "batch", "decay_steps")  # changed on the fly; every other control resets the run


def _fixed_rng(seed: int):
    """The generator of the real samples drawn in the view: the same points every frame."""
    import torch

    return torch.Generator().manual_seed(10_000 + seed)


class LabView:
    """The lab's figure: three panels whose artists are made once and then only updated, so a frame
    costs tens of milliseconds (a full redraw with layout costs ten times more)."""

    def __init__(self, gan: gan2d.GAN2D, figsize=(10.0, 3.3), n_show: int = 400, n_arrows: int = 80,
                 resolution: int = 60, fig=None):
        if fig is None:  # a Figure outside pyplot: safe to draw from the play thread
            fig = Figure(figsize=figsize)
            FigureCanvasAgg(fig)
        self.fig, self.n_show, self.n_arrows, self.resolution = fig, n_show, n_arrows, resolution
        ax, self.ax_loss, self.ax_met = fig.subplots(1, 3, gridspec_kw={"width_ratios": [1.15, 1, 1]})
        self.ax = ax
        c, e = gan.config, gan.data.extent
        self.bce = c.loss in ("minimax", "nonsaturating")
        # 1. D's heat map (green = "real"), real and fake samples, generator gradient arrows on the fakes
        self.heat = ax.imshow(np.zeros((resolution, resolution)), origin="lower", extent=(-e, e, -e, e), cmap="PRGn",
                              vmin=0, vmax=1, alpha=0.55, interpolation="bilinear")
        real = gan.data.sample(n_show, generator=_fixed_rng(c.seed)).numpy()  # the same reals every frame
        ax.scatter(real[:, 0], real[:, 1], s=3, c=REAL, label="real", linewidths=0)
        self.fake = ax.scatter(np.zeros(n_show), np.zeros(n_show), s=3, c=FAKE, label="fake", linewidths=0)
        self.n_arrows = max(c.pack, n_arrows - n_arrows % c.pack)
        zeros = np.zeros(self.n_arrows)
        self.arrows = ax.quiver(zeros, zeros, zeros, zeros, color=FAKE, angles="xy", scale_units="xy", scale=1,
                                width=0.004, alpha=0.8)
        ax.set_xlim(-e, e)
        ax.set_ylim(-e, e)
        ax.set_aspect("equal")
        ax.grid(False)
        ax.legend(loc="upper right", markerscale=3, fontsize=7)
        self.title = ax.set_title("")
        # 2. losses
        self.lines = {name: self.ax_loss.plot([], [], lw=0.8, color=colour, label=name)[0]
                      for name, colour in (("loss_d", REAL), ("loss_g", FAKE))}
        self.ax_loss.set_title("losses")
        self.ax_loss.set_xlabel("G step")
        self.ax_loss.legend(loc="upper right")
        # 3. metrics over time: modes (left axis), % high quality (right axis)
        self.modes_line = self.ax_met.plot([], [], color=REAL, marker=".", lw=1)[0]
        self.ax_met.set_ylim(0, gan.data.n_modes + 0.5)
        self.ax_met.set_ylabel("modes captured", color=REAL)
        self.ax_met.set_xlabel("G step")
        self.ax_met.set_title("VEEGAN metrics (2,500 samples)")
        self.ax_hq = self.ax_met.twinx()
        self.hq_line = self.ax_hq.plot([], [], color=FAKE, marker=".", lw=1)[0]
        self.ax_hq.set_ylim(0, 100)
        self.ax_hq.set_ylabel("% high quality", color=FAKE)
        self.ax_hq.grid(False)
        fig.tight_layout()  # once: layout is the slow part of a redraw

    def update(self, gan: gan2d.GAN2D, metric_history) -> None:
        c, e = gan.config, gan.data.extent
        _, _, v = gan.d_surface(self.resolution)
        self.heat.set_data(v.numpy())
        if not self.bce:  # raw scores: stretch the colours over this frame's range
            self.heat.set_clim(float(v.min()), float(v.max()) + 1e-8)
        self.fake.set_offsets(gan.sample(self.n_show).numpy())
        x, g = gan.g_gradients(self.n_arrows)
        g = g / (float(g.norm(dim=1).max()) + 1e-12) * 0.12 * e  # longest arrow: 12% of the view
        self.arrows.set_offsets(x.numpy())
        self.arrows.set_UVC(g[:, 0].numpy(), g[:, 1].numpy())
        self.title.set_text(f"{c.data} · {c.loss} · G step {gan.g_steps}")
        for name, line in self.lines.items():
            pts = gan.history.get(name, [])
            line.set_data(*(zip(*pts) if pts else ([], [])))
        self.ax_loss.relim()
        self.ax_loss.autoscale_view()
        if metric_history:
            s, m, hq = zip(*metric_history)
            self.modes_line.set_data(s, m)
            self.hq_line.set_data(s, 100 * np.array(hq))
            hi = max(max(s), 1)
            self.ax_met.set_xlim(0, hi * 1.02)

    def png(self) -> bytes:
        # one Agg draw, then a quick PNG encode of the pixels (savefig would lay the figure out again)
        from PIL import Image

        self.fig.canvas.draw()
        buf = io.BytesIO()
        Image.fromarray(np.asarray(self.fig.canvas.buffer_rgba())).save(buf, format="png", compress_level=1)
        return buf.getvalue()


class GANLab:
    """The lab: a GAN2D trainer, its metric history, and (in JupyterLab) the controls that drive it."""

    def __init__(self, config: gan2d.GAN2DConfig | dict | None = None, device="cpu", fps: float = 8.0,
                 steps_per_frame: int = 5, figsize=(10.0, 3.3), **overrides):
        if not 0 < fps <= 30:
            raise ValueError(f"fps must lie in (0, 30]; got {fps}")
        if not isinstance(steps_per_frame, int) or not 1 <= steps_per_frame <= 100:
            raise ValueError(f"steps_per_frame must be an integer in [1, 100]; got {steps_per_frame!r}")
        self.gan = gan2d.GAN2D(config, device=device, **overrides)
        self.device = device
        self.fps = fps
        self.steps_per_frame = steps_per_frame
        self.figsize = figsize
        self.metric_history = []   # (G step, modes captured, fraction high quality)
        self.message = ""          # the last error (a divergence), shown under the figure
        self._lock = threading.RLock()
        self._playing = threading.Event()
        self._thread = None
        self.ui = None
        self._view = None          # the LabView of the widget, made on the first frame
        self.record_metrics()

    # ------------------------------------------------------------------------------ training
    def record_metrics(self) -> modes.ModeMetrics:
        m = self.gan.metrics()
        self.metric_history.append((self.gan.g_steps, m.modes, m.high_quality))
        return m

    def train(self, n_steps: int, metric_every: int | None = None, show_progress: bool = True) -> modes.ModeMetrics:
        """Train `n_steps` generator steps (no widget), recording the metrics about 40 times along the way."""
        every = max(1, n_steps // 40) if metric_every is None else metric_every
        try:
            self.gan.train(n_steps, every=every, show_progress=show_progress,
                           callbacks=[lambda i, logs: self.record_metrics()])
        except train.TrainingDiverged as exc:
            self.message = str(exc)
            print(self.message)
        return self.record_metrics() if self.metric_history[-1][0] != self.gan.g_steps else self.gan.metrics()

    def png(self) -> bytes:
        """The current view as PNG bytes (the live figure of the widget)."""
        with self._lock:
            if self._view is None:
                self._view = LabView(self.gan, self.figsize)
            self._view.update(self.gan, self.metric_history)
            return self._view.png()

    def readout(self) -> str:
        _, m, hq = self.metric_history[-1]
        return (f"modes: {m}/{self.gan.data.n_modes} · high quality: {100 * hq:.1f}% · "
                f"G step {self.gan.g_steps} · D step {self.gan.d_steps}")

    # ------------------------------------------------------------------------------ display
    def show(self, steps: int = 0, headless=None):
        """JupyterLab: display the interactive lab. Headless: train `steps` steps, draw one static figure."""
        if _headless() if headless is None else headless:
            if steps:
                self.train(steps)
            view = LabView(self.gan, fig=plt.figure(figsize=self.figsize))
            view.update(self.gan, self.metric_history)
            plt.show()
            print(self.readout())
            return self
        from IPython.display import display

        display(self.build_ui())
        return self

    def build_ui(self):
        """The widget: controls (constrained to valid ranges), buttons, the figure and the readout."""
        import ipywidgets as w

        c = self.gan.config
        style = {"description_width": "initial"}
        small = w.Layout(width="190px")
        ctl = {
            "data": w.Dropdown(options=list(toy2d.DATASETS), value=c.data, description="data", style=style, layout=small),
            "loss": w.Dropdown(options=list(losses.GAN_LOSSES), value=c.loss, description="loss", style=style, layout=small),
            "optimizer": w.Dropdown(options=list(gan2d.OPTIMIZERS), value=c.optimizer, description="optimiser",
                                    style=style, layout=small),
            "lr_g": w.FloatLogSlider(value=c.lr_g, base=10, min=-5, max=-2, step=0.1, description="lr G",
                                     readout_format=".1e", style=style, continuous_update=False),
            "lr_d": w.FloatLogSlider(value=c.lr_d, base=10, min=-5, max=-2, step=0.1, description="lr D",
                                     readout_format=".1e", style=style, continuous_update=False),
            "d_steps": w.IntSlider(value=c.d_steps, min=1, max=10, description="D steps per G step", style=style,
                                   continuous_update=False),
            "width": w.IntSlider(value=c.width, min=8, max=512, step=8, description="width", style=style,
                                 continuous_update=False),
            "depth": w.IntSlider(value=c.depth, min=1, max=6, description="depth", style=style, continuous_update=False),
            "latent": w.IntSlider(value=c.latent, min=1, max=64, description="latent size", style=style,
                                  continuous_update=False),
            "batch": w.IntSlider(value=c.batch, min=16, max=1024, step=16, description="batch", style=style,
                                 continuous_update=False),
            "pack": w.IntSlider(value=c.pack, min=1, max=4, description="PacGAN pack", style=style,
                                continuous_update=False),
            "decay_steps": w.IntSlider(value=min(c.decay_steps, 20000), min=0, max=20000, step=500,
                                       description="lr decays to 0 over (0 = off)", style=style,
                                       continuous_update=False),
            "ema": w.Dropdown(options=[0.0, 0.99, 0.999], value=c.ema if c.ema in (0.0, 0.99, 0.999) else 0.0,
                              description="G weight average", style=style, layout=w.Layout(width="210px")),
        }
        self.controls = ctl
        self.speed = w.IntSlider(value=self.steps_per_frame, min=1, max=50, description="speed (steps/frame)",
                                 style=style, continuous_update=False)
        names = ["Play", "Pause", "Step D", "Step G", "Step both", "Reset"]
        icons = ["play", "pause", "step-forward", "step-forward", "forward", "undo"]
        self.buttons = {n: w.Button(description=n, icon=i, tooltip=n, layout=w.Layout(width="105px"))
                        for n, i in zip(names, icons)}
        self.image = w.Image(format="png", value=self.png(), layout=w.Layout(max_width="100%"))
        self.status = w.Label(value=self.readout())   # "modes: 3/8 · high quality: ..."
        self.error = w.HTML(value="")

        self.buttons["Play"].on_click(lambda _: self.play())
        self.buttons["Pause"].on_click(lambda _: self.pause())
        self.buttons["Step D"].on_click(lambda _: self.manual_step("d"))
        self.buttons["Step G"].on_click(lambda _: self.manual_step("g"))
        self.buttons["Step both"].on_click(lambda _: self.manual_step("both"))
        self.buttons["Reset"].on_click(lambda _: self.reset())
        self.speed.observe(lambda ch: setattr(self, "steps_per_frame", ch["new"]), names="value")
        for name, widget in ctl.items():
            widget.observe(self._on_control, names="value")

        rows = w.VBox([
            w.HBox([ctl["data"], ctl["loss"], ctl["optimizer"], ctl["ema"]], layout=w.Layout(flex_flow="row wrap")),
            w.HBox([ctl["lr_g"], ctl["lr_d"], ctl["d_steps"], ctl["decay_steps"]], layout=w.Layout(flex_flow="row wrap")),
            w.HBox([ctl["width"], ctl["depth"], ctl["latent"], ctl["batch"], ctl["pack"]],
                   layout=w.Layout(flex_flow="row wrap")),
            w.HBox(list(self.buttons.values()) + [self.speed], layout=w.Layout(flex_flow="row wrap")),
            self.image, self.status, self.error,
        ])
        self.ui = rows
        return rows

    # ------------------------------------------------------------------------------ actions
    def refresh(self) -> None:
        """Redraw the figure and the readout (no-op without a UI)."""
        if self.ui is None:
            return
        self.image.value = self.png()
        self.status.value = self.readout()
        self.error.value = f"<span style='color:#b2182b'>{self.message}</span>" if self.message else ""

    def manual_step(self, which: str) -> None:
        """A step button: one update of D ("d"), of G ("g") or `d_steps` of D then one of G ("both");
        then the metrics and a redraw."""
        if which not in ("d", "g", "both"):
            raise ValueError(f"which={which!r} is unknown; allowed values: d, g, both")
        self.pause()
        with self._lock:
            gan = self.gan
            try:
                if which == "both":
                    gan.step()
                else:  # a lone D or G update is logged too, at the current G step
                    loss = gan.d_step() if which == "d" else gan.g_step()
                    gan.history.setdefault(f"loss_{which}", []).append((gan.g_steps, loss))
                self.record_metrics()
            except train.TrainingDiverged as exc:
                self.message = str(exc)
        self.refresh()

    def play(self) -> None:
        if self._playing.is_set():
            return
        self._playing.set()
        self._thread = threading.Thread(target=self._play_loop, daemon=True, name="gan-lab-play")
        self._thread.start()

    def pause(self) -> None:
        self._playing.clear()
        t = self._thread
        if t is not None and t is not threading.current_thread():
            t.join(timeout=5)
        self._thread = None

    def _play_loop(self) -> None:
        while self._playing.is_set():
            start = time.perf_counter()
            try:
                with self._lock:
                    for _ in range(self.steps_per_frame):
                        self.gan.step()
                    self.record_metrics()
            except train.TrainingDiverged as exc:   # weights are already restored; stop and say why
                self.message = str(exc)
                self._playing.clear()
            except Exception as exc:                # never die silently in a thread
                self.message = f"{type(exc).__name__}: {exc}"
                self._playing.clear()
            self.refresh()
            time.sleep(max(0.0, 1.0 / self.fps - (time.perf_counter() - start)))

    def reset(self, config=None) -> None:
        """Fresh weights (and optionally a new config); keeps the UI."""
        self.pause()
        with self._lock:
            if config is not None:
                self.gan = gan2d.GAN2D(config, device=self.device)
                self._view = None  # a new data set or loss: new axes limits and colours
            else:
                self.gan.reset()
            self.metric_history = []
            self.message = ""
            self.record_metrics()
        self.refresh()

    def _on_control(self, change) -> None:
        values = {k: wd.value for k, wd in self.controls.items()}
        try:
            config = replace(self.gan.config, **values)
            if config.batch % config.pack:  # keep the pair valid instead of refusing the slider move
                config = replace(config, batch=config.batch - config.batch % config.pack)
            config.validate()
        except (ValueError, TypeError) as exc:
            self.message = str(exc)
            self.refresh()
            return
        changed = {k for k, v in asdict(config).items() if getattr(self.gan.config, k) != v}
        if changed and changed <= set(LIVE_FIELDS):
            with self._lock:  # learning rates, D steps and batch apply from the next step on
                self.gan.config = config
            self.message = ""
            self.refresh()
        elif changed:
            self.reset(config)
