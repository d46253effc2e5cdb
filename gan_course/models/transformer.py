"""A small decoder-only Transformer language model (GPT-style), written out, and its KV-cache sampler.

The model factorises p(x) = prod_t p(x_t | x_<t) like the GRU of `lm.py`, but reads the past through
causal self-attention instead of a recurrent state:

    h_0 = E[x] + P[0..T-1]                                  token + learned position embeddings (B, T, d)
    h_l = h_{l-1} + Attn(LN(h_{l-1}));  h_l += MLP(LN(h_l))   pre-norm blocks, l = 1..L
    logits = LN(h_L) E^T                                    the head shares the embedding matrix (tied)

    Attn(x) = concat_heads( softmax(q k^T / sqrt(d_head) + M) v ) W_o,   M_ts = 0 if s <= t else -inf

The mask M is what makes it a language model: position t never sees tokens after t, so changing a future
token leaves every earlier output unchanged (tests/test_transformer.py checks exactly that). Because of
the mask, right padding (<pad> after <eos>) needs no mask of its own: no real token ever looks at it.

At generation time each new token would attend to all earlier keys and values, which do not change: the
KV cache keeps them, so a step costs O(T) instead of recomputing the whole prefix (O(T^2)). Both samplers
are here (`generate(..., use_cache=True/False)`); with the same random generator they give the same tokens.

    model = TransformerLM(TransformerConfig(vocab_size=len(vocab), block_size=128))
    logits, loss = model(x, y)                       # the course's LM contract: (B, T, V), mean NLL/token
    logits, loss, att = model(x, return_attention=True)   # att: one (B, heads, T, T) tensor per layer
    out = model.generate(16, max_len=40, temperature=0.8, top_k=20)   # (16, max_len) ids, like lm.py

`TransformerGenerator` is the same network behind the interface of the oracle benchmark's `SeqGenerator`
(fixed-length sequences fed a start token), so it swaps in wherever notebooks 07-09 build their LSTM.

References: Vaswani et al. 2017 (attention); Radford et al. 2018/2019 (GPT, GPT-2: decoder-only, pre-norm,
learned positions, tied embeddings); Press & Wolf 2017 (weight tying); Karpathy's minGPT and nanoGPT
(the layout of this file); Pope et al. 2022 (the KV cache in inference).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import partial

import torch
import torch.nn as nn
import torch.nn.functional as F

from .. import checks
from ..data.vocab import BOS_ID, EOS_ID, PAD_ID
from .lm import check_sampling, filter_logits
from .oracle import SeqGenerator


def _divisors(n: int) -> list[int]:
    return [k for k in range(1, n + 1) if n % k == 0]


@dataclass
class TransformerConfig:
    vocab_size: int           # size of the vocabulary, special tokens included
    block_size: int = 128     # the longest context the model reads (learned positions 0..block_size-1)
    width: int = 64           # d: embedding and residual-stream width
    heads: int = 4            # attention heads; each reads width // heads dimensions (must divide width)
    layers: int = 3           # Transformer blocks
    mlp_ratio: int = 4        # the MLP's hidden layer is mlp_ratio * width wide
    dropout: float = 0.0      # dropout on attention weights and residual branches (0 for small CPU runs)
    tie_weights: bool = True  # the output head reuses the token embedding matrix (Press & Wolf 2017)

    def __post_init__(self):
        checks.fields(self, vocab_size=checks.vocab_size, block_size=checks.positive_int,
                      width=checks.positive_int, heads=checks.positive_int, layers=checks.positive_int,
                      mlp_ratio=checks.positive_int, dropout=partial(checks.probability, hi_open=True),
                      tie_weights=checks.boolean)
        if self.width % self.heads:
            raise ValueError(f"TransformerConfig.heads={self.heads!r} is not allowed; allowed: a divisor of "
                             f"width={self.width} ({', '.join(map(str, _divisors(self.width)))})")


# ----------------------------------------------------------------------------------------------------
# the components, one screen each

def causal_mask(n_queries: int, n_keys: int, device=None) -> torch.Tensor:
    """(n_queries, n_keys) bool, True where attention is allowed. The queries are the last n_queries of
    the n_keys positions (with a KV cache, n_keys - n_queries earlier positions are already cached), so
    query i (absolute position n_keys - n_queries + i) may see keys 0..that position."""
    return torch.ones(n_queries, n_keys, dtype=torch.bool, device=device).tril(diagonal=n_keys - n_queries)


class CausalSelfAttention(nn.Module):
    """Multi-head self-attention where position t attends to positions <= t only."""

    def __init__(self, c: TransformerConfig):
        super().__init__()
        self.heads, self.d_head = c.heads, c.width // c.heads
        self.qkv = nn.Linear(c.width, 3 * c.width)    # queries, keys and values of all heads at once
        self.proj = nn.Linear(c.width, c.width)       # W_o: mixes the heads back into the residual stream
        self.drop = nn.Dropout(c.dropout)

    def forward(self, x, cache=None):
        """x (B, T, d) -> (y (B, T, d), (k, v) to cache, attention weights (B, heads, T, T_past + T)).

        cache: None or the (k, v) of the earlier positions, each (B, heads, T_past, d_head)."""
        B, T, d = x.shape
        q, k, v = self.qkv(x).split(d, dim=-1)                                   # 3 x (B, T, d)
        q, k, v = (t.view(B, T, self.heads, self.d_head).transpose(1, 2) for t in (q, k, v))  # (B, h, T, dh)
        if cache is not None:
            k, v = torch.cat([cache[0], k], dim=2), torch.cat([cache[1], v], dim=2)  # (B, h, T_past + T, dh)
        scores = q @ k.transpose(-2, -1) / math.sqrt(self.d_head)               # (B, h, T, T_past + T)
        scores = scores.masked_fill(~causal_mask(T, k.shape[2], x.device), float("-inf"))
        att = torch.softmax(scores, dim=-1)                                      # each row sums to 1
        y = self.drop(att) @ v                                                   # (B, h, T, dh)
        y = y.transpose(1, 2).reshape(B, T, d)                                   # heads side by side
        return self.drop(self.proj(y)), (k, v), att


class MLP(nn.Module):
    """Position-wise feed-forward layer: width -> mlp_ratio * width -> GELU -> width."""

    def __init__(self, c: TransformerConfig):
        super().__init__()
        self.up = nn.Linear(c.width, c.mlp_ratio * c.width)
        self.down = nn.Linear(c.mlp_ratio * c.width, c.width)
        self.drop = nn.Dropout(c.dropout)

    def forward(self, x):
        return self.drop(self.down(F.gelu(self.up(x))))


class Block(nn.Module):
    """A pre-norm Transformer block (GPT-2): x + Attn(LN(x)), then + MLP(LN(.)). The residual stream
    itself is never normalised, which keeps deep stacks trainable without a learning-rate warm-up."""

    def __init__(self, c: TransformerConfig):
        super().__init__()
        self.ln1, self.attn = nn.LayerNorm(c.width), CausalSelfAttention(c)
        self.ln2, self.mlp = nn.LayerNorm(c.width), MLP(c)

    def forward(self, x, cache=None):
        a, kv, att = self.attn(self.ln1(x), cache)
        x = x + a
        x = x + self.mlp(self.ln2(x))
        return x, kv, att


class TransformerLM(nn.Module):
    """Token + position embeddings -> pre-norm blocks -> LayerNorm -> tied head.
    forward(tokens, targets=None) -> (logits, loss), the course's LM contract (as `lm.LanguageModel`)."""

    def __init__(self, config: TransformerConfig):
        super().__init__()
        if not isinstance(config, TransformerConfig):
            raise TypeError(f"config must be a TransformerConfig; got {type(config).__name__}")
        c = self.config = config
        self.tok = nn.Embedding(c.vocab_size, c.width)
        self.pos = nn.Embedding(c.block_size, c.width)
        self.drop = nn.Dropout(c.dropout)
        self.blocks = nn.ModuleList(Block(c) for _ in range(c.layers))
        self.ln_f = nn.LayerNorm(c.width)
        self.head = nn.Linear(c.width, c.vocab_size, bias=False)
        self.apply(self._init)
        for name, p in self.named_parameters():      # GPT-2: residual projections scaled by 1/sqrt(2 L)
            if name.endswith(("attn.proj.weight", "mlp.down.weight")):
                nn.init.normal_(p, 0.0, 0.02 / math.sqrt(2 * c.layers))
        if c.tie_weights:
            self.head.weight = self.tok.weight       # one (V, d) matrix reads and writes tokens

    @staticmethod
    def _init(m):
        if isinstance(m, (nn.Linear, nn.Embedding)):
            nn.init.normal_(m.weight, 0.0, 0.02)
        if isinstance(m, nn.Linear) and m.bias is not None:
            nn.init.zeros_(m.bias)

    def forward(self, tokens, targets=None, cache=None, return_cache: bool = False,
                return_attention: bool = False):
        """tokens (B, T) ids -> logits (B, T, V) for the next token; loss = mean NLL per target token
        (targets (B, T), <pad> ignored) or None.

        cache: None, or what an earlier call returned with return_cache=True (one (k, v) per layer):
               `tokens` then continue those positions. return_attention: also return the attention
               weights, a list of (B, heads, T, T_past + T) tensors, one per layer."""
        if not isinstance(tokens, torch.Tensor) or tokens.dim() != 2:
            raise ValueError(f"tokens must be a (batch, time) tensor of ids; got "
                             f"{tuple(tokens.shape) if isinstance(tokens, torch.Tensor) else type(tokens).__name__}")
        B, T = tokens.shape
        past = 0 if cache is None else cache[0][0].shape[2]
        if T < 1 or past + T > self.config.block_size:
            raise ValueError(f"context length={past + T} ({past} cached + {T} new positions) is not allowed; "
                             f"allowed: 1..block_size={self.config.block_size} (TransformerConfig.block_size)")
        if int(tokens.min()) < 0 or int(tokens.max()) >= self.config.vocab_size:
            raise ValueError(f"tokens must be ids in 0..{self.config.vocab_size - 1}; "
                             f"got values in {int(tokens.min())}..{int(tokens.max())}")
        pos = torch.arange(past, past + T, device=tokens.device)                     # (T,)
        x = self.drop(self.tok(tokens) + self.pos(pos))                              # (B, T, d)
        new_cache, atts = [], []
        for i, block in enumerate(self.blocks):
            x, kv, att = block(x, None if cache is None else cache[i])
            new_cache.append(kv)
            atts.append(att)
        logits = self.head(self.ln_f(x))                                             # (B, T, V)
        loss = None
        if targets is not None:
            loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1),
                                   ignore_index=PAD_ID)
        out = (logits, loss)
        if return_cache:
            out += (new_cache,)
        if return_attention:
            out += (atts,)
        return out

    @torch.no_grad()
    def generate(self, n: int, max_len: int, temperature: float = 1.0, top_k: int | None = None,
                 prefix=None, generator: torch.Generator | None = None, use_cache: bool = True) -> torch.Tensor:
        """Sample n sequences of up to max_len new tokens, all n in parallel (`lm.LanguageModel.generate`'s
        contract). prefix: None (start from <bos>) or a (P,) / (n, P) tensor of ids beginning with <bos>.
        use_cache=True feeds one new token per step and keeps the keys and values; False recomputes the
        whole context at every step (slower, the same tokens). Returns (n, max_len) ids, <pad> after <eos>."""
        check_sampling(temperature, top_k, self.config.vocab_size)
        n, max_len = checks.positive_int("n", n), checks.positive_int("max_len", max_len)
        checks.boolean("use_cache", use_cache)
        dev = self.tok.weight.device
        prefix = self._prefix(prefix, n, dev)
        room = self.config.block_size - prefix.shape[1] + 1      # prefix + (max_len - 1) fed-back tokens
        if max_len > room:
            raise ValueError(f"max_len={max_len} is not allowed; allowed: 1..{room} (a prefix of "
                             f"{prefix.shape[1]} tokens plus max_len - 1 generated ones must fit "
                             f"block_size={self.config.block_size})")
        was_training = self.training
        self.eval()
        logits, _, cache = self(prefix, return_cache=True)      # read the prefix in one call
        seq = prefix
        out = torch.full((n, max_len), PAD_ID, dtype=torch.long, device=dev)
        done = torch.zeros(n, dtype=torch.bool, device=dev)
        for t in range(max_len):
            probs = F.softmax(filter_logits(logits[:, -1], temperature, top_k), dim=-1)  # (n, V)
            nxt = torch.multinomial(probs, 1, generator=generator)                      # (n, 1)
            out[:, t] = nxt.squeeze(1).masked_fill(done, PAD_ID)
            done |= nxt.squeeze(1) == EOS_ID
            if done.all() or t == max_len - 1:
                break
            if use_cache:   # one new position; attention reads the cached keys and values
                logits, _, cache = self(nxt, cache=cache, return_cache=True)
            else:           # the whole context again, from scratch
                seq = torch.cat([seq, nxt], dim=1)
                logits, _ = self(seq)
        self.train(was_training)
        return out

    def _prefix(self, prefix, n, dev):
        if prefix is None:
            return torch.full((n, 1), BOS_ID, dtype=torch.long, device=dev)
        prefix = torch.as_tensor(prefix, dtype=torch.long, device=dev)
        if prefix.numel() == 0:
            raise ValueError("prefix is empty (an empty prompt) and is not allowed; allowed: None (start from "
                             f"<bos>) or ids beginning with <bos> (id {BOS_ID}), shape (P,) or (n={n}, P), P >= 1")
        prefix = prefix.expand(n, -1) if prefix.dim() == 1 else prefix
        if prefix.dim() != 2 or prefix.shape[0] != n:
            raise ValueError(f"prefix has shape {tuple(prefix.shape)}; allowed: (P,) or (n={n}, P) ids, P >= 1")
        if not bool((prefix[:, 0] == BOS_ID).all()):
            raise ValueError(f"prefix must begin with <bos> (id {BOS_ID}); got first ids {prefix[:, 0].tolist()[:5]}")
        return prefix


