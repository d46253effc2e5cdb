"""The web book: a static HTML site of the committed notebooks, with their committed outputs.

    python -m gan_course book                        # writes build/book/index.html (open it in a browser)
    python -m gan_course book --output DIR --notebooks notebooks

Built with Sphinx and MyST-NB (the stack Jupyter Book 1 is made of) and the sphinx-book-theme: pages in
the syllabus's order as the table of contents, the README's syllabus and teaching notes as front pages,
every figure and table the notebooks saved, math by MathJax, and Sphinx's own search (an index in a
JavaScript file, no server). Nothing is executed: `nb_execution_mode = "off"`.

Offline, at build time and in the browser: nothing here fetches a file. MathJax is served from the copy
that the `django-static-mathjax` wheel ships (MathJax 3.2, plain files: no Django needed), the widget
JavaScript that MyST-NB would take from a CDN is switched off (the committed outputs carry each widget's
static figure), and the theme has no remote fonts or analytics configured. tests/test_book.py builds the
book with the network disabled and fails on any non-local request a page makes.
"""
from __future__ import annotations

import re
import shutil
import tempfile
import time
from importlib import metadata
from pathlib import Path

from .common import EditionError, atomic_folder, find_notebooks, read_notebook

MARKER = ".web-book"
TITLE = "Adversarial and variational generative models for language"
FRONT_PAGES = ("index", "teaching")           # the pages that are not notebooks
SPHINX_PAGES = ("genindex", "search")         # pages Sphinx writes by itself (the search box's results page)

CONF = '''\
# Written by gan_course/editions/book.py for this build; edit it there.
project = {title!r}
author = "the course's authors"
extensions = ["myst_nb"]
html_theme = "sphinx_book_theme"
html_title = {title!r}
html_theme_options = {{"use_download_button": False, "use_fullscreen_button": False,
                       "show_toc_level": 2, "navigation_with_keys": False}}
html_static_path = ["_static"]
html_copy_source = False            # the .ipynb files are not copied into the site
html_show_sourcelink = False
exclude_patterns = ["_build"]
nb_execution_mode = "off"           # the committed outputs, as they are: nothing is re-executed
nb_ipywidgets_js = {{}}               # no widget JavaScript from a CDN; the outputs hold static figures
nb_merge_streams = True
myst_enable_extensions = ["dollarmath", "amsmath"]
myst_heading_anchors = 3
mathjax_path = "mathjax/tex-mml-chtml.js"   # the local copy in _static/ (Sphinx's default is a CDN)
suppress_warnings = ["mystnb.unknown_mime_type", "misc.highlighting_failure"]
'''


def mathjax_dir() -> Path:
    """MathJax 3's es5 folder, as shipped by the django-static-mathjax wheel (located, not imported)."""
    try:
        dist = metadata.distribution("django-static-mathjax")
    except metadata.PackageNotFoundError:
        raise EditionError("the web book needs MathJax from the django-static-mathjax package: "
                           "pip install -r requirements-book.txt") from None
    es5 = Path(dist.locate_file("mathjax/static/mathjax/es5"))
    if not (es5 / "tex-mml-chtml.js").exists():
        raise EditionError(f"MathJax files not found under {es5}")
    return es5


def _copy_mathjax(dest: Path) -> None:
    """Copy what the pages load: the TeX + MathML -> CommonHTML component, its fonts, and the parts it
    loads on demand (TeX extensions, accessibility, the menu)."""
    es5 = mathjax_dir()
    dest.mkdir(parents=True)
    shutil.copy2(es5 / "tex-mml-chtml.js", dest / "tex-mml-chtml.js")
    for sub in ("output/chtml/fonts", "input/tex/extensions", "a11y", "ui"):
        if (es5 / sub).exists():
            shutil.copytree(es5 / sub, dest / sub)


def readme_sections(readme: Path) -> dict[str, str]:
    """The README split at its level-2 headings: {"": the title and intro, "Syllabus": ..., ...}."""
    text = readme.read_text(encoding="utf-8")
    sections, name, lines = {}, "", []
    for line in text.splitlines():
        m = re.match(r"^## (.+)$", line)
        if m:
            sections[name] = "\n".join(lines).strip() + "\n"
            name, lines = m.group(1).strip(), []
        else:
            lines.append(line)
    sections[name] = "\n".join(lines).strip() + "\n"
    return sections


