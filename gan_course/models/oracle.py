"""The SeqGAN synthetic benchmark: a random LSTM "oracle" as the true data distribution, and the LSTM
sequence generator (SeqGAN's G) that learns it.

Yu et al. 2017 (SeqGAN, section "Synthetic data experiments"): the oracle is an LSTM with embedding and
hidden size 32 whose parameters are all drawn from N(0, 1); it defines p_oracle(x) over sequences of
length 20 from a vocabulary of 5,000 tokens. It samples 10,000 training sequences. Because its
likelihood is known, a generator G can be scored exactly:

    NLL_oracle = -E_{x ~ G} [ (1/T) log p_oracle(x) ]   quality: do G's samples look like the oracle's?
    NLL_test   = -E_{x ~ oracle, held out} [ (1/T) log p_G(x) ]   coverage: does G explain real data?

The oracle's entropy rate H(p_oracle)/T (nats per token; also its own NLL_oracle on average) is the
floor of NLL_test only: cross-entropy >= entropy, with equality for G = oracle. It is *not* a floor of
NLL_oracle, which a mode-seeking G lowers below it (a point mass on the oracle's most likely sequence
scores lowest; the oracle itself sampled at a temperature below 1 already scores below its entropy).
SeqGAN's Table 1: random G 10.310, MLE 9.038, scheduled sampling 8.985, PG-BLEU 8.946, SeqGAN 8.736
(NLL_oracle, nats per token; their oracle is a fixed file, ours is drawn by torch from the same recipe).

Both models are a `SeqGenerator`: embedding -> LSTM -> linear head, fed a start token (id 0, a real
token, as in SeqGAN's code) and then its own previous token. Sampling is batched over thousands of
sequences: one LSTM step per position, no loop over sequences.

    oracle = Oracle(seed=0)
    train = oracle.sample(10_000, generator=torch.Generator().manual_seed(1))    # (10000, 20) ids
    G = SeqGenerator(SeqGenConfig())                       # SeqGAN's init: every weight N(0, 0.1)
    tokens, logp = G.sample(64, return_log_probs=True)     # (64, 20), (64, 20) log p_G(x_t | x_<t)
    loss = G.nll(train[:64])                               # differentiable mean NLL per token
    per_seq = G.nll_per_sequence(train, temperature=0.8)   # (10000,) NLL per token of each sequence
    nll_oracle = oracle.nll(G.sample(10_000)).item()

One deliberate difference from TensorFlow's LSTM cell: torch's nn.LSTM has two bias vectors per gate;
the oracle draws the input bias from N(0, 1) and sets the recurrent bias to 0, so each gate has one
N(0, 1) bias, as in SeqGAN's TARGET_LSTM.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from .. import checks
from .lm import check_sampling


@dataclass
class SeqGenConfig:
    vocab_size: int = 5000    # tokens 0..V-1 (SeqGAN: 5000)
    seq_len: int = 20         # every sequence has exactly this many tokens (SeqGAN: 20)
    emb: int = 32             # embedding width (SeqGAN: 32)
    hidden: int = 32          # LSTM state width (SeqGAN: 32)
    start_token: int = 0      # fed at the first step (SeqGAN uses token 0)
    init_std: float = 0.1     # every weight ~ N(0, init_std): 0.1 for SeqGAN's G, 1.0 for the oracle

    def __post_init__(self):
        checks.fields(self, emb=checks.positive_int, hidden=checks.positive_int, init_std=checks.nonneg_float)


def sample_logits(logits, temperature: float = 1.0, generator: torch.Generator | None = None):
    """Draw one token per row of logits (n, V) from softmax(logits / temperature) by inverting the
    cumulative distribution: one uniform number per row, and only two passes over the (n, V) array
    (softmax, cumsum), which matters for V = 5000 -- torch.multinomial is several times slower here.
    Returns (tokens (n,), their log-probabilities (n,))."""
    p = torch.softmax(logits / temperature if temperature != 1 else logits, dim=-1)  # (n, V)
    cdf = torch.cumsum(p, dim=-1)                                                     # (n, V)
    u = torch.rand((p.shape[0], 1), generator=generator, device=p.device, dtype=p.dtype) * cdf[:, -1:]
    tok = torch.searchsorted(cdf, u, right=True).clamp_(max=p.shape[-1] - 1)          # first cdf > u
    return tok.squeeze(1), p.gather(1, tok).log().squeeze(1)


class SeqGenerator(nn.Module):
    """Fixed-length LSTM sequence model: sample(n) -> tokens, log_probs(tokens) -> (n, T), nll, forward."""

    def __init__(self, config: SeqGenConfig | None = None):
        super().__init__()
        c = config or SeqGenConfig()
        if c.vocab_size < 2 or c.seq_len < 1 or not 0 <= c.start_token < c.vocab_size:
            raise ValueError(f"need vocab_size >= 2, seq_len >= 1 and 0 <= start_token < vocab_size; got {c}")
        self.config = c
        self.embed = nn.Embedding(c.vocab_size, c.emb)
        self.lstm = nn.LSTM(c.emb, c.hidden, batch_first=True)
        self.head = nn.Linear(c.hidden, c.vocab_size)
        self.reset_parameters(c.init_std)

    def reset_parameters(self, std: float, generator: torch.Generator | None = None) -> None:
        """Every weight ~ N(0, std); the LSTM's recurrent bias 0 (so one N(0, std) bias per gate)."""
        with torch.no_grad():
            for name, p in self.named_parameters():
                if name.startswith("lstm.bias_hh"):
                    p.zero_()
                else:
                    p.normal_(0.0, std, generator=generator)

    @property
    def device(self) -> torch.device:
        return self.head.weight.device

    def _check_tokens(self, tokens) -> torch.Tensor:
        if not isinstance(tokens, torch.Tensor) or tokens.dim() != 2:
            raise ValueError("tokens must be a (batch, time) LongTensor")
        if tokens.dtype not in (torch.long, torch.int32, torch.int64):
            raise TypeError(f"tokens must hold integer ids; got dtype {tokens.dtype}")
        if tokens.numel() and (int(tokens.min()) < 0 or int(tokens.max()) >= self.config.vocab_size):
            raise ValueError(f"tokens must be ids in 0..{self.config.vocab_size - 1}; got values in "
                             f"{int(tokens.min())}..{int(tokens.max())}")
        return tokens.long().to(self.device)

    def forward(self, tokens, targets=None, state=None, return_state: bool = False):
        """Language-model contract: tokens (B, T) fed in -> logits (B, T, V) for the next token;
        loss = mean NLL per token of `targets` (B, T), or None. Use `inputs_for(x)` to build the
        teacher-forcing input [start, x_1, ..., x_{T-1}] of a sequence x."""
        h, state = self.lstm(self.embed(self._check_tokens(tokens)), state)  # (B, T, H)
        logits = self.head(h)                                                # (B, T, V)
        loss = None
        if targets is not None:
            loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1).to(self.device))
        return (logits, loss, state) if return_state else (logits, loss)

    def inputs_for(self, tokens) -> torch.Tensor:
        """x (B, T) -> [start, x_1 .. x_{T-1}] (B, T): what the model reads while predicting x."""
        tokens = self._check_tokens(tokens)
        start = torch.full_like(tokens[:, :1], self.config.start_token)
        return torch.cat([start, tokens[:, :-1]], dim=1)

    def log_probs(self, tokens) -> torch.Tensor:
        """log p(x_t | x_<t) for every position: (B, T), differentiable (REINFORCE uses it)."""
        tokens = self._check_tokens(tokens)
        logits, _ = self(self.inputs_for(tokens))
        return torch.log_softmax(logits, dim=-1).gather(-1, tokens.unsqueeze(-1)).squeeze(-1)

    def nll(self, tokens, batch_size: int | None = None) -> torch.Tensor:
        """Mean negative log-likelihood per token of `tokens` (B, T), a scalar tensor.

        batch_size: evaluate in chunks of this many sequences, without gradients (for large held-out
        sets: a chunk costs batch_size * T * V floats); None: one differentiable pass.
        """
        if batch_size is None:
            return -self.log_probs(tokens).mean()
        tokens = self._check_tokens(tokens)
        total = 0.0
        with torch.no_grad():
            for chunk in tokens.split(batch_size):
                logits, _ = self(self.inputs_for(chunk))                              # (b, T, V)
                total += F.cross_entropy(logits.reshape(-1, logits.shape[-1]), chunk.reshape(-1),
                                         reduction="sum").item()
        return torch.tensor(total / tokens.numel())

    @torch.no_grad()
    def nll_per_sequence(self, tokens, batch_size: int = 500, temperature: float = 1.0) -> torch.Tensor:
        """NLL per token of each sequence, -(1/T) sum_t log p(x_t | x_<t), as a (B,) tensor on the CPU,
        under the model with its logits divided by `temperature` (1: the model itself). Their mean is
        `nll(tokens)` (for temperature 1); their spread gives the standard error of that mean."""
        batch_size = checks.positive_int("batch_size", batch_size)
        check_sampling(temperature, None, self.config.vocab_size)
        tokens = self._check_tokens(tokens)
        out = []
        for chunk in tokens.split(batch_size):
            logits, _ = self(self.inputs_for(chunk))                              # (b, T, V)
            logp = torch.log_softmax(logits / temperature if temperature != 1 else logits, -1)
            out.append(-logp.gather(-1, chunk.unsqueeze(-1)).squeeze(-1).mean(1).cpu())   # (b,)
        return torch.cat(out)

    def step(self, inp, state=None):
        """One step: inp (B,) token ids or (B, emb) embeddings (e.g. a Gumbel-softmax mix) ->
        logits (B, V), new state. For custom loops (rollouts, relaxed sampling)."""
        x = self.embed(inp) if inp.dim() == 1 else inp  # (B, E)
        h, state = self.lstm(x.unsqueeze(1), state)      # (B, 1, H)
        return self.head(h.squeeze(1)), state

    @torch.no_grad()
    def sample(self, n: int, temperature: float = 1.0, generator: torch.Generator | None = None,
               prefix=None, batch_size: int = 2000, return_log_probs: bool = False):
        """n sequences of length seq_len (n, T), batched; without gradients (recompute with log_probs).

        prefix: (n, P) ids to continue from (SeqGAN's Monte Carlo rollouts); None starts from scratch.
        generator: a torch.Generator on the model's device, for reproducible samples.
        return_log_probs: also return log p(x_t | x_<t) (n, T) under the temperature-scaled model.
        """
        if not isinstance(n, int) or n < 1:
            raise ValueError(f"n must be a positive integer; got {n!r}")
        batch_size = checks.positive_int("batch_size", batch_size)
        check_sampling(temperature, None, self.config.vocab_size)
        outs = []
        for i in range(0, n, batch_size):
            pre = None if prefix is None else prefix[i:i + batch_size]
            outs.append(self._sample(min(batch_size, n - i), temperature, generator, pre))
        tokens = torch.cat([o[0] for o in outs])
        return (tokens, torch.cat([o[1] for o in outs])) if return_log_probs else tokens

    def _sample(self, n, temperature, generator, prefix):
        T = self.config.seq_len
        tokens = torch.empty(n, T, dtype=torch.long, device=self.device)
        logps = torch.zeros(n, T, device=self.device)
        inp = torch.full((n,), self.config.start_token, dtype=torch.long, device=self.device)
        state, start = None, 0
        if prefix is not None:  # read the prefix in one call, then continue after it
            prefix = self._check_tokens(prefix)
            start = prefix.shape[1]
            if start > T or prefix.shape[0] != n:
                raise ValueError(f"prefix must be ({n}, P) with P <= seq_len={T}; got {tuple(prefix.shape)}")
            tokens[:, :start] = prefix
            if start:
                logits, _, state = self(self.inputs_for(prefix), return_state=True)
                logps[:, :start] = torch.log_softmax(logits / temperature, -1).gather(
                    -1, prefix.unsqueeze(-1)).squeeze(-1)
                inp = prefix[:, -1]
        for t in range(start, T):
            logits, state = self.step(inp, state)
            inp, logp = sample_logits(logits, temperature, generator)  # (n,), (n,)
            tokens[:, t] = inp
            logps[:, t] = logp
        return tokens, logps


