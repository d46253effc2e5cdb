"""Shared checks of the numbers a config or a trainer receives: one wording for every error.

Every config's `validate()` / `__post_init__` and every trainer argument goes through these, so a bad
value is refused before any training starts, with a message of one form:

    "<name>=<value> is not allowed; allowed: <what is>"      e.g.  "lr=nan is not allowed; allowed: a
                                                                     finite learning rate in (0, 1]"

Each helper returns the value normalised to a plain Python type (a numpy integer becomes an `int`, a
numpy float a `float`), so configs that store the result stay loadable by `torch.load(weights_only=True)`.
A wrong type raises TypeError, a wrong value ValueError; both name the parameter and what is allowed.

API (name is the parameter as the user wrote it, e.g. "SeqGANConfig.lr_g" or "batch_size"):
    integer(name, value, minimum=None, maximum=None, allowed=None)   an int (not a bool) in [minimum, maximum]
    vocab_size(name, value)                            an int > 4 (a text vocabulary: 4 special tokens + words)
    positive_int(name, value)                          an int >= 1 (steps, sizes, batch sizes, eval_every)
    nonneg_int(name, value)                            an int >= 0 (seeds, epochs, warm-up steps)
    finite(name, value)                                a float that is not NaN/inf
    positive_float(name, value)                        a finite float > 0 (temperatures, scales)
    nonneg_float(name, value)                          a finite float >= 0 (weights of loss terms, beta)
    in_range(name, value, lo, hi, lo_open=False, hi_open=False)   a finite float in [lo, hi] (or open)
    probability(name, value, hi_open=False)            a finite float in [0, 1] (or [0, 1))
    learning_rate(name, value, maximum=1.0)            a finite float in (0, maximum]
    clip(name, value)                                  None (no clipping) or a finite float > 0
    one_of(name, value, allowed)                       value is one of `allowed` (strings, ...)
    boolean(name, value)                               True or False (not 0/1, not "yes")
    non_empty(name, items, what="items")               a sized collection with at least one element
    writable_dir(name, folder)                         a folder that exists or can be made, and takes files
    fields(config, **rules)                            apply rule(name, value) to each named field of a
                                                       config, store the normalised value; names in the
                                                       messages are "<Class>.<field>"

A config's validate() is then one call, e.g.

    def __post_init__(self):
        checks.fields(self, vocab_size=partial(checks.integer, minimum=5), hidden=checks.positive_int,
                      lr=checks.learning_rate, clip=checks.clip, cell=partial(checks.one_of, allowed=CELLS))
"""
from __future__ import annotations

import math
import numbers
import os
import tempfile
from pathlib import Path


def _bad(name, value, allowed: str, exc=ValueError):
    return exc(f"{name}={value!r} is not allowed; allowed: {allowed}")


def integer(name: str, value, minimum: int | None = None, maximum: int | None = None,
            allowed: str | None = None) -> int:
    """An integer (numpy integers accepted and converted; bools and floats refused) in [minimum, maximum];
    `allowed` replaces the generated description of the range in the message."""
    if allowed is not None:
        pass
    elif minimum is not None and maximum is not None:
        allowed = f"an integer in {minimum}..{maximum}"
    elif minimum == 1:
        allowed = "a positive integer (>= 1)"
    elif minimum == 0:
        allowed = "a non-negative integer (>= 0)"
    elif minimum is not None:
        allowed = f"an integer >= {minimum}"
    elif maximum is not None:
        allowed = f"an integer <= {maximum}"
    else:
        allowed = "an integer"
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise _bad(name, value, allowed, TypeError)
    value = int(value)
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise _bad(name, value, allowed)
    return value


def vocab_size(name: str, value) -> int:
    """A text vocabulary size: an integer > 4 (the special tokens <pad> <bos> <eos> <unk>, and a word)."""
    return integer(name, value, minimum=5, allowed="an integer > 4 (the 4 special tokens and at least one word)")


def positive_int(name: str, value) -> int:
    """An integer >= 1: a number of steps, a size, a batch size, an evaluation interval."""
    return integer(name, value, minimum=1)


def nonneg_int(name: str, value) -> int:
    """An integer >= 0: a seed, a number of epochs or warm-up steps (0 = none)."""
    return integer(name, value, minimum=0)


