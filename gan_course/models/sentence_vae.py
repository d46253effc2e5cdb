"""A sentence VAE (Bowman et al. 2016): a GRU encoder to a Gaussian q(z|x), a GRU language model p(x|z).

    encoder q(z|x):  x_1..x_n <eos> -> embedding -> GRU -> last state -> (mu, logvar), each (B, d_z)
    decoder p(x|z):  <bos> x_1..x_n -> [embedding ; z] -> GRU (h_0 = tanh(W z)) -> logits (B, T, V)
    objective:       maximise ELBO(x) = E_q[log p(x|z)] - KL(q(z|x) || N(0, I))       (nats per sentence)

A decoder that is a strong autoregressive LM can model x without z, and the KL term pushes q(z|x) to
the prior: trained naively, KL -> 0 and z is ignored ("posterior collapse"). The cures measured in
notebook 10, each a field of `SentenceVAEConfig`:

    kl_schedule    KL annealing (Bowman et al. 2016): the KL weight beta rises from 0 to 1 ("linear",
                   "sigmoid"), or repeats that ramp ("cyclical", Fu et al. 2019).
    word_dropout   Bowman et al. 2016: each decoder input word is replaced by <unk> with this probability,
                   so the decoder must get the missing information from z.
    free_bits      Kingma et al. 2016: the KL of each latent dimension (averaged over the batch) is not
                   penalised below this many nats: sum_j max(lambda, KL_j).

Evaluation: `iw_nll` is the importance-weighted estimate of -log p(x) (Burda et al. 2016), an upper bound
on the true NLL that tightens as k grows (the ELBO is k = 1); `active_units` counts the latent dimensions
with Cov_x(E_q[z_j]) > 0.01 (Burda et al. 2016). Annealing and word dropout change how the model is
trained; the numbers reported are always those of the true model (beta = 1, no dropout, no free bits).

References: Bowman, Vilnis, Vinyals, Dai, Jozefowicz, Bengio 2016 "Generating sentences from a continuous
space"; Kingma, Salimans, Jozefowicz, Chen, Sutskever, Welling 2016 "Improved variational inference with
inverse autoregressive flow" (free bits); Burda, Grosse, Salakhutdinov 2016 "Importance weighted
autoencoders"; Fu et al. 2019 "Cyclical annealing schedule".
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from .. import checks, losses
from ..data.vocab import BOS_ID, EOS_ID, PAD_ID, UNK_ID, pad_batch
from .lm import check_sampling, filter_logits

KL_SCHEDULES = ("constant", "linear", "sigmoid", "cyclical")
CHECKPOINT_DIR = Path(__file__).resolve().parents[2] / "data" / "checkpoints"   # git-ignored


@dataclass
class SentenceVAEConfig:
    vocab_size: int                 # size of the vocabulary, special tokens included
    emb: int = 64                   # token embedding width (shared by encoder and decoder)
    hidden: int = 256               # GRU state width of the encoder and of the decoder
    d_z: int = 16                   # latent size
    z_to_init: bool = True          # z sets the decoder's initial state h_0 = tanh(W z)
    z_to_input: bool = True         # z is concatenated to every decoder input
    word_dropout: float = 0.0       # probability of replacing a decoder input word by <unk> (training only)
    kl_schedule: str = "constant"   # KL weight over training: constant (1), linear, sigmoid, cyclical
    kl_warmup: int = 1000           # steps for the KL weight to reach 1 (one cycle's ramp for cyclical)
    free_bits: float = 0.0          # nats per latent dimension not penalised (0: the plain ELBO)
    lr: float = 3e-3                # Adam learning rate
    batch_size: int = 64            # sentences per step
    steps: int = 2000               # training steps
    clip: float | None = 1.0        # gradient norm clipping (None: none)
    seed: int = 0                   # seed of the initial weights, minibatches and noise

    def __post_init__(self):
        checks.fields(self, vocab_size=checks.vocab_size, emb=checks.positive_int,
                      hidden=checks.positive_int, z_to_init=checks.boolean, z_to_input=checks.boolean,
                      kl_warmup=checks.nonneg_int, free_bits=checks.nonneg_float, lr=checks.learning_rate,
                      batch_size=checks.positive_int, steps=checks.nonneg_int, clip=checks.clip,
                      seed=checks.nonneg_int)


def check_config(cfg: SentenceVAEConfig) -> None:
    """Clear errors for out-of-range settings, before anything is built."""
    if cfg.vocab_size < 5:
        raise ValueError(f"vocab_size must be > 4 (the special tokens); got {cfg.vocab_size}")
    for name in ("emb", "hidden", "d_z", "batch_size", "kl_warmup"):
        v = getattr(cfg, name)
        if not isinstance(v, int) or isinstance(v, bool) or v < 1:
            raise ValueError(f"{name} must be a positive integer; got {v!r}")
    if not 0.0 <= cfg.word_dropout <= 1.0:
        raise ValueError(f"word_dropout must be a probability in [0, 1]; got {cfg.word_dropout!r}")
    if cfg.kl_schedule not in KL_SCHEDULES:
        raise ValueError(f"kl_schedule={cfg.kl_schedule!r}; allowed values: {', '.join(KL_SCHEDULES)}")
    if cfg.free_bits < 0:
        raise ValueError(f"free_bits must be >= 0 nats per dimension; got {cfg.free_bits!r}")
    if not (cfg.z_to_init or cfg.z_to_input):
        raise ValueError("the decoder must see z somewhere: set z_to_init and/or z_to_input to True")


# ------------------------------------------------------------------------------- pure pieces


def kl_weight(step: int, schedule: str = "constant", warmup: int = 1000) -> float:
    """The KL weight beta at a training step.

    constant: 1.   linear: min(1, step / warmup).
    sigmoid:  1 / (1 + exp(-10 (step / warmup - 1/2)))  (Bowman et al.'s logistic ramp, ~1 at `warmup`).
    cyclical: linear over the first half of each cycle of `warmup` steps, then 1 (Fu et al. 2019).
    """
    if schedule not in KL_SCHEDULES:
        raise ValueError(f"schedule={schedule!r}; allowed values: {', '.join(KL_SCHEDULES)}")
    if warmup < 1:
        raise ValueError(f"warmup must be a positive number of steps; got {warmup!r}")
    if schedule == "constant":
        return 1.0
    if schedule == "linear":
        return min(1.0, step / warmup)
    if schedule == "sigmoid":
        return 1.0 / (1.0 + math.exp(-10.0 * (step / warmup - 0.5)))
    return min(1.0, 2.0 * (step % warmup) / warmup)  # cyclical


def free_bits_kl(kl_dims: torch.Tensor, free_bits: float = 0.0) -> torch.Tensor:
    """The KL term to minimise, per sentence, from per-dimension KLs (B, d_z) -> scalar:

        free_bits = 0:  mean_b sum_j KL_bj                 (the ELBO's KL)
        free_bits = l:  sum_j max(l, mean_b KL_bj)         (Kingma et al. 2016, one group per dimension)

    Below l nats a dimension's KL costs nothing (and gets no gradient), so the encoder can use it freely.
    """
    if kl_dims.dim() != 2:
        raise ValueError(f"kl_dims must have shape (batch, d_z); got {tuple(kl_dims.shape)}")
    if free_bits < 0:
        raise ValueError(f"free_bits must be >= 0; got {free_bits!r}")
    if free_bits == 0:
        return kl_dims.sum(1).mean()
    return kl_dims.mean(0).clamp(min=free_bits).sum()


def vae_objective(rec: torch.Tensor, kl_dims: torch.Tensor, beta: float = 1.0,
                  free_bits: float = 0.0) -> torch.Tensor:
    """Loss to minimise, nats per sentence: mean_b rec_b + beta * free_bits_kl(kl_dims), where
    rec_b = -log p(x_b|z_b). With beta = 1 and free_bits = 0 this is the negative ELBO."""
    if rec.dim() != 1 or rec.shape[0] != kl_dims.shape[0]:
        raise ValueError(f"rec must be (batch,) matching kl_dims (batch, d_z); got {tuple(rec.shape)} "
                         f"and {tuple(kl_dims.shape)}")
    if beta < 0:
        raise ValueError(f"beta must be >= 0; got {beta!r}")
    return rec.mean() + beta * free_bits_kl(kl_dims, free_bits)


def kl_per_dim(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, exp(logvar)) || N(0, 1)) for each dimension: (B, d) -> (B, d). Sums to losses.gaussian_kl."""
    return 0.5 * (mu.pow(2) + logvar.exp() - logvar - 1)


def word_dropout(inputs: torch.Tensor, p: float, generator=None) -> torch.Tensor:
    """Replace each word of the decoder inputs (B, T) by <unk> with probability p; <bos> and <pad> stay."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"p must be a probability in [0, 1]; got {p!r}")
    if p == 0:
        return inputs
    u = torch.rand(inputs.shape, generator=generator, device=generator.device if generator is not None
                   else inputs.device).to(inputs.device)
    drop = (u < p) & (inputs != BOS_ID) & (inputs != PAD_ID)
    return inputs.masked_fill(drop, UNK_ID)


def vae_batch(seqs, device=None):
    """Id lists [<bos>, ..., <eos>] -> (inputs (B, T), targets (B, T)): targets = inputs shifted by one,
    <pad> after each sentence (the same as lm.lm_batch)."""
    toks, _ = pad_batch(seqs)                        # (B, T+1)
    toks = toks.to(device) if device is not None else toks
    return toks[:, :-1], toks[:, 1:]


def bucket_batches(seqs, batch_size: int, generator=None, pool: int = 50):
    """Yield batches forever; each of sentences of similar length (less padding: ~30% faster on a CPU).

    Every `pool` batches' worth of shuffled sentences is sorted by length, cut into batches, and the
    batches are shuffled, so every sentence is seen once per pass, in a random order of random batches.
    """
    if not seqs:
        raise ValueError("seqs is empty: no sentences to batch")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer; got {batch_size!r}")
    while True:
        order = torch.randperm(len(seqs), generator=generator).tolist()
        for start in range(0, len(order), batch_size * pool):
            chunk = sorted(order[start:start + batch_size * pool], key=lambda i: len(seqs[i]))
            cut = [chunk[i:i + batch_size] for i in range(0, len(chunk), batch_size)]
            for j in torch.randperm(len(cut), generator=generator).tolist():
                yield [seqs[i] for i in cut[j]]


# ------------------------------------------------------------------------------------- the model


def _check_ids(name, t, vocab_size):
    if not isinstance(t, torch.Tensor) or t.dtype != torch.long or t.dim() != 2:
        raise ValueError(f"{name} must be a (batch, time) LongTensor of ids; got "
                         + (f"{t.dtype} {tuple(t.shape)}" if isinstance(t, torch.Tensor) else type(t).__name__))
    if t.numel() and (t.min() < 0 or t.max() >= vocab_size):
        raise ValueError(f"{name} must hold ids in 0..{vocab_size - 1}; got values in {int(t.min())}..{int(t.max())}")


class SentenceEncoder(nn.Module):
    """targets (B, T): x_1..x_n <eos> then <pad> -> a GRU's state after <eos> -> Linear -> (B, d_out)."""

    def __init__(self, embed: nn.Embedding, hidden: int, d_out: int):
        super().__init__()
        self.embed = embed                                                     # shared with the decoder
        self.rnn = nn.GRU(embed.embedding_dim, hidden, batch_first=True)
        self.out = nn.Linear(hidden, d_out)

    def forward(self, targets: torch.Tensor) -> torch.Tensor:
        _check_ids("targets", targets, self.embed.num_embeddings)
        lengths = (targets != PAD_ID).sum(1).clamp(min=1)                      # (B,)
        h, _ = self.rnn(self.embed(targets))                                   # (B, T, H)
        last = h[torch.arange(len(targets), device=targets.device), lengths - 1]  # (B, H): the state after <eos>
        return self.out(last)                                                  # (B, d_out)


class ConditionalDecoder(nn.Module):
    """A GRU language model conditioned on a code z: p(x|z) = prod_t p(x_t | x_<t, z).

    z enters as the initial state h_0 = tanh(W z) (z_to_init) and/or concatenated to every input
    embedding (z_to_input). Inputs are token ids, or (for the relaxed generator of notebook 11) already
    embedded vectors, e.g. soft one-hots times the embedding matrix.
    """

    def __init__(self, embed: nn.Embedding, hidden: int, d_z: int, z_to_init: bool = True, z_to_input: bool = True):
        super().__init__()
        if not (z_to_init or z_to_input):
            raise ValueError("the decoder must see z somewhere: set z_to_init and/or z_to_input to True")
        self.embed, self.hidden, self.d_z = embed, hidden, d_z
        self.vocab_size = embed.num_embeddings
        self.z_to_input = z_to_input
        self.to_h0 = nn.Linear(d_z, hidden) if z_to_init else None
        self.rnn = nn.GRU(embed.embedding_dim + (d_z if z_to_input else 0), hidden, batch_first=True)
        self.head = nn.Linear(hidden, self.vocab_size)

    def init_state(self, z: torch.Tensor):
        """Initial state (1, B, H): tanh(W z), or zeros when z only enters through the inputs."""
        if self.to_h0 is None:
            return torch.zeros(1, len(z), self.hidden, device=z.device)
        return torch.tanh(self.to_h0(z)).unsqueeze(0)

    def forward_embedded(self, e: torch.Tensor, z: torch.Tensor, state=None):
        """e (B, T, E) input vectors, z (B, d_z) -> (logits (B, T, V), state)."""
        if z.dim() != 2 or z.shape[1] != self.d_z:
            raise ValueError(f"z must have shape (batch, {self.d_z}); got {tuple(z.shape)}")
        if self.z_to_input:
            e = torch.cat([e, z.unsqueeze(1).expand(-1, e.shape[1], -1)], -1)  # (B, T, E + d_z)
        h, state = self.rnn(e, self.init_state(z) if state is None else state)  # (B, T, H)
        return self.head(h), state                                             # (B, T, V)

    def forward(self, inputs: torch.Tensor, z: torch.Tensor, state=None, return_state: bool = False):
        """inputs (B, T) ids (<bos> first), z (B, d_z) -> logits (B, T, V) of the next tokens."""
        _check_ids("inputs", inputs, self.vocab_size)
        logits, state = self.forward_embedded(self.embed(inputs), z, state)
        return (logits, state) if return_state else logits

    @torch.no_grad()
    def generate(self, z: torch.Tensor, max_len: int = 20, greedy: bool = True, temperature: float = 1.0,
                 top_k: int | None = None, generator=None) -> torch.Tensor:
        """Decode codes z (n, d_z) to ids (n, max_len), <pad> after <eos>. greedy: argmax at every step;
        else sample with temperature / top_k (as `LanguageModel.generate`)."""
        check_sampling(temperature, top_k, self.vocab_size)
        if z.dim() != 2 or z.shape[1] != self.d_z:
            raise ValueError(f"z must have shape (n, {self.d_z}); got {tuple(z.shape)}")
        if not isinstance(max_len, int) or max_len < 1:
            raise ValueError(f"max_len must be a positive integer; got {max_len!r}")
        was = self.training
        self.eval()
        dev = self.head.weight.device
        n, z = len(z), z.to(dev)
        tok = torch.full((n, 1), BOS_ID, dtype=torch.long, device=dev)
        out = torch.full((n, max_len), PAD_ID, dtype=torch.long, device=dev)
        done = torch.zeros(n, dtype=torch.bool, device=dev)
        state = None
        for t in range(max_len):
            logits, state = self(tok, z, state=state, return_state=True)       # (n, 1, V)
            logits = logits[:, -1]
            if greedy:
                nxt = logits.argmax(-1)
            else:
                probs = F.softmax(filter_logits(logits, temperature, top_k), dim=-1)
                nxt = torch.multinomial(probs, 1, generator=generator).squeeze(1)
            out[:, t] = nxt.masked_fill(done, PAD_ID)
            done |= nxt == EOS_ID
            if done.all():
                break
            tok = nxt.unsqueeze(1)
        self.train(was)
        return out


def rec_nll(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """-log p(x|z) per sentence, summed over its tokens (<pad> ignored): logits (B, T, V) -> (B,) nats."""
    # (B T, V) rows: the softmax runs over contiguous memory (logits.transpose(1, 2) is ~3x slower on a CPU)
    nll = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), ignore_index=PAD_ID,
                          reduction="none")                                    # (B T,)
    return nll.view(targets.shape).sum(1)


class SentenceVAE(nn.Module):
    """GRU encoder -> q(z|x); GRU decoder p(x|z). `forward(inputs, targets)` -> (logits, rec_nll, kl_dims)."""

    def __init__(self, cfg: SentenceVAEConfig):
        super().__init__()
        check_config(cfg)
        self.cfg = cfg
        self.embed = nn.Embedding(cfg.vocab_size, cfg.emb, padding_idx=PAD_ID)
        self.encoder = SentenceEncoder(self.embed, cfg.hidden, 2 * cfg.d_z)   # -> (mu, logvar)
        self.decoder = ConditionalDecoder(self.embed, cfg.hidden, cfg.d_z, cfg.z_to_init, cfg.z_to_input)

    @property
    def device(self):
        return self.embed.weight.device

    def encode(self, targets: torch.Tensor):
        """targets (B, T): x_1..x_n <eos> then <pad> -> mu, logvar of q(z|x), each (B, d_z)."""
        mu, logvar = self.encoder(targets).chunk(2, dim=-1)                    # (B, d_z) each
        return mu, logvar.clamp(-10.0, 6.0)                                    # keeps exp(logvar) finite

    def forward(self, inputs: torch.Tensor, targets: torch.Tensor, word_dropout_p: float = 0.0,
                generator=None):
        """One-sample ELBO terms: (logits (B, T, V), rec_nll (B,), kl_dims (B, d_z)), z ~ q(z|x)."""
        if inputs.shape != targets.shape:
            raise ValueError(f"inputs and targets must have the same shape; got {tuple(inputs.shape)} "
                             f"and {tuple(targets.shape)}")
        mu, logvar = self.encode(targets)
        z = losses.reparameterize(mu, logvar, generator=generator)             # (B, d_z)
        dec_in = word_dropout(inputs, word_dropout_p, generator=generator) if word_dropout_p > 0 else inputs
        logits = self.decoder(dec_in, z)
        return logits, rec_nll(logits, targets), kl_per_dim(mu, logvar)

    @torch.no_grad()
    def log_weights(self, inputs: torch.Tensor, targets: torch.Tensor, k: int, generator=None) -> torch.Tensor:
        """log w = log p(x|z_k) + log p(z_k) - log q(z_k|x) for k draws z_k ~ q(z|x): (k, B)."""
        mu, logvar = self.encode(targets)                                      # (B, d)
        B = len(mu)
        mu_k, logvar_k = mu.expand(k, B, -1), logvar.expand(k, B, -1)          # (k, B, d)
        z = losses.reparameterize(mu_k.contiguous(), logvar_k.contiguous(), generator=generator)  # (k, B, d)
        log_q = losses.gaussian_log_prob(z, mu_k, logvar_k)                    # (k, B)
        log_pz = losses.gaussian_log_prob(z, torch.zeros_like(z), torch.zeros_like(z))
        rep = lambda t: t.unsqueeze(0).expand(k, *t.shape).reshape(k * B, *t.shape[1:])  # noqa: E731
        logits = self.decoder(rep(inputs), z.reshape(k * B, -1))               # (k B, T, V)
        log_px = -rec_nll(logits, rep(targets)).view(k, B)                     # (k, B)
        return log_px + log_pz - log_q

    def generate(self, z: torch.Tensor, max_len: int = 20, greedy: bool = True, temperature: float = 1.0,
                 top_k: int | None = None, generator=None) -> torch.Tensor:
        """Ids (n, max_len) decoded from codes z (n, d_z): see ConditionalDecoder.generate."""
        return self.decoder.generate(z, max_len, greedy, temperature, top_k, generator)

    @torch.no_grad()
    def sample_prior(self, n: int, generator=None) -> torch.Tensor:
        """z ~ N(0, I): (n, d_z) on the model's device."""
        return torch.randn(n, self.cfg.d_z, generator=generator).to(self.device)


def build(cfg: SentenceVAEConfig, device=None) -> SentenceVAE:
    check_config(cfg)
    torch.manual_seed(cfg.seed)
    return SentenceVAE(cfg).to(device or "cpu")


def interpolate(z_a: torch.Tensor, z_b: torch.Tensor, n: int = 5) -> torch.Tensor:
    """n codes on the straight line from z_a to z_b (both (d_z,)), ends included: (n, d_z)."""
    if z_a.shape != z_b.shape or z_a.dim() != 1:
        raise ValueError(f"z_a and z_b must be two codes of the same shape (d_z,); got {tuple(z_a.shape)} "
                         f"and {tuple(z_b.shape)}")
    if not isinstance(n, int) or n < 2:
        raise ValueError(f"n must be an integer >= 2 (the two ends); got {n!r}")
    w = torch.linspace(0, 1, n, device=z_a.device).unsqueeze(1)               # (n, 1)
    return (1 - w) * z_a + w * z_b


# --------------------------------------------------------------------------------- training


def vae_step(model: SentenceVAE, opt, seqs, beta: float, generator=None) -> dict:
    """One step on the training objective (annealed beta, word dropout, free bits from model.cfg).
    Returns nats per sentence: rec, kl (the true KL), loss, elbo (the true one-sample ELBO), beta; and rec_tok,
    the reconstruction in nats per predicted token (batches are length-bucketed, so the per-sentence rec
    zigzags with the batch's line length; per token it is a readable training curve)."""
    cfg = model.cfg
    inputs, targets = vae_batch(seqs, model.device)
    _, rec, kl_dims = model(inputs, targets, word_dropout_p=cfg.word_dropout, generator=generator)
    loss = vae_objective(rec, kl_dims, beta=beta, free_bits=cfg.free_bits)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    nn.utils.clip_grad_norm_(model.parameters(), math.inf if cfg.clip is None else cfg.clip)
    opt.step()
    kl = kl_dims.sum(1).mean().item()
    n_tok = int((targets != 0).sum())                     # predicted tokens (<eos> included, <pad> = 0 not)
    return {"rec": rec.mean().item(), "kl": kl, "loss": loss.item(), "elbo": -(rec.mean().item() + kl),
            "beta": beta, "rec_tok": rec.sum().item() / n_tok}


def fit(cfg: SentenceVAEConfig, train_seqs, device=None, callbacks=(), every: int = 50, desc: str = "sentence VAE"):
    """Train a sentence VAE for cfg.steps steps; returns (model, history). callbacks(i, logs) every `every`."""
    from ..train import DivergenceGuard, loop

    model = build(cfg, device)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    gen = torch.Generator().manual_seed(cfg.seed)
    data = bucket_batches(list(train_seqs), cfg.batch_size, generator=gen)

    def step(i):
        return vae_step(model, opt, next(data), kl_weight(i, cfg.kl_schedule, cfg.kl_warmup), generator=gen)

    guard = DivergenceGuard(model, optimizers=[opt], hint="lower SentenceVAEConfig.lr")
    history = loop(step, cfg.steps, guard=guard, callbacks=callbacks, every=every, desc=desc)
    return model, history


def load_or_train(path, kind: str, config, make, train, retrain: bool = False):
    """A model from the checkpoint at `path` if it was saved with the same kind and config, else train it
    and save it (atomically, under data/checkpoints/ by convention; git-ignored).

    make(): an untrained model of the right shape (to load the weights into).
    train(): (model, history) -- the training run.
    Returns (model, history, loaded: bool).
    A file at `path` that is not a `kind` checkpoint is refused with `checkpoint.CheckpointConflict`, never
    overwritten; one of this kind saved with other settings is kept as <name>.previous.pt (see
    `checkpoint.reusable`); retrain=True trains and replaces whatever is there.
    """
    from .. import checkpoint

    path = Path(path)
    ck = checkpoint.reusable(path, kind=kind, config=config, retrain=retrain)
    if ck is not None:
        model = make()
        checkpoint.load_state(model, ck["state"]["model"], path)
        hist = {k: [tuple(p) for p in v] for k, v in ck["extra"].get("history", {}).items()}
        return model, hist, True
    checks.writable_dir("path (its folder)", path.parent)               # before training, not after
    model, hist = train()
    checkpoint.save(path, kind=kind, config=config, state={"model": model.state_dict()},
                    extra={"history": {k: [list(p) for p in v] for k, v in hist.items()}})
    return model, hist, False


def load_or_fit(cfg: SentenceVAEConfig, train_seqs, path, device=None, callbacks=(), every: int = 50,
                desc: str = "sentence VAE", retrain: bool = False):
    """The model of `cfg` from the checkpoint at `path` if it was saved with the same config, else train
    it (and save it). Returns (model, history, loaded: bool)."""
    return load_or_train(path, "sentence_vae", cfg, lambda: build(cfg, device),
                         lambda: fit(cfg, train_seqs, device, callbacks, every, desc), retrain=retrain)


# ------------------------------------------------------------------ the same-size LM baseline


def fit_lm(lm_cfg, train_seqs, steps: int, batch_size: int = 64, lr: float = 3e-3, clip: float = 1.0,
           seed: int = 0, device=None, callbacks=(), every: int = 50, desc: str = "language model",
           valid_seqs=None, valid_every: int = 100):
    """The baseline a sentence VAE is compared with: `LanguageModel(lm_cfg)` trained exactly like the VAE
    (the same `bucket_batches`, Adam, clipping, steps). Returns (model, history with 'nll' per sentence and
    'nll_tok' per token).

    valid_seqs: held-out lines for early stopping: their NLL per token is measured every `valid_every`
    steps and at the last step (history 'valid_nll'), and the model ends with the weights of the lowest
    one (history 'best_step': [(step, valid_nll)]). None: the last weights."""
    import copy

    from ..train import DivergenceGuard, loop
    from .lm import LanguageModel

    valid_every = checks.positive_int("valid_every", valid_every)
    torch.manual_seed(seed)
    model = LanguageModel(lm_cfg).to(device or "cpu")
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    gen = torch.Generator().manual_seed(seed)
    data = bucket_batches(list(train_seqs), batch_size, generator=gen)
    valid = list(valid_seqs) if valid_seqs is not None else None
    n_valid_tok = sum(len(v) - 1 for v in valid) if valid else 0
    best = {"nll": math.inf, "step": -1, "state": None, "curve": []}

    def step(i):
        inputs, targets = vae_batch(next(data), model.head.weight.device)
        logits, _ = model(inputs)
        per_line = rec_nll(logits, targets)
        loss = per_line.mean()                                                 # nats per sentence, like the VAE
        opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), math.inf if clip is None else clip)
        opt.step()
        if valid and ((i + 1) % valid_every == 0 or i == steps - 1):         # early stopping on valid lines
            v = float(lm_nll(model, valid).sum()) / n_valid_tok
            best["curve"].append((i, v))
            if v < best["nll"]:
                best.update(nll=v, step=i, state=copy.deepcopy(model.state_dict()))
        return {"nll": loss.item(), "nll_tok": per_line.sum().item() / int((targets != 0).sum())}

    guard = DivergenceGuard(model, optimizers=[opt], hint="lower the learning rate")
    hist = loop(step, steps, guard=guard, callbacks=callbacks, every=every, desc=desc)
    if best["state"] is not None:
        model.load_state_dict(best["state"])
        hist["valid_nll"] = best["curve"]
        hist["best_step"] = [(best["step"], best["nll"])]
    return model, hist


