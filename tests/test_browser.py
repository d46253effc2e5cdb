"""Real-browser tests: JupyterLab on loopback, driven by headless Chromium through playwright.

What a student does: open a notebook, run all cells, move a widget, see the picture change.
Skipped (with the reason) when Debian's chromium or the playwright package is missing; `.ci/run`
installs both. On failure a screenshot is saved under the test's temporary folder.
"""
from __future__ import annotations

import os
import re
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
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
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
    # one torch thread per kernel: on a loaded 2-core machine two threads per kernel spin against the other
    # processes (a 2-D GAN step then costs 10x more CPU time); the browser and the server get the other core
    env.update(GAN_COURSE_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
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
        pg.set_default_timeout(60_000)  # every click and wait is bounded, generous for a loaded machine
        failed_before = request.session.testsfailed
        yield pg
        # the test's outcome is logged before this teardown runs: a new failure means this test failed
        if request.session.testsfailed > failed_before:
            shot = tmp_path / f"{request.node.name}.png"
            try:
                pg.screenshot(path=str(shot), full_page=True)
                print(f"screenshot saved: {shot}")
            except Exception as exc:  # the page may be gone
                print(f"no screenshot: {exc}")
        browser.close()


RUNNING_CELLS_JS = """() => {
    const w = window.jupyterapp.shell.currentWidget;
    const k = w && w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel;
    const cells = [...document.querySelectorAll('.jp-Notebook .jp-CodeCell')];
    const running = cells.map((c, i) => ({
        cell: i, prompt: (c.querySelector('.jp-InputArea-prompt') || {}).textContent || '',
        source: ((c.querySelector('.cm-content') || {}).textContent || '').slice(0, 100)}))
      .filter(c => c.prompt.includes('*'));
    return {kernel: k ? k.status : 'no kernel', code_cells: cells.length, running: running.length,
            first_running: running[0] || null};
}"""


NOT_RUN_JS = """() => {
    const cells = window.jupyterapp.shell.currentWidget.content.model.cells;
    const out = [];
    for (let i = 0; i < cells.length; i++) {
        const c = cells.get(i);
        const src = c.sharedModel.getSource();
        if (c.type === 'code' && src.trim() && !c.executionCount) out.push({cell: i, source: src.slice(0, 100)});
    }
    return out;
}"""


def _state(page) -> str:
    """Where the notebook stands (kernel status, which cell runs), for failure messages."""
    try:
        return str(page.evaluate(RUNNING_CELLS_JS))
    except Exception as exc:  # the page itself may be stuck
        return f"(state unavailable: {exc})"


def _wait(page, js, what, timeout_s, arg=None, polling=500):
    """page.wait_for_function with a deadline; on timeout, fail naming `what` and the notebook's state
    (the page fixture then saves a screenshot)."""
    try:
        page.wait_for_function(js, arg=arg, timeout=timeout_s * 1000, polling=polling)
    except PlaywrightTimeout:
        pytest.fail(f"timed out after {timeout_s} s waiting for {what}; notebook state: {_state(page)}")


def open_and_run_all(page, url, notebook, timeout_s=240):
    """Open `notebook` in JupyterLab (?reset clears restored tabs), run all cells, wait until idle.

    Every wait is bounded: a slow machine fails with a message naming the running cell, never hangs.
    Returns the seconds run-all took.
    """
    page.goto(f"{url}/lab/tree/{notebook}?reset&token={TOKEN}", wait_until="domcontentloaded", timeout=120_000)
    _wait(page, "() => window.jupyterapp && window.jupyterapp.shell.currentWidget", "JupyterLab to load", 120)
    page.wait_for_selector(".jp-Notebook", timeout=60_000)
    _wait(page, """() => { const w = window.jupyterapp.shell.currentWidget;
                           return w && w.sessionContext && w.sessionContext.session &&
                                  w.sessionContext.session.kernel &&
                                  w.sessionContext.session.kernel.status === 'idle'; }""",
          f"the kernel of {notebook} to start", 120)
    # fire and forget: commands.execute returns a promise that settles only when every cell has run,
    # and page.evaluate would wait for it without any timeout
    t0 = time.perf_counter()
    page.evaluate("() => { window.jupyterapp.commands.execute('notebook:run-all-cells'); }")
    page.wait_for_timeout(1500)
    _wait(page, """() => { const w = window.jupyterapp.shell.currentWidget;
                           const k = w.sessionContext.session.kernel;
                           const prompts = [...document.querySelectorAll('.jp-InputArea-prompt')].map(e => e.textContent);
                           return k.status === 'idle' && !prompts.some(t => t.includes('*')); }""",
          f"run-all of {notebook} to finish", timeout_s, polling=1000)
    seconds = time.perf_counter() - t0
    not_run = page.evaluate(NOT_RUN_JS)   # a kernel that died and restarted leaves cells without a number
    assert not not_run, (f"{len(not_run)} cells of {notebook} did not run (did the kernel die and restart? "
                         f"see lab.log under the lab fixture's folder); the first: {not_run[0]}")
    errors = page.locator(".jp-Notebook [data-mime-type='application/vnd.jupyter.error']")
    assert errors.count() == 0, f"a cell of {notebook} raised an error:\n" + errors.first.inner_text()[-2000:]
    print(f"{notebook}: run-all took {seconds:.0f} s")
    return seconds


def _image_src(locator):
    return locator.evaluate("el => el.querySelector('img') ? el.querySelector('img').src : ''")


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


# ---------------------------------------------------------------------------------- notebook 02: the GAN Lab
IMAGE_DIGEST_JS = """async img => {
    const bytes = new Uint8Array(await (await fetch(img.src)).arrayBuffer());
    let h = 2166136261;                       // FNV-1a over the PNG bytes: equal pixels, equal digest
    for (const b of bytes) { h = Math.imul(h ^ b, 16777619); }
    return bytes.length + ':' + (h >>> 0);
}"""
G_STEP_AT_LEAST_JS = """([label, n]) => { const m = label.textContent.match(/G step (\\d+)/);
                                           return m !== null && Number(m[1]) >= n; }"""


def _image_digest(img) -> str:
    """A digest of the PNG an ipywidgets Image shows (its src is a blob: URL, new on every update)."""
    return img.evaluate(IMAGE_DIGEST_JS)


def _g_step(readout) -> int:
    return int(re.search(r"G step (\d+)", readout.inner_text()).group(1))


def test_gan_lab_buttons_train_and_redraw(lab, page):
    """Notebook 02: "Step both" trains and redraws the lab; Play trains on its own until Pause stops it."""
    url, _ = lab
    open_and_run_all(page, url, "02_gans_in_2d.ipynb", timeout_s=360)
    widget = page.locator(".widget-vbox", has=page.locator("button", has_text="Step both")).first
    widget.wait_for(timeout=30_000)
    img = widget.locator("img.widget-image").first
    readout = widget.locator(".widget-label", has_text="modes:").first
    readout.wait_for(timeout=30_000)
    before_image, before_text = _image_digest(img), readout.inner_text()
    assert _g_step(readout) == 0, f"a live lab starts untrained; readout: {before_text!r}"

    for _ in range(3):
        widget.locator("button", has_text="Step both").click()
    _wait(page, G_STEP_AT_LEAST_JS, "three 'Step both' clicks to reach G step 3", 60,
          arg=[readout.element_handle(), 3])
    stepped_text = readout.inner_text()
    assert _g_step(readout) == 3, f"three clicks, three G steps; readout: {stepped_text!r}"
    assert stepped_text != before_text
    stepped_image = _image_digest(img)
    assert stepped_image != before_image, "the lab's figure was not redrawn after 'Step both'"

    widget.locator("button", has_text="Play").click()
    _wait(page, G_STEP_AT_LEAST_JS, "Play to train past G step 13 (5 steps a frame)", 60,
          arg=[readout.element_handle(), 13])
    widget.locator("button", has_text="Pause").click()
    # paused: the readout settles, unchanged over 4 s (playing at 8 frames a second, it changes every frame)
    deadline, seen = time.monotonic() + 40, []
    while time.monotonic() < deadline:
        seen.append(readout.inner_text())
        if len(seen) >= 3 and seen[-1] == seen[-2] == seen[-3]:
            break
        page.wait_for_timeout(2000)
    else:
        pytest.fail(f"the readout still changes 40 s after Pause: {readout.inner_text()!r}")
    assert _g_step(readout) >= 13
    assert _image_digest(img) != stepped_image, "the figure did not change while playing"


# ---------------------------------------------------------------------------------- notebook 06: temperature
def _samples(widget) -> list[str]:
    return widget.locator(".widget-html-content li").all_inner_texts()


def test_temperature_slider_changes_the_samples(lab, page):
    """Notebook 06: moving the temperature slider to its maximum resamples the language model's lines."""
    url, _ = lab
    open_and_run_all(page, url, "06_language_models.ipynb", timeout_s=360)
    widget = page.locator(".widget-vbox",
                          has=page.locator(".widget-slider", has=page.locator(".widget-label", has_text="temperature")),
                          ).filter(has=page.locator(".widget-html-content li")).first
    widget.wait_for(timeout=30_000)
    view = widget.locator(".widget-html-content").first   # redrawn in place: its <b> title and <li> samples
    assert view.locator("b").inner_text() == "temperature 1.00, all tokens"
    before = _samples(widget)
    assert len(before) == 8, before

    slider = widget.locator(".widget-slider", has=page.locator(".widget-label", has_text="temperature")).first
    slider.locator(".noUi-handle").first.focus()
    page.keyboard.press("End")   # noUiSlider: End jumps to the maximum, 2.0
    _wait(page, "el => el.textContent.startsWith('temperature 2.00')", "the samples at temperature 2.00", 60,
          arg=view.element_handle())
    after = _samples(widget)
    assert len(after) == 8, after
    assert after != before, "the samples did not change with the temperature"
