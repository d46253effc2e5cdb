"""benchmarks/text_gans.py at a tiny scale: two SeqGAN settings kept side by side (--key), and the report."""
import importlib.util
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def load_benchmark():
    spec = importlib.util.spec_from_file_location("text_gans", ROOT / "benchmarks" / "text_gans.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_two_seqgan_settings_are_kept_apart(tmp_path):
    tg = load_benchmark()
    common = ["--vocab", "60", "--n-train", "200", "--mle-epochs", "1", "--adv-epochs", "2", "--eval-every", "1",
              "--gumbel-steps", "0", "--eval-n", "100", "--d-pre-rounds", "1", "--threads", "1",
              "--mle-checkpoint", str(tmp_path / "mle.pt"), "--out", str(tmp_path)]
    tg.main(common + ["--phases", "mle,seqgan"])                                   # default: key seqgan, no baseline
    tg.main(common + ["--phases", "seqgan", "--key", "seqgan_loo", "--baseline", "loo"])
    res = json.loads((tmp_path / "text_gans.json").read_text())
    assert {"mle", "seqgan", "seqgan_loo"} <= set(res["models"])
    assert res["runs"]["seqgan"]["settings"]["baseline"] == "none"
    assert res["runs"]["seqgan_loo"]["settings"]["baseline"] == "loo"
    assert "speedup_vs_reference" in res["times"] and "seqgan_loo_speedup_vs_reference" in res["times"]
    assert [r["epoch"] for r in res["curves"]["seqgan_loo"]] == [0, 1, 2]
    md = (tmp_path / "text_gans.md").read_text()
    assert "baseline none" in md and "baseline loo" in md and "lr_d 0.0001" in md
    loo_row = next(line for line in md.splitlines() if "baseline loo" in line)
    assert loo_row.endswith("| - |"), "the paper's 8.736 belongs beside its own setting (no baseline) only"
    assert next(line for line in md.splitlines() if "baseline none" in line).endswith("| 8.736 |")
    assert "seqgan_loo: lowest NLL_oracle during the run" in md
