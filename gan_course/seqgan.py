"""SeqGAN (Yu et al. 2017): a sequence generator trained by policy gradient against a CNN discriminator.

Sampling a token is not differentiable, so the generator G is treated as a policy: state = the prefix
y_<t, action = the next token y_t. The discriminator D only scores whole sequences, so the value of an
action is estimated by Monte Carlo: complete the prefix y_1..y_t with N rollouts of G and average D's
probability that each completion is real,

    Q(y_<t, y_t) = 1/N sum_n D(y_1..y_t, Y^n_{t+1..T})    (t < T),      Q(y_<T, y_T) = D(y_1..y_T)

and REINFORCE (Williams 1992) gives an unbiased gradient of E_G[D(Y)]:

    grad J = E[ sum_t grad log G(y_t | y_<t) (Q(y_<t, y_t) - b_t) ]

for any baseline b_t that does not depend on y_t (here: the mean reward of the other sequences of the
batch at position t, or a moving average). A baseline leaves the mean unchanged and lowers the
variance (notebook 03 measures the same effect for the score-function estimator; notebook 09 here).

Training: pretrain G by MLE, pretrain D on real vs G's samples, then alternate one G step (rollout
rewards, REINFORCE) with a few D steps. Speed: `rollout` completes the N rollouts of ALL T-1 prefixes of
a batch in one loop over time steps, not one loop per sequence or per prefix: the rows of the prefixes of
length <= s form the first rows of one big batch, so time step s advances only those rows with a single
LSTM call; D then scores every completion in a few large forward passes.

    G = SeqGenerator(SeqGenConfig()); D = CNNDiscriminator(CNNConfig())
    rewards = rollout_rewards(G, D, tokens, n_rollouts=16)        # (B, T) in (0, 1)
    loss = reinforce_loss(G.log_probs(tokens), rewards, baseline="loo")
    gan = SeqGAN(G, D, real, SeqGANConfig()); gan.train(epochs=50)
"""
from __future__ import annotations

import copy
import math
import time
import warnings
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from . import checks
from .data.vocab import PAD_ID
from .models.oracle import mle_epoch  # noqa: F401  (re-exported: SeqGAN's MLE pretraining epoch)

BASELINES = ("none", "loo", "mean", "ema")
ROOT = Path(__file__).resolve().parents[1]
CACHE_DIR = ROOT / "data" / "cache"              # oracle samples (git-ignored)
CHECKPOINT_DIR = ROOT / "data" / "checkpoints"   # load-or-train weights (git-ignored)
RESULTS_FILE = ROOT / "benchmarks" / "results" / "text_gans.json"   # the paper-scale benchmark's numbers


class ModeCollapse(RuntimeWarning):
    """The generator's samples have (almost) no diversity left."""


# ----------------------------------------------------------------------------------------------------
# checks

def check_rollouts(n_rollouts) -> int:
    if isinstance(n_rollouts, bool) or not isinstance(n_rollouts, int) or n_rollouts < 1:
        raise ValueError(f"n_rollouts must be a positive integer (SeqGAN uses 16); got {n_rollouts!r}")
    return n_rollouts


def score(D, tokens: torch.Tensor, chunk: int = 8192) -> torch.Tensor:
    """D's logits for tokens (B, T), in chunks; checks that D returns one logit per sequence (B,)."""
    outs = []
    for part in tokens.split(chunk):
        out = D(part)
        if not isinstance(out, torch.Tensor) or out.shape != (part.shape[0],):
            shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
            raise ValueError(f"the discriminator must map (B, T) tokens to logits of shape (B,) = "
                             f"({part.shape[0]},); got {shape}")
        outs.append(out)
    return torch.cat(outs)


# ----------------------------------------------------------------------------------------------------
# fast exact sampling