def load_or_fit_lm(lm_cfg, train_seqs, path, steps: int, batch_size: int = 64, lr: float = 3e-3, seed: int = 0,
                   device=None, callbacks=(), every: int = 50, retrain: bool = False, valid_seqs=None,
                   valid_every: int = 100):
    """`fit_lm` with a checkpoint at `path` (reused only if saved with the same config, validation lines
    included). Returns (model, history, loaded)."""
    import dataclasses

    from .lm import LanguageModel

    config = dict(dataclasses.asdict(lm_cfg), steps=steps, batch_size=batch_size, lr=lr, seed=seed)
    if valid_seqs is not None:
        valid_seqs = list(valid_seqs)
        config.update(valid_lines=len(valid_seqs), valid_tokens=sum(len(v) for v in valid_seqs),
                      valid_every=valid_every)
    return load_or_train(path, "lm_baseline", config, lambda: LanguageModel(lm_cfg).to(device or "cpu"),
                         lambda: fit_lm(lm_cfg, train_seqs, steps, batch_size, lr, seed=seed, device=device,
                                        callbacks=callbacks, every=every, valid_seqs=valid_seqs,
                                        valid_every=valid_every), retrain=retrain)


@torch.no_grad()
def lm_nll(model, seqs, batch_size: int = 256) -> torch.Tensor:
    """-log p(x) per sentence under a LanguageModel, (N,) nats (exact: an LM has no latent to bound)."""
    was = model.training
    model.eval()
    out = []
    dev = next(model.parameters()).device
    for i in range(0, len(seqs), batch_size):
        inputs, targets = vae_batch(seqs[i:i + batch_size], dev)
        out.append(rec_nll(model(inputs)[0], targets).cpu())
    model.train(was)
    return torch.cat(out)


