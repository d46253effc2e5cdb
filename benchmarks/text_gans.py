"""Text GANs at the SeqGAN paper's scale: MLE, SeqGAN and the Gumbel-softmax GAN on the synthetic oracle.

The setting of Yu et al. 2017 (SeqGAN), section "Synthetic data experiments": an oracle LSTM (embedding
and hidden 32, every weight N(0, 1)) over 5,000 tokens, sequences of length 20, 10,000 training
sequences, a generator of the same shape, 16 Monte Carlo rollouts per prefix. Measured here:

* MLE pretraining (teacher forcing, Adam 0.01, batch 64) with early stopping on 2,000 held-out validation
  sequences (the same as notebook 07's; patience 3, at most 13 epochs; the GANs start from the best
  validation epoch). `--mle-patience 0` trains the 13 epochs without early stopping that earlier versions
  used because NLL_oracle lands on the paper's 9.038 there (results/mle13_start/: past the held-out optimum,
  a weaker baseline). NLL_oracle, NLL_test and the validation NLL per epoch;
* SeqGAN (gan_course.seqgan): D pretraining, then adversarial epochs of one generator step (rollout
  rewards, REINFORCE without a baseline as in the paper's code, or `--baseline loo`; Adam 0.01) and a
  discriminator step (Adam 1e-4 as in the paper's code; with `--lr-d 1e-3` D wins and the gain in
  NLL_oracle turns back, results/lr_d_1e-3/); NLL_oracle / NLL_test curve (`--key seqgan_loo` stores a
  second setting beside it);
* the Gumbel-softmax GAN (gan_course.gumbel), soft and straight-through, from the same MLE generator;
* the quality-diversity sweep of Caccia et al. 2018: NLL_oracle against NLL_test of the MLE model
  sampled at temperatures 0.5..1.5, and of the GANs;
* seconds per epoch and per phase (MLE epoch; per adversarial epoch: rollouts, G update, D sampling,
  D training);
* `--paper-d-schedule`: the discriminator schedule of SeqGAN's code (D pretraining 50 rounds x 3 epochs x
  (10,000 real + 10,000 fake), then 5 D steps x 3 epochs x (10,000 + 10,000) per adversarial epoch), with
  `--rollout-update-rate 0.8` for the code's delayed rollout network (results/paper_d_schedule/);
* `--speed`: a like-for-like decomposition of one adversarial epoch (rollouts batched over prefixes vs a
  loop over prefixes, D scoring and D training with our D and the paper's D at the paper's schedule),
  side by side in one process (results/speed/).

Writes benchmarks/results/text_gans.json (read by notebooks 08 and 09) and text_gans.md. A measurement,
not a test. The machine's load average is recorded: on a shared machine the times are upper bounds.

    python benchmarks/text_gans.py                       # the full run (about 35 min on 2 free cores)
    python benchmarks/text_gans.py --phases seqgan --paper-d-schedule --rollout-update-rate 0.8 \
        --adv-epochs 24 --threads 1 --out benchmarks/results/paper_d_schedule   # the paper's D schedule (~1.5 h)
    python benchmarks/text_gans.py --speed --out benchmarks/results/speed           # like-for-like speed
    python benchmarks/text_gans.py --phases seqgan --key seqgan_loo --baseline loo   # a second setting beside it
    python benchmarks/text_gans.py --mle-epochs 2 --adv-epochs 2 --gumbel-steps 10 --out /tmp/tg  # smoke
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gan_course import gumbel, seqgan  # noqa: E402
from gan_course.metrics import text as text_metrics  # noqa: E402
from gan_course.models.oracle import Oracle, SeqGenConfig, SeqGenerator, oracle_data  # noqa: E402
from gan_course.models.text_gan import CNNConfig, CNNDiscriminator  # noqa: E402

PAPER = {"random": 10.310, "mle": 9.038, "scheduled_sampling": 8.985, "pg_bleu": 8.946, "seqgan": 8.736}
N_VALID = 2000      # validation sequences for the MLE's early stopping (notebook 07's)
PAPER_D_SCHEDULE = dict(d_pre_rounds=50, d_pre_samples=10_000, d_pre_epochs=3,   # SeqGAN's sequence_gan.py
                        d_steps=5, d_samples=10_000, d_epochs=3)
TEMPS = [0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.1, 1.2, 1.3, 1.5]


def load_average() -> float | None:
    try:
        return os.getloadavg()[0]
    except OSError:
        return None


class Evaluator:
    """NLL_oracle from n fresh samples (fixed seed) and NLL_test on the held-out oracle sequences."""

    def __init__(self, oracle, test, n: int):
        self.oracle, self.test, self.n = oracle, test, n
        self.seconds = 0.0

    def __call__(self, G, temperature: float = 1.0, test_n: int | None = None) -> dict:
        t0 = time.perf_counter()
        xs = G.sample(self.n, generator=torch.Generator().manual_seed(123), temperature=temperature)
        out = {"nll_oracle": text_metrics.nll_oracle(self.oracle, xs, batch_size=1000),
               "nll_test": seqgan.nll_at_temperature(G, self.test[:test_n] if test_n else self.test, temperature)}
        d = seqgan.diversity(xs[:1000])
        out["unique"], out["distinct2"] = d["unique"], d["distinct2"]
        self.seconds += time.perf_counter() - t0
        return out


def sweep(G, ev, temps=TEMPS) -> list[dict]:
    return [{"temperature": t, **ev(G, t)} for t in temps]


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--vocab", type=int, default=5000)
    ap.add_argument("--n-train", type=int, default=10_000)
    ap.add_argument("--mle-epochs", type=int, default=13,
                    help="at most this many MLE epochs (with --mle-patience 0 exactly this many: 13 gives "
                         "NLL_oracle 9.03, the paper's MLE is 9.038, past the held-out optimum)")
    ap.add_argument("--mle-patience", type=int, default=3,
                    help="stop the MLE after this many epochs without a lower validation NLL and keep the best "
                         "epoch's weights (0: no validation set, no early stopping)")
    ap.add_argument("--mle-lr", type=float, default=1e-2)
    ap.add_argument("--adv-epochs", type=int, default=40)
    ap.add_argument("--rollouts", type=int, default=16)
    ap.add_argument("--baseline", default="none", choices=seqgan.BASELINES,
                    help="REINFORCE baseline of the adversarial phase (default: none, as in the paper's code)")
    ap.add_argument("--lr-g", type=float, default=1e-2)
    ap.add_argument("--lr-d", type=float, default=1e-4,
                    help="Adam learning rate of D (default: 1e-4, as in the paper's code)")
    ap.add_argument("--d-pre-rounds", type=int, default=4, help="D pretraining rounds (paper's code: 50)")
    ap.add_argument("--d-pre-samples", type=int, default=5000,
                    help="fake (and as many real) sequences per D pretraining round (paper's code: 10,000)")
    ap.add_argument("--d-pre-epochs", type=int, default=1, help="passes per pretraining round (paper's code: 3)")
    ap.add_argument("--d-steps", type=int, default=1, help="D steps per adversarial epoch (paper's code: 5)")
    ap.add_argument("--d-samples", type=int, default=1024, help="fakes (and reals) per D step (paper's code: 10,000)")
    ap.add_argument("--d-epochs", type=int, default=1, help="passes per D step (paper's code: 3)")
    ap.add_argument("--paper-d-schedule", action="store_true",
                    help="the D schedule of SeqGAN's code: sets the six --d-* options above to 50, 10000, 3, 5, "
                         "10000, 3")
    ap.add_argument("--rollout-update-rate", type=float, default=None,
                    help="rollouts from a delayed copy of G updated theta <- r theta + (1 - r) theta_G after "
                         "every G step (SeqGAN's code: 0.8); default: the current G")
    ap.add_argument("--speed-d-seqs", type=int, default=2000,
                    help="--speed: D training is timed on this many real + as many fake sequences, then scaled")
    ap.add_argument("--speed", action="store_true",
                    help="only the like-for-like speed decomposition of one adversarial epoch (speed.json/.md)")
    ap.add_argument("--paper-d", action="store_true", help="use the paper's 1,720-feature CNN discriminator")
    ap.add_argument("--gumbel-steps", type=int, default=300)
    ap.add_argument("--eval-n", type=int, default=5000, help="samples per NLL_oracle estimate")
    ap.add_argument("--eval-every", type=int, default=4, help="adversarial epochs between evaluations")
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: GAN_COURSE_THREADS or cores)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--mle-checkpoint", default=str(ROOT / "data" / "checkpoints" / "text_gans-mle.pt"),
                    help="load-or-train the MLE generator here; the phases share it, and the time of the run "
                         "that trained it is kept in it (delete it to measure again)")
    ap.add_argument("--phases", default="mle,seqgan,gumbel",
                    help="comma-separated phases to run: mle (pretraining + temperature sweep), seqgan, gumbel; "
                         "results of other phases already in the output file are kept")
    ap.add_argument("--key", default="seqgan",
                    help="name under which the seqgan phase stores its model, curves and times, e.g. seqgan_loo for a "
                         "second setting beside the default one (the notebooks read 'seqgan')")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results"))
    args = ap.parse_args(argv)
    if args.paper_d_schedule:       # the paper's value for every --d-* option not given explicitly
        for k, v in PAPER_D_SCHEDULE.items():
            if getattr(args, k) == ap.get_default(k):
                setattr(args, k, v)
    if args.speed:
        return speed_decomposition(args)

    threads = seqgan_threads(args.threads)
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    t_start, load_start = time.perf_counter(), load_average()
    phases = [p.strip() for p in args.phases.split(",") if p.strip()]
    bad = [p for p in phases if p not in ("mle", "seqgan", "gumbel")]
    if bad:
        raise SystemExit(f"--phases: unknown {bad}; allowed: mle, seqgan, gumbel")
    # this process's results; save() merges them into the file, so phases can run as separate processes
    res: dict = {"models": {}, "curves": {}, "times": {}, "runs": {}}
    for p in phases:
        res["runs"][args.key if p == "seqgan" else p] = {"settings": vars(args), "threads": threads,
                                                          "load_average_start": load_start,
                                                          "started": time.strftime("%Y-%m-%d %H:%M:%S")}
    res.update({"settings": {**res.get("settings", {}), **vars(args)}, "threads": threads, "torch": torch.__version__,
                "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
                "load_average_start": load_start, "paper": PAPER})

    def save():
        res["load_average_end"] = load_average()
        for p in res["runs"]:
            res["runs"][p]["load_average_end"] = res["load_average_end"]
            res["runs"][p]["seconds"] = time.perf_counter() - t_start
        merged = _locked_merge(out_dir / "text_gans.json", res)
        (out_dir / "text_gans.md").write_text(markdown(merged))

    # ---------------------------------------------------------------- the oracle and its data
    torch.manual_seed(args.seed)
    oracle = Oracle(seed=0, config=SeqGenConfig(vocab_size=args.vocab, init_std=1.0))
    t0 = time.perf_counter()
    # the first 20,000 sequences of seed 1 are train and test as before; the next 2,000 validate (as in 07)
    train, rest = oracle_data(oracle, args.n_train, 10_000 + N_VALID, seed=1, cache_dir=seqgan.CACHE_DIR)
    test, valid = rest[:10_000], rest[10_000:]
    res["times"]["oracle_data_s"] = time.perf_counter() - t0
    ev = Evaluator(oracle, test, args.eval_n)
    G = SeqGenerator(SeqGenConfig(vocab_size=args.vocab))
    if "mle" in phases:
        H_mc, H = oracle.entropy_rate(5000, generator=torch.Generator().manual_seed(5))
        res["oracle_entropy_rate"] = H
        res["models"]["random"] = ev(G)
        print("oracle entropy rate", round(H, 3), "| random G", res["models"]["random"], flush=True)

    # ---------------------------------------------------------------- MLE
    mle_curve = []
    t0 = time.perf_counter()
    early = args.mle_patience > 0
    hist = seqgan.pretrain_generator(
        G, train, args.mle_epochs, lr=args.mle_lr, seed=args.seed,
        valid=valid if early else None, patience=args.mle_patience if early else None,
        evaluate=lambda G: ev(G, test_n=2000), path=args.mle_checkpoint,
        callback=lambda e, logs: (mle_curve.append({"epoch": e, **logs}),
                                  print("mle", e, {k: round(v, 4) for k, v in logs.items()}, flush=True)))
    mle_state = {k: v.clone() for k, v in G.state_dict().items()}
    if "mle" in phases:
        # hist["seconds"] is the training time without evaluations (kept in the checkpoint when loaded)
        res["times"]["mle_total_s"] = hist["seconds"]
        res["times"]["mle_s_per_epoch"] = hist["seconds"] / max(hist.get("epochs_run", args.mle_epochs), 1)
        res["curves"]["mle"] = [{"epoch": e, **{k: dict(hist[k])[e] for k in hist if isinstance(hist[k], list)}}
                                for e, _ in hist.get("train_nll", [])]
        res["mle_epochs_run"] = hist.get("epochs_run", args.mle_epochs)
        res["mle_best_epoch"] = hist.get("best_epoch")       # None: no early stopping, the last epoch
        res["models"]["mle"] = ev(G)
        print("MLE", res["models"]["mle"], flush=True)
        res["curves"]["mle_temperature"] = sweep(G, ev)
        save()

    if "seqgan" in phases:
        run_seqgan(args, res, G, train, ev, save, mle_seconds=hist.get("seconds", float("nan")))
    if "gumbel" in phases:
        run_gumbel(args, res, mle_state, train, ev, save)
    save()
    return res


def merge_into_file(path: Path, res: dict) -> dict:
    """Update the JSON file with this process's results (section by section) and return the merged dict."""
    merged = json.loads(path.read_text()) if path.is_file() else {}
    for k, v in res.items():
        if k in ("models", "curves", "times", "runs") and isinstance(v, dict):
            merged.setdefault(k, {}).update(v)
        else:
            merged[k] = v
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(merged, indent=1))
    os.replace(tmp, path)
    return merged