def sample_categorical(logits: torch.Tensor, generator: torch.Generator | None = None,
                       block: int = 100) -> torch.Tensor:
    """One exact sample per row of Categorical(softmax(logits)), logits (n, V) -> ids (n,).

    Inverse-CDF sampling in two levels: unnormalised probabilities e = exp(logits - max), their block
    sums S_k over blocks of `block` tokens, then u ~ U(0, sum e) picks the block k with
    S_1 + .. + S_{k-1} <= u < S_1 + .. + S_k and the token inside it the same way. The same distribution
    as torch.multinomial, several times faster on a CPU for V = 5000, and faster than a one-level inverse
    CDF (oracle.sample_logits) because it avoids the full-length cumsum; the rollouts draw ~200,000 rows of
    5,000 logits per generator step, so this matters. A test checks the frequencies.
    """
    n, V = logits.shape
    pad = (-V) % block
    e = (logits - logits.amax(-1, keepdim=True)).exp_()                    # (n, V) in (0, 1]
    if pad:
        e = F.pad(e, (0, pad))                                              # zero mass: never picked
    nb = e.shape[1] // block
    eb = e.view(n, nb, block)                                               # (n, nb, block)
    cb = eb.sum(-1).cumsum_(-1)                                             # (n, nb) block CDF
    u = torch.rand(n, 1, generator=generator, device=logits.device, dtype=e.dtype) * cb[:, -1:]
    k = torch.searchsorted(cb, u, right=True).clamp_(max=nb - 1)            # (n, 1) the block
    lo = cb.gather(1, (k - 1).clamp(min=0)) * (k > 0)                       # mass before block k
    inner = eb.gather(1, k.unsqueeze(2).expand(n, 1, block)).squeeze(1).cumsum_(-1)  # (n, block)
    j = torch.searchsorted(inner, u - lo, right=True)
    j = torch.minimum(j, (inner < inner[:, -1:]).sum(1, keepdim=True))     # rounding: stay on mass
    return (k * block + j).squeeze(1)


def _head_sample(G, h: torch.Tensor, generator, temperature: float, chunk: int = 4096) -> torch.Tensor:
    """Next tokens for LSTM outputs h (n, H): G's head then sample_categorical, in chunks of rows
    (so the (chunk, V) logits stay small in memory)."""
    out = []
    for part in h.split(chunk):
        logits = G.head(part)                                               # (chunk, V)
        if temperature != 1.0:
            logits = logits / temperature
        out.append(sample_categorical(logits, generator))
    return torch.cat(out) if out else torch.empty(0, dtype=torch.long, device=h.device)


@torch.no_grad()
def nll_at_temperature(G, tokens: torch.Tensor, temperature: float = 1.0, batch_size: int = 1000) -> float:
    """Mean NLL per token of tokens (n, T) under G with its logits divided by `temperature`: the
    NLL_test of the temperature-scaled model (Caccia et al. 2018's sweep needs both axes at each tau)."""
    from .models.lm import check_sampling

    check_sampling(temperature, None, G.config.vocab_size)
    tokens = G._check_tokens(tokens)
    total = 0.0
    for part in tokens.split(batch_size):
        logits, _ = G(G.inputs_for(part))                                   # (b, T, V)
        logp = torch.log_softmax(logits / temperature, -1)
        total -= logp.gather(-1, part.unsqueeze(-1)).sum().item()
    return total / tokens.numel()


@torch.no_grad()
def oracle_scores(G, oracle, test: torch.Tensor, n: int, temperature: float = 1.0, seed: int = 123) -> dict:
    """NLL_oracle (quality: the oracle's NLL of n samples of G at `temperature`, drawn with `seed`) and
    NLL_test (coverage: G's NLL of the held-out `test` sequences at that temperature), nats per token, each
    with its standard error SD / sqrt(n) over the sequences (`metrics.text.mean_se`)."""
    from .metrics.text import mean_se

    xs = G.sample(checks.positive_int("n", n), temperature=temperature,
                  generator=torch.Generator(device=G.device).manual_seed(seed))
    q, q_se = mean_se(oracle.nll_per_sequence(xs))
    c, c_se = mean_se(G.nll_per_sequence(test, temperature=temperature))
    return {"nll_oracle": q, "nll_oracle_se": q_se, "nll_test": c, "nll_test_se": c_se}


# ----------------------------------------------------------------------------------------------------
# Monte Carlo rollouts and rewards

