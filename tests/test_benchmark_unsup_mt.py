"""benchmarks/unsup_mt.py --sensitivity at a tiny scale: one row per variant, every round's score kept."""
import json


def test_sensitivity_keeps_every_round_of_every_variant(tmp_path, load_benchmark):
    um = load_benchmark("unsup_mt")
    um.FAST = dict(n_each=300, n_test=20, ratio=0.5, dim=8, window=2, anchor_weight=5.0,
                   lexicon=dict(steps=20, restarts=1), rounds=dict(rounds=1, steps_per_round=3, hidden=16))
    um.VARIANTS = [{}, {"rounds": 2}]
    um.BEAM = 2
    um.main(["--fast", "--sensitivity", "--out", str(tmp_path)])
    res = json.loads((tmp_path / "unsup_mt_sensitivity.json").read_text())
    assert list(res["rows"]) == ["the notebook's settings", "rounds=2"]
    assert [len(r["per_round"]) for r in res["rows"].values()] == [1, 2]
    assert all(0 <= p["exact"] <= 100 for r in res["rows"].values() for p in r["per_round"])
    md = (tmp_path / "unsup_mt_sensitivity.md").read_text()
    row = next(line for line in md.splitlines() if line.startswith("| rounds=2 |"))
    assert len(row.split("|")[2].split()) == 2                       # both rounds' exact match in the row
    assert not (tmp_path / "unsup_mt.json").exists()                 # the ablation table is left alone
    assert all("greedy" in p for r in res["rows"].values() for p in r["per_round"])   # beam and greedy both kept
    assert "Beam 2; greedy in the last column" in md