# ------------------------------------------------------------------------------- evaluation


@torch.no_grad()
def iw_nll(model: SentenceVAE, seqs, k: int = 50, batch_size: int = 64, generator=None) -> torch.Tensor:
    """Importance-weighted estimate of -log p(x) per sentence, (N,) nats: -L_k (Burda et al. 2016).
    An upper bound on the NLL that decreases toward it as k grows; k = 1 gives -ELBO (one sample)."""
    if not isinstance(k, int) or k < 1:
        raise ValueError(f"k must be a positive integer (importance samples); got {k!r}")
    checks.non_empty("seqs", seqs, "sentences (id lists)")
    batch_size = checks.positive_int("batch_size", batch_size)
    was = model.training
    model.eval()
    out = []
    for i in range(0, len(seqs), batch_size):
        inputs, targets = vae_batch(seqs[i:i + batch_size], model.device)
        out.append(-losses.iwae_bound(model.log_weights(inputs, targets, k, generator=generator)).cpu())
    model.train(was)
    return torch.cat(out)


@torch.no_grad()
def posterior_stats(model: SentenceVAE, seqs, batch_size: int = 256):
    """(mu (N, d_z), kl (N,)) of q(z|x) for every sentence."""
    was = model.training
    model.eval()
    mus, kls = [], []
    for i in range(0, len(seqs), batch_size):
        _, targets = vae_batch(seqs[i:i + batch_size], model.device)
        mu, logvar = model.encode(targets)
        mus.append(mu.cpu())
        kls.append(losses.gaussian_kl(mu, logvar).cpu())
    model.train(was)
    return torch.cat(mus), torch.cat(kls)


