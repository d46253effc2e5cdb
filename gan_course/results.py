"""Named results a notebook records, so that run-all (and the capstone) can collect them.

    from gan_course import results
    results.record("nll_oracle", 9.05)          # returns the value, so it can sit inside an expression

Values are kept in this kernel (`results.recorded()`). When run-all executes a notebook it sets
GAN_COURSE_RESULTS to a JSON file path; every `record` then rewrites that file, so even a notebook that
fails later keeps the results it reached.
"""
from __future__ import annotations

import json
import math
import os
from pathlib import Path

_RESULTS: dict = {}


def _plain(value):
    """Turn numpy/torch scalars into plain Python numbers; JSON cannot hold NaN, so it becomes None."""
    if hasattr(value, "item") and callable(value.item):
        if getattr(value, "ndim", 0) != 0 and getattr(value, "size", 1) not in (1,) and not (
                hasattr(value, "numel") and value.numel() == 1):
            value = value.tolist()        # an array or a tensor of several numbers: a list, not .item()'s error
        else:
            value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def record(name: str, value):
    """Record a named result (a number, a string, or a small list/dict of them) and return `value`."""
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"name must be a non-empty string; got {name!r}")
    _RESULTS[name] = _plain(value)
    path = os.environ.get("GAN_COURSE_RESULTS")
    if path:
        from .checkpoint import write_text

        write_text(Path(path), json.dumps(_RESULTS, indent=1))       # atomic, one temporary per writer
    return value


def recorded() -> dict:
    """A copy of everything recorded in this kernel so far."""
    return dict(_RESULTS)


def clear() -> None:
    _RESULTS.clear()