@torch.no_grad()
def prefix_states(G, tokens: torch.Tensor):
    """Read tokens (B, T) with G; for every prefix length t = 1..T-1 return the LSTM state after it.

    Returns (h, c), each (T-1, B, H): [t-1] is the state from which G predicts tokens[:, t].
    """
    inp = G.inputs_for(tokens)                    # (B, T) = [start, y_1 .. y_{T-1}]
    _, state = G.lstm(G.embed(inp[:, :1]))        # read the start token
    hs, cs = [], []
    for t in range(1, tokens.shape[1]):           # T-1 small steps of B rows (cheap next to the rollouts)
        _, state = G.lstm(G.embed(inp[:, t:t + 1]), state)   # now y_1..y_t are read
        hs.append(state[0][0])
        cs.append(state[1][0])
    return torch.stack(hs), torch.stack(cs)


@torch.no_grad()
def rollout(G, tokens: torch.Tensor, n_rollouts: int = 16, generator: torch.Generator | None = None,
            temperature: float = 1.0) -> torch.Tensor:
    """Complete every prefix of every sequence n_rollouts times with G.

    tokens: (B, T) sequences. Returns (T-1, N, B, T): [t-1, n, b] keeps tokens[b, :t] and continues it
    with a sample of G. One pass over time steps s = 1..T-1 serves all prefixes together: the rows whose
    prefix has length <= s are the first s*N*B rows of one batch, and only they are advanced at step s.
    """
    N = check_rollouts(n_rollouts)
    B, T = tokens.shape
    tokens = G._check_tokens(tokens)
    if T != G.config.seq_len:
        raise ValueError(f"tokens must be (B, seq_len={G.config.seq_len}); got {tuple(tokens.shape)}")
    out = tokens.expand(T - 1, N, B, T).clone()                  # (T-1, N, B, T) prefixes filled in
    if T == 1:
        return out
    hp, cp = prefix_states(G, tokens)                            # (T-1, B, H) each
    R, H = (T - 1) * N * B, hp.shape[-1]
    h = torch.empty(1, R, H, device=tokens.device)
    c = torch.empty(1, R, H, device=tokens.device)
    flat = out.view(R, T)
    for s in range(1, T):                                        # fill position s of every active row
        a, new = s * N * B, slice((s - 1) * N * B, s * N * B)    # rows of prefixes of length <= s; new ones
        h[0, new] = hp[s - 1].repeat(N, 1)                       # group s: N copies of the state after y_1..y_s
        c[0, new] = cp[s - 1].repeat(N, 1)
        nxt = _head_sample(G, h[0, :a], generator, temperature)  # (a,) sampled tokens
        flat[:a, s] = nxt
        if s < T - 1:
            _, (h_a, c_a) = G.lstm(G.embed(nxt).unsqueeze(1), (h[:, :a], c[:, :a]))
            h[:, :a], c[:, :a] = h_a, c_a
    return out


@torch.no_grad()
def rollout_rewards(G, D, tokens: torch.Tensor, n_rollouts: int = 16, generator: torch.Generator | None = None,
                    chunk: int = 8192) -> torch.Tensor:
    """Per-token rewards (B, T): Q[:, t] = mean over rollouts of sigmoid(D(completion of y_1..y_{t+1}));
    the last column is sigmoid(D(tokens)) itself."""
    B, T = tokens.shape
    was = D.training
    D.eval()
    full = torch.sigmoid(score(D, G._check_tokens(tokens), chunk))                # (B,)
    if T > 1:
        comp = rollout(G, tokens, n_rollouts, generator)                          # (T-1, N, B, T)
        q = torch.sigmoid(score(D, comp.view(-1, T), chunk)).view(T - 1, -1, B).mean(1)  # (T-1, B)
        rewards = torch.cat([q.t(), full.unsqueeze(1)], dim=1)                    # (B, T)
    else:
        rewards = full.unsqueeze(1)
    D.train(was)
    return rewards


# ----------------------------------------------------------------------------------------------------
# REINFORCE

