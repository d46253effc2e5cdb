"""A recurrent language model (GRU or LSTM) trained by maximum likelihood, and its sampler.

The model factorises p(x) = prod_t p(x_t | x_<t): an embedding, a GRU/LSTM, and a linear head giving
logits over the vocabulary at every position. Training minimises the cross-entropy of the next token
(teacher forcing), i.e. the negative log-likelihood in nats per token; perplexity = exp(NLL per token).

    model = LanguageModel(LMConfig(vocab_size=len(vocab)))
    x, y = lm_batch(seqs)                       # seqs: id lists [<bos>, ..., <eos>]
    logits, loss = model(x, y)                  # (B, T, V), mean NLL per (non-pad) target token
    out = model.generate(16, max_len=40, temperature=0.8, top_k=20)   # (16, max_len) ids, <pad> after <eos>

References: Mikolov et al. 2010 (RNN language models); Graves 2013 (generating sequences with RNNs);
Karpathy's char-rnn and makemore (the character-level set-up); Holtzman et al. 2020 (top-k, temperature).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import partial

import torch
import torch.nn as nn
import torch.nn.functional as F

from .. import checks
from ..data.vocab import BOS_ID, EOS_ID, PAD_ID, pad_batch

CELLS = ("gru", "lstm")


@dataclass
class LMConfig:
    vocab_size: int           # size of the vocabulary, special tokens included
    emb: int = 64             # token embedding width
    hidden: int = 256         # recurrent state width
    layers: int = 1           # stacked recurrent layers
    cell: str = "gru"         # "gru" or "lstm"
    dropout: float = 0.0      # dropout on embeddings and outputs (0 for small CPU runs)

    def __post_init__(self):
        checks.fields(self, vocab_size=checks.vocab_size, emb=checks.positive_int,
                      hidden=checks.positive_int, layers=checks.positive_int,
                      dropout=partial(checks.probability, hi_open=True))


def check_sampling(temperature: float, top_k, vocab_size: int) -> None:
    """Raise a clear error for a temperature <= 0 or a top_k outside 1..vocab_size (None = no cut)."""
    if not isinstance(temperature, (int, float)) or not math.isfinite(temperature) or temperature <= 0:
        raise ValueError(f"temperature must be a number > 0 (1 = the model's own distribution, lower = "
                         f"greedier); got {temperature!r}")
    if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, int)
                              or not 1 <= top_k <= vocab_size):
        raise ValueError(f"top_k must be None (no cut) or an integer in 1..{vocab_size} (the vocabulary "
                         f"size); got {top_k!r}")


def filter_logits(logits: torch.Tensor, temperature: float = 1.0, top_k: int | None = None) -> torch.Tensor:
    """logits (..., V) -> logits / temperature with all but the top_k set to -inf (then softmax to sample)."""
    check_sampling(temperature, top_k, logits.shape[-1])
    logits = logits / temperature
    if top_k is not None and top_k < logits.shape[-1]:
        kth = torch.topk(logits, top_k, dim=-1).values[..., -1:]  # (..., 1) the k-th largest
        logits = logits.masked_fill(logits < kth, float("-inf"))
    return logits


class LanguageModel(nn.Module):
    """Embedding -> GRU/LSTM -> linear head. forward(tokens, targets=None) -> (logits, loss)."""

    def __init__(self, config: LMConfig):
        super().__init__()
        if config.cell not in CELLS:
            raise ValueError(f"cell={config.cell!r}; allowed values: {', '.join(CELLS)}")
        if config.vocab_size < 5:
            raise ValueError(f"vocab_size must be > 4 (the special tokens); got {config.vocab_size}")
        self.config = config
        rnn = nn.GRU if config.cell == "gru" else nn.LSTM
        self.embed = nn.Embedding(config.vocab_size, config.emb)
        self.rnn = rnn(config.emb, config.hidden, num_layers=config.layers, batch_first=True,
                       dropout=config.dropout if config.layers > 1 else 0.0)
        self.drop = nn.Dropout(config.dropout)
        self.head = nn.Linear(config.hidden, config.vocab_size)

    def forward(self, tokens, targets=None, state=None, return_state: bool = False):
        """tokens (B, T) ids -> logits (B, T, V) predicting the next token; loss = mean NLL per target
        token (targets (B, T), <pad> ignored) or None. return_state=True also returns the RNN state."""
        if tokens.dim() != 2:
            raise ValueError(f"tokens must be (batch, time); got shape {tuple(tokens.shape)}")
        if tokens.numel() and (tokens.min() < 0 or tokens.max() >= self.config.vocab_size):
            raise ValueError(f"tokens must be ids in 0..{self.config.vocab_size - 1}; "
                             f"got values in {int(tokens.min())}..{int(tokens.max())}")
        h, state = self.rnn(self.drop(self.embed(tokens)), state)  # (B, T, H)
        logits = self.head(self.drop(h))                             # (B, T, V)
        loss = None
        if targets is not None:
            loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1),
                                   ignore_index=PAD_ID)
        return (logits, loss, state) if return_state else (logits, loss)

    @torch.no_grad()
    def generate(self, n: int, max_len: int, temperature: float = 1.0, top_k: int | None = None,
                 prefix=None, generator: torch.Generator | None = None, banned=()) -> torch.Tensor:
        """Sample n sequences of up to max_len new tokens, all n in parallel (one RNN step per position).

        prefix: None (start from <bos>) or a (n, P) / (P,) tensor of ids beginning with <bos>.
        generator: a torch.Generator (on the model's device) for reproducible samples.
        banned: ids never sampled (their logits set to -inf before temperature and top-k).
        Returns (n, max_len) ids; after a sequence's <eos> the rest is <pad>.
        """
        check_sampling(temperature, top_k, self.config.vocab_size)
        if not isinstance(n, int) or n < 1 or not isinstance(max_len, int) or max_len < 1:
            raise ValueError(f"n and max_len must be positive integers; got n={n!r}, max_len={max_len!r}")
        was_training = self.training
        self.eval()
        dev = self.head.weight.device
        if prefix is None:
            prefix = torch.full((n, 1), BOS_ID, dtype=torch.long, device=dev)
        else:
            prefix = torch.as_tensor(prefix, dtype=torch.long, device=dev)
            prefix = prefix.expand(n, -1) if prefix.dim() == 1 else prefix
            if prefix.dim() != 2 or prefix.shape[0] != n or prefix.shape[1] < 1:
                raise ValueError(f"prefix has shape {tuple(prefix.shape)}; allowed: (P,) or (n={n}, P) ids, P >= 1")
            if not bool((prefix[:, 0] == BOS_ID).all()):
                raise ValueError(f"prefix must begin with <bos> (id {BOS_ID}); got first ids "
                                 f"{prefix[:, 0].tolist()[:5]}")
        logits, _, state = self(prefix, return_state=True)  # read the prefix in one call
        out = torch.full((n, max_len), PAD_ID, dtype=torch.long, device=dev)
        done = torch.zeros(n, dtype=torch.bool, device=dev)
        for t in range(max_len):
            last = logits[:, -1]
            if banned:
                last = last.clone()
                last[:, list(banned)] = float("-inf")
            probs = F.softmax(filter_logits(last, temperature, top_k), dim=-1)  # (n, V)
            nxt = torch.multinomial(probs, 1, generator=generator).squeeze(1)           # (n,)
            out[:, t] = nxt.masked_fill(done, PAD_ID)
            done |= nxt == EOS_ID
            if done.all():
                break
            logits, _, state = self(nxt.unsqueeze(1), state=state, return_state=True)
        self.train(was_training)
        return out


# ----------------------------------------------------------------------------------------------------
# batches, evaluation, a small trainer

def lm_batch(seqs, device=None):
    """Id lists [<bos>, ..., <eos>] -> (inputs (B, T), targets (B, T)): targets are inputs shifted by one."""
    toks, _ = pad_batch(seqs)                        # (B, T+1), <pad> = 0 after each sequence
    toks = toks.to(device) if device is not None else toks
    return toks[:, :-1], toks[:, 1:]


def batches(seqs, batch_size: int, generator: torch.Generator | None = None, shuffle: bool = True):
    """Yield lists of sequences forever (shuffle=True, reshuffled each pass) or once in order."""
    if not seqs:
        raise ValueError("seqs is empty: no sequences to batch")
    while True:
        order = torch.randperm(len(seqs), generator=generator).tolist() if shuffle else range(len(seqs))
        order = list(order)
        for i in range(0, len(order), batch_size):
            yield [seqs[j] for j in order[i:i + batch_size]]
        if not shuffle:
            return


@torch.no_grad()
def nll_per_token(model, seqs, batch_size: int = 512, device=None) -> float:
    """Held-out negative log-likelihood in nats per predicted token (every token after <bos>, <eos> included)."""
    seqs = checks.non_empty("seqs", list(seqs), "id sequences")
    short = [i for i, s in enumerate(seqs) if len(s) < 2]
    if short:
        raise ValueError(f"seqs[{short[0]}]={list(seqs[short[0]])!r} has nothing to predict; allowed: sequences of "
                         "at least 2 ids (<bos> and one token)")
    batch_size = checks.positive_int("batch_size", batch_size)
    was_training = model.training
    model.eval()
    device = device if device is not None else next(model.parameters()).device
    total, count = 0.0, 0
    for chunk in batches(list(seqs), batch_size, shuffle=False):
        x, y = lm_batch(chunk, device)
        logits, _ = model(x)
        nll = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1),
                              ignore_index=PAD_ID, reduction="sum")
        total += nll.item()
        count += int((y != PAD_ID).sum())
    model.train(was_training)
    return total / count


def perplexity(nll_nats: float) -> float:
    """exp(NLL per token): the effective number of equally likely choices per token."""
    return math.exp(nll_nats)


def fit(model, seqs, steps: int, batch_size: int = 64, lr: float = 3e-3, clip: float = 1.0,
        seed: int = 0, callback=None, every: int = 50, device=None) -> list[float]:
    """Train `model` by MLE with Adam for `steps` batches; returns the training losses.

    callback(step, loss) is called every `every` steps (e.g. a LivePlot update or a validation run).
    A NaN/Inf loss or weight restores the last good weights and raises `train.TrainingDiverged`.
    """
    from ..train import DivergenceGuard

    steps, batch_size = checks.nonneg_int("steps", steps), checks.positive_int("batch_size", batch_size)
    lr, clip = checks.learning_rate("lr", lr), checks.clip("clip", clip)
    seed, every = checks.nonneg_int("seed", seed), checks.positive_int("every", every)
    checks.non_empty("seqs", seqs, "id sequences")
    device = device if device is not None else next(model.parameters()).device
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    guard = DivergenceGuard(model, optimizers=[opt], hint=f"lower lr (now {lr:g})")
    model.train()
    losses = []
    it = batches(list(seqs), batch_size, generator=gen)
    for step in range(steps):
        x, y = lm_batch(next(it), device)
        _, loss = model(x, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if clip is not None:
            nn.utils.clip_grad_norm_(model.parameters(), clip)
        opt.step()
        losses.append(loss.item())
        guard.check(step, loss=losses[-1])
        if callback is not None and (step % every == 0 or step == steps - 1):
            callback(step, losses[-1])
    return losses
