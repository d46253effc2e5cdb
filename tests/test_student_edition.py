"""The student edition (`python -m gan_course student`): no solution survives, the committed figures do,
and every student notebook runs top to bottom headless (papermill, FAST mode) without an error.

Each student notebook is executed with two rounds of self-checks: first as handed out, with every answer
left None (each check must say "no answer yet"); then, appended at the end of the same run, the course's
solution is assigned to each answer and its checks run again (each must say "correct"). The notebooks run
in order, from the repository's notebooks/ folder (where student copies sit in a copy of the course), so
that later ones find what earlier ones saved, as the teacher notebooks do.
"""
from __future__ import annotations

import json
import os
import re
import resource
import stat
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

from gan_course.editions import student
from gan_course.editions.common import EditionError

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]*_*.ipynb"))
GUARD = "# student edition: no answer yet"


@pytest.fixture(scope="module")
def edition(tmp_path_factory):
    out = tmp_path_factory.mktemp("student") / "edition"
    t0 = time.perf_counter()
    paths = student.write_student_edition(ROOT / "notebooks", out)
    print(f"student edition written in {time.perf_counter() - t0:.1f} s")
    return out, paths


def _text(nb) -> str:
    parts = []
    for c in nb.cells:
        parts.append(c.source)
        for o in c.get("outputs", []):
            parts.append(o.get("text", "") if isinstance(o.get("text", ""), str) else "".join(o["text"]))
            parts.extend(v for k, v in o.get("data", {}).items() if k.startswith("text/") and isinstance(v, str))
    return "\n".join(parts)


def test_every_notebook_has_a_student_copy(edition):
    out, paths = edition
    assert [p.name for p in paths] == [p.name for p in NOTEBOOKS]
    assert all(p.exists() for p in paths)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_no_solution_survives_and_the_rest_is_kept(edition, path):
    out, _ = edition
    teacher = nbformat.read(path, as_version=4)
    copy = nbformat.read(out / path.name, as_version=4)
    assert not [c for c in copy.cells if student.is_solution(c)], "a solution cell is still there"
    text = _text(copy)
    lines = {ln.strip() for ln in text.splitlines()}
    survivors = [ln for ln in student.solution_lines(teacher) if ln in lines]
    assert not survivors, f"solution text in the student copy: {survivors[:5]}"
    assert "using the course's solution" not in text
    # the Exercises section: no outputs; everything before it: the same cells with the same outputs
    t_start, _ = student._exercise_span(teacher.cells)
    s_start, s_end = student._exercise_span(copy.cells)
    assert copy.cells[:s_start] == teacher.cells[:t_start], "cells before the Exercises section changed"
    assert all(not c.outputs and c.execution_count is None
               for c in copy.cells[s_start:s_end] if c.cell_type == "code")
    answers = [v for c in copy.cells if c.cell_type == "code" for v in student.ANSWER.findall(c.source)]
    n_solutions = sum(student.is_solution(c) for c in teacher.cells)
    assert len(answers) >= n_solutions >= 1, (answers, n_solutions)
    for c in copy.cells[s_start:s_end]:
        if c.cell_type == "code" and GUARD in c.source:
            compile(c.source, path.name, "exec")


def test_guard_keeps_strings_and_markers():
    src = '# NBVAL_CHECK_OUTPUT\nx = """a\nb"""\nexercises.check("Exercise 1", answer_1 == x)'
    out = student.guard(src, "Exercise 1", ["answer_1"])
    assert out.splitlines()[0] == "# NBVAL_CHECK_OUTPUT"
    assert '    x = """a\nb"""' in out           # the string's second line is not indented
    ns = {}
    exec("class exercises:\n    @staticmethod\n    def no_answer(n, v): print(n, 'no answer yet')\n"
         "    @staticmethod\n    def check(n, ok): print(n, 'correct' if ok else 'not yet')\n", ns)
    ns["answer_1"] = "a\nb"
    exec(out, ns)
    ns["answer_1"] = None
    exec(out, ns)


# ---------------------------------------------------------------- bad input: clear errors, nothing left


def _leftovers(folder: Path) -> list[str]:
    return [p.name for p in folder.iterdir() if ".tmp-" in p.name or ".old-" in p.name]


