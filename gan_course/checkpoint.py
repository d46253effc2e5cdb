"""Checkpoints that survive a kernel restart: atomic writes, safe loads, a check of what was saved.

A checkpoint is a dict saved with torch.save:
    {"format": 1, "kind": "...", "config": {...}, "step": int, "state": {name: state_dict}, "extra": {...}}
It is written to a temporary file of its own (a unique name per writer, so two kernels saving one path
never collide) in the same folder, flushed to disk (fsync), then renamed over the target (os.replace is
atomic), so a crash mid-write never leaves a half-written checkpoint; a failed write removes its
temporary, and temporaries left by killed writers are cleaned at the next save. `atomic_write` does the
same for any file (run-all's reports, notebooks, vocabularies). A checkpoint is read with
torch.load(weights_only=True), which refuses to run arbitrary pickled code; so `save` accepts only plain
values in config and extra (numpy scalars become Python numbers, paths become strings; anything else is
refused at save time, naming the field), never a file that `load` would then refuse.

`reusable` is the one rule of every load-or-train helper: reuse a checkpoint of this kind and config;
train when the file is missing (or the caller passes retrain=True); move a checkpoint of this kind saved
with another config aside (to <name>.previous<suffix>) before retraining; and refuse, with an error,
a file that is not this model's checkpoint (another kind, unreadable, foreign): never overwrite it.
"""
from __future__ import annotations

import dataclasses
import os
from collections import OrderedDict
import tempfile
import time
from pathlib import Path, PurePath

import torch

from . import checks

FORMAT_VERSION = 1
STALE_SECONDS = 3600       # a temporary older than this is a crashed writer's leftover, removed at the next save


class CheckpointMismatch(ValueError):
    """The checkpoint on disk is of another model or another configuration than the one asked for."""


class CheckpointConflict(CheckpointMismatch):
    """A load-or-train helper found a file that is not its model's checkpoint; it refuses to overwrite it."""


# ------------------------------------------------------------------ atomic writes


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:         # not supported here (e.g. Windows): the rename is still atomic
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def clean_stale(path) -> list[Path]:
    """Remove the temporaries that killed writers of `path` left behind (older than STALE_SECONDS), and
    the fixed-name `<name>.tmp` of the course's earlier versions. Returns what was removed."""
    path = Path(path)
    removed = []
    legacy = path.with_name(path.name + ".tmp")
    candidates = list(path.parent.glob(f".{path.name}.*.tmp")) + ([legacy] if legacy.exists() else [])
    now = time.time()
    for tmp in candidates:
        try:
            if now - tmp.stat().st_mtime > STALE_SECONDS:
                tmp.unlink()
                removed.append(tmp)
        except OSError:
            pass              # another process removed or renamed it first
    return removed


def atomic_write(path, write, *, binary: bool = True) -> Path:
    """Write a file so that readers see the old version or the new one, never half of one.

    write(f): writes the content to the open file f (binary, or text in UTF-8 with binary=False).
    The content goes to a temporary of this writer only, is fsync'ed, then renamed over `path`; the
    temporary is removed if anything fails. Raises ValueError naming `path` if its folder is unwritable.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise ValueError(f"path={str(path)!r} cannot be written: its folder {str(path.parent)!r} is not a writable "
                         f"folder ({exc.strerror or exc}); allowed: a path in a folder that exists or can be "
                         "created, where files can be written") from None
    tmp = Path(tmp)
    try:
        os.fchmod(fd, 0o666 & ~_umask())     # mkstemp makes it private (0600); give it a normal file's mode
        with (os.fdopen(fd, "wb") if binary else os.fdopen(fd, "w", encoding="utf-8", newline="")) as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            tmp.unlink()
        except OSError:
            pass
        raise
    _fsync_dir(path.parent)
    clean_stale(path)
    return path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_text(path, text: str) -> Path:
    """`atomic_write` of a UTF-8 text file."""
    return atomic_write(path, lambda f: f.write(text), binary=False)


# ------------------------------------------------------------------ plain values only


def _plain(value, where: str, tensors: bool):
    """`value` as the plain types torch.load(weights_only=True) reads back; TypeError naming `where`."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, PurePath):
        return str(value)
    if type(value).__module__ == "numpy" and hasattr(value, "item") and getattr(value, "ndim", 0) == 0:
        return value.item()         # np.int64(3) -> 3, np.float32 -> float, np.bool_ -> bool
    if isinstance(value, dict):
        out = {k if isinstance(k, (str, int)) else _plain(k, where, False): _plain(v, f"{where}.{k}", tensors)
               for k, v in value.items()}
        if hasattr(value, "_metadata"):       # a state_dict: keep its version metadata for load_state_dict
            out = OrderedDict(out)
            out._metadata = value._metadata
        return out
    if isinstance(value, (list, tuple)):
        out = [_plain(v, f"{where}[{i}]", tensors) for i, v in enumerate(value)]
        return out if isinstance(value, list) else tuple(out)
    if tensors and isinstance(value, torch.Tensor):
        return value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _plain(dataclasses.asdict(value), where, tensors)
    allowed = "None, bool, int, float, str, pathlib.Path, numpy scalars, and lists/tuples/dicts of them"
    raise TypeError(f"{where}={value!r} ({type(value).__name__}) cannot be saved in a checkpoint that loads with "
                    f"weights_only=True; allowed: {allowed + (', tensors' if tensors else '')}")


