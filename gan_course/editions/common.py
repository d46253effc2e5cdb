"""Plumbing shared by the editions: find and read notebooks with errors that name the path, and write
an output folder atomically (built beside the target, swapped in only when complete)."""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path


class EditionError(Exception):
    """A problem with the input or output of an edition command; the message names the path."""


def find_notebooks(folder: Path) -> list[Path]:
    """The course's numbered notebooks in `folder` (00_*.ipynb ... 15_*.ipynb), in order."""
    folder = Path(folder)
    if not folder.exists():
        raise EditionError(f"notebooks folder {str(folder)!r} does not exist")
    if not folder.is_dir():
        raise EditionError(f"notebooks folder {str(folder)!r} is not a folder")
    books = sorted(folder.glob("[0-9][0-9]*_*.ipynb"))
    if not books:
        raise EditionError(f"no numbered notebooks (NN_name.ipynb) in {str(folder)!r}")
    return books


def read_notebook(path: Path):
    """Read one notebook with nbformat; a file that is not valid JSON or not a notebook is an EditionError."""
    import nbformat

    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise EditionError(f"cannot read notebook {str(path)!r}: {exc.strerror or exc}") from None
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise EditionError(f"notebook {str(path)!r} is not valid JSON (line {exc.lineno}, column {exc.colno}: "
                           f"{exc.msg})") from None
    try:
        if not isinstance(raw, dict):
            raise ValueError(f"the top level is a {type(raw).__name__}, not an object")
        nb = nbformat.reads(text, as_version=4)   # joins multi-line sources into strings
        nbformat.validate(nb)
    except Exception as exc:  # nbformat raises several kinds (ValidationError, KeyError, ...)
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise EditionError(f"{str(path)!r} is not a valid Jupyter notebook: {first}") from None
    return nb


@contextmanager
def atomic_folder(target: Path, *, marker: str):
    """Yield an empty staging folder beside `target`; on success it replaces `target`, on any error it is
    removed and `target` is left as it was. An existing `target` is replaced only if it holds `marker`
    (a file this command writes), so a mistyped --output never deletes someone's folder."""
    target = Path(target).absolute()
    if target.exists() and not target.is_dir():
        raise EditionError(f"output {str(target)!r} exists and is not a folder")
    if target.exists() and any(target.iterdir()) and not (target / marker).exists():
        raise EditionError(f"output folder {str(target)!r} is not empty and was not written by this command "
                           f"(no {marker}); choose another --output or empty it")
    parent = target.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=parent))
    except OSError as exc:
        raise EditionError(f"output folder {str(target)!r} cannot be written: {exc.strerror or exc} "
                           f"({exc.filename or parent})") from None
    try:
        yield staging
        (staging / marker).touch()
        old = None
        if target.exists():
            old = parent / f".{target.name}.old-{os.getpid()}"
            os.replace(target, old)
        os.replace(staging, target)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
