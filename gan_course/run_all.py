"""run-all: execute every notebook with papermill and write a report (Markdown + JSON).

    python -m gan_course run-all --fast                 # check a classroom machine (< 15 min on 2 cores)
    python -m gan_course run-all --inplace              # full run; refresh the committed outputs and
                                                        # notebooks/results/ (report + recorded results)
    python -m gan_course run-all --only 01 03 --fast    # some notebooks (by number or name prefix)

Per notebook the report gives the wall time, the device, pass/fail with the failing cell, and the
results the notebook recorded with `gan_course.results.record`. A failing notebook does not stop the
others; the exit status is 1 if any notebook failed.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"


def _matches(nb: Path, wanted: str) -> bool:
    """`--only 06` picks 06_language_models but not 06b_transformer_lm; `--only 06b` or a longer
    name prefix picks by prefix."""
    number = nb.stem.split("_")[0]
    return number == wanted or (not wanted.isdigit() and nb.stem.startswith(wanted))


def find_notebooks(folder: Path, only=None) -> list[Path]:
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"notebooks folder {str(folder)!r} does not exist")
    books = sorted(p for p in folder.glob("[0-9][0-9]*_*.ipynb"))
    if only:
        chosen = [p for p in books if any(_matches(p, o) for o in only)]
        missing = [o for o in only if not any(_matches(p, o) for p in books)]
        if missing:
            names = ", ".join(p.stem for p in books)
            raise ValueError(f"--only {' '.join(missing)}: no such notebook; available: {names}")
        books = chosen
    return books


def _strip_papermill_metadata(path: Path, dest: Path | None = None) -> None:
    """Keep committed notebooks free of per-cell timestamps (papermill adds them on every run); the
    result is written atomically to `dest` (default: `path` itself)."""
    import nbformat

    from .checkpoint import write_text

    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        cell.metadata.pop("papermill", None)
        cell.metadata.pop("execution", None)
    nb.metadata.pop("papermill", None)
    text = nbformat.writes(nb)
    write_text(dest or path, text if text.endswith("\n") else text + "\n")     # as nbformat.write does


def run_one(nb: Path, out: Path, *, fast: bool, results_file: Path, timeout: int | None) -> dict:
    """Execute one notebook; return its row of the report."""
    import papermill as pm
    from papermill.exceptions import PapermillExecutionError

    env_before = dict(os.environ)
    os.environ.update({"GAN_COURSE_FAST": "1" if fast else "0", "GAN_COURSE_HEADLESS": "1",
                       "GAN_COURSE_RESULTS": str(results_file)})
    results_file.unlink(missing_ok=True)
    row = {"notebook": nb.name, "mode": "FAST" if fast else "full", "status": "passed",
           "failed_cell": None, "error": None}
    start, cpu_start = time.perf_counter(), _children_cpu_seconds()
    # papermill writes its output as the cells run: into a temporary of this run, renamed over `out` at
    # the end, so a killed run never leaves a half-written notebook (with --inplace: the course's own)
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.stem}.", suffix=".tmp.ipynb")
    os.close(fd)
    tmp = Path(tmp)
    try:
        # the kernel's own log level ERROR: otherwise each kernel prints ipykernel's "running over TCP
        # without encryption" warning (the kernel listens on loopback only), one per notebook
        pm.execute_notebook(str(nb), str(tmp), cwd=str(nb.parent), kernel_name="python3",
                            progress_bar=False, execution_timeout=timeout, log_output=False,
                            extra_arguments=["--IPKernelApp.log_level=ERROR"])
    except PapermillExecutionError as exc:
        row.update(status="failed", failed_cell=exc.exec_count, error=f"{exc.ename}: {exc.evalue}"[:500])
    except Exception as exc:  # kernel died, timeout, bad notebook file
        row.update(status="failed", error=f"{type(exc).__name__}: {exc}"[:500])
    finally:
        os.environ.clear()
        os.environ.update(env_before)
    row["seconds"] = round(time.perf_counter() - start, 1)
    # the kernel is a child process: once it has exited, its CPU time is counted here. On a busy machine
    # this is a better estimate of an uncontended run than the wall time (it does not count waiting).
    row["cpu_seconds"] = round(_children_cpu_seconds() - cpu_start, 1)
    try:
        if tmp.stat().st_size > 0:
            _strip_papermill_metadata(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    row["results"] = json.loads(results_file.read_text()) if results_file.exists() else {}
    return row


def _children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def write_report(rows: list[dict], report_dir: Path, env: dict) -> tuple[Path, Path]:
    """Write report.json and report.md. Rows of notebooks not in this run (from an earlier report in the
    same folder) are kept, so `--only 04` refreshes one row of the course's report. Both are written
    atomically (a temporary per writer, fsync, rename)."""
    from .checkpoint import write_text

    report_dir.mkdir(parents=True, exist_ok=True)
    js = report_dir / "report.json"
    if js.exists():
        try:
            earlier = json.loads(js.read_text()).get("notebooks", [])
        except (json.JSONDecodeError, AttributeError):
            earlier = []
        names = {r["notebook"] for r in rows}
        rows = sorted([r for r in earlier if r.get("notebook") not in names] + rows, key=lambda r: r["notebook"])
    write_text(js, json.dumps({"environment": env, "notebooks": rows}, indent=1))
    lines = ["# run-all report", "",
             f"device: {env['device']}" + (f" ({env['gpu']})" if env.get("gpu") else "")
             + f", {env['cpu_cores']} CPU cores, torch {env['torch']}, python {env['python']}", "",
             "| notebook | mode | status | seconds | kernel CPU s | failing cell | key results |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        res = ", ".join(f"{k}={_short(v)}" for k, v in r["results"].items())
        cell = "" if r["failed_cell"] is None else f"[{r['failed_cell']}] {r['error']}"
        if r["status"] == "failed" and r["failed_cell"] is None:
            cell = r["error"] or ""
        lines.append(f"| {r['notebook']} | {r['mode']} | {r['status']} | {r['seconds']} | {r.get('cpu_seconds', '')} | "
                     f"{cell.replace('|', '/')} | {res.replace('|', '/')} |")
    total = sum(r["seconds"] for r in rows)
    failed = sum(r["status"] != "passed" for r in rows)
    lines += ["", f"{len(rows)} notebooks, {failed} failed, {total:.0f} s in all.",
              "", "The results each notebook recorded are in `<notebook>.json` beside this report."]
    md = report_dir / "report.md"
    write_text(md, "\n".join(lines) + "\n")                # atomic, like report.json
    return md, js


def _short(v):
    if isinstance(v, float):
        return f"{v:.4g}"
    s = json.dumps(v) if not isinstance(v, str) else v
    return s if len(s) <= 60 else s[:57] + "..."


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gan_course", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    ra = sub.add_parser("run-all", help="execute every notebook and write a report")
    ra.add_argument("--fast", action="store_true", help="FAST mode: each notebook under a minute on 2 CPU cores")
    where = ra.add_mutually_exclusive_group()
    where.add_argument("--inplace", action="store_true", help="overwrite the notebooks with their executed versions")
    where.add_argument("--output", type=Path, default=None, help="folder for executed notebooks (default build/run-all/<mode>)")
    ra.add_argument("--report", type=Path, default=None,
                    help="folder for report.md/report.json and results/ (default: the output folder; "
                         "notebooks/results for a full --inplace run)")
    ra.add_argument("--only", nargs="+", default=None, metavar="NN", help="notebook numbers or name prefixes, e.g. 01 03")
    ra.add_argument("--notebooks", type=Path, default=NOTEBOOKS, help="folder holding the notebooks")
    ra.add_argument("--timeout", type=int, default=None, help="seconds allowed per cell (default: none)")
    ra.add_argument("--device", default=None, help="auto, cpu, cuda, cuda:N or mps (sets GAN_COURSE_DEVICE)")
    sub.add_parser("env", help="print the environment report")
    args = parser.parse_args(argv)

    from . import runtime

    if args.command == "env":
        for k, v in runtime.environment_report().items():
            print(f"{k:>14}: {v}")
        return 0

    if args.device is not None:
        runtime.device(args.device)  # validates before anything runs
        os.environ["GAN_COURSE_DEVICE"] = args.device
    if args.timeout is not None and args.timeout <= 0:
        parser.error(f"--timeout must be a positive number of seconds; got {args.timeout}")
    try:
        books = find_notebooks(args.notebooks, args.only)
    except (FileNotFoundError, ValueError) as exc:
        parser.error(str(exc))
    mode = "fast" if args.fast else "full"
    out_dir = None if args.inplace else (args.output or ROOT / "build" / "run-all" / mode)
    # In-place full runs refresh the committed outputs, so their report and results are committed too
    # (notebooks/results/), where the capstone reads them; other runs report into their output folder.
    report_dir = args.report or out_dir or (Path(args.notebooks) / "results" if not args.fast
                                            else ROOT / "build" / "run-all" / mode)
    from . import checks

    for flag, folder in (("--output", out_dir), ("--report", report_dir)):
        if folder is not None:
            try:
                checks.writable_dir(flag, folder)       # before any notebook runs, not after the first
            except ValueError as exc:
                parser.error(str(exc))
    env = runtime.environment_report()
    env["fast_mode"] = args.fast
    rows = []
    for nb in books:
        out = nb if out_dir is None else Path(out_dir) / nb.name
        out.parent.mkdir(parents=True, exist_ok=True)
        print(f"{nb.name} ({mode}) ...", end=" ", flush=True)
        row = run_one(nb, out, fast=args.fast, results_file=Path(report_dir) / f"{nb.stem}.json",
                      timeout=args.timeout)
        row["device"] = env["device"]
        rows.append(row)
        detail = "" if row["status"] == "passed" else f" at cell [{row['failed_cell']}]: {row['error']}"
        print(f"{row['status']} in {row['seconds']} s{detail}", flush=True)
        write_report(rows, Path(report_dir), env)  # after each notebook: a crash keeps what was done
    md, js = write_report(rows, Path(report_dir), env)
    print(f"report: {md} and {js}")
    return 1 if any(r["status"] != "passed" for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