def n_params(model: nn.Module) -> int:
    """Distinct trainable weights (a tied matrix counts once)."""
    return sum(p.numel() for p in model.parameters())


# ----------------------------------------------------------------------------------------------------
# the same network behind the oracle benchmark's interface (notebooks 07-09)

@dataclass
class TransformerGenConfig:
    vocab_size: int = 5000    # tokens 0..V-1 (the oracle's vocabulary)
    seq_len: int = 20         # every sequence has exactly this many tokens (also the block size)
    start_token: int = 0      # fed at the first step, as SeqGenerator does
    width: int = 32           # residual-stream width
    heads: int = 4            # attention heads (must divide width)
    layers: int = 2           # Transformer blocks

    def __post_init__(self):
        checks.fields(self, vocab_size=checks.vocab_size, seq_len=checks.positive_int,
                      start_token=partial(checks.integer, minimum=0, maximum=self.vocab_size - 1))

    def network(self) -> TransformerConfig:
        return TransformerConfig(vocab_size=self.vocab_size, block_size=self.seq_len,
                                 width=self.width, heads=self.heads, layers=self.layers)


class TransformerGenerator(SeqGenerator):
    """A `SeqGenerator` whose network is a `TransformerLM`: the same sample / log_probs / nll / inputs_for
    (inherited), with the KV cache as the "state" that `SeqGenerator.step` carries between positions. So
    `G = TransformerGenerator(TransformerGenConfig(vocab_size=V, seq_len=T))` replaces
    `G = SeqGenerator(SeqGenConfig(vocab_size=V, seq_len=T))` in `mle_epoch`, `seqgan.pretrain_generator`
    and the metrics. Token 0 is a real token here (the start token), so no id is ignored by the loss."""

    def __init__(self, config: TransformerGenConfig | None = None):
        nn.Module.__init__(self)             # not SeqGenerator.__init__: there is no LSTM to build
        self.config = config or TransformerGenConfig()
        self.net = TransformerLM(self.config.network())

    @property
    def device(self) -> torch.device:
        return self.net.tok.weight.device

    def reset_parameters(self, std: float, generator=None) -> None:
        raise NotImplementedError("TransformerGenerator keeps the GPT-2 initialisation of TransformerLM")

    def forward(self, tokens, targets=None, state=None, return_state: bool = False):
        """tokens (B, T) -> logits (B, T, V); loss = mean NLL per token of targets (no id ignored);
        state: the KV cache of earlier positions (None: start at position 0)."""
        logits, _, cache = self.net(self._check_tokens(tokens), cache=state, return_cache=True)
        loss = None
        if targets is not None:
            loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1).to(self.device))
        return (logits, loss, cache) if return_state else (logits, loss)

    def step(self, inp, state=None):
        """One position: inp (B,) ids -> logits (B, V), the KV cache grown by one position."""
        if inp.dim() != 1:
            raise ValueError("TransformerGenerator.step reads token ids (B,); relaxed (B, emb) inputs are "
                             "not supported (use SeqGenerator for the Gumbel-softmax GAN)")
        logits, _, cache = self(inp.unsqueeze(1), state=state, return_state=True)
        return logits[:, -1], cache
