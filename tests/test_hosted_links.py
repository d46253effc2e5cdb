"""The hosted-notebook line (`python -m gan_course links`): derived from the one address in pyproject.toml,
idempotent, markdown only (code cells and outputs untouched), and present in the committed notebooks."""
import json
import shutil
from pathlib import Path

import pytest

from gan_course.editions import hosted
from gan_course.editions.common import EditionError

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]*_*.ipynb"))


def _code(path):
    return [(c["source"], c.get("outputs")) for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code"]


def test_links_are_idempotent_and_touch_only_markdown(tmp_path):
    for p in NOTEBOOKS[:2]:
        shutil.copy(p, tmp_path / p.name)
    url = "https://github.com/someone/a-fork"
    first = hosted.add_links(tmp_path, repository=url, branch="dev")
    before = {p.name: p.read_bytes() for p in tmp_path.glob("*.ipynb")}
    assert hosted.add_links(tmp_path, repository=url, branch="dev") == []          # nothing to do twice
    assert {p.name: p.read_bytes() for p in tmp_path.glob("*.ipynb")} == before
    for p in NOTEBOOKS[:2]:
        assert _code(tmp_path / p.name) == _code(p)
        cells = json.loads((tmp_path / p.name).read_text())["cells"]
        tagged = [c for c in cells if hosted.TAG in c["metadata"].get("tags", [])]
        assert len(tagged) == 1 and cells[1] == tagged[0]
        text = "".join(tagged[0]["source"])
        assert f"colab.research.google.com/github/someone/a-fork/blob/dev/notebooks/{p.name}" in text
        assert f"mybinder.org/v2/gh/someone/a-fork/dev?labpath=notebooks%2F{p.name}" in text
    # a new address rewrites the same cell, it does not add a second one
    assert len(hosted.add_links(tmp_path, repository="https://github.com/other/fork")) == len(first)
    cells = json.loads((tmp_path / NOTEBOOKS[0].name).read_text())["cells"]
    assert sum(hosted.TAG in c["metadata"].get("tags", []) for c in cells) == 1


def test_bad_addresses_and_folders(tmp_path):
    with pytest.raises(EditionError, match="not a GitHub address"):
        hosted.add_links(ROOT / "notebooks", repository="https://example.org/x")
    with pytest.raises(EditionError, match=str(tmp_path / "none")):
        hosted.add_links(tmp_path / "none")


def test_committed_notebooks_carry_the_line_from_pyproject():
    conf = hosted.settings()
    for p in NOTEBOOKS:
        cells = json.loads(p.read_text())["cells"]
        tagged = [c for c in cells if hosted.TAG in c["metadata"].get("tags", [])]
        assert tagged, f"{p.name}: no hosted-links cell (python -m gan_course links)"
        assert "".join(tagged[0]["source"]) == hosted.cell_text(p.name, conf["repository"], conf["branch"])
