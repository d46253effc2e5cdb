"""Self-check cells for the exercises at the end of every notebook.

The pattern (one exercise):

    answer_1 = None                     # the student's cell: write your answer here

    # (hidden cell, tag "solution") -- fills in the course's answer only if the student left None
    answer_1 = exercises.solution(answer_1, lambda: <the solution>)

    exercises.check_close("Exercise 1", answer_1, exercises.unseal("..."), tol=1e-3, hint="...")

So Run All in a fresh kernel exercises every check (nbval does this in CI), and a student who writes
an answer gets their own answer checked. The student edition (`python -m gan_course student`) removes the
solution cells and guards each check with `no_answer` while the answer is still None.

A check cell must not print the answer it checks for: an expected value that is a constant is written
SEALED, `exercises.unseal("<token>")`, the token being `seal(value)` (base64 of its JSON). That is not
secrecy, only a way of not giving the answer away at a glance; a value the notebook computes (a model's
output, say) needs no sealing.
"""
from __future__ import annotations

import base64
import json
import math

import numpy as np

_PREFIX = "sealed:"


def seal(value) -> str:
    """The token of an expected answer (a number, a string, or a list of them): see the module docstring."""
    try:
        text = json.dumps(value)
    except TypeError:
        raise TypeError(f"value={value!r} is not allowed; allowed: a number, a string, or a (nested) list of "
                        f"them (anything JSON can write)") from None
    return _PREFIX + base64.b64encode(text.encode()).decode()


def unseal(token: str):
    """The value behind a token made by `seal`."""
    if not isinstance(token, str) or not token.startswith(_PREFIX):
        raise ValueError(f"token={token!r} is not allowed; allowed: a string made by exercises.seal "
                         f"(it starts with {_PREFIX!r})")
    return json.loads(base64.b64decode(token[len(_PREFIX):]).decode())


def solution(answer, make):
    """Return `answer` if the student gave one, else the course's solution `make()` (and say so)."""
    if answer is not None:
        return answer
    print("(no answer given yet: using the course's solution; expand the hidden cell to read it)")
    return make()


def no_answer(name: str, variable: str) -> None:
    """What a check says in the student edition while the answer is still None."""
    print(f"{name}: no answer yet. Assign your answer to `{variable}` in the cell above, run it, "
          "then run this cell again.")


def check(name: str, ok: bool, hint: str = "") -> None:
    """Print a tick or a hint (nothing is returned, so the cell shows only the message)."""
    if ok:
        print(f"{name}: correct.")
    else:
        print(f"{name}: not yet. {hint}")


def check_close(name: str, value, expected: float, tol: float, hint: str = "") -> None:
    """Check that a number is within `tol` of `expected` (absolute)."""
    if value is None:
        return check(name, False, "No answer yet: assign your answer to the variable above.")
    try:
        value = float(value)
    except (TypeError, ValueError):
        return check(name, False, f"Expected a number; got {type(value).__name__}. {hint}")
    ok = math.isfinite(value) and abs(value - expected) <= tol
    return check(name, ok, f"Your value {value:.6g} is not within {tol:g} of the expected one. {hint}")


def check_equal(name: str, value, expected, tol: float = 0.0, hint: str = "") -> None:
    """Check a number, a string or a list against `expected`: numbers (and lists of numbers, elementwise)
    within `tol` (absolute), anything else exactly."""
    if value is None:
        return check(name, False, "No answer yet: assign your answer to the variable above.")
    if isinstance(expected, (int, float)) and not isinstance(expected, bool):
        return check_close(name, value, expected, tol, hint)
    if isinstance(expected, list) and expected and all(isinstance(e, (int, float)) for e in expected):
        try:
            got = np.asarray(value, dtype=float)
        except (TypeError, ValueError):
            return check(name, False, f"Expected a list of {len(expected)} numbers. {hint}")
        ok = got.shape == (len(expected),) and bool(np.all(np.abs(got - np.asarray(expected, float)) <= tol))
        return check(name, ok, f"Expected {len(expected)} numbers, each within {tol:g} of the answer. {hint}")
    ok = (list(value) if isinstance(value, tuple) else value) == expected
    return check(name, ok, hint)
