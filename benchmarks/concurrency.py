"""Classroom server measurement: several notebooks at once on one machine.

Runs the same FAST notebook (a) alone with the default threads, (b) twice at once with the default
threads (each kernel takes every core: oversubscribed), (c) twice at once with GAN_COURSE_THREADS set to
cores / 2 per kernel. Writes benchmarks/results/concurrency.md and .json. A measurement, not a test.

    python benchmarks/concurrency.py --notebook 04 --repeat 1
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run_fast(notebook: str, threads: int | None, out: Path) -> subprocess.Popen:
    env = dict(os.environ)
    env.pop("GAN_COURSE_THREADS", None)
    if threads is not None:
        env["GAN_COURSE_THREADS"] = str(threads)
    return subprocess.Popen([sys.executable, "-m", "gan_course", "run-all", "--fast", "--only", notebook,
                             "--output", str(out)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            cwd=ROOT)


def kernel_seconds(out: Path) -> float:
    rows = json.loads((out / "report.json").read_text())["notebooks"]
    if any(r["status"] != "passed" for r in rows):
        raise RuntimeError(f"a run failed: {rows}")
    return sum(r["seconds"] for r in rows)


def scenario(notebook: str, copies: int, threads: int | None) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        outs = [Path(tmp) / f"run{i}" for i in range(copies)]
        t0 = time.perf_counter()
        procs = [run_fast(notebook, threads, o) for o in outs]
        for p in procs:
            p.wait()
        wall = time.perf_counter() - t0
        per_run = [kernel_seconds(o) for o in outs]
    return {"copies": copies, "threads_per_kernel": threads or "default", "wall_s": round(wall, 1),
            "notebook_s": [round(s, 1) for s in per_run]}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--notebook", default="04", help="notebook number or name prefix (default 04)")
    args = ap.parse_args(argv)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    half = max(1, cores // 2)
    rows = [scenario(args.notebook, 1, None), scenario(args.notebook, 2, None), scenario(args.notebook, 2, half)]
    res = ROOT / "benchmarks" / "results"
    res.mkdir(parents=True, exist_ok=True)
    (res / "concurrency.json").write_text(json.dumps({"cores": cores, "notebook": args.notebook, "rows": rows}, indent=1))
    lines = [f"# Two notebooks at once on {cores} cores (notebook {args.notebook}, FAST mode)", "",
             "| kernels at once | threads per kernel | wall time for all (s) | each notebook (s) |", "|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['copies']} | {r['threads_per_kernel']} | {r['wall_s']} | {', '.join(map(str, r['notebook_s']))} |")
    (res / "concurrency.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