def active_units(mu: torch.Tensor, threshold: float = 0.01):
    """Burda et al. 2016: dimension j is active if A_j = Cov_x(E_q[z_j | x]) > threshold.
    mu: (N, d_z) posterior means over a data set. Returns (number active, A (d_z,))."""
    if mu.dim() != 2 or len(mu) < 2:
        raise ValueError(f"mu must be (N >= 2, d_z) posterior means; got {tuple(mu.shape)}")
    a = mu.var(0, unbiased=True)                                               # (d_z,)
    return int((a > threshold).sum()), a


@torch.no_grad()
def evaluate(model: SentenceVAE, seqs, k: int = 50, generator=None, per_line: bool = False) -> dict:
    """NLL (importance-weighted, k samples), KL and active units on `seqs`, in nats per sentence and token.

    nll_se: the standard error of the mean NLL per line, SD / sqrt(N) over the lines (the spread of the
    test lines only; not the seed-to-seed spread of training). per_line=True adds two tensors: "per_line"
    (N,) the IW NLL of every line (for paired differences between models on the same lines) and
    "kl_dims" (d_z,) the mean KL of each latent dimension (which dimensions carry the nats)."""
    if len(seqs) < 2:
        raise ValueError(f"seqs holds {len(seqs)} sentence(s); allowed: at least 2 (active units are a variance "
                         "over sentences)")
    nll = iw_nll(model, seqs, k=k, generator=generator)
    mu, kl = posterior_stats(model, seqs)
    n_tok = sum(len(s) - 1 for s in seqs)
    au, _ = active_units(mu)
    out = {"nll": float(nll.mean()), "nll_se": float(nll.std() / math.sqrt(len(nll))),
           "nll_per_token": float(nll.sum()) / n_tok, "kl": float(kl.mean()), "active_units": au,
           "ppl": math.exp(float(nll.sum()) / n_tok)}
    if per_line:
        was = model.training
        model.eval()
        dims = []
        for i in range(0, len(seqs), 256):
            _, targets = vae_batch(seqs[i:i + 256], model.device)
            dims.append(kl_per_dim(*model.encode(targets)).cpu())
        model.train(was)
        out.update(per_line=nll, kl_dims=torch.cat(dims).mean(0))
    return out