def finite(name: str, value, allowed: str = "a finite number (not NaN or inf)") -> float:
    """A real number that is not NaN or inf (numpy floats accepted and converted; bools refused)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise _bad(name, value, allowed, TypeError)
    value = float(value)
    if not math.isfinite(value):
        raise _bad(name, value, allowed)
    return value


def in_range(name: str, value, lo: float, hi: float, *, lo_open: bool = False, hi_open: bool = False,
             what: str = "a finite number") -> float:
    """A finite number in [lo, hi]; lo_open / hi_open exclude the ends."""
    allowed = f"{what} in {'(' if lo_open else '['}{lo:g}, {hi:g}{')' if hi_open else ']'}"
    value = finite(name, value, allowed)
    if value < lo or value > hi or (lo_open and value == lo) or (hi_open and value == hi):
        raise _bad(name, value, allowed)
    return value


def positive_float(name: str, value) -> float:
    """A finite number > 0: a temperature, a scale, a bandwidth."""
    allowed = "a positive finite number (> 0)"
    value = finite(name, value, allowed)
    if value <= 0:
        raise _bad(name, value, allowed)
    return value


def nonneg_float(name: str, value) -> float:
    """A finite number >= 0: the weight of a loss term, a KL weight, free bits (0 = off)."""
    allowed = "a finite number >= 0"
    value = finite(name, value, allowed)
    if value < 0:
        raise _bad(name, value, allowed)
    return value


def probability(name: str, value, *, hi_open: bool = False) -> float:
    """A probability in [0, 1] (or [0, 1) with hi_open): a dropout rate, a mixing weight."""
    return in_range(name, value, 0.0, 1.0, hi_open=hi_open, what="a probability")


def learning_rate(name: str, value, maximum: float = 1.0) -> float:
    """A learning rate in (0, maximum]; the course's Adam runs use 1e-4 to 1e-2."""
    return in_range(name, value, 0.0, maximum, lo_open=True,
                    what="a finite learning rate")


def clip(name: str, value) -> float | None:
    """A gradient-norm clip: None for no clipping, else a finite number > 0 (0 would zero every
    gradient and a negative value would reverse it, so both are refused)."""
    if value is None:
        return None
    allowed = "None (no clipping) or a positive finite max gradient norm (> 0), e.g. 1.0 or 5.0"
    value = finite(name, value, allowed)
    if value <= 0:
        raise _bad(name, value, allowed)
    return value


def one_of(name: str, value, allowed) -> object:
    """`value` must be one of `allowed` (compared with ==; strings are case-sensitive)."""
    allowed = tuple(allowed)
    try:
        ok = value in allowed
    except TypeError:  # an unhashable value against a set-like
        ok = False
    if not ok:
        raise _bad(name, value, ", ".join(str(a) for a in allowed))
    return value


def boolean(name: str, value) -> bool:
    """True or False exactly (numpy bools accepted); 0/1 and strings such as "no" are refused."""
    if type(value).__name__ == "bool_":   # numpy.bool_
        value = bool(value)
    if not isinstance(value, bool):
        raise _bad(name, value, "True or False", TypeError)
    return value


def non_empty(name: str, items, what: str = "items"):
    """A sized collection with at least one element (a list of pairs, of sentences, ...)."""
    try:
        n = len(items)
    except TypeError:
        raise _bad(name, type(items).__name__, f"a list of {what}", TypeError) from None
    if n == 0:
        raise ValueError(f"{name} is empty; allowed: a list of at least one of {what}")
    return items


def writable_dir(name: str, folder) -> Path:
    """Make `folder` if needed and check that a file can be created in it, before any training starts
    (so an unwritable checkpoint folder is found at once, not after an hour of training)."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".write-test-")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise ValueError(f"{name}={str(folder)!r} is not a writable folder ({exc.strerror or exc}); "
                         "allowed: a folder that exists or can be created, where files can be written") from None
    return folder


def fields(config, **rules):
    """Check the named fields of a dataclass config with `rule(name, value)` each (one of the helpers above,
    or a functools.partial of one), store the normalised values back, and return the config. The error
    names the field as "<Class>.<field>"."""
    cls = type(config).__name__
    for field, rule in rules.items():
        value = rule(f"{cls}.{field}", getattr(config, field))
        object.__setattr__(config, field, value)        # works for frozen dataclasses too
    return config