def test_missing_notebooks_folder(tmp_path):
    with pytest.raises(EditionError, match=re.escape(str(tmp_path / "nope"))):
        student.write_student_edition(tmp_path / "nope", tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_invalid_json_names_the_file_and_writes_nothing(tmp_path):
    nbs = tmp_path / "nbs"
    nbs.mkdir()
    (nbs / "00_good.ipynb").write_text(NOTEBOOKS[0].read_text())
    (nbs / "01_bad.ipynb").write_text('{"cells": [')
    with pytest.raises(EditionError, match=r"01_bad\.ipynb.*not valid JSON"):
        student.write_student_edition(nbs, tmp_path / "out")
    assert not (tmp_path / "out").exists() and not _leftovers(tmp_path)


def test_output_that_cannot_be_written(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    with pytest.raises(EditionError, match=re.escape(str(blocker))):
        student.write_student_edition(ROOT / "notebooks", blocker / "student")
    if os.geteuid() != 0:                  # root ignores permissions, so this half only runs as a user
        locked = tmp_path / "locked"
        locked.mkdir()
        locked.chmod(stat.S_IRUSR | stat.S_IXUSR)
        try:
            with pytest.raises(EditionError, match=re.escape(str(locked / "student"))):
                student.write_student_edition(ROOT / "notebooks", locked / "student")
        finally:
            locked.chmod(stat.S_IRWXU)


def test_a_foreign_folder_is_not_replaced(tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "thesis.tex").write_text("precious")
    with pytest.raises(EditionError, match="not empty"):
        student.write_student_edition(ROOT / "notebooks", out)
    assert (out / "thesis.tex").read_text() == "precious"


def test_command_line_errors_name_the_path(tmp_path):
    for cmd in (["student", "--notebooks", str(tmp_path / "missing")],
                ["book", "--notebooks", str(tmp_path / "missing"), "--output", str(tmp_path / "book")]):
        proc = subprocess.run([sys.executable, "-m", "gan_course", *cmd], capture_output=True, text=True, cwd=ROOT)
        assert proc.returncode == 2, proc.stderr
        assert str(tmp_path / "missing") in proc.stderr and "Traceback" not in proc.stderr
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "00_x.ipynb").write_text("not json")
    proc = subprocess.run([sys.executable, "-m", "gan_course", "book", "--notebooks", str(bad), "--output",
                           str(tmp_path / "book")], capture_output=True, text=True, cwd=ROOT)
    if "needs Sphinx" not in proc.stderr:
        assert proc.returncode == 2 and "00_x.ipynb" in proc.stderr and "not valid JSON" in proc.stderr, proc.stderr
    assert not (tmp_path / "book").exists() and not _leftovers(tmp_path)


# ---------------------------------------------------------------- every student notebook, run headless


def _with_answers_round(copy, teacher):
    """The student notebook plus, at its end, each exercise's solution and then its guarded checks again."""
    solutions, current = {}, None
    for c in teacher.cells:
        if c.cell_type == "markdown":
            found = student.EXERCISE.findall(c.source)
            current = found[-1] if found else current
        if student.is_solution(c) and c.cell_type == "code":
            solutions.setdefault(current, []).append(c.source)
    guarded = {}
    for c in copy.cells:
        if c.cell_type == "code" and GUARD in c.source:
            name = re.search(r"no_answer\('([^']+)'", c.source).group(1)
            guarded.setdefault(name, []).append(c.source)
    run = nbformat.from_dict(json.loads(nbformat.writes(copy)))
    for name, checks in guarded.items():
        for src in solutions.get(name, []) + checks:
            run.cells.append(nbformat.v4.new_code_cell(src, metadata={"tags": ["answers-round"]}))
    return run, guarded


def _stdout(cell) -> str:
    return "".join(o.get("text", "") for o in cell.get("outputs", []) if o.get("output_type") == "stream")


TIMES = {}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_student_notebook_runs_and_checks_answers(edition, path, tmp_path, monkeypatch):
    import papermill as pm
    from papermill.exceptions import PapermillExecutionError

    out, _ = edition
    copy = nbformat.read(out / path.name, as_version=4)
    teacher = nbformat.read(path, as_version=4)
    run, guarded = _with_answers_round(copy, teacher)
    src, dst = tmp_path / f"in_{path.name}", tmp_path / path.name
    nbformat.write(run, src)
    for k, v in {"GAN_COURSE_FAST": "1", "GAN_COURSE_HEADLESS": "1", "GAN_COURSE_THREADS": "1",
                 "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("GAN_COURSE_RESULTS", raising=False)
    t0, c0 = time.perf_counter(), _children_cpu()
    try:
        pm.execute_notebook(str(src), str(dst), cwd=str(ROOT / "notebooks"), kernel_name="python3",
                            progress_bar=False, log_output=False, execution_timeout=900)
    except PapermillExecutionError as exc:
        pytest.fail(f"{path.name}: cell [{exc.exec_count}] raised {exc.ename}: {exc.evalue}")
    TIMES[path.name] = (time.perf_counter() - t0, _children_cpu() - c0)
    done = nbformat.read(dst, as_version=4)
    errors = [o for c in done.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors
    first = [c for c in done.cells if GUARD in c.source and "answers-round" not in c.metadata.get("tags", [])]
    second = [c for c in done.cells if GUARD in c.source and "answers-round" in c.metadata.get("tags", [])]
    assert first and len(first) == len(second) == sum(len(v) for v in guarded.values())
    for c in first:
        name = re.search(r"no_answer\('([^']+)'", c.source).group(1)
        assert f"{name}: no answer yet" in _stdout(c), f"{path.name}: {name} said {_stdout(c)!r}"
        assert "Traceback" not in _stdout(c)
    for c in second:
        name = re.search(r"no_answer\('([^']+)'", c.source).group(1)
        said = _stdout(c)
        if "exercises.check" in c.source:
            assert f"{name}: correct." in said, f"{path.name}: with the course's answer {name} said {said!r}"
    wall, cpu = TIMES[path.name]
    print(f"{path.name}: {wall:.1f} s wall, {cpu:.1f} s kernel CPU; {len(first)} checks said 'no answer yet', "
          f"then 'correct' with the course's answers")


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def test_student_run_times():
    """Not a check: the times of the runs above, in one line (pytest -s shows it)."""
    if TIMES:
        wall = sum(w for w, _ in TIMES.values())
        cpu = sum(c for _, c in TIMES.values())
        print(f"student edition, {len(TIMES)} notebooks in FAST mode: {wall:.0f} s wall, {cpu:.0f} s kernel CPU")
