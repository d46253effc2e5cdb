"""A readable training loop with callbacks, and a guard against divergence.

Every trainer in the course has the same shape, small enough to read in one screen:

    guard = DivergenceGuard(G, D, hint="lower lr_d")
    def step(i):                      # one training step; returns floats to log
        ld = d_step(...)
        lg = g_step(...)
        return {"loss_d": ld, "loss_g": lg}
    history = loop(step, n_steps=2000, guard=guard, callbacks=[live_plot_callback], every=50)

`Checkpointer` saves weights, optimiser states, the torch RNG state and the history every few steps,
so a kernel restart loses at most those steps: `start = ckpt.resume()` then `loop(..., start=start)`
continues exactly where the run stopped (the same losses, bit for bit, on a CPU).

`DivergenceGuard` keeps a copy of the last good weights; when a loss or a parameter turns NaN/Inf it
puts those weights back and raises `TrainingDiverged` with a message that says what to change.
"""
from __future__ import annotations

import copy
import math
from pathlib import Path

import torch

from . import checkpoint
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
         start: int = 0, checkpointer: "Checkpointer | None" = None, desc: str = "training",
         show_progress: bool = True) -> dict:
    """Call `step_fn(i)` for i in [start, n_steps); each returns a dict of floats.

    Every `every` steps (and at the last step) each callback is called as `callback(i, logs)`.
    `guard` checks every step for NaN/Inf; `checkpointer` sees every step and saves every `its.every`.
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
        if checkpointer is not None:
            checkpointer(i, logs)
        if i % every == 0 or i == n_steps - 1:
            bar.set_postfix({k: f"{v:.3g}" for k, v in logs.items()}, refresh=False)
            for cb in callbacks:
                cb(i, logs)
    bar.close()
    return history


class Checkpointer:
    """Save and resume a training run: a callback for `loop` and a `resume()` to call before it.

        ckpt = Checkpointer("data/checkpoints/gan.pt", kind="gan2d", config=cfg,
                            modules={"G": G, "D": D}, optimizers={"opt_g": og, "opt_d": od}, every=200)
        start = ckpt.resume()               # 0 for a fresh run, else the step after the last save
        loop(step, n_steps, start=start, checkpointer=ckpt)

    What is saved: every module's and optimiser's state_dict, torch's CPU RNG state (so the random
    numbers after a resume are the ones the uninterrupted run would have drawn) and the history so far.
    A data iterator with its own generator must be saved too: pass it in `generators`.
    """

    def __init__(self, path, *, kind: str, config=None, modules: dict, optimizers: dict | None = None,
                 generators: dict | None = None, every: int = 100):
        if not modules or not all(isinstance(m, torch.nn.Module) for m in modules.values()):
            raise ValueError("modules must be a non-empty dict name -> torch.nn.Module")
        if int(every) < 1:
            raise ValueError(f"every must be a positive number of steps; got {every}")
        self.path = Path(path)
        self.kind, self.config = kind, config
        self.modules, self.optimizers = modules, optimizers or {}
        self.generators = generators or {}
        self.every = int(every)
        self.history: dict = {}

    def save(self, step: int) -> None:
        state = {f"module/{k}": m.state_dict() for k, m in self.modules.items()}
        state.update({f"optim/{k}": o.state_dict() for k, o in self.optimizers.items()})
        state.update({f"rng/{k}": g.get_state() for k, g in self.generators.items()})
        state["rng/torch"] = torch.get_rng_state()
        checkpoint.save(self.path, kind=self.kind, config=self.config, step=step + 1, state=state,
                        extra={"history": {k: [list(p) for p in v] for k, v in self.history.items()}})

    def resume(self) -> int:
        """Load the checkpoint if there is one; return the step to start from (0 if none)."""
        if not self.path.exists():
            return 0
        ck = checkpoint.load(self.path, kind=self.kind, config=self.config)
        state = ck["state"]
        for k, m in self.modules.items():
            m.load_state_dict(state[f"module/{k}"])
        for k, o in self.optimizers.items():
            o.load_state_dict(state[f"optim/{k}"])
        for k, g in self.generators.items():
            g.set_state(state[f"rng/{k}"])
        torch.set_rng_state(state["rng/torch"])
        self.history = {k: [tuple(p) for p in v] for k, v in ck["extra"].get("history", {}).items()}
        return ck["step"]

    def __call__(self, step: int, logs: dict) -> None:
        for k, v in logs.items():
            self.history.setdefault(k, []).append((step, float(v)))
        if (step + 1) % self.every == 0:
            self.save(step)
