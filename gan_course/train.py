"""A readable training loop with callbacks, and a guard against divergence.

Every trainer in the course has the same shape, small enough to read in one screen:

    guard = DivergenceGuard(G, D, hint="lower lr_d")
    def step(i):                      # one training step; returns floats to log
        ld = d_step(...)
        lg = g_step(...)
        return {"loss_d": ld, "loss_g": lg}
    history = loop(step, n_steps=2000, guard=guard, callbacks=[live_plot_callback], every=50)

`DivergenceGuard` keeps a copy of the last good weights; when a loss or a parameter turns NaN/Inf it
puts those weights back and raises `TrainingDiverged` with a message that says what to change.
"""
from __future__ import annotations

import copy
import math

import torch
from .runtime import progress


class TrainingDiverged(RuntimeError):
    """A loss or a weight became NaN/Inf; the last good weights have been restored."""


class DivergenceGuard:
    """Watch losses and parameters for NaN/Inf; restore the last good weights if they appear.

    modules: the nn.Modules to watch and restore. optimizers: restored too, so a resumed run is clean.
    snapshot_every: steps between copies of the good weights (a copy costs one pass over the weights).
    hint: what to tell the user, e.g. "lower the learning rate or use the non-saturating loss".
    """

    def __init__(self, *modules, optimizers=(), snapshot_every: int = 10,
                 hint: str = "lower the learning rate (or clip gradients) and run again"):
        if not modules:
            raise ValueError("DivergenceGuard needs at least one module to watch")
        for m in modules:
            if not isinstance(m, torch.nn.Module):
                raise TypeError(f"modules must be torch.nn.Module objects; got {type(m).__name__}")
        if int(snapshot_every) < 1:
            raise ValueError(f"snapshot_every must be a positive number of steps; got {snapshot_every}")
        self.modules = modules
        self.optimizers = tuple(optimizers)
        self.snapshot_every = int(snapshot_every)
        self.hint = hint
        self.good_step = None
        self._snapshot = None
        self.snapshot(step=0)

    def snapshot(self, step: int) -> None:
        self._snapshot = ([copy.deepcopy(m.state_dict()) for m in self.modules],
                          [copy.deepcopy(o.state_dict()) for o in self.optimizers])
        self.good_step = step

    def restore(self) -> None:
        modules, optims = self._snapshot
        for m, s in zip(self.modules, modules):
            m.load_state_dict(s)
        for o, s in zip(self.optimizers, optims):
            o.load_state_dict(s)

    def bad_parameters(self) -> list[str]:
        bad = []
        for i, m in enumerate(self.modules):
            for name, p in m.named_parameters():
                if not torch.isfinite(p).all():
                    bad.append(f"{type(m).__name__}[{i}].{name}")
        return bad

    def check(self, step: int, **losses) -> None:
        """Raise TrainingDiverged (after restoring good weights) if any loss or weight is not finite."""
        bad_losses = [k for k, v in losses.items() if not math.isfinite(float(v))]
        bad_params = self.bad_parameters() if (bad_losses or step % self.snapshot_every == 0) else []
        if bad_losses or bad_params:
            self.restore()
            what = ", ".join([f"loss {k}={float(losses[k])}" for k in bad_losses] + [f"weight {p}" for p in bad_params[:3]])
            raise TrainingDiverged(
                f"training diverged at step {step} ({what} not finite). Restored the weights of step "
                f"{self.good_step}. What to change: {self.hint}.")
        if step % self.snapshot_every == 0:
            self.snapshot(step)


def loop(step_fn, n_steps: int, *, guard: DivergenceGuard | None = None, callbacks=(), every: int = 50,
         start: int = 0, desc: str = "training", show_progress: bool = True) -> dict:
    """Call `step_fn(i)` for i in [start, n_steps); each returns a dict of floats.

    Every `every` steps (and at the last step) each callback is called as `callback(i, logs)`.
    Returns the history: a dict name -> list of (step, value) for every logged value.
    """
    if int(n_steps) < 0:
        raise ValueError(f"n_steps must be >= 0; got {n_steps}")
    if int(every) < 1:
        raise ValueError(f"every must be a positive number of steps; got {every}")
    history: dict = {}
    bar = progress(range(start, n_steps), desc=desc, enabled=show_progress)
    for i in bar:
        logs = {k: float(v) for k, v in step_fn(i).items()}
        if guard is not None:
            guard.check(i, **logs)
        for k, v in logs.items():
            history.setdefault(k, []).append((i, v))
        if i % every == 0 or i == n_steps - 1:
            bar.set_postfix({k: f"{v:.3g}" for k, v in logs.items()}, refresh=False)
            for cb in callbacks:
                cb(i, logs)
    bar.close()
    return history
