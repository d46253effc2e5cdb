"""The student edition: copies of the notebooks without the solutions.

    python -m gan_course student                          # writes build/student/NN_*.ipynb
    python -m gan_course student --output DIR --notebooks notebooks

What changes, notebook by notebook (everything else, the committed figures and tables included, is kept):
- every cell tagged "solution" is removed (not collapsed: its text is not in the file);
- the code cells of the Exercises section lose their outputs (a printed check would give answers away);
- each cell after an answer cell (`answer_k = None`) that uses `answer_k` -- the self-check, a plot of the
  answer -- is guarded, so that while the answer is None it says so plainly instead of failing:

      if answer_4 is None:   # student edition: no answer yet
          exercises.no_answer("Exercise 4", "answer_4")
      else:
          <the teacher notebook's cell, unchanged>

  With an answer the original check runs and prints "correct" or its hint, as in the teacher notebook;
- imports made inside a removed solution cell (`from gan_course import exercises`) move into the next
  kept cell, so later cells still find them.

The student notebooks belong where the teacher notebooks are, in the `notebooks/` folder of a copy of the
course: like them, they read `results/`, `../benchmarks/` and `../data/` relative to that folder.
"""
from __future__ import annotations

import ast
import copy
import io
import re
import tokenize
from pathlib import Path

from .common import EditionError, atomic_folder, find_notebooks, read_notebook

MARKER = ".student-edition"   # written into the output folder: marks it as this command's to replace
ANSWER = re.compile(r"^(answer_\w+)\s*=\s*None\b", re.M)
EXERCISE = re.compile(r"^#{2,4}\s*(Exercise\s+\d+)", re.M)


def _tags(cell) -> list[str]:
    return cell.get("metadata", {}).get("tags", [])


def is_solution(cell) -> bool:
    return "solution" in _tags(cell)


def _exercise_span(cells) -> tuple[int, int]:
    """[start, end) of the Exercises section: from the markdown cell with '## Exercises' to the next
    markdown cell that opens another level-2 section (Further reading), or the end."""
    start = next((i for i, c in enumerate(cells)
                  if c.cell_type == "markdown" and re.search(r"^##\s+Exercises", c.source, re.M)), None)
    if start is None:
        return len(cells), len(cells)
    for j in range(start + 1, len(cells)):
        c = cells[j]
        if c.cell_type == "markdown" and re.search(r"^##\s+(?!#)", c.source, re.M):
            return start, j + 1 if EXERCISE.search(c.source) else j
    return start, len(cells)


def _names_loaded(source: str) -> set[str]:
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return set(re.findall(r"\b\w+\b", source))
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}