def baseline(rewards: torch.Tensor, kind: str = "loo", ema: torch.Tensor | None = None) -> torch.Tensor:
    """A baseline b (B, T) for rewards (B, T) that does not depend on the sequence's own actions.

    none: 0.  loo: at each position, the mean reward of the OTHER sequences of the batch (leave one out:
    unbiased).  mean: the batch mean including the sequence itself (slightly biased, by a factor
    (1 - 1/B) on the gradient; shown for comparison).  ema: a moving average `ema` (T,) from earlier batches.
    """
    if kind not in BASELINES:
        raise ValueError(f"baseline={kind!r}; allowed values: {', '.join(BASELINES)}")
    if rewards.dim() != 2:
        raise ValueError(f"rewards must be (B, T); got shape {tuple(rewards.shape)}")
    B = rewards.shape[0]
    if kind == "none":
        return torch.zeros_like(rewards)
    if kind == "mean":
        return rewards.mean(0, keepdim=True).expand_as(rewards)
    if kind == "loo":
        if B < 2:
            raise ValueError("the leave-one-out baseline needs a batch of at least 2 sequences")
        return (rewards.sum(0, keepdim=True) - rewards) / (B - 1)
    if ema is None:
        return torch.zeros_like(rewards)
    return ema.reshape(1, -1).expand_as(rewards)


def reinforce_loss(log_probs: torch.Tensor, rewards: torch.Tensor, kind: str = "loo",
                   ema: torch.Tensor | None = None) -> torch.Tensor:
    """Surrogate loss whose gradient is minus the REINFORCE estimate of grad E[reward], per sequence:

        loss = -1/B sum_b sum_t log G(y_bt | y_b,<t) (Q_bt - b_bt)

    log_probs: (B, T) log G(y_t | y_<t), differentiable; rewards: (B, T) per-token Q (no gradient).
    """
    if log_probs.shape != rewards.shape:
        raise ValueError(f"log_probs {tuple(log_probs.shape)} and rewards {tuple(rewards.shape)} must both be (B, T)")
    adv = (rewards - baseline(rewards, kind, ema)).detach()
    return -(log_probs * adv).sum(1).mean()


# ----------------------------------------------------------------------------------------------------
# diversity and collapse

def distinct_n(tokens: torch.Tensor, n: int = 2) -> float:
    """Distinct n-grams / all n-grams over the sample (1 = no n-gram repeats; near 0 = collapse)."""
    T = tokens.shape[1]
    if T < n:
        return 1.0
    grams = tokens.unfold(1, n, 1).reshape(-1, n)                # (B*(T-n+1), n)
    return torch.unique(grams, dim=0).shape[0] / grams.shape[0]


def top_bigram_share(tokens: torch.Tensor, ignore: int | None = PAD_ID) -> float:
    """The share of all bigrams taken by the most frequent one (bigrams with the `ignore` token, padding,
    left out). A generator stuck repeating "a b a b ..." has a large share even when its sequences are
    all distinct; natural text and the oracle's samples stay near 1% or below."""
    if tokens.shape[1] < 2:
        return 0.0
    grams = tokens.unfold(1, 2, 1).reshape(-1, 2)
    if ignore is not None:
        grams = grams[(grams != ignore).all(dim=1)]
    if len(grams) == 0:
        return 0.0
    return torch.unique(grams, dim=0, return_counts=True)[1].max().item() / len(grams)


def diversity(tokens: torch.Tensor) -> dict:
    """unique (fraction of distinct sequences), distinct-1, distinct-2 and the top bigram's share of a
    sample (B, T)."""
    return {"unique": torch.unique(tokens, dim=0).shape[0] / tokens.shape[0],
            "distinct1": distinct_n(tokens, 1), "distinct2": distinct_n(tokens, 2),
            "top_bigram": top_bigram_share(tokens)}


def collapse_report(tokens: torch.Tensor, min_unique: float = 0.5, min_distinct2: float = 0.05,
                    self_bleu=None, max_self_bleu: float = 0.9, max_top_bigram: float = 0.2) -> tuple[bool, str]:
    """(collapsed?, a sentence). Collapse: few distinct sequences, few distinct bigrams, one bigram taking
    more than max_top_bigram of all (a repeating loop), or a Self-BLEU (given, as a fraction in [0, 1])
    above max_self_bleu."""
    d = diversity(tokens)
    why = []
    if d["top_bigram"] > max_top_bigram:
        why.append(f"one bigram is {d['top_bigram']:.0%} of all bigrams (the samples repeat a loop)")
    if d["unique"] < min_unique:
        why.append(f"only {d['unique']:.0%} of {tokens.shape[0]} samples are distinct")
    if d["distinct2"] < min_distinct2:
        why.append(f"distinct-2 = {d['distinct2']:.3f} < {min_distinct2}")
    if self_bleu is not None and self_bleu > max_self_bleu:
        why.append(f"Self-BLEU = {self_bleu:.2f} > {max_self_bleu}")
    if why:
        return True, "mode collapse: " + "; ".join(why)
    return False, (f"diverse: {d['unique']:.0%} distinct samples, distinct-1 {d['distinct1']:.3f}, "
                   f"distinct-2 {d['distinct2']:.3f}")


