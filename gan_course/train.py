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

`DivergenceGuard` keeps a copy of the last good weights (those a finite, not exploding loss was measured
on); when a loss or a parameter turns NaN/Inf, or a loss explodes, it puts those weights back and raises
`TrainingDiverged` with a message that says what to change (and the history so far). A checkpoint is
written only after the guard has checked the weights it holds, so a diverged state never reaches disk.
"""
from __future__ import annotations

import copy
import math
import re
from pathlib import Path

import torch

from . import checkpoint, checks
from .runtime import progress


class TrainingDiverged(RuntimeError):
    """A loss or a weight became NaN/Inf, or a loss exploded; the last good weights have been restored.

    step: the step that diverged; restored_step: the step whose weights were put back (None: the initial
    weights); restored_losses: the losses those weights gave; history: what `loop` logged up to the
    divergence (the same dict `loop` returns), so a run that diverges late is not lost.
    """

    def __init__(self, message: str, *, step=None, restored_step=None, restored_losses=None, history=None):
        super().__init__(message)
        self.step, self.restored_step = step, restored_step
        self.restored_losses = dict(restored_losses or {})
        self.history = history if history is not None else {}


_WATCHED = re.compile(r"loss|nll|elbo|^rec")   # logged values the explosion test looks at (not accuracies, tau, ...)


class DivergenceGuard:
    """Watch losses and parameters; restore the last good weights when training diverges.

    Training has diverged when a logged value or a parameter is NaN/Inf, or when a loss explodes: its
    magnitude passes `explode` times its scale, max(1, |its first value|). The scale is the first value
    (not a running best) because a blow-up can start at the first update, and |.| with a floor of 1 keeps
    the test meaningful for losses that start near 0 or are negative (a WGAN critic). The default 1000x is
    out of reach of every real training of the course (LM, VAE and translation losses fall from their
    start; GAN and critic losses oscillate within a few units; the largest, a SeqGAN policy loss, stays
    within ~10x of its start) and is reached within a few steps by a blow-up (an LM at lr=1e4 goes from
    2.5 to 2.8e4). `explode=None` turns the test off (only NaN/Inf then count). Which logged values are
    losses: `watch` (names), by default those whose name contains loss, nll, elbo or starts with rec.

    Good weights are the weights a good loss was measured on: the loss that `step_fn(i)` returns is
    computed before step i's update, so a copy of the weights taken after step i is confirmed only by the
    loss of step i+1 (and by a check that every parameter is finite). On divergence the last confirmed copy
    is put back (with its optimiser states), never merely the last finite one.

    modules: the nn.Modules to watch and restore. optimizers: restored too, so a resumed run is clean.
    snapshot_every: steps between copies of the weights (a copy costs one pass over the weights).
    hint: what to tell the user, e.g. "lower the learning rate or use the non-saturating loss".
    """

    def __init__(self, *modules, optimizers=(), snapshot_every: int = 10,
                 hint: str = "lower the learning rate (or clip gradients) and run again",
                 explode: float | None = 1e3, watch=None):
        if not modules:
            raise ValueError("DivergenceGuard needs at least one module to watch")
        for m in modules:
            if not isinstance(m, torch.nn.Module):
                raise TypeError(f"modules must be torch.nn.Module objects; got {type(m).__name__}")
        self.snapshot_every = checks.positive_int("snapshot_every", snapshot_every)
        if explode is not None and checks.finite("explode", explode) <= 1:
            raise ValueError(f"explode={explode!r} is not allowed; allowed: None (no explosion test) or a factor > 1")
        self.modules = modules
        self.optimizers = tuple(optimizers)
        self.hint = hint
        self.explode = None if explode is None else float(explode)
        self.watch = None if watch is None else set(watch)
        self._scale: dict = {}
        self.good_step, self.good_losses = None, {}
        self._good = self._copy()          # the initial weights: good until a loss says otherwise
        self._pending = None               # (step, copy) taken after an update, waiting for the next loss
        self._seen = False                 # whether a good loss has been checked yet

    def _copy(self):
        return ([copy.deepcopy(m.state_dict()) for m in self.modules],
                [copy.deepcopy(o.state_dict()) for o in self.optimizers])

    def snapshot(self, step: int) -> None:
        """Copy the current weights (those after step `step`); the next good loss confirms them."""
        self._pending = (step, self._copy())

    def restore(self) -> None:
        """Put back the last confirmed good weights and optimiser states."""
        modules, optims = self._good
        for m, s in zip(self.modules, modules):
            m.load_state_dict(s)
        for o, s in zip(self.optimizers, optims):
            o.load_state_dict(s)
        self._pending = None

    def bad_parameters(self) -> list[str]:
        bad = []
        for i, m in enumerate(self.modules):
            for name, p in m.named_parameters():
                if not torch.isfinite(p).all():
                    bad.append(f"{type(m).__name__}[{i}].{name}")
        return bad

    def _watched(self, name: str) -> bool:
        return name in self.watch if self.watch is not None else bool(_WATCHED.search(name))

    def _fail(self, step: int, what: str) -> None:
        # a bad first loss with finite weights: nothing was learnt yet, so the setting or the data is wrong
        first = not self._seen and not self.bad_parameters()
        self.restore()
        if first:
            raise TrainingDiverged(
                f"training diverged at step {step} ({what}) at the very first step, with the initial weights: "
                "a setting or the data is wrong (a NaN or inf in a config field or in the data, an empty batch), "
                f"not the learning rate. Restored the initial weights. Otherwise: {self.hint}.", step=step)
        where = "the initial weights" if self.good_step is None else f"the weights of step {self.good_step}"
        shown = ", ".join(f"{k}={v:.4g}" for k, v in self.good_losses.items())
        shown = f" (they gave {shown})" if shown else ""
        raise TrainingDiverged(
            f"training diverged at step {step} ({what}). Restored {where}{shown}. "
            f"What to change: {self.hint}.", step=step, restored_step=self.good_step,
            restored_losses=self.good_losses)

    def check(self, step: int, **losses) -> None:
        """Raise TrainingDiverged (after restoring good weights) if any loss or weight is not finite, or a
        loss exploded; else confirm the weights these losses were measured on as good."""
        values = {k: float(v) for k, v in losses.items()}
        bad = [k for k, v in values.items() if not math.isfinite(v)]
        if bad:
            params = self.bad_parameters()
            self._fail(step, ", ".join([f"loss {k}={values[k]}" for k in bad] + [f"weight {p}" for p in params[:3]])
                       + " not finite")
        if self.explode is not None:
            for k, v in values.items():
                if self._watched(k):
                    scale = self._scale.setdefault(k, max(1.0, abs(v)))
                    if abs(v) > self.explode * scale:
                        self._fail(step, f"loss {k}={v:.4g} exploded: |{k}| > {self.explode:g} x "
                                         f"max(1, |its first value|) = {self.explode * scale:.4g}")
        if self._pending is not None:          # these losses were measured on the pending weights
            self.good_step, self._good = self._pending
            self._pending = None
            self.good_losses = values
        elif not self._seen:                   # the first losses: measured on the initial weights
            self.good_losses = values
        self._seen = True
        if step % self.snapshot_every == 0:
            self.check_weights(step)
            self.snapshot(step)

    def check_weights(self, step: int) -> None:
        """Raise TrainingDiverged (after restoring good weights) if any parameter is not finite now; `loop`
        calls it before a checkpoint is written, so non-finite weights never reach the disk."""
        params = self.bad_parameters()
        if params:
            self._fail(step, ", ".join(f"weight {p}" for p in params[:3]) + " not finite")


def loop(step_fn, n_steps: int, *, guard: DivergenceGuard | None = None, callbacks=(), every: int = 50,
         start: int = 0, checkpointer: "Checkpointer | None" = None, desc: str = "training",
         show_progress: bool = True) -> dict:
    """Call `step_fn(i)` for i in [start, n_steps); each returns a dict of floats.

    Every `every` steps (and at the last step) each callback is called as `callback(i, logs)`.
    `guard` checks every step for NaN/Inf and exploding losses; `checkpointer` sees every step and saves
    every `its.every`, after the guard has checked the weights it saves. Returns the history: a dict
    name -> list of (step, value) for every logged value; a `TrainingDiverged` carries it as `.history`.
    """
    n_steps = checks.nonneg_int("n_steps", n_steps)
    every = checks.positive_int("every", every)
    start = checks.nonneg_int("start", start)
    if start > n_steps:
        raise ValueError(f"start={start} is not allowed; allowed: 0..n_steps={n_steps} (the step to resume from)")
    history: dict = {}
    bar = progress(range(start, n_steps), desc=desc, enabled=show_progress)
    try:
        for i in bar:
            out = step_fn(i)
            if not isinstance(out, dict):
                raise TypeError(f"step_fn({i}) returned {type(out).__name__}; allowed: a dict of floats to log, "
                                "e.g. {'loss': loss.item()}")
            logs = {k: float(v) for k, v in out.items()}
            if guard is not None:
                guard.check(i, **logs)
            for k, v in logs.items():
                history.setdefault(k, []).append((i, v))
            if checkpointer is not None:
                if guard is not None and checkpointer.due(i):
                    guard.check_weights(i)
                checkpointer(i, logs)
            if i % every == 0 or i == n_steps - 1:
                bar.set_postfix({k: f"{v:.3g}" for k, v in logs.items()}, refresh=False)
                for cb in callbacks:
                    cb(i, logs)
    except TrainingDiverged as exc:
        exc.history = history
        raise
    finally:
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
        self.every = checks.positive_int("every", every)
        self.path = Path(path)
        self.kind, self.config = kind, config
        self.modules, self.optimizers = modules, optimizers or {}
        self.generators = generators or {}
        self.history: dict = {}

    def due(self, step: int) -> bool:
        """Whether the call for `step` will write a checkpoint."""
        return (step + 1) % self.every == 0

    def save(self, step: int) -> None:
        """Write the checkpoint of the state after `step`; refuses non-finite weights (a diverged state is
        never written: `loop` also lets its guard check the weights first)."""
        bad = [f"{k}.{n}" for k, m in self.modules.items() for n, p in m.named_parameters()
               if not torch.isfinite(p).all()]
        if bad:
            raise TrainingDiverged(f"not saving {str(self.path)!r} at step {step}: weights {', '.join(bad[:3])} are "
                                   "not finite (the run diverged; the last checkpoint on disk is kept)", step=step)
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
        for k in self.modules:
            bad = [n for n, t in state.get(f"module/{k}", {}).items()
                   if torch.is_tensor(t) and t.is_floating_point() and not torch.isfinite(t).all()]
            if bad:
                raise checkpoint.CheckpointMismatch(
                    f"path={str(self.path)!r} holds non-finite weights ({k}.{bad[0]}): a diverged run was saved by an "
                    "earlier version; delete it to start afresh")
        for k, m in self.modules.items():
            checkpoint.load_state(m, state[f"module/{k}"], self.path)
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
        if self.due(step):
            self.save(step)
