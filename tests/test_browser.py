"""Real-browser tests: JupyterLab on loopback, driven by headless Chromium through playwright.

What a student does: open a notebook, run all cells, move a widget, see the picture change.
Skipped (with the reason) when Debian's chromium or the playwright package is missing; `.ci/run`
installs both. On failure a screenshot is saved under the test's temporary folder.
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

try:
    from playwright.sync_api import sync_playwright
except ImportError:  # pragma: no cover
    sync_playwright = None

pytestmark = [
    pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (apt-get install chromium)"),
    pytest.mark.skipif(sync_playwright is None, reason="the playwright package is not installed (pip install playwright)"),
]
TOKEN = "course-browser-test"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """JupyterLab serving a copy of notebooks/ on 127.0.0.1, kernels in FAST mode with live widgets."""
    work = tmp_path_factory.mktemp("lab")
    shutil.copytree(ROOT / "notebooks", work / "notebooks")
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("GAN_COURSE_HEADLESS", "MPLBACKEND")}
    env.update(GAN_COURSE_FAST="1", JUPYTER_CONFIG_DIR=str(work / "cfg"), JUPYTER_DATA_DIR=str(work / "data"),
               JUPYTER_RUNTIME_DIR=str(work / "rt"))
    # a kernelspec for this interpreter, so the kernel has gan_course whatever the machine's defaults are
    subprocess.run([sys.executable, "-m", "ipykernel", "install", "--prefix", str(work / "kprefix"),
                    "--name", "python3"], check=True, capture_output=True, env=env)
    env["JUPYTER_PATH"] = str(work / "kprefix" / "share" / "jupyter")
    # render every cell (JupyterLab 4 otherwise renders only those on screen) and skip the news prompt
    settings = work / "cfg" / "lab" / "user-settings" / "@jupyterlab"
    (settings / "notebook-extension").mkdir(parents=True)
    (settings / "notebook-extension" / "tracker.jupyterlab-settings").write_text('{"windowingMode": "none"}')
    (settings / "apputils-extension").mkdir(parents=True)
    (settings / "apputils-extension" / "notification.jupyterlab-settings").write_text(
        '{"fetchNews": "false", "checkForUpdates": false}')
    log = open(work / "lab.log", "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
         f"--ServerApp.token={TOKEN}", "--ServerApp.password=", "--allow-root",
         "--LabApp.expose_app_in_browser=True", f"--ServerApp.root_dir={work / 'notebooks'}",
         "--ServerApp.disable_check_xsrf=True"],
        stdout=log, stderr=subprocess.STDOUT, env=env, cwd=work / "notebooks")
    url = f"http://127.0.0.1:{port}"
    for _ in range(120):
        try:
            urllib.request.urlopen(f"{url}/api/status?token={TOKEN}", timeout=2)
            break
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError("JupyterLab exited: " + (work / "lab.log").read_text()[-2000:])
            time.sleep(0.5)
    else:
        proc.kill()
        raise RuntimeError("JupyterLab did not start in 60 s: " + (work / "lab.log").read_text()[-2000:])
    yield url, work
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


@pytest.fixture
def page(lab, tmp_path, request):
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM, headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"])
        pg = browser.new_page(viewport={"width": 1400, "height": 1000})
        yield pg
        failed = getattr(request.node, "rep_call", None)
        if failed is None or failed.failed:
            shot = tmp_path / f"{request.node.name}.png"
            try:
                pg.screenshot(path=str(shot), full_page=True)
                print(f"screenshot saved: {shot}")
            except Exception as exc:  # the page may be gone
                print(f"no screenshot: {exc}")
        browser.close()


def open_and_run_all(page, url, notebook, timeout_s=240):
    """Open `notebook` in JupyterLab (?reset clears restored tabs), run all cells, wait until idle."""
    page.goto(f"{url}/lab/tree/{notebook}?reset&token={TOKEN}", wait_until="domcontentloaded")
    page.wait_for_function("window.jupyterapp && window.jupyterapp.shell.currentWidget", timeout=60_000)
    page.wait_for_selector(".jp-Notebook", timeout=60_000)
    # wait for the kernel to be ready, then run everything through JupyterLab's own command
    page.wait_for_function(
        """() => { const w = window.jupyterapp.shell.currentWidget;
                   return w && w.sessionContext && w.sessionContext.session &&
                          w.sessionContext.session.kernel &&
                          w.sessionContext.session.kernel.status === 'idle'; }""", timeout=90_000)
    page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")
    page.wait_for_timeout(1500)
    page.wait_for_function(
        """() => { const w = window.jupyterapp.shell.currentWidget;
                   const k = w.sessionContext.session.kernel;
                   const prompts = [...document.querySelectorAll('.jp-InputArea-prompt')].map(e => e.textContent);
                   return k.status === 'idle' && !prompts.some(t => t.includes('*')); }""",
        timeout=timeout_s * 1000, polling=1000)
    errors = page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr'] .jp-RenderedText")
    assert page.locator(".jp-OutputArea-output .jp-RenderedText[data-mime-type='application/vnd.jupyter.error']").count() == 0, \
        "a cell raised an error"
    return errors


def _image_src(locator):
    return locator.evaluate("el => el.querySelector('img') ? el.querySelector('img').src : ''")


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item, call):  # pragma: no cover - keeps the test outcome for the screenshot
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)


def test_welcome_slider_redraws_the_figure(lab, page):
    url, _ = lab
    open_and_run_all(page, url, "00_welcome.ipynb")
    widget = page.locator(".widget-vbox", has=page.locator(".widget-label", has_text="mean μ")).first
    widget.wait_for(timeout=30_000)
    out = widget.locator(".widget-output").first
    out.locator("img").first.wait_for(timeout=30_000)
    before = _image_src(out)
    slider = widget.locator(".widget-slider", has=page.locator(".widget-label", has_text="mean μ")).first
    handle = slider.locator(".noUi-handle").first
    handle.focus()
    for _ in range(5):
        page.keyboard.press("ArrowRight")
    page.wait_for_function(
        "([el, before]) => { const img = el.querySelector('img'); return img && img.src !== before; }",
        arg=[out.element_handle(), before], timeout=30_000)
    assert _image_src(out) != before
