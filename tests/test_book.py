"""The web book (`python -m gan_course book`): built offline from the committed notebooks, then read in a
real browser (headless Chromium through playwright, the site served on 127.0.0.1).

The build runs with the network switched off: in a new network namespace (`unshare -n`, where the machine
allows it) and, in any case, with Python's socket connections refused and recorded. In the browser every
page opens; every request it makes is recorded and must go to the local server and succeed; every image
loads; every internal link points at a page and an anchor that exist; every formula is typeset by MathJax
without an error; the page count is the notebook count plus the front pages; the search box finds a word.
Skipped, with the reason, where the book's packages (requirements-book.txt), chromium or playwright are
missing; `.ci/run` installs them.
"""
from __future__ import annotations

import functools
import http.server
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]*_*.ipynb"))
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
MISSING = [name for name, module in (("sphinx", "sphinx"), ("myst-nb", "myst_nb"),
                                      ("sphinx-book-theme", "sphinx_book_theme"),
                                      ("django-static-mathjax", "mathjax"))
           if importlib.util.find_spec(module) is None]
pytestmark = pytest.mark.skipif(bool(MISSING), reason=f"the web book's packages are missing ({', '.join(MISSING)}): "
                                                      "pip install -r requirements-book.txt")

# Run the book command with every socket connection refused and written to a log: proof that the build
# fetches nothing (under `unshare -n` it could not anyway; this also holds where unshare is not allowed).
NO_NETWORK = r"""
import socket, sys
log = open(sys.argv[1], "a")
def refuse(self, address, *args):
    log.write(f"connect {address!r}\n"); log.flush()
    raise OSError("network disabled for the offline book build")
socket.socket.connect = refuse
socket.socket.connect_ex = refuse
socket.create_connection = lambda address, *a, **k: refuse(None, address)
from gan_course.__main__ import main
sys.exit(main(sys.argv[2:]))
"""


def _unshare_works() -> bool:
    return shutil.which("unshare") is not None and subprocess.run(
        ["unshare", "-n", "true"], capture_output=True).returncode == 0


@pytest.fixture(scope="module")
def book(tmp_path_factory):
    work = tmp_path_factory.mktemp("book")
    out, log = work / "book", work / "connections.log"
    log.write_text("")
    cmd = [sys.executable, "-c", NO_NETWORK, str(log), "book", "--output", str(out)]
    isolated = _unshare_works()
    if isolated:
        cmd = ["unshare", "-n"] + cmd
    env = dict(os.environ, http_proxy="http://127.0.0.1:9", https_proxy="http://127.0.0.1:9",
               HTTP_PROXY="http://127.0.0.1:9", HTTPS_PROXY="http://127.0.0.1:9", GAN_COURSE_THREADS="1")
    t0, c0 = time.perf_counter(), _children_cpu()
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    seconds, cpu = time.perf_counter() - t0, _children_cpu() - c0
    assert proc.returncode == 0, f"the book build failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    print(f"book built offline ({'unshare -n' if isolated else 'sockets refused'}) in {seconds:.1f} s "
          f"wall, {cpu:.1f} s CPU\n{proc.stdout.strip()}")
    return {"out": out, "connections": log.read_text().splitlines(), "isolated": isolated, "stdout": proc.stdout}


def _children_cpu() -> float:
    usage = os.times()
    return usage.children_user + usage.children_system


def test_build_is_offline(book):
    assert book["connections"] == [], f"the build tried to connect: {book['connections']}"
    # nothing was written beside the output folder (MyST-NB's jupyter_execute/ stays in the build's tmp)
    assert sorted(p.name for p in book["out"].parent.iterdir()) == ["book", "connections.log"]


def test_bad_input_names_the_path_and_leaves_nothing(tmp_path):
    from gan_course.editions.book import build_book
    from gan_course.editions.common import EditionError

    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    with pytest.raises(EditionError, match=re.escape(str(blocker))):
        build_book(ROOT / "notebooks", blocker / "book")
    nbs = tmp_path / "nbs"
    nbs.mkdir()
    shutil.copy(NOTEBOOKS[0], nbs / NOTEBOOKS[0].name)
    (nbs / "01_broken.ipynb").write_text('{"cells": [}')
    with pytest.raises(EditionError, match=r"01_broken\.ipynb.*not valid JSON"):
        build_book(nbs, tmp_path / "book")
    with pytest.raises(EditionError, match=re.escape(str(tmp_path / "missing"))):
        build_book(tmp_path / "missing", tmp_path / "book")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_file", "nbs"]


def test_page_count_is_notebooks_plus_front_pages(book):
    from gan_course.editions.book import FRONT_PAGES, SPHINX_PAGES

    pages = sorted(p.stem for p in book["out"].glob("*.html"))
    content = [p for p in pages if p not in SPHINX_PAGES]
    assert sorted(content) == sorted([p.stem for p in NOTEBOOKS] + list(FRONT_PAGES)), pages
    assert len(content) == len(NOTEBOOKS) + len(FRONT_PAGES)
    assert set(pages) - set(content) == set(SPHINX_PAGES)
    # the table of contents follows the syllabus: the notebooks in their numbered order
    index = (book["out"] / "index.html").read_text()
    positions = [index.find(f'href="{p.stem}.html"') for p in NOTEBOOKS]
    assert -1 not in positions and positions == sorted(positions), positions


