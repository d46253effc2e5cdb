"""benchmarks/g2p.py at its tiny --fast scale: a run, then --rescore of the saved model gives the same test
numbers and the fit check (WER on training words) beside them."""
import json


def test_fast_run_then_rescore(tmp_path, load_benchmark):
    g2p = load_benchmark("g2p")
    g2p.main(["--fast", "--out", str(tmp_path)])
    first = json.loads((tmp_path / "g2p.json").read_text())
    assert 0 <= first["fit_check"]["wer"] <= 1 and first["fit_check"]["train_sample_words"] == 2000
    g2p.main(["--fast", "--rescore", "--out", str(tmp_path)])
    again = json.loads((tmp_path / "g2p.json").read_text())
    assert again["test"]["beam1"]["wer"] == first["test"]["beam1"]["wer"]        # the same saved model
    assert again["fit_check"]["wer"] == first["fit_check"]["wer"]
    assert again["curve"] == first["curve"] and again["train"] == first["train"]
    assert "Fit check: greedy WER" in (tmp_path / "g2p.md").read_text()
