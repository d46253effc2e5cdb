"""The exercise checks: sealed expected values, check_equal, and no check cell that prints its answer."""
import ast
import json
import math
from pathlib import Path

import pytest

from gan_course import exercises

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("[0-9]*.ipynb"))


@pytest.mark.parametrize("value", [0.4411, -math.log(4), 19520, [0.65, 0.55, 0.3], ["deux", "cent", "cinq"], "x"])
def test_seal_round_trip(value):
    token = exercises.seal(value)
    assert token.startswith("sealed:") and str(value) not in token
    assert exercises.unseal(token) == value


def test_seal_and_unseal_refuse_bad_input():
    with pytest.raises(TypeError, match="value=.* is not allowed; allowed: a number, a string"):
        exercises.seal(object())
    with pytest.raises(ValueError, match="token='0.5' is not allowed; allowed: a string made by exercises.seal"):
        exercises.unseal("0.5")


def test_check_equal(capsys):
    expected = exercises.unseal(exercises.seal([0.65, 0.55, 0.3]))
    exercises.check_equal("E1", [0.65, 0.55, 0.3], expected, 1e-9)
    exercises.check_equal("E1", (0.65, 0.55, 0.31), expected, 1e-9, hint="h")
    exercises.check_equal("E1", [0.65, 0.55], expected, 1e-9)
    exercises.check_equal("E2", 19520, 19520)
    exercises.check_equal("E2", 19521, 19520)
    exercises.check_equal("E3", ("deux", "cent"), ["deux", "cent"])
    exercises.check_equal("E3", ["deux"], ["deux", "cent"], hint="take [0]")
    exercises.check_equal("E4", None, 1.0)
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "E1: correct." and out[1].startswith("E1: not yet. Expected 3 numbers") and out[1].endswith("h")
    assert out[2].startswith("E1: not yet.") and out[3] == "E2: correct." and out[4].startswith("E2: not yet.")
    assert out[5] == "E3: correct." and out[6] == "E3: not yet. take [0]" and out[7].startswith("E4: not yet. No answer")


def _constant(node) -> bool:
    """A literal, or an expression of literals and math/np calls: an answer written in the clear."""
    names = {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}
    return not names - {"math", "np"}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_no_check_cell_shows_its_answer(path):
    """Every constant expected value of an exercise check is sealed (the review's K6): a check cell sits
    right under the student's answer cell, and `check_close(..., 0.4411, ...)` would give the answer away."""
    shown = []
    for i, cell in enumerate(json.loads(path.read_text())["cells"]):
        src = "".join(cell["source"])
        if cell["cell_type"] != "code" or "exercises.check" not in src:
            continue
        for node in ast.walk(ast.parse(src)):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and getattr(node.func.value, "id", None) == "exercises"):
                continue
            if node.func.attr in ("check_close", "check_equal") and len(node.args) >= 3 and _constant(node.args[2]):
                shown.append((i, ast.unparse(node.args[2])))
            if node.func.attr == "check" and len(node.args) >= 2:
                for cmp in (n for n in ast.walk(node.args[1]) if isinstance(n, ast.Compare)):
                    bare = isinstance(cmp.left, ast.Name) and cmp.left.id.startswith("answer_")   # not its shape
                    if bare and any(isinstance(op, ast.Eq) for op in cmp.ops) and all(_constant(c) for c in cmp.comparators):
                        shown.append((i, ast.unparse(cmp)))
    assert not shown, f"{path.name}: check cells with the answer in the clear (seal them): {shown}"