@pytest.fixture(scope="module")
def server(book):
    handler = functools.partial(_QuietHandler, directory=str(book["out"]))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def browser():
    if CHROMIUM is None:
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("the playwright package is not installed (pip install playwright)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True,
                              args=["--no-sandbox", "--disable-gpu", "--no-first-run",
                                    "--disable-background-networking", "--disable-component-update",
                                    "--disable-sync"])
        yield b
        b.close()


PAGE_STATE_JS = """async () => {
    if (window.MathJax && MathJax.startup && MathJax.startup.promise) { await MathJax.startup.promise; }
    const imgs = [...document.querySelectorAll('img')];
    await Promise.all(imgs.map(i => i.complete ? null : new Promise(r => { i.onload = i.onerror = r; })));
    const math = [...document.querySelectorAll('span.math, div.math')];
    return {
        images: imgs.map(i => ({src: i.getAttribute('src'), ok: i.complete && i.naturalWidth > 0,
                                output: !!i.closest('.cell_output')})),
        math: math.length,
        typeset: math.filter(m => m.querySelector('mjx-container')).length,
        math_errors: document.querySelectorAll('mjx-merror').length,
        links: [...document.querySelectorAll('a[href]')].map(a => a.getAttribute('href')),
        ids: [...document.querySelectorAll('[id]')].map(e => e.id),
        title: document.title,
    };
}"""


def _image_outputs(nb_path: Path) -> int:
    nb = json.loads(nb_path.read_text())
    return sum(1 for c in nb["cells"] for o in c.get("outputs", []) if "image/png" in o.get("data", {}))


def test_every_page_in_a_browser(book, server, browser, tmp_path):
    from gan_course.editions.book import FRONT_PAGES, SPHINX_PAGES

    out = book["out"]
    requests, bad = [], []
    page = browser.new_page(viewport={"width": 1300, "height": 900})
    page.set_default_timeout(60_000)
    page.on("request", lambda r: requests.append(r.url))
    page.on("requestfailed", lambda r: bad.append(f"failed: {r.url} ({r.failure})"))
    page.on("response", lambda r: bad.append(f"HTTP {r.status}: {r.url}") if r.status >= 400 else None)
    page.on("pageerror", lambda e: bad.append(f"script error: {e}"))
    ids_of, links_of, summary = {}, {}, []
    names = [p.stem for p in NOTEBOOKS] + list(FRONT_PAGES) + list(SPHINX_PAGES)
    for name in names:
        page.goto(f"{server}/{name}.html", wait_until="load")
        state = page.evaluate(PAGE_STATE_JS)
        ids_of[name], links_of[name] = set(state["ids"]), state["links"]
        broken = [i["src"] for i in state["images"] if not i["ok"]]
        assert not broken, f"{name}.html: broken images {broken}"
        assert state["typeset"] == state["math"], f"{name}.html: {state['math'] - state['typeset']} formulas not typeset"
        assert state["math_errors"] == 0, f"{name}.html: {state['math_errors']} MathJax errors"
        if name[:2].isdigit():
            nb = ROOT / "notebooks" / f"{name}.ipynb"
            figures = sum(i["output"] for i in state["images"])
            assert figures == _image_outputs(nb), f"{name}.html shows {figures} figures, the notebook has {_image_outputs(nb)}"
        summary.append(f"{name}: {len(state['images'])} images, {state['math']} formulas typeset")
    if any(n[:2].isdigit() for n in names):
        assert sum(1 for s in summary if " 0 formulas" not in s and s[:2].isdigit()) >= 10, summary
    # internal links: the page exists, and so does the anchor
    broken_links = []
    for name, links in links_of.items():
        for href in links:
            parts = urlsplit(href)
            if parts.scheme or href.startswith("//"):
                continue                     # a link to the web (not followed: the site never fetches it)
            target = unquote(parts.path) if parts.path else f"{name}.html"
            target_file = (out / Path(name).parent / target).resolve()
            if not target_file.exists():
                broken_links.append(f"{name}.html -> {href}")
                continue
            stem = target_file.stem
            if parts.fragment and target_file.suffix == ".html" and stem in ids_of \
                    and unquote(parts.fragment) not in ids_of[stem]:
                broken_links.append(f"{name}.html -> {href} (no such anchor)")
    assert not broken_links, "broken internal links:\n" + "\n".join(broken_links[:30])
    # the search box: Sphinx's index, searched in the page's JavaScript
    page.goto(f"{server}/search.html?q=ELBO", wait_until="load")
    page.wait_for_selector("#search-results li", timeout=60_000)
    hits = page.locator("#search-results li").count()
    assert hits > 0
    page.close()
    remote = [u for u in requests if not (u.startswith(server + "/") or u.startswith(("data:", "blob:", "about:")))]
    log = tmp_path / "requests.log"
    log.write_text("\n".join(requests) + "\n")
    print(f"{len(names)} pages, {len(requests)} requests, {len(remote)} not to {server}; search 'ELBO': {hits} hits; "
          f"request log: {log}\n" + "\n".join(summary))
    assert not remote, f"pages made non-local requests: {sorted(set(remote))[:20]}"
    assert not bad, "\n".join(bad[:30])