class Oracle(SeqGenerator):
    """The true distribution of the synthetic benchmark: a SeqGenerator with every weight N(0, 1), frozen."""

    def __init__(self, seed: int = 0, config: SeqGenConfig | None = None):
        config = config or SeqGenConfig(init_std=1.0)
        with torch.random.fork_rng(devices=[]):  # leave the caller's random stream as it was
            super().__init__(config)
        # the oracle is a function of its seed only (drawn on the CPU, the same on every machine)
        self.reset_parameters(config.init_std, generator=torch.Generator().manual_seed(seed))
        self.seed = seed
        self.requires_grad_(False)
        self.eval()

    def _check_samples(self, tokens) -> None:
        if isinstance(tokens, torch.Tensor) and tokens.dim() == 2:
            if tokens.shape[0] == 0:
                raise ValueError("samples is empty; allowed: a (N >= 1, seq_len) tensor of sequences")
            if tokens.shape[1] != self.config.seq_len:
                raise ValueError(f"samples have length {tokens.shape[1]}; allowed: the oracle's "
                                 f"seq_len={self.config.seq_len}")

    def nll(self, tokens, batch_size: int | None = 500) -> torch.Tensor:
        """Mean NLL per token of `tokens` under the oracle (its weights are frozen, so evaluated in chunks)."""
        self._check_samples(tokens)
        return super().nll(tokens, batch_size=batch_size)

    def nll_per_sequence(self, tokens, batch_size: int = 500, temperature: float = 1.0) -> torch.Tensor:
        """NLL per token of each sequence under the oracle (B,): per-sequence NLL_oracle terms."""
        self._check_samples(tokens)
        return super().nll_per_sequence(tokens, batch_size=batch_size, temperature=temperature)

    @torch.no_grad()
    def entropy_rate(self, n: int = 10_000, generator: torch.Generator | None = None,
                     batch_size: int = 500) -> tuple[float, float]:
        """Two estimates of H(oracle) / T in nats per token from n of its own samples:
        (Monte Carlo -mean log p(x)/T, the mean exact entropy of each step's next-token distribution).
        Both estimate the same number; the second has lower variance."""
        x = self.sample(n, generator=generator)
        mc, exact = 0.0, 0.0
        for chunk in x.split(batch_size):
            logits, _ = self(self.inputs_for(chunk))
            logp = torch.log_softmax(logits, -1)                                  # (B, T, V)
            mc += -logp.gather(-1, chunk.unsqueeze(-1)).sum().item()
            exact += -(logp.exp() * logp).sum().item()
        return mc / x.numel(), exact / x.numel()