# ----------------------------------------------------------------------------------------------------
# training

def d_epochs(D, opt, real: torch.Tensor, fake: torch.Tensor, epochs: int = 1, batch_size: int = 64,
             generator: torch.Generator | None = None) -> tuple[float, float]:
    """Train D on real (label 1) vs fake (label 0) for `epochs` passes; returns (mean loss, accuracy)."""
    x = torch.cat([real, fake]).to(D.out.weight.device)
    y = torch.cat([torch.ones(len(real)), torch.zeros(len(fake))]).to(x.device)
    D.train()
    tot, acc, n = 0.0, 0.0, 0
    for _ in range(epochs):
        for idx in torch.randperm(len(x), generator=generator).split(batch_size):
            logits = score(D, x[idx])
            loss = F.binary_cross_entropy_with_logits(logits, y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            tot += loss.item() * len(idx)
            acc += ((logits > 0).float() == y[idx]).sum().item()
            n += len(idx)
    return tot / n, acc / n


def pretrain_generator(G, data: torch.Tensor, epochs: int, lr: float = 1e-2, batch_size: int = 64,
                       seed: int = 0, evaluate=None, callback=None, path=None, retrain: bool = False,
                       valid: torch.Tensor | None = None, patience: int | None = None) -> dict:
    """MLE pretraining (teacher forcing) for `epochs` passes over data (n, T), or load it from `path`.

    evaluate(G) -> dict of metrics after every epoch (e.g. NLL_oracle); callback(epoch, logs) after it.
    valid (m, T): held-out sequences; their NLL per token is logged as "valid_nll" after every epoch and G
    ends with the weights of the epoch where it was lowest (early stopping; hist["best_epoch"]). patience:
    stop after that many epochs without a new lowest valid_nll (None: run all `epochs`, still keep the best).
    path: a checkpoint file (e.g. data/checkpoints/09-mle.pt). If it holds a run with the same settings,
    G's weights and the history are loaded instead of training; otherwise G is trained and saved there
    (see `checkpoint.reusable`: a run with other settings is kept as <name>.previous.pt; a file that is not
    a 'seqgan-mle' checkpoint is refused, never overwritten; retrain=True trains and replaces it).
    Returns the history {name: [(epoch, value), ...], "seconds": training time}.
    A NaN/Inf loss or weight restores the weights of the last good epoch and raises `train.TrainingDiverged`.
    """
    from . import checkpoint
    from .train import DivergenceGuard

    if not isinstance(epochs, int) or epochs < 0:
        raise ValueError(f"epochs must be an integer >= 0; got {epochs!r}")
    lr, batch_size = checks.learning_rate("lr", lr), checks.positive_int("batch_size", batch_size)
    seed = checks.nonneg_int("seed", seed)
    if patience is not None:
        patience = checks.positive_int("patience", patience)
        if valid is None:
            raise ValueError(f"patience={patience} is not allowed without valid; allowed: patience=None, or "
                             "held-out sequences as valid")
    config = {"epochs": epochs, "lr": lr, "batch_size": batch_size, "seed": seed, "n": len(data),
              "generator": dict(vars(G.config)), "data_sum": int(data.long().sum())}
    if valid is not None:      # only then: checkpoints of runs without a validation set stay reusable
        config.update(valid_n=len(valid), valid_sum=int(valid.long().sum()), patience=patience)
    ck = None if path is None else checkpoint.reusable(path, kind="seqgan-mle", config=config, retrain=retrain)
    if ck is not None:
        checkpoint.load_state(G, ck["state"]["G"], path)
        hist = {k: [tuple(p) for p in v] if isinstance(v, list) else v for k, v in ck["extra"]["history"].items()}
        hist["loaded"] = True
        return hist
    if path is not None:
        checks.writable_dir("path (its folder)", Path(path).parent)      # before training, not after
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(G.parameters(), lr=lr)
    guard = DivergenceGuard(G, optimizers=[opt], snapshot_every=1, hint=f"lower lr (now {lr:g})")
    hist: dict = {}
    best, best_state, epoch = math.inf, None, 0
    t0 = time.perf_counter()
    for epoch in range(1, epochs + 1):
        logs = {"train_nll": mle_epoch(G, opt, data, batch_size, generator=gen)}
        guard.check(epoch, **logs)
        if valid is not None:
            with torch.no_grad():
                logs["valid_nll"] = G.nll(valid, batch_size=1000).item()
            if logs["valid_nll"] < best:
                best, hist["best_epoch"] = logs["valid_nll"], epoch
                best_state = {k: v.detach().clone() for k, v in G.state_dict().items()}
        if evaluate is not None:
            logs.update(evaluate(G))
        for k, v in logs.items():
            hist.setdefault(k, []).append((epoch, float(v)))
        if callback is not None:
            callback(epoch, logs)
        if patience is not None and epoch - hist["best_epoch"] >= patience:
            break
    hist["seconds"] = time.perf_counter() - t0
    hist["epochs_run"] = epoch
    if best_state is not None:
        G.load_state_dict(best_state)
    if path is not None:
        checkpoint.save(path, kind="seqgan-mle", config=config, step=epoch, state={"G": G.state_dict()},
                        extra={"history": {k: [list(p) for p in v] if isinstance(v, list) else v
                                           for k, v in hist.items()}})
    return hist


def pretrain_discriminator(D, G, real: torch.Tensor, rounds: int = 3, n: int = 5000, epochs: int = 2,
                           lr: float = 1e-4, seed: int = 0, opt=None,
                           callback=None) -> tuple[list, torch.optim.Optimizer]:
    """Train D on real vs G's samples: `rounds` times draw n fresh fakes and n reals, `epochs` passes.
    (Paper: 50 rounds of 10,000 with 3 epochs.) Returns ([(loss, accuracy) per round], D's optimiser).
    callback(round, loss, accuracy) after every round.
    A NaN/Inf loss or weight restores D's weights of the last good round and raises `train.TrainingDiverged`."""
    from .train import DivergenceGuard

    rounds, n = checks.nonneg_int("rounds", rounds), checks.positive_int("n", n)
    epochs = checks.positive_int("epochs", epochs)
    lr, seed = checks.learning_rate("lr", lr), checks.nonneg_int("seed", seed)
    gen = torch.Generator().manual_seed(seed)
    opt = opt if opt is not None else torch.optim.Adam(D.parameters(), lr=lr)
    guard = DivergenceGuard(D, optimizers=[opt], snapshot_every=1, hint=f"lower lr (now {lr:g})")
    out = []
    for r in range(1, rounds + 1):
        fake = G.sample(n, generator=gen if G.device.type == "cpu" else None)
        reals = real[torch.randint(len(real), (n,), generator=gen)]
        out.append(d_epochs(D, opt, reals, fake, epochs, generator=gen))
        guard.check(r, loss_d=out[-1][0])
        if callback is not None:
            callback(r, *out[-1])
    return out, opt


def _check_vocabularies(G, D, real) -> None:
    """G, D and the real data must share one vocabulary: a clear error here, not an IndexError in torch."""
    v_g = G.config.vocab_size
    v_d = getattr(getattr(D, "config", None), "vocab_size", v_g)
    if v_d != v_g:
        raise ValueError(f"the vocabularies disagree: G.vocab_size={v_g} but D's vocab_size={v_d}; allowed: "
                         "the same vocabulary for G, D and the real data")
    if real.numel() and (int(real.min()) < 0 or int(real.max()) >= v_g):
        raise ValueError(f"real holds ids {int(real.min())}..{int(real.max())}; allowed: ids in 0..{v_g - 1} "
                         f"(the vocab_size of G and D)")


@dataclass
class SeqGANConfig:
    n_rollouts: int = 16          # Monte Carlo rollouts per prefix (paper: 16)
    batch_size: int = 64          # sequences per generator step (paper: 64)
    g_steps: int = 1              # generator steps per adversarial epoch (paper: 1)
    lr_g: float = 1e-2            # Adam learning rate of G in the adversarial phase (paper's code: 0.01)
    baseline: str = "loo"         # "loo", "ema", "mean" or "none" (the paper: none)
    ema_decay: float = 0.9        # for baseline="ema"
    d_steps: int = 1              # times per epoch D gets fresh fake samples (paper: 5)
    d_samples: int = 1024         # fake (and as many real) sequences per D step (paper: 10,000)
    d_epochs: int = 1             # passes of D over them (paper: 3)
    lr_d: float = 1e-4            # Adam learning rate of D (paper's code: 1e-4)
    clip: float = 5.0             # gradient-norm clip of G (paper's code: 5.0)
    mle_every: int = 0            # interleave one MLE epoch every k adversarial epochs (0: never)
    rollout_update_rate: float | None = None   # None: rollouts use the current G; r in [0, 1): a delayed
    #                               copy, after every G step  theta_roll <- r theta_roll + (1 - r) theta_G
    #                               (SeqGAN's code: ROLLOUT(generator, 0.8), embeddings copied outright)

    def __post_init__(self):
        pos = checks.positive_int
        checks.fields(self, n_rollouts=pos, batch_size=pos, g_steps=pos, lr_g=checks.learning_rate,
                      ema_decay=partial(checks.probability, hi_open=True), d_steps=checks.nonneg_int,
                      d_samples=pos, d_epochs=pos, lr_d=checks.learning_rate, clip=checks.clip,
                      mle_every=checks.nonneg_int)
        r = self.rollout_update_rate
        if r is not None and (isinstance(r, bool) or not isinstance(r, (int, float)) or not 0 <= r < 1):
            raise ValueError(f"rollout_update_rate={r!r} is not allowed; allowed: None (rollouts with the current "
                             "G) or a number in [0, 1) (SeqGAN's code: 0.8)")


class SeqGAN:
    """Adversarial phase of SeqGAN. G: a SeqGenerator (pretrained), D: a CNNDiscriminator, real (n, T).

        gan = SeqGAN(G, D, real, SeqGANConfig(), generator=torch.Generator().manual_seed(0))
        logs = gan.epoch()              # one G step and the D steps; returns losses, rewards, seconds
        hist = gan.train(50, callback=lambda epoch, logs: ...)

    `times` accumulates seconds per phase: rollout (rewards), g_update, d_sample, d_train.
    """

    def __init__(self, G, D, real: torch.Tensor, config: SeqGANConfig | None = None,
                 generator: torch.Generator | None = None):
        c = config or SeqGANConfig()
        check_rollouts(c.n_rollouts)
        baseline(torch.zeros(2, 1), c.baseline)  # validates the name
        if real.dim() != 2 or real.shape[1] != G.config.seq_len:
            raise ValueError(f"real must be (n, seq_len={G.config.seq_len}); got {tuple(real.shape)}")
        _check_vocabularies(G, D, real)
        self.G, self.D, self.real, self.config = G, D, real, c
        self.gen = generator if generator is not None else torch.Generator().manual_seed(0)
        self.opt_g = torch.optim.Adam(G.parameters(), lr=c.lr_g)
        self.opt_d = torch.optim.Adam(D.parameters(), lr=c.lr_d)
        self.opt_mle = None
        self.ema = None
        # the rollout policy: G itself, or SeqGAN's delayed copy of it (updated in update_rollout_net)
        self.G_roll = G if c.rollout_update_rate is None else copy.deepcopy(G).requires_grad_(False)
        self.epochs_done = 0
        self.times = {"rollout": 0.0, "g_update": 0.0, "d_sample": 0.0, "d_train": 0.0, "mle": 0.0}

    def _tick(self, phase, t0):
        now = time.perf_counter()
        self.times[phase] += now - t0
        return now

    def g_step(self) -> dict:
        c, G = self.config, self.G
        t0 = time.perf_counter()
        tokens = G.sample(c.batch_size, generator=self.gen_for(G))      # (B, T)
        rewards = rollout_rewards(self.G_roll, self.D, tokens, c.n_rollouts, self.gen_for(G))  # (B, T)
        t0 = self._tick("rollout", t0)
        G.train()
        loss = reinforce_loss(G.log_probs(tokens), rewards, c.baseline, self.ema)
        self.opt_g.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(G.parameters(), math.inf if c.clip is None else c.clip)
        self.opt_g.step()
        if c.baseline == "ema":
            m = rewards.mean(0).detach()
            self.ema = m if self.ema is None else c.ema_decay * self.ema + (1 - c.ema_decay) * m
        self.update_rollout_net()
        self._tick("g_update", t0)
        return {"reward": rewards[:, -1].mean().item(), "loss_g": loss.item()}

    @torch.no_grad()
    def update_rollout_net(self) -> None:
        """SeqGAN's `rollout.update_params()`: theta_roll <- r theta_roll + (1 - r) theta_G for the LSTM and
        the output layer, the embedding copied (as in the reference code). No-op when rollouts use G."""
        r = self.config.rollout_update_rate
        if self.G_roll is self.G:
            return
        for (name, p_roll), p in zip(self.G_roll.named_parameters(), self.G.parameters()):
            if name.startswith("embed."):
                p_roll.copy_(p)
            else:
                p_roll.mul_(r).add_(p, alpha=1 - r)

    def gen_for(self, module):
        """The torch.Generator for sampling on module's device (CPU: ours; elsewhere: the global one)."""
        return self.gen if module.device.type == "cpu" else None

    def d_step(self) -> dict:
        c = self.config
        t0 = time.perf_counter()
        fake = self.G.sample(c.d_samples, generator=self.gen_for(self.G))
        real = self.real[torch.randint(len(self.real), (c.d_samples,), generator=self.gen)]
        t0 = self._tick("d_sample", t0)
        loss, acc = d_epochs(self.D, self.opt_d, real, fake, c.d_epochs, generator=self.gen)
        self._tick("d_train", t0)
        return {"loss_d": loss, "acc_d": acc}

    def epoch(self) -> dict:
        logs = {}
        for _ in range(self.config.g_steps):
            logs.update(self.g_step())
        if self.config.mle_every and (self.epochs_done + 1) % self.config.mle_every == 0:
            t0 = time.perf_counter()
            if self.opt_mle is None:
                self.opt_mle = torch.optim.Adam(self.G.parameters(), lr=1e-2)
            logs["mle"] = mle_epoch(self.G, self.opt_mle, self.real, generator=self.gen)
            self._tick("mle", t0)
        for _ in range(self.config.d_steps):
            logs.update(self.d_step())
        self.epochs_done += 1
        return logs

    def train(self, epochs: int, callback=None, every: int = 1, evaluate=None) -> dict:
        """Run `epochs` adversarial epochs. evaluate(G) -> dict of metrics is called every `every`
        epochs (e.g. NLL_oracle); callback(epoch, logs) after it. A collapse warns (ModeCollapse). A NaN/Inf
        loss or weight restores the weights of the last good epoch and raises `train.TrainingDiverged`."""
        from .train import DivergenceGuard

        guard = DivergenceGuard(self.G, self.D, optimizers=[self.opt_g, self.opt_d], snapshot_every=1,
                                hint="lower SeqGANConfig.lr_g (and lr_d)")
        hist: dict = {}
        for e in range(epochs):
            logs = self.epoch()
            guard.check(e + 1, **logs)                  # before evaluating: never score NaN weights
            if evaluate is not None and (e % every == 0 or e == epochs - 1):
                logs.update(evaluate(self.G))
            for k, v in logs.items():
                hist.setdefault(k, []).append((self.epochs_done, float(v)))
            if e % every == 0 or e == epochs - 1:
                xs = self.G.sample(256, generator=self.gen_for(self.G))
                collapsed, msg = collapse_report(xs)
                if collapsed:
                    warnings.warn(f"epoch {self.epochs_done}: {msg}", ModeCollapse, stacklevel=2)
                if callback is not None:
                    callback(self.epochs_done, logs)
        return hist
