"""Self-check cells for the exercises at the end of every notebook.

The pattern (one exercise):

    answer_1 = None                     # the student's cell: write your answer here

    # (hidden cell, tag "solution") -- fills in the course's answer only if the student left None
    answer_1 = exercises.solution(answer_1, lambda: <the solution>)

    exercises.check_close("Exercise 1", answer_1, expected, tol=1e-3, hint="...")

So Run All in a fresh kernel exercises every check (nbval does this in CI), and a student who writes
an answer gets their own answer checked. The student edition (`python -m gan_course student`) removes the
solution cells and guards each check with `no_answer` while the answer is still None.
"""
from __future__ import annotations

import math


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