def _config_dict(config):
    if config is None:
        return {}
    if dataclasses.is_dataclass(config):
        config = dataclasses.asdict(config)
    if not isinstance(config, dict):
        raise TypeError(f"config must be a dataclass or a dict; got {type(config).__name__}")
    return _plain(config, "config", tensors=False)


def save(path, *, kind: str, config=None, step: int = 0, state: dict, extra: dict | None = None) -> Path:
    """Atomically save `state` (a dict of name -> state_dict or tensor) with its kind and config."""
    if not isinstance(kind, str) or not kind:
        raise ValueError(f"kind must be a non-empty string naming the model; got {kind!r}")
    if not isinstance(state, dict) or not state:
        raise ValueError("state must be a non-empty dict, e.g. {'model': model.state_dict()}")
    payload = {"format": FORMAT_VERSION, "kind": kind, "config": _config_dict(config),
               "step": checks.nonneg_int("step", step), "state": _plain(state, "state", tensors=True),
               "extra": _plain(extra or {}, "extra", tensors=True)}
    return atomic_write(path, lambda f: torch.save(payload, f))


def load(path, *, kind: str | None = None, config=None, map_location="cpu") -> dict:
    """Load a checkpoint saved by `save`; check its format, kind and (if given) config."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"path={str(path)!r}: no checkpoint file there")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # a truncated or foreign file
        raise CheckpointMismatch(f"path={str(path)!r} is not a readable course checkpoint ({exc})") from None
    if not isinstance(payload, dict) or "format" not in payload:
        raise CheckpointMismatch(f"path={str(path)!r} is not a course checkpoint (no format version)")
    if payload["format"] != FORMAT_VERSION:
        raise CheckpointMismatch(f"path={str(path)!r} has format {payload['format']}; "
                                 f"this version reads format {FORMAT_VERSION}")
    if kind is not None and payload["kind"] != kind:
        raise CheckpointMismatch(f"path={str(path)!r} holds a {payload['kind']!r} checkpoint, "
                                 f"not the {kind!r} asked for")
    if config is not None:
        want = _config_dict(config)
        have = payload["config"]
        diff = {k: (have.get(k), want.get(k)) for k in set(have) | set(want) if have.get(k) != want.get(k)}
        if diff:
            shown = ", ".join(f"{k}: saved {a!r} vs asked {b!r}" for k, (a, b) in sorted(diff.items()))
            raise CheckpointMismatch(f"path={str(path)!r} was saved with another config ({shown}); "
                                     "delete it to retrain, or ask for the saved config")
    return payload


# ------------------------------------------------------------------ the rule of every load-or-train helper


def reusable(path, *, kind: str, config, retrain: bool = False, verbose: bool = True) -> dict | None:
    """What a load-or-train helper should do with `path`: the checkpoint to load, or None to train.

    - no file (or retrain=True): None, train (and save there).
    - a checkpoint of this kind and this config: it is returned, to load.
    - a checkpoint of this kind with another config (the user changed a setting): it is moved aside to
      <name>.previous<suffix> (replacing an older one there), so nothing is lost; None, train.
    - anything else (another model's checkpoint, a truncated or foreign file): CheckpointConflict, and the
      file is left as it is; pass another path, delete the file, or retrain=True to replace it.
    """
    path = Path(path)
    checks.boolean("retrain", retrain)
    if retrain or not path.exists():
        return None
    try:
        return load(path, kind=kind, config=config)
    except CheckpointMismatch as exc:
        try:
            load(path, kind=kind)
        except CheckpointMismatch:
            raise CheckpointConflict(
                f"path={str(path)!r} is not a checkpoint of kind {kind!r}, so it was not overwritten ({exc}); "
                "allowed: a path where a checkpoint of this model is or none is yet; pass another path, "
                "delete the file, or pass retrain=True to replace it") from None
        backup = path.with_name(f"{path.stem}.previous{path.suffix}")
        os.replace(path, backup)
        if verbose:
            print(f"{path.name} was saved with other settings; kept it as {backup.name} and training anew")
        return None


def load_state(module: torch.nn.Module, state: dict, path) -> None:
    """module.load_state_dict(state), with an error naming the checkpoint file if the shapes differ."""
    try:
        module.load_state_dict(state)
    except RuntimeError as exc:
        raise CheckpointMismatch(f"path={str(path)!r} holds weights that do not fit this "
                                 f"{type(module).__name__} ({str(exc).splitlines()[0]}); delete it to retrain, "
                                 "or pass retrain=True") from None
