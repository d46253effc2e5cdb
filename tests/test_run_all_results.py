"""results.record and the run-all command: a failing notebook is reported with its cell, others go on."""
import json
import subprocess
import sys

import nbformat
import pytest

from gan_course import plots, results, run_all, widgets


def _notebook(path, cells):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(c) for c in cells]
    nb.cells[0].metadata["tags"] = ["parameters"]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)


def test_record_writes_json(tmp_path, monkeypatch):
    monkeypatch.setenv("GAN_COURSE_RESULTS", str(tmp_path / "r.json"))
    results.clear()
    import numpy as np
    import torch
    assert results.record("a", np.float32(1.5)) == np.float32(1.5)
    results.record("b", torch.tensor(2))
    results.record("c", float("nan"))
    assert json.loads((tmp_path / "r.json").read_text()) == {"a": 1.5, "b": 2, "c": None}
    with pytest.raises(ValueError, match="name"):
        results.record("", 1)
    results.clear()


def test_run_all_reports_failures_and_goes_on(tmp_path):
    books = tmp_path / "nbs"
    books.mkdir()
    _notebook(books / "01_ok.ipynb", ["FAST = None",
                                      "from gan_course import results, runtime\n"
                                      "results.record('fast', runtime.fast_mode(FAST))",
                                      "import time\nt = time.process_time()\n"
                                      "while time.process_time() - t < 0.5: pass   # burn CPU"])
    _notebook(books / "02_bad.ipynb", ["FAST = None", "x = 1", "raise ValueError('boom')", "y = 2"])
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-m", "gan_course", "run-all", "--fast", "--notebooks", str(books),
                           "--output", str(out)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    report = json.loads((out / "report.json").read_text())
    rows = {r["notebook"]: r for r in report["notebooks"]}
    assert rows["01_ok.ipynb"]["status"] == "passed"
    assert rows["01_ok.ipynb"]["results"] == {"fast": True}
    assert rows["01_ok.ipynb"]["cpu_seconds"] >= 0.5   # the kernel's CPU time is counted
    assert rows["02_bad.ipynb"]["status"] == "failed"
    assert rows["02_bad.ipynb"]["failed_cell"] == 3
    assert "ValueError: boom" in rows["02_bad.ipynb"]["error"]
    md = (out / "report.md").read_text()
    assert "| 02_bad.ipynb | FAST | failed |" in md and "kernel CPU s" in md and "ValueError: boom" in md
    assert (out / "01_ok.ipynb").exists()


def test_run_all_bad_arguments(tmp_path, capsys):
    with pytest.raises(SystemExit):
        run_all.main(["run-all", "--only", "99", "--notebooks", str(run_all.NOTEBOOKS)])
    assert "--only 99: no such notebook" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        run_all.main(["run-all", "--notebooks", str(tmp_path / "missing")])
    assert "does not exist" in capsys.readouterr().err
    with pytest.raises(ValueError, match="device="):
        run_all.main(["run-all", "--device", "tpu"])


def test_live_plot_headless_draws_at_close():
    live = plots.LivePlot(["a", ["b", "c"]], headless=True)
    for i in range(5):
        live.update(i, a=i, b=2 * i, c=3 * i)
    fig = live.close()
    assert len(fig.axes) == 2
    with pytest.raises(KeyError, match="no curve 'z'"):
        live.update(6, z=1)
    with pytest.raises(TypeError, match="list of curve names"):
        plots.LivePlot("a")


def test_interactive_plot_headless_draws_once():
    calls = []
    fig = widgets.interactive_plot(lambda fig, s: calls.append(s), headless=True, s=widgets.slider(1.0, 0.0, 2.0))
    assert calls == [1.0] and fig is not None
    with pytest.raises(ValueError, match=r"value=3 must lie in \[0, 2\]"):
        widgets.slider(3, 0, 2, description="s")
    with pytest.raises(ValueError, match="not one of"):
        widgets.dropdown(["a", "b"], "c")


def test_report_keeps_rows_of_earlier_runs(tmp_path):
    env = {"device": "cpu", "gpu": None, "cpu_cores": 2, "torch": "x", "python": "3"}
    row = lambda name, s: {"notebook": name, "mode": "full", "status": "passed", "failed_cell": None,  # noqa: E731
                           "error": None, "seconds": s, "results": {}}
    run_all.write_report([row("00_a.ipynb", 1.0), row("01_b.ipynb", 2.0)], tmp_path, env)
    run_all.write_report([row("01_b.ipynb", 5.0)], tmp_path, env)
    rows = json.loads((tmp_path / "report.json").read_text())["notebooks"]
    assert [(r["notebook"], r["seconds"]) for r in rows] == [("00_a.ipynb", 1.0), ("01_b.ipynb", 5.0)]
