"""benchmarks/text_gans.py at a tiny scale: two SeqGAN settings kept side by side (--key), and the report."""
import json


def test_two_seqgan_settings_are_kept_apart(tmp_path, load_benchmark):
    tg = load_benchmark("text_gans")
    common = ["--vocab", "60", "--n-train", "200", "--mle-epochs", "1", "--adv-epochs", "2", "--eval-every", "1",
              "--gumbel-steps", "0", "--eval-n", "100", "--d-pre-rounds", "1", "--threads", "1",
              "--mle-checkpoint", str(tmp_path / "mle.pt"), "--out", str(tmp_path)]
    tg.main(common + ["--phases", "mle,seqgan"])                                   # default: key seqgan, no baseline
    tg.main(common + ["--phases", "seqgan", "--key", "seqgan_loo", "--baseline", "loo"])
    res = json.loads((tmp_path / "text_gans.json").read_text())
    assert {"mle", "seqgan", "seqgan_loo"} <= set(res["models"])
    assert res["runs"]["seqgan"]["settings"]["baseline"] == "none"
    assert res["runs"]["seqgan_loo"]["settings"]["baseline"] == "loo"
    assert "seqgan_s_per_adv_epoch" in res["times"] and "seqgan_loo_s_per_adv_epoch" in res["times"]
    assert res["mle_best_epoch"] == 1 and res["curves"]["mle"][0]["valid_nll"] > 0     # early-stopped MLE
    assert [r["epoch"] for r in res["curves"]["seqgan_loo"]] == [0, 1, 2]
    md = (tmp_path / "text_gans.md").read_text()
    assert "baseline none" in md and "baseline loo" in md and "lr_d 0.0001" in md
    loo_row = next(line for line in md.splitlines() if "baseline loo" in line)
    assert loo_row.endswith("| - |"), "the paper's 8.736 belongs beside its own setting (no baseline) only"
    assert next(line for line in md.splitlines() if "baseline none" in line).endswith("| 8.736 |")
    assert "seqgan_loo: lowest NLL_oracle during the run" in md
    assert "floor of NLL_test" in md and "floor of both" not in md                    # review W1
    assert "MLE, early-stopped (best validation epoch 1 of 1 run" in md


def test_paper_d_schedule_and_delayed_rollouts_are_options(tmp_path, load_benchmark):
    tg = load_benchmark("text_gans")
    common = ["--vocab", "40", "--n-train", "100", "--mle-epochs", "1", "--adv-epochs", "1", "--eval-n", "50",
              "--threads", "1", "--mle-checkpoint", str(tmp_path / "mle.pt"), "--out", str(tmp_path)]
    tg.main(common + ["--phases", "seqgan", "--paper-d-schedule", "--d-pre-rounds", "1", "--d-pre-samples", "50",
                      "--d-samples", "40", "--rollout-update-rate", "0.8"])
    res = json.loads((tmp_path / "text_gans.json").read_text())
    s = res["runs"]["seqgan"]["settings"]
    assert (s["d_pre_rounds"], s["d_pre_samples"], s["d_pre_epochs"]) == (1, 50, 3)   # given ones win
    assert (s["d_steps"], s["d_samples"], s["d_epochs"], s["rollout_update_rate"]) == (5, 40, 3, 0.8)
    assert len(res["d_pretrain"]) == 1 and "d_pretrain_s_per_round" in res["times"]
    assert "a delayed copy (rate 0.8)" in (tmp_path / "text_gans.md").read_text()


def test_speed_decomposition_writes_its_table(tmp_path, load_benchmark):
    tg = load_benchmark("text_gans")
    res = tg.main(["--speed", "--vocab", "40", "--rollouts", "2", "--speed-d-seqs", "64", "--threads", "1",
                   "--out", str(tmp_path)])
    assert res["like_for_like_ratio_cpu"] > 0 and len(res["epoch_totals"]) == 3
    assert "Like for like" in (tmp_path / "speed.md").read_text()
