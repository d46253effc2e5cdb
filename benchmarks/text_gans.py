"""Text GANs at the SeqGAN paper's scale: MLE, SeqGAN and the Gumbel-softmax GAN on the synthetic oracle.

The setting of Yu et al. 2017 (SeqGAN), section "Synthetic data experiments": an oracle LSTM (embedding
and hidden 32, every weight N(0, 1)) over 5,000 tokens, sequences of length 20, 10,000 training
sequences, a generator of the same shape, 16 Monte Carlo rollouts per prefix. Measured here:

* MLE pretraining (teacher forcing, Adam 0.01, batch 64; 13 epochs, where NLL_oracle is 9.03 against the
  paper's 9.038): NLL_oracle and NLL_test per epoch;
* SeqGAN (gan_course.seqgan): D pretraining, then adversarial epochs of one generator step (rollout
  rewards, REINFORCE without a baseline as in the paper's code, or `--baseline loo`; Adam 0.01) and a
  discriminator step (Adam 1e-4 as in the paper's code; with `--lr-d 1e-3` D wins and the gain in
  NLL_oracle turns back, results/lr_d_1e-3/); NLL_oracle / NLL_test curve (`--key seqgan_loo` stores a
  second setting beside it);
* the Gumbel-softmax GAN (gan_course.gumbel), soft and straight-through, from the same MLE generator;
* the quality-diversity sweep of Caccia et al. 2018: NLL_oracle against NLL_test of the MLE model
  sampled at temperatures 0.5..1.5, and of the GANs;
* seconds per epoch and per phase (MLE epoch; per adversarial epoch: rollouts, G update, D sampling,
  D training), next to the ~365 s per adversarial epoch of a widely used open-source SeqGAN
  implementation on this kind of machine (issue 11).

Writes benchmarks/results/text_gans.json (read by notebooks 08 and 09) and text_gans.md. A measurement,
not a test. The machine's load average is recorded: on a shared machine the times are upper bounds.

    python benchmarks/text_gans.py                       # the full run (about 35 min on 2 free cores)
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
REFERENCE_S_PER_ADV_EPOCH = 365.0   # issue 11: an open-source SeqGAN, same sizes, this kind of machine
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
                    help="MLE pretraining epochs (13: NLL_oracle 9.03, the paper's MLE is 9.038)")
    ap.add_argument("--mle-lr", type=float, default=1e-2)
    ap.add_argument("--adv-epochs", type=int, default=40)
    ap.add_argument("--rollouts", type=int, default=16)
    ap.add_argument("--baseline", default="none", choices=seqgan.BASELINES,
                    help="REINFORCE baseline of the adversarial phase (default: none, as in the paper's code)")
    ap.add_argument("--lr-g", type=float, default=1e-2)
    ap.add_argument("--lr-d", type=float, default=1e-4,
                    help="Adam learning rate of D (default: 1e-4, as in the paper's code)")
    ap.add_argument("--d-pre-rounds", type=int, default=4)
    ap.add_argument("--d-steps", type=int, default=1)
    ap.add_argument("--d-samples", type=int, default=1024)
    ap.add_argument("--d-epochs", type=int, default=1)
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
        merged = merge_into_file(out_dir / "text_gans.json", res)
        (out_dir / "text_gans.md").write_text(markdown(merged))

    # ---------------------------------------------------------------- the oracle and its data
    torch.manual_seed(args.seed)
    oracle = Oracle(seed=0, config=SeqGenConfig(vocab_size=args.vocab, init_std=1.0))
    t0 = time.perf_counter()
    train, test = oracle_data(oracle, args.n_train, 10_000, seed=1, cache_dir=seqgan.CACHE_DIR)
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
    hist = seqgan.pretrain_generator(
        G, train, args.mle_epochs, lr=args.mle_lr, seed=args.seed,
        evaluate=lambda G: ev(G, test_n=2000), path=args.mle_checkpoint,
        callback=lambda e, logs: (mle_curve.append({"epoch": e, **logs}),
                                  print("mle", e, {k: round(v, 4) for k, v in logs.items()}, flush=True)))
    mle_state = {k: v.clone() for k, v in G.state_dict().items()}
    if "mle" in phases:
        # hist["seconds"] is the training time without evaluations (kept in the checkpoint when loaded)
        res["times"]["mle_total_s"] = hist["seconds"]
        res["times"]["mle_s_per_epoch"] = hist["seconds"] / max(args.mle_epochs, 1)
        res["curves"]["mle"] = [{"epoch": e, **{k: dict(hist[k])[e] for k in hist if isinstance(hist[k], list)}}
                                for e, _ in hist.get("train_nll", [])]
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


def run_seqgan(args, res, G, train, ev, save, mle_seconds: float):
    k = args.key                                         # "seqgan", or e.g. "seqgan_loo" for a second setting

    def own(name):                                       # the key-independent names of the default run
        return name if k == "seqgan" else f"{k}_{name}"

    torch.manual_seed(args.seed)
    D = CNNDiscriminator(CNNConfig.paper(args.vocab, 20) if args.paper_d else CNNConfig(vocab_size=args.vocab))
    res[own("discriminator")] = {"macs_per_sequence": D.macs_per_sequence(),
                                 "parameters": sum(p.numel() for p in D.parameters()), "paper_d": args.paper_d}
    t0 = time.perf_counter()
    pre, opt_d = seqgan.pretrain_discriminator(D, G, train, rounds=args.d_pre_rounds, n=5000, epochs=1,
                                               lr=args.lr_d, seed=args.seed)
    res["times"][own("d_pretrain_s")] = time.perf_counter() - t0
    res[own("d_pretrain")] = [{"loss": l, "accuracy": a} for l, a in pre]
    print("D pretraining", res[own("d_pretrain")], flush=True)
    cfg = seqgan.SeqGANConfig(n_rollouts=args.rollouts, lr_g=args.lr_g, baseline=args.baseline,
                              d_steps=args.d_steps, d_samples=args.d_samples, d_epochs=args.d_epochs,
                              lr_d=args.lr_d)
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
    res["times"][own("speedup_vs_reference")] = REFERENCE_S_PER_ADV_EPOCH / per_epoch
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


def seqgan_threads(n):
    from gan_course import runtime

    return runtime.set_threads(n)


def markdown(res: dict) -> str:
    m, t, s, runs = res["models"], res["times"], res["settings"], res.get("runs", {})
    def setting(phase, key):
        return runs.get(phase, {}).get("settings", s).get(key)
    lines = ["# Text GANs at the SeqGAN paper's scale", "",
             f"Oracle: vocabulary {s['vocab']}, length 20, {s['n_train']} training and 10,000 test sequences; "
             f"oracle entropy rate {res.get('oracle_entropy_rate', float('nan')):.3f} nats/token (the floor of both "
             f"NLLs). torch {res['torch']}, {res['machine']}. Written by `benchmarks/text_gans.py`.", "",
             "| model | NLL_oracle (ours) | NLL_test (ours) | NLL_oracle (Yu et al. 2017) |", "|---|---|---|---|"]
    sg_keys = sorted(k for k in m if k.startswith("seqgan"))          # seqgan, and e.g. seqgan_loo
    names = [("random", "random generator (init N(0, 0.1))", "random"),
             ("mle", f"MLE ({setting('mle', 'mle_epochs')} epochs)", "mle")]
    names += [(k, f"SeqGAN ({setting(k, 'adv_epochs')} adversarial epochs, baseline {setting(k, 'baseline')}, "
                  f"lr_g {setting(k, 'lr_g')}, lr_d {setting(k, 'lr_d')}, D steps {setting(k, 'd_steps')} x "
                  f"{setting(k, 'd_epochs')} epochs)",
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
        if isinstance(v, dict):
            for k2, v2 in v.items():
                lines.append(f"| {k}: {k2} | {v2:.2f} |")
        elif isinstance(v, bool):
            lines.append(f"| {k} | {v} |")
        else:
            lines.append(f"| {k} | {v:.2f} |")
    lines += ["", f"Reference: ~{REFERENCE_S_PER_ADV_EPOCH:.0f} s per adversarial epoch for a widely used "
              "open-source SeqGAN at these sizes on this kind of machine (issue 11).", "",
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