def mle_epoch(G: SeqGenerator, opt, data, batch_size: int = 64, clip: float = 5.0,
              generator: torch.Generator | None = None) -> float:
    """One pass of maximum-likelihood (teacher-forced) training over `data` (N, T) in shuffled batches,
    with gradient-norm clipping at `clip` (SeqGAN's pretraining: Adam lr 0.01, batch 64, clip 5).
    Returns the mean training NLL per token of the epoch."""
    batch_size, clip = checks.positive_int("batch_size", batch_size), checks.clip("clip", clip)
    if len(data) == 0:
        raise ValueError("data is empty; allowed: a (N >= 1, T) tensor of training sequences")
    G.train()
    order = torch.randperm(len(data), generator=generator)
    total = 0.0
    for i in range(0, len(data), batch_size):
        x = data[order[i:i + batch_size]].to(G.device)   # (B, T)
        _, loss = G(G.inputs_for(x), x)                   # mean NLL per token
        opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(G.parameters(), math.inf if clip is None else clip)
        opt.step()
        total += loss.item() * len(x)
    return total / len(data)


def oracle_data(oracle: Oracle, n_train: int = 10_000, n_test: int = 10_000, seed: int = 1,
                cache_dir=None):
    """The benchmark's data: (train, test) samples of the oracle (n, T) on the CPU, seeded.

    cache_dir: a folder (e.g. data/cache) to keep them in, so every notebook uses the same sequences.
    """
    if n_train < 1 or n_test < 0:
        raise ValueError(f"need n_train >= 1 and n_test >= 0; got {n_train}, {n_test}")
    path = None
    if cache_dir is not None:
        c = oracle.config
        path = Path(cache_dir) / (f"oracle-s{oracle.seed}-v{c.vocab_size}-t{c.seq_len}-e{c.emb}-h{c.hidden}"
                                  f"-d{seed}-{n_train}-{n_test}.pt")
        if path.is_file():
            try:        # a cache is rebuilt from its seed when damaged (truncated by a crash, foreign)
                d = torch.load(path, weights_only=True)
                return d["train"], d["test"]
            except Exception as exc:  # noqa: BLE001
                import warnings

                warnings.warn(f"the oracle data cache {str(path)!r} is unreadable ({str(exc)[:80]}); rebuilding it "
                              "from its seed", stacklevel=2)
    cpu = Oracle(oracle.seed, oracle.config) if oracle.device.type != "cpu" else oracle
    x = cpu.sample(n_train + n_test, generator=torch.Generator().manual_seed(seed))
    train, test = x[:n_train].clone(), x[n_train:].clone()
    if path is not None:
        from ..checkpoint import atomic_write

        atomic_write(path, lambda f: torch.save({"train": train, "test": test}, f))
    return train, test


# written by notebook 07's full run (load-or-train); git-ignored
MLE_CHECKPOINT = Path(__file__).resolve().parents[2] / "data" / "checkpoints" / "07_mle_oracle.pt"


def load_mle_baseline(path=MLE_CHECKPOINT, which: str = "final", device=None) -> SeqGenerator:
    """The MLE generator trained in notebook 07 (its train.Checkpointer file): which="best" (the best
    validation epoch: the early-stopped MLE baseline) or "final" (after the last epoch trained, `patience`
    epochs past the best). Raises FileNotFoundError if 07 has not run in full mode."""
    from .. import checkpoint

    if which not in ("final", "best"):
        raise ValueError(f"which={which!r}; allowed values: 'final', 'best'")
    ck = checkpoint.load(path, kind="07_mle_oracle")
    G = SeqGenerator(SeqGenConfig(**ck["config"]["g"]))
    G.load_state_dict(ck["state"]["module/G" if which == "final" else "module/best"])
    return G.to(device) if device is not None else G


def uniform_nll(vocab_size: int) -> float:
    """log V: the NLL per token of a uniform model (for comparison with the oracle's floor)."""
    return math.log(vocab_size)