def _imports(source: str) -> list[str]:
    """The top-level import statements of a cell, as source text."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    return [ast.get_source_segment(source, node) for node in tree.body
            if isinstance(node, (ast.Import, ast.ImportFrom))]


def _string_continuation_lines(source: str) -> set[int]:
    """1-based numbers of the lines that begin inside a multi-line string: indenting them would change
    the string, so the guard leaves them as they are."""
    inside: set[int] = set()
    try:
        fstring_starts = []
        for tok in tokenize.generate_tokens(io.StringIO(source).readline):
            name = tokenize.tok_name[tok.type]
            if name == "FSTRING_START":
                fstring_starts.append(tok.start[0])
            elif name == "FSTRING_END" and fstring_starts:
                inside.update(range(fstring_starts.pop() + 1, tok.end[0] + 1))
            elif tok.type == tokenize.STRING and tok.end[0] > tok.start[0]:
                inside.update(range(tok.start[0] + 1, tok.end[0] + 1))
    except (tokenize.TokenError, SyntaxError, IndentationError):
        pass
    return inside


def guard(source: str, exercise: str, variables: list[str]) -> str:
    """Wrap a cell that uses the answer `variables` so that it says "no answer yet" while one is None.
    A leading `# NBVAL_...` marker stays the first line."""
    lines = source.splitlines()
    head = []
    while lines and lines[0].startswith("# NBVAL"):
        head.append(lines.pop(0))
    body = "\n".join(lines)
    keep = _string_continuation_lines(body)
    indented = [ln if (i in keep or not ln.strip()) else "    " + ln for i, ln in enumerate(lines, start=1)]
    condition = " or ".join(f"{v} is None" for v in variables)
    missing = next(iter(variables)) if len(variables) == 1 else "/".join(variables)
    wrapped = head + [f"if {condition}:   # student edition: no answer yet",
                      f"    exercises.no_answer({exercise!r}, {missing!r})",
                      "else:"] + indented
    text = "\n".join(wrapped)
    try:
        compile(body, "<cell>", "exec")
    except SyntaxError:
        return text   # not plain Python (a magic?): cannot check the wrapped form either
    try:
        compile(text, "<cell>", "exec")
    except SyntaxError as exc:  # pragma: no cover - a cell the guard cannot wrap safely
        raise EditionError(f"cannot guard the cell of {exercise}: {exc}") from None
    return text


def student_notebook(nb):
    """Return the student copy of a teacher notebook (the argument is not changed)."""
    nb = copy.deepcopy(nb)
    cells = nb.cells
    start, end = _exercise_span(cells)
    out = []
    carried: list[str] = []     # imports from a removed solution cell, for the next kept code cell
    answers: list[str] = []     # answer variables assigned None so far in the Exercises section
    exercise = "Exercise"
    for i, cell in enumerate(cells):
        in_exercises = start <= i < end
        if cell.cell_type == "markdown" and in_exercises:
            found = EXERCISE.findall(cell.source)
            if found:
                exercise = found[-1]
        if is_solution(cell):
            if cell.cell_type == "code":
                carried += [imp for imp in _imports(cell.source) if imp not in carried]
            continue
        if cell.cell_type == "code":
            if in_exercises:
                cell.outputs = []
                cell.execution_count = None
                new = ANSWER.findall(cell.source)
                used = [v for v in answers if v in _names_loaded(cell.source)]
                if used and not new:
                    cell.source = guard(cell.source, exercise, used)
                answers += [v for v in new if v not in answers]
            if carried:
                head = [ln for ln in cell.source.splitlines() if ln.startswith("# NBVAL")]
                rest = cell.source.splitlines()[len(head):]
                cell.source = "\n".join(head + carried + rest)
                carried = []
        out.append(cell)
    nb.cells = out
    nb.metadata["gan_course"] = {"edition": "student"}
    return nb


def solution_lines(teacher_nb) -> list[str]:
    """The distinctive lines of a teacher notebook's solution cells: what must not survive in the student
    copy (imports, blank lines and lines that also occur outside solution cells are left out)."""
    elsewhere = set()
    for c in teacher_nb.cells:
        if not is_solution(c):
            elsewhere.update(ln.strip() for ln in c.source.splitlines())
    lines = []
    for c in teacher_nb.cells:
        if is_solution(c):
            imports = set(_imports(c.source))
            for ln in c.source.splitlines():
                s = ln.strip()
                if len(s) >= 12 and s not in elsewhere and s not in imports and s not in lines:
                    lines.append(s)
    return lines


def write_student_edition(notebooks: Path, output: Path) -> list[Path]:
    """Write the student copy of every numbered notebook in `notebooks` into `output`; return the paths.
    Every notebook is read and converted before anything is written; the folder appears complete or not
    at all."""
    notebooks, output = Path(notebooks), Path(output)
    if output.absolute() == notebooks.absolute():
        raise EditionError(f"--output {str(output)!r} is the notebooks folder itself: the teacher notebooks "
                           "would be overwritten")
    import nbformat

    converted = [(p.name, student_notebook(read_notebook(p))) for p in find_notebooks(notebooks)]
    with atomic_folder(output, marker=MARKER) as stage:
        for name, nb in converted:
            nbformat.write(nb, stage / name)
        (stage / "README.md").write_text(
            "# Student edition\n\nWritten by `python -m gan_course student` from the course's notebooks: the "
            "solution cells are removed and the outputs of the exercise cells cleared.\nPut these files in the "
            "`notebooks/` folder of a copy of the course (they read `results/`, `../benchmarks/` and `../data/` "
            "relative to it, like the originals).\n")
    return [output / name for name, _ in converted]
