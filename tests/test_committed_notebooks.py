"""Every committed notebook: executed top to bottom in one fresh kernel, no error output, a cell tagged
`parameters`, a Summary and Exercises section, and under 3 MB (so the web view loads fast)."""
import json
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("[0-9][0-9]*_*.ipynb"))


def test_there_are_notebooks():
    assert NOTEBOOKS, "no notebooks found in notebooks/"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_committed_notebook(path):
    assert path.stat().st_size < 3_000_000, f"{path.name} is {path.stat().st_size / 1e6:.1f} MB"
    nb = json.loads(path.read_text())
    code = [c for c in nb["cells"] if c["cell_type"] == "code" and "".join(c["source"]).strip()]
    counts = [c["execution_count"] for c in code]
    assert None not in counts, f"{path.name}: some code cells were never run"
    assert counts == list(range(1, len(counts) + 1)), f"{path.name}: not run top to bottom in one kernel: {counts}"
    errors = [c["execution_count"] for c in code for o in c["outputs"] if o["output_type"] == "error"]
    assert not errors, f"{path.name}: error outputs in cells {errors}"
    assert any("parameters" in c.get("metadata", {}).get("tags", []) for c in code), "no cell tagged parameters"
    text = "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown")
    assert "## Summary" in text and "## Exercises" in text, f"{path.name}: needs Summary and Exercises sections"
    leftovers = [w for w in ("PLACEHOLDER", "TODO", "XXX") if w in text]
    assert not leftovers, f"{path.name}: unfinished text in the markdown: {leftovers}"