def _locked_merge(path: Path, res: dict) -> dict:
    """merge_into_file under an exclusive lock, so phases run as parallel processes do not lose each other's
    results (read-modify-write of one file)."""
    import fcntl

    with open(path.with_name(path.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            return merge_into_file(path, res)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def run_seqgan(args, res, G, train, ev, save, mle_seconds: float):
    k = args.key                                         # "seqgan", or e.g. "seqgan_loo" for a second setting

    def own(name):                                       # the key-independent names of the default run
        return name if k == "seqgan" else f"{k}_{name}"

    torch.manual_seed(args.seed)
    D = CNNDiscriminator(CNNConfig.paper(args.vocab, 20) if args.paper_d else CNNConfig(vocab_size=args.vocab))
    res[own("discriminator")] = {"macs_per_sequence": D.macs_per_sequence(),
                                 "parameters": sum(p.numel() for p in D.parameters()), "paper_d": args.paper_d}
    t0 = time.perf_counter()
    per_round = []

    def on_round(r, loss, acc):
        per_round.append(time.perf_counter() - t0)
        print(f"D pretraining round {r}: loss {loss:.4f} accuracy {acc:.3f} ({per_round[-1]:.0f} s)", flush=True)
    pre, opt_d = seqgan.pretrain_discriminator(D, G, train, rounds=args.d_pre_rounds, n=args.d_pre_samples,
                                               epochs=args.d_pre_epochs, lr=args.lr_d, seed=args.seed,
                                               callback=on_round)
    res["times"][own("d_pretrain_s")] = time.perf_counter() - t0
    res["times"][own("d_pretrain_s_per_round")] = res["times"][own("d_pretrain_s")] / max(args.d_pre_rounds, 1)
    res[own("d_pretrain")] = [{"loss": l, "accuracy": a} for l, a in pre]
    print("D pretraining", res[own("d_pretrain")], flush=True)
    save()                                               # a long schedule's pretraining is kept if stopped later
    cfg = seqgan.SeqGANConfig(n_rollouts=args.rollouts, lr_g=args.lr_g, baseline=args.baseline,
                              d_steps=args.d_steps, d_samples=args.d_samples, d_epochs=args.d_epochs,
                              lr_d=args.lr_d, rollout_update_rate=args.rollout_update_rate)
    gan = seqgan.SeqGAN(G, D, train, cfg, generator=torch.Generator().manual_seed(args.seed))
    gan.opt_d = opt_d
    adv_curve = [{"epoch": 0, **(res["models"].get("mle") or ev(G))}]
    ev.seconds = 0.0
    t0 = time.perf_counter()

    def on_epoch(epoch, logs):
        adv_curve.append({"epoch": epoch, **logs, "seconds": time.perf_counter() - t0 - ev.seconds})
        print("adv", epoch, {n: round(v, 4) for n, v in logs.items()},
              {n: round(v, 1) for n, v in gan.times.items()}, flush=True)
        res["curves"][k] = adv_curve
        res["times"][f"{k}_phases_s"] = dict(gan.times)
        save()

    gan.train(args.adv_epochs, every=args.eval_every, evaluate=lambda G: ev(G, test_n=2000), callback=on_epoch)
    adv_s = time.perf_counter() - t0 - ev.seconds
    per_epoch = adv_s / max(args.adv_epochs, 1)
    res["times"][f"{k}_adv_total_s"] = adv_s
    res["times"][f"{k}_s_per_adv_epoch"] = per_epoch
    res["times"][f"{k}_phases_s_per_epoch"] = {n: v / max(args.adv_epochs, 1) for n, v in gan.times.items()}
    res["times"][f"{k}_whole_run_s"] = mle_seconds + res["times"][own("d_pretrain_s")] + adv_s
    res["models"][k] = ev(G)
    res[f"{k}_collapse"] = seqgan.collapse_report(G.sample(1000, generator=torch.Generator().manual_seed(9)))[1]
    res["curves"][f"{k}_temperature"] = sweep(G, ev, [0.8, 0.9, 1.0, 1.1, 1.2])
    print("SeqGAN", res["models"][k], per_epoch, flush=True)
    save()


def run_gumbel(args, res, mle_state, train, ev, save):
    for key, hard in (("gumbel", False), ("gumbel_st", True)):
        if args.gumbel_steps <= 0:
            break
        torch.manual_seed(args.seed)
        Gg = SeqGenerator(SeqGenConfig(vocab_size=args.vocab))
        Gg.load_state_dict(mle_state)
        Dg = CNNDiscriminator(CNNConfig(vocab_size=args.vocab))
        gg = gumbel.GumbelGAN(Gg, Dg, train, gumbel.GumbelGANConfig(steps=args.gumbel_steps, hard=hard),
                              generator=torch.Generator().manual_seed(args.seed))
        curve = []
        ev.seconds = 0.0
        t0 = time.perf_counter()
        every = max(args.gumbel_steps // 6, 1)
        gg.train(every=every, callback=lambda i, logs: curve.append(
            {"step": i, **logs, **ev(Gg, test_n=2000)}))
        res["times"][f"{key}_s"] = time.perf_counter() - t0 - ev.seconds
        res["times"][f"{key}_s_per_step"] = res["times"][f"{key}_s"] / args.gumbel_steps
        res["curves"][key] = curve
        res["models"][key] = ev(Gg)
        res["curves"][f"{key}_temperature"] = sweep(Gg, ev, [0.8, 0.9, 1.0, 1.1, 1.2])
        print(key, res["models"][key], flush=True)
        save()


def speed_decomposition(args) -> dict:
    """One adversarial epoch's work done two ways, side by side in this process (speed.json / speed.md).

    Equal work: one generator step (B = 64 sequences, N = 16 rollouts of each of the T-1 = 19 prefixes,
    19,456 completions, D scores them and the 64 sequences), then the D schedule of SeqGAN's code (5 D
    steps, each 10,000 fresh fakes + 10,000 reals, 3 passes: 300,000 sequence-passes). Rollouts: batched
    over all prefixes (seqgan.rollout), a loop over prefixes (one G.sample(prefix=...) of N*B rows each) and
    a loop over prefixes and rollouts (B rows per call, the loop structure of SeqGAN's code). D scoring and
    D training with our D and with the paper's D. D training is timed on a slice (--speed-d-seqs real +
    fake, one pass) and scaled to the 300,000 passes; that scaling is stated in the table.
    """
    threads = seqgan_threads(args.threads)
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    load_start = load_average()
    V, T, B, N = args.vocab, 20, 64, args.rollouts
    torch.manual_seed(args.seed)
    G = SeqGenerator(SeqGenConfig(vocab_size=V))
    gen = torch.Generator().manual_seed(args.seed)
    x = G.sample(B, generator=gen)
    cpu0 = time.process_time()

    def timed(fn, repeat=1):
        t0, c0 = time.perf_counter(), time.process_time()
        for _ in range(repeat):
            out = fn()
        return out, (time.perf_counter() - t0) / repeat, (time.process_time() - c0) / repeat

    rows = {}
    comp, rows["rollout: batched over all prefixes (ours)"] = (lambda r: (r[0], r[1:]))(
        timed(lambda: seqgan.rollout(G, x, N, gen)))
    _, *rows["rollout: loop over prefixes, N*B rows per call"] = timed(
        lambda: [G.sample(N * B, generator=gen, prefix=x[:, :t].repeat(N, 1)) for t in range(1, T)])
    _, *rows["rollout: loop over rollouts and prefixes, B rows per call (SeqGAN's code)"] = timed(
        lambda: [G.sample(B, generator=gen, prefix=x[:, :t]) for _ in range(N) for t in range(1, T)])
    flat = torch.cat([comp.reshape(-1, T), x])                    # the 19,520 sequences D scores per G step
    Ds = {"ours": CNNDiscriminator(CNNConfig(vocab_size=V)), "paper": CNNDiscriminator(CNNConfig.paper(V, T))}
    n_d = args.speed_d_seqs
    real = x.repeat(n_d // B + 1, 1)[:n_d]
    fake = G.sample(n_d, generator=gen)
    _, *rows["D sampling: 10,000 fakes (x 5 per epoch at the paper's schedule)"] = timed(
        lambda: G.sample(10_000, generator=gen))
    macs = {}
    for name, D in Ds.items():
        D.eval()
        macs[name] = D.macs_per_sequence()
        with torch.no_grad():
            _, *rows[f"D scoring of {len(flat):,} rollouts, {name} D"] = timed(lambda: seqgan.score(D, flat))
        opt = torch.optim.Adam(D.parameters(), lr=1e-4)
        _, w, c = timed(lambda: seqgan.d_epochs(D, opt, real, fake, 1, generator=gen))
        scale = 300_000 / (2 * n_d)
        rows[f"D training, paper's schedule (300,000 sequence-passes; timed on {2 * n_d:,}, x{scale:.0f}), {name} D"] = [
            w * scale, c * scale]
    r = {k: {"wall_s": v[0], "cpu_s": v[1]} for k, v in rows.items()}

    def epoch(rollout_key, d):
        keys = [rollout_key, f"D scoring of {len(flat):,} rollouts, {d} D",
                "D sampling: 10,000 fakes (x 5 per epoch at the paper's schedule)",
                next(k for k in r if k.startswith("D training") and k.endswith(f"{d} D"))]
        mult = [1, 1, 5, 1]
        return {w: sum(m * r[k][w] for k, m in zip(keys, mult)) for w in ("wall_s", "cpu_s")}

    totals = {
        "SeqGAN-code structure (loop over rollouts and prefixes), paper's D, paper's D schedule":
            epoch("rollout: loop over rollouts and prefixes, B rows per call (SeqGAN's code)", "paper"),
        "ours (batched rollouts), paper's D, paper's D schedule": epoch("rollout: batched over all prefixes (ours)", "paper"),
        "ours (batched rollouts), our D, paper's D schedule": epoch("rollout: batched over all prefixes (ours)", "ours"),
    }
    k_ref, k_ours = list(totals)[:2]
    res = {"rows": r, "epoch_totals": totals, "macs_per_sequence": macs, "threads": threads,
           "like_for_like_ratio_cpu": totals[k_ref]["cpu_s"] / totals[k_ours]["cpu_s"],
           "rollout_ratio_cpu": r["rollout: loop over rollouts and prefixes, B rows per call (SeqGAN's code)"]["cpu_s"]
           / r["rollout: batched over all prefixes (ours)"]["cpu_s"],
           "load_average_start": load_start, "load_average_end": load_average(),
           "cpu_s_total": time.process_time() - cpu0, "torch": torch.__version__,
           "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
           "settings": {"vocab": V, "batch": B, "rollouts": N, "seq_len": T, "d_seqs_timed": 2 * n_d}}
    (out_dir / "speed.json").write_text(json.dumps(res, indent=1))
    lines = ["# One SeqGAN adversarial epoch, like for like", "",
             f"Vocabulary {V}, B = {B}, N = {N} rollouts, T = {T}; {threads} thread(s), torch {res['torch']}, "
             f"{res['machine']}; load average {load_start:.1f} at the start, {res['load_average_end']:.1f} at the "
             "end (above 2: other work shared the CPU, wall times are upper bounds; CPU seconds are this process's). "
             f"D multiply-adds per sequence: ours {macs['ours']:,}, the paper's {macs['paper']:,}. Written by "
             "`benchmarks/text_gans.py --speed`.", "", "| part | wall s | CPU s |", "|---|---|---|"]
    lines += [f"| {k} | {v['wall_s']:.2f} | {v['cpu_s']:.2f} |" for k, v in r.items()]
    lines += ["", "Per adversarial epoch (one G step + 5 D steps of the paper's schedule):", "",
              "| setting | wall s | CPU s |", "|---|---|---|"]
    lines += [f"| {k} | {v['wall_s']:.1f} | {v['cpu_s']:.1f} |" for k, v in totals.items()]
    lines += ["", f"Like for like (same D, same schedule, CPU seconds): the batched rollouts make an epoch "
              f"{res['like_for_like_ratio_cpu']:.2f}x faster than the loop structure of SeqGAN's code; the rollouts "
              f"alone {res['rollout_ratio_cpu']:.1f}x. Everything else an earlier headline credited to speed came "
              "from doing less work: a smaller D and a lighter D schedule."]
    (out_dir / "speed.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines), flush=True)
    return res


def seqgan_threads(n):
    from gan_course import runtime

    return runtime.set_threads(n)


def mle_label(res: dict, setting) -> str:
    if res.get("mle_best_epoch"):
        return (f"MLE, early-stopped (best validation epoch {res['mle_best_epoch']} of "
                f"{res.get('mle_epochs_run')} run, patience {setting('mle', 'mle_patience')})")
    return f"MLE ({setting('mle', 'mle_epochs')} epochs, no early stopping)"


def markdown(res: dict) -> str:
    m, t, s, runs = res["models"], res["times"], res["settings"], res.get("runs", {})
    def setting(phase, key):
        return runs.get(phase, {}).get("settings", s).get(key)
    lines = ["# Text GANs at the SeqGAN paper's scale", "",
             f"Oracle: vocabulary {s['vocab']}, length 20, {s['n_train']} training and 10,000 test sequences; "
             + (f"oracle entropy rate {res['oracle_entropy_rate']:.3f} nats/token" if "oracle_entropy_rate" in res else
                "oracle entropy rate not measured by this run (the mle phase measures it: results/text_gans.md)")
             + " (the floor of NLL_test, cross-entropy >= entropy; not of NLL_oracle, which a mode-seeking generator, "
             f"e.g. the oracle sampled at a temperature below 1, can push below it). torch {res['torch']}, {res['machine']}. Written by `benchmarks/text_gans.py`.", "",
             "| model | NLL_oracle (ours) | NLL_test (ours) | NLL_oracle (Yu et al. 2017) |", "|---|---|---|---|"]
    sg_keys = sorted(k for k in m if k.startswith("seqgan"))          # seqgan, and e.g. seqgan_loo
    names = [("random", "random generator (init N(0, 0.1))", "random"),
             ("mle", mle_label(res, setting), "mle")]
    names += [(k, f"SeqGAN ({setting(k, 'adv_epochs')} adversarial epochs, baseline {setting(k, 'baseline')}, "
                  f"lr_g {setting(k, 'lr_g')}, lr_d {setting(k, 'lr_d')}, D steps {setting(k, 'd_steps')} x "
                  f"{setting(k, 'd_epochs')} epochs of {setting(k, 'd_samples')} + {setting(k, 'd_samples')}, "
                  f"D pretraining {setting(k, 'd_pre_rounds')} x {setting(k, 'd_pre_epochs') or 1} x "
                  f"{setting(k, 'd_pre_samples') or 5000}, rollouts from "
                  + ("the current G" if setting(k, 'rollout_update_rate') is None
                     else f"a delayed copy (rate {setting(k, 'rollout_update_rate')})") + ")",
               "seqgan" if k == "seqgan" else None) for k in sg_keys]   # the paper's number: its own setting
    names += [("gumbel", f"Gumbel-softmax GAN, soft ({setting('gumbel', 'gumbel_steps')} steps)", None),
              ("gumbel_st", f"Gumbel-softmax GAN, straight-through ({setting('gumbel', 'gumbel_steps')} steps)", None)]
    for key, label, pkey in names:
        if key in m:
            paper = f"{res['paper'][pkey]:.3f}" if pkey else "-"
            lines.append(f"| {label} | {m[key]['nll_oracle']:.3f} | {m[key]['nll_test']:.3f} | {paper} |")
    for k in sg_keys:
        evals = [r for r in res["curves"].get(k, []) if "nll_oracle" in r]
        if evals:
            best = min(evals, key=lambda r: r["nll_oracle"])
            lines += ["", f"{k}: lowest NLL_oracle during the run {best['nll_oracle']:.3f} (NLL_test {best['nll_test']:.3f}) "
                          f"at adversarial epoch {best['epoch']}; curve: "
                          + ", ".join(f"{r['epoch']}: {r['nll_oracle']:.3f}" for r in evals)]
    lines += ["", "## Times (seconds, wall clock)", ""]
    for phase, r in runs.items():
        lines.append(f"* phase `{phase}`: {r.get('threads')} thread(s), load average {r.get('load_average_start'):.1f} "
                     f"at the start and {r.get('load_average_end') or float('nan'):.1f} at the end (2 cores: a load "
                     "above 2 means other work shared the CPU, so these times are upper bounds)")
    lines += ["", "| what | seconds |", "|---|---|"]
    for k, v in t.items():
        if "speedup_vs_reference" in k:      # older files: a ratio to an unverifiable reference (review M3)
            continue
        if isinstance(v, dict):
            for k2, v2 in v.items():
                lines.append(f"| {k}: {k2} | {v2:.2f} |")
        elif isinstance(v, bool):
            lines.append(f"| {k} | {v} |")
        else:
            lines.append(f"| {k} | {v:.2f} |")
    lines += ["", "Like-for-like speed (the same work done two ways, one process): results/speed/speed.md.", "",
              "## Quality-diversity (Caccia et al. 2018): each model at several sampling temperatures", ""]
    for key in ["mle", *sg_keys, "gumbel", "gumbel_st"]:
        rows = res["curves"].get(f"{key}_temperature")
        if rows:
            lines += [f"{key}:", "", "| temperature | NLL_oracle | NLL_test |", "|---|---|---|"]
            lines += [f"| {r['temperature']} | {r['nll_oracle']:.3f} | {r['nll_test']:.3f} |" for r in rows]
            lines.append("")
    lines += [f"{k} samples: {res[k + '_collapse']}." for k in sg_keys if k + "_collapse" in res]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
