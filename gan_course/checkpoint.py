"""Checkpoints that survive a kernel restart: atomic writes, safe loads, a check of what was saved.

A checkpoint is a dict saved with torch.save:
    {"format": 1, "kind": "...", "config": {...}, "step": int, "state": {name: state_dict}, "extra": {...}}
It is written to a temporary file in the same folder, then renamed over the target (os.replace is
atomic), so a crash mid-write never leaves a half-written checkpoint. It is read with
torch.load(weights_only=True), which refuses to run arbitrary pickled code.
"""
from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import torch

FORMAT_VERSION = 1


class CheckpointMismatch(ValueError):
    """The checkpoint on disk is of another model or another configuration than the one asked for."""


def _config_dict(config):
    if config is None:
        return {}
    if dataclasses.is_dataclass(config):
        config = dataclasses.asdict(config)
    if not isinstance(config, dict):
        raise TypeError(f"config must be a dataclass or a dict; got {type(config).__name__}")
    return config


def save(path, *, kind: str, config=None, step: int = 0, state: dict, extra: dict | None = None) -> Path:
    """Atomically save `state` (a dict of name -> state_dict or tensor) with its kind and config."""
    if not isinstance(kind, str) or not kind:
        raise ValueError(f"kind must be a non-empty string naming the model; got {kind!r}")
    if not isinstance(state, dict) or not state:
        raise ValueError("state must be a non-empty dict, e.g. {'model': model.state_dict()}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"format": FORMAT_VERSION, "kind": kind, "config": _config_dict(config),
               "step": int(step), "state": state, "extra": extra or {}}
    tmp = path.with_name(path.name + ".tmp")
    torch.save(payload, tmp)
    os.replace(tmp, path)
    return path


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
