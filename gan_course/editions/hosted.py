"""The "open in Colab / Binder" line at the top of each notebook, derived from one address.

    python -m gan_course links                     # add or refresh it in every notebook
    python -m gan_course links --only 14 15        # some notebooks
    python -m gan_course links --repository https://github.com/you/your-fork --branch main

The address lives in ONE place, `[tool.gan_course]` in pyproject.toml (`repository`, `branch`): this
checkout has no public address, so it holds a placeholder to be set to your fork's. The line is a markdown
cell tagged "hosted-links" right after the title cell; running the command again rewrites that cell (it is
idempotent: an unchanged notebook is not written). Only markdown changes: no output is touched.
"""
from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import quote

from ..checkpoint import write_text
from .common import EditionError, find_notebooks, read_notebook

ROOT = Path(__file__).resolve().parent.parent.parent
TAG = "hosted-links"
PLACEHOLDER_OWNER = "YOUR-ACCOUNT"


def settings(pyproject: Path = ROOT / "pyproject.toml") -> dict:
    """{"repository": ..., "branch": ...} from pyproject.toml's [tool.gan_course] table."""
    text = pyproject.read_text(encoding="utf-8") if pyproject.exists() else ""
    try:
        import tomllib
        table = tomllib.loads(text).get("tool", {}).get("gan_course", {})
    except ModuleNotFoundError:  # Python 3.10: read the two keys by hand
        block = re.search(r"^\[tool\.gan_course\]\s*$(.*?)(?=^\[|\Z)", text, re.M | re.S)
        table = dict(re.findall(r'^(\w+)\s*=\s*"([^"]*)"', block.group(1), re.M)) if block else {}
    return {"repository": table.get("repository", f"https://github.com/{PLACEHOLDER_OWNER}/gan-course"),
            "branch": table.get("branch", "main")}


def _owner_repo(repository: str) -> tuple[str, str]:
    m = re.match(r"^https://github\.com/([\w.-]+)/([\w.-]+?)(?:\.git)?/?$", repository)
    if not m:
        raise EditionError(f"repository {repository!r} is not a GitHub address like https://github.com/OWNER/REPO "
                           "(Colab and Binder open notebooks from GitHub)")
    return m.group(1), m.group(2)


def links(name: str, repository: str, branch: str) -> dict[str, str]:
    """The hosted addresses of notebooks/<name> in `repository` at `branch`."""
    owner, repo = _owner_repo(repository)
    return {"colab": f"https://colab.research.google.com/github/{owner}/{repo}/blob/{branch}/notebooks/{name}",
            "binder": f"https://mybinder.org/v2/gh/{owner}/{repo}/{branch}?labpath={quote('notebooks/' + name, safe='')}"}


def cell_text(name: str, repository: str, branch: str) -> str:
    url = links(name, repository, branch)
    _, repo = _owner_repo(repository)
    return (f"*Run it in the cloud:* [open in Colab]({url['colab']}) · [open in Binder]({url['binder']}) "
            f"(not tested from the course's own machines; on Colab, first run "
            f"`!git clone --depth 1 {repository.rstrip('/')} && cd {repo} && pip install -q -r requirements.txt`, "
            f"restart the session, then `%cd {repo}/notebooks`; see the README, \"Opening in a hosted notebook\").")


def add_links(notebooks: Path, only=None, repository: str | None = None, branch: str | None = None) -> list[Path]:
    """Insert or refresh the hosted-links cell of every notebook (or those numbered in `only`); return the
    notebooks that changed. Every notebook is read before any is written."""
    import nbformat

    conf = settings()
    repository = repository or conf["repository"]
    branch = branch or conf["branch"]
    _owner_repo(repository)
    books = find_notebooks(notebooks)
    if only:
        missing = [o for o in only if not any(p.name.startswith(o) for p in books)]
        if missing:
            raise EditionError(f"--only {' '.join(missing)}: no such notebook in {str(notebooks)!r}")
        books = [p for p in books if any(p.name.startswith(o) for o in only)]
    loaded = [(p, read_notebook(p)) for p in books]
    changed = []
    for path, nb in loaded:
        text = cell_text(path.name, repository, branch)
        existing = [c for c in nb.cells if TAG in c.get("metadata", {}).get("tags", [])]
        if existing:
            if existing[0].source == text:
                continue
            existing[0].source = text
        else:
            cell = nbformat.v4.new_markdown_cell(text, metadata={"tags": [TAG]})
            cell.id = TAG
            nb.cells.insert(1 if nb.cells else 0, cell)
        out = nbformat.writes(nb)
        write_text(path, out if out.endswith("\n") else out + "\n")     # atomic; the bytes nbformat.write writes
        changed.append(path)
    return changed
