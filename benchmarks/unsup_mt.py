"""Benchmark: notebook 14's translation from unpaired text, and its ablations, on the same held-out numbers.

    python benchmarks/unsup_mt.py                  # the full measurement (about 10 min on one core)
    python benchmarks/unsup_mt.py --fast --out /tmp/unsup   # a quick smoke run
    python benchmarks/unsup_mt.py --only "random dict"      # some rows; the others are kept from the last run
    python benchmarks/unsup_mt.py --sensitivity    # the full system with the rounds' settings varied (about 15 min)

Rows (each: held-out exact match, BLEU, chrF; English -> French unless named):
    full system          induced dictionary (MUSE's adversary on anchored vectors) -> word-by-word -> rounds of
                         back-translation + code adversary
    no anchors           the same, the dictionary induced from the plain co-occurrence vectors (MUSE as published)
    no code adversary    the same without the adversary on the encoder's codes
    no back-translation  induced word-by-word start, then denoising (+ code adversary) only
    frequency-rank dict  no lexicon adversary: the r-th most frequent English word -> the r-th French word
    random dict          no lexicon adversary: random dictionary
    true-lexicon start   DIAGNOSIS, not unsupervised: the orthogonal map fit on the true lexicon (the best
                         any rotation can do on the anchored vectors), then the same rounds
    true-lexicon start, no code adversary   the same diagnosis without the adversary on the codes
    supervised           notebook 12's model trained on 20,000 pairs (the upper bound)

Writes benchmarks/results/unsup_mt.json and unsup_mt.md; notebook 14 reads the JSON for its ablation table.
--sensitivity writes unsup_mt_sensitivity.json/.md instead: the full system with more rounds, longer or
shorter rounds, a wider model or more noise, each round's held-out score kept (does more training help?).
This is a measurement, not a test.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from gan_course.translation import embeddings as E  # noqa: E402
from gan_course.translation import lexicon as L  # noqa: E402
from gan_course.translation import seq2seq  # noqa: E402
from gan_course.translation import unsup_mt as U  # noqa: E402

# the settings of notebook 14's full run
SETTINGS = dict(n_each=20000, n_test=500, ratio=0.5, dim=12, window=3, anchor_weight=5.0,
                lexicon=dict(steps=1000, restarts=16), rounds=dict(rounds=4, steps_per_round=250, hidden=96))
FAST = dict(n_each=3000, n_test=100, ratio=0.5, dim=12, window=3, anchor_weight=5.0,
            lexicon=dict(steps=100, restarts=4), rounds=dict(rounds=2, steps_per_round=20, hidden=32))


BEAM = 5      # the held-out translations are decoded with beam search (notebook 12's setting); greedy is kept too


def evaluate_model(m, data, src: str, tgt: str) -> dict:
    """Held-out scores of a translator: beam search (the headline, as in notebook 12) and, under "greedy", greedy."""
    sources = [p.src for p in data.test]
    return {**U.score(m.translate(sources, src, tgt, beam=BEAM), data.test),
            "greedy": U.score(m.translate(sources, src, tgt), data.test)}


def run(pair: str, s: dict, which: list, log=print) -> dict:
    src, tgt = pair.split("-")
    data = U.monolingual_corpora(pair, n_each=s["n_each"], n_test=s["n_test"], seed=0, sampling="digit-sum",
                                 ratio=s["ratio"])
    plain = {l: E.train_embeddings(data.text[l], data.vocab[l].itos[4:], s["dim"], s["window"], lang=l)
             for l in data.langs}
    vec = E.with_anchors(plain, data.text, s["anchor_weight"])       # the pipeline's vectors (notebook 14, 3b)
    lex = {w: t for w, t in L.true_lexicon(pair).items() if w in data.vocab[src] and t & set(data.vocab[tgt].itos)}
    X, Y = vec[src].vectors, vec[tgt].vectors
    ind = L.induce(X, Y, L.LexiconConfig(**s["lexicon"]))
    p1 = lambda dico: 100 * L.precision_at_1(dico, lex)
    pairs = [(vec[src].index(w), vec[tgt].index(t)) for w, ts in lex.items() for t in ts if t in vec[tgt].words]
    W_true = L.procrustes(X[[i for i, _ in pairs]], Y[[j for _, j in pairs]])
    ind_plain = L.induce(plain[src].vectors, plain[tgt].vectors, L.LexiconConfig(**s["lexicon"]))
    starts = {"induced": U.dictionaries_from_map(ind.W, vec[src], vec[tgt]),
              "induced, plain vectors": U.dictionaries_from_map(ind_plain.W, plain[src], plain[tgt]),
              "frequency": U.frequency_rank_dictionaries(vec[src], vec[tgt]),
              "random": U.random_dictionaries(vec[src], vec[tgt]),
              "true-lexicon": U.dictionaries_from_map(W_true, vec[src], vec[tgt])}
    rows = {}
    configs = {"full system": ("induced", {}), "no anchors": ("induced, plain vectors", {}),
               "no code adversary": ("induced", {"use_adversary": False}),
               "no back-translation": ("induced", {"use_backtranslation": False}),
               "frequency-rank dict": ("frequency", {}), "random dict": ("random", {}),
               "true-lexicon start (diagnosis)": ("true-lexicon", {}),
               "true-lexicon start, no code adversary (diagnosis)": ("true-lexicon", {"use_adversary": False})}
    for name in which:
        if name not in configs:
            continue
        start, extra = configs[name]
        dicos = starts[start]
        wbw = U.WordByWord(dicos)
        cfg = U.RoundsConfig(**{**s["rounds"], **extra})
        torch.manual_seed(0)
        model = U.UnsupervisedTranslator(data.vocab, cfg.model_config())
        t0, c0 = time.perf_counter(), time.process_time()
        evaluate = lambda k, m: evaluate_model(m, data, src, tgt)
        _, per_round = U.train_rounds(model, data, wbw, cfg, evaluate=evaluate, desc=name)
        rows[name] = {"dictionary_p_at_1": p1(dicos[(src, tgt)]),
                      "word_by_word": U.score(wbw.translate([p.src for p in data.test], src, tgt), data.test),
                      "per_round": per_round, **per_round[-1], "seconds": time.perf_counter() - t0,
                      "cpu_seconds": time.process_time() - c0}
        log(f"{pair} {name}: {rows[name]['exact']:.1f} % exact, BLEU {rows[name]['bleu']:.1f}, "
            f"chrF {rows[name]['chrf']:.1f} ({rows[name]['seconds']:.0f} s)")
    if "supervised" in which:
        model, corpus, info = seq2seq.number_translator(seq2seq.NumberRecipe(pair=pair), verbose=False)
        hyps = {b: seq2seq.translate(model, [p.src for p in data.test], corpus.src_vocab, corpus.tgt_vocab, beam=b)
                for b in (BEAM, 1)}
        rows["supervised (notebook 12)"] = {**U.score(hyps[BEAM], data.test), "greedy": U.score(hyps[1], data.test),
                                            "pairs": len(corpus.train), "loaded": info["loaded"]}
        log(f"{pair} supervised: {rows['supervised (notebook 12)']}")
    return {"pair": pair, "settings": s, "lexicon_words": len(lex), "p_at_1_true_map": p1(starts["true-lexicon"][(src, tgt)]),
            "p_at_1_induced": p1(starts["induced"][(src, tgt)]),
            "p_at_1_induced_plain": p1(starts["induced, plain vectors"][(src, tgt)]), "rows": rows}


# --sensitivity: the full system with one setting of the rounds changed (the others as in SETTINGS)
VARIANTS = [{}, {"rounds": 10}, {"steps_per_round": 500}, {"rounds": 20, "steps_per_round": 50}, {"hidden": 128},
            {"word_drop": 0.2}]


def sensitivity(s: dict, out: Path, threads: int, log=print) -> None:
    """Run VARIANTS of the full system; write every round's held-out scores (beam and greedy)."""
    t0, rows = time.perf_counter(), {}
    for extra in VARIANTS:
        name = ", ".join(f"{k}={v}" for k, v in extra.items()) or "the notebook's settings"
        r = run("en-fr", {**s, "rounds": {**s["rounds"], **extra}}, ["full system"], log=log)["rows"]["full system"]
        rows[name] = {"settings": extra, "per_round": [{k: p[k] for k in ("round", "exact", "bleu", "chrf", "greedy")}
                                                       for p in r["per_round"]], "seconds": r["seconds"]}
    report = {"settings": s, "threads": threads, "seconds": time.perf_counter() - t0, "rows": rows}
    (out / "unsup_mt_sensitivity.json").write_text(json.dumps(report, indent=1, default=float))
    lines = ["# Translation from unpaired text (notebook 14): does more training help the rounds?", "",
             "The full system (induced dictionary on anchored vectors, word-by-word start, rounds of back-translation "
             "with the code adversary), English -> French, 500 held-out numbers; one setting of the rounds changed "
             f"per row (the notebook's: {s['rounds']}). Beam {BEAM}; greedy in the last column. {threads} thread(s), "
             f"{report['seconds']:.0f} s in all.", "",
             "| variant | held-out exact match per round (%) | best | last | BLEU last | greedy: exact per round | seconds |",
             "|---|---|---|---|---|---|---|"]
    for name, r in rows.items():
        ex = [p["exact"] for p in r["per_round"]]
        greedy = " ".join(f"{p['greedy']['exact']:.1f}" for p in r["per_round"])
        lines.append(f"| {name} | {' '.join(f'{e:.1f}' for e in ex)} | {max(ex):.1f} | {ex[-1]:.1f} | "
                     f"{r['per_round'][-1]['bleu']:.1f} | {greedy} | {r['seconds']:.0f} |")
    (out / "unsup_mt_sensitivity.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fast", action="store_true")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results"))
    ap.add_argument("--only", nargs="+", default=None, metavar="ROW",
                    help="run only these rows (names as in the table); the other rows are kept from the existing JSON")
    ap.add_argument("--sensitivity", action="store_true", help="the full system with the rounds' settings varied")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    s = FAST if args.fast else SETTINGS
    t0 = time.perf_counter()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.sensitivity:
        return sensitivity(s, out, args.threads)
    which = ["full system", "no anchors", "no code adversary", "no back-translation", "frequency-rank dict", "random dict",
             "true-lexicon start (diagnosis)", "true-lexicon start, no code adversary (diagnosis)", "supervised"]
    if args.only:
        bad = [w for w in args.only if w not in which]
        if bad:
            raise SystemExit(f"--only: unknown rows {bad}; allowed: {which}")
        old = json.loads((out / "unsup_mt.json").read_text())
        if old["en-fr"]["settings"] != json.loads(json.dumps(s)):
            raise SystemExit("--only: the kept rows were measured with other settings; run every row")
        new = run("en-fr", s, args.only)
        rows = {name: (new["rows"] if name in args.only else old["en-fr"]["rows"])[name] for name in which
                if name in args.only or name in old["en-fr"]["rows"]}
        report = {**old, "en-fr": {**new, "rows": rows}}
        report["seconds_of_rows_run_last"] = time.perf_counter() - t0
    else:
        report = {"en-fr": run("en-fr", s, which), "threads": args.threads}
        report["seconds"] = time.perf_counter() - t0
    (out / "unsup_mt.json").write_text(json.dumps(report, indent=1, default=float))
    r = report["en-fr"]
    lines = ["# Translation from unpaired text (notebook 14): ablations, English -> French, held-out numbers", "",
             f"Induced dictionary precision@1 {r['p_at_1_induced']:.1f} % on {r['lexicon_words']} words from anchored "
             f"vectors, {r['p_at_1_induced_plain']:.1f} % from the plain vectors (the best rotation of the anchored "
             f"vectors, fit on the true lexicon: {r['p_at_1_true_map']:.1f} %). "
             f"Held-out translations decoded with beam {BEAM} (greedy in the last two columns). "
             f"{report['threads']} thread(s), {report['seconds']:.0f} s for the full run"
             + (f" ({', '.join(args.only)}: re-run alone, {report['seconds_of_rows_run_last']:.0f} s)" if args.only else "")
             + ".", "",
             "| configuration | dictionary P@1 | word-by-word exact | exact match | BLEU | chrF | greedy exact | greedy BLEU |",
             "|---|---|---|---|---|---|---|---|"]
    for name, row in r["rows"].items():
        p = f"{row['dictionary_p_at_1']:.1f} %" if "dictionary_p_at_1" in row else "–"
        w = f"{row['word_by_word']['exact']:.1f} %" if "word_by_word" in row else "–"
        g = row.get("greedy")
        greedy = f"{g['exact']:.1f} % | {g['bleu']:.1f}" if g else "– | –"
        lines.append(f"| {name} | {p} | {w} | {row['exact']:.1f} % | {row['bleu']:.1f} | {row['chrf']:.1f} | {greedy} |")
    (out / "unsup_mt.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