def book_links(markdown: str) -> str:
    """README links made to work inside the book: notebooks/X.ipynb becomes the page X; a link to another
    file of the repository becomes its path in code (it is not part of the site); web links stay."""
    def fix(m):
        text, target = m.group(1), m.group(2)
        if re.match(r"^[a-z]+:", target) or target.startswith("#"):
            return m.group(0)
        nb = re.match(r"^notebooks/([0-9][0-9][a-z]?_[\w-]+\.ipynb)(#.*)?$", target)
        if nb:
            return f"[{text}]({nb.group(1)}{nb.group(2) or ''})"
        return f"{text} (`{target}`)"
    return re.sub(r"(?<!!)\[([^\]]+)\]\(([^)\s]+)\)", fix, markdown)


def write_sources(src: Path, notebooks: list[Path], readme: Path | None) -> None:
    """The Sphinx source folder: conf.py, the front pages, copies of the notebooks, MathJax."""
    import nbformat

    sections = readme_sections(readme) if readme is not None and readme.exists() else {}
    for nb_path in notebooks:                       # read (and so validate) every notebook first
        nbformat.write(read_notebook(nb_path), src / nb_path.name)
    (src / "conf.py").write_text(CONF.format(title=TITLE))
    intro = sections.get("", f"# {TITLE}\n")
    syllabus = sections.get("Syllabus", "")
    pages = "\n".join(p.stem for p in notebooks)
    (src / "index.md").write_text(
        book_links(intro) + "\n"
        "This is the course's web book: every notebook with the outputs of its committed full run (nothing "
        "is re-executed). To run the notebooks yourself, see the README's quick start.\n\n"
        + (f"## Syllabus\n\n{book_links(syllabus)}\n" if syllabus else "")
        + f"```{{toctree}}\n:caption: Syllabus\n:maxdepth: 1\n\n{pages}\n```\n\n"
        "```{toctree}\n:caption: Teaching\n:maxdepth: 1\n\nteaching\n```\n")
    teaching = sections.get("Teaching with this course", "The README has the course's teaching notes.\n")
    (src / "teaching.md").write_text("# Teaching with this course\n\n" + book_links(teaching))
    _copy_mathjax(src / "_static" / "mathjax")


def build_book(notebooks: Path, output: Path, readme: Path | None = None, *, quiet: bool = True) -> dict:
    """Build the web book of the notebooks in `notebooks` into `output` (replaced only when the build
    succeeds). Returns {"pages": [...], "seconds": ..., "warnings": [...]}."""
    try:
        from sphinx.cmd.build import build_main
    except ImportError:
        raise EditionError("the web book needs Sphinx and MyST-NB: pip install -r requirements-book.txt") from None
    books = find_notebooks(notebooks)
    mathjax_dir()                                   # fail early, before any work, if MathJax is missing
    start = time.perf_counter()
    with atomic_folder(output, marker=MARKER) as stage, tempfile.TemporaryDirectory(prefix="book-src-") as tmp:
        src = Path(tmp) / "src"
        src.mkdir()
        write_sources(src, books, readme)
        warnings = Path(tmp) / "warnings.txt"
        args = ["-b", "html", "-E", "-d", str(Path(tmp) / "doctrees"), "-w", str(warnings), "-j", "1"]
        if quiet:
            args.append("-q")
        # Sphinx writes into tmp/html (MyST-NB puts its jupyter_execute/ beside that folder, so inside tmp
        # too); the finished site is then copied into the staging folder
        html = Path(tmp) / "html"
        status = build_main(args + [str(src), str(html)])
        if status != 0:
            raise EditionError(f"sphinx-build failed (exit {status}):\n"
                               + (warnings.read_text()[-3000:] if warnings.exists() else ""))
        shutil.copytree(html, stage, dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns(".doctrees", "_sources", ".buildinfo"))
        found = warnings.read_text().strip().splitlines() if warnings.exists() else []
    pages = sorted(p.stem for p in Path(output).glob("*.html"))
    return {"pages": pages, "seconds": round(time.perf_counter() - start, 1), "warnings": found}
