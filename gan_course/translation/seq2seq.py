"""A GRU encoder-decoder with attention, and greedy, sampled and beam-search decoding.

    Bahdanau, Cho & Bengio 2015, "Neural machine translation by jointly learning to align and translate"
    Luong, Pham & Manning 2015, "Effective approaches to attention-based neural machine translation"

Architecture (Luong's "global attention", without input feeding, so the teacher-forced decoder runs as
one GRU call over the whole target, which is what makes it fast on a CPU):

    encoder:   x_1..x_S -> bidirectional GRU -> memory m_s (B, S, H);  h_0 = tanh(W [h_fwd; h_bwd])
    decoder:   h_t = GRU(emb(y_{t-1}), h_{t-1})
    attention: a_t = softmax_s score(h_t, m_s) over real (non-padding) positions only
               score = h_t^T W_a m_s ("general", Luong)  or  v^T tanh(W_1 m_s + W_2 h_t) ("additive", Bahdanau)
    output:    c_t = sum_s a_ts m_s;  o_t = tanh(W_c [c_t; h_t]);  p(y_t | y_<t, x) = softmax(W_o o_t)

    model = Seq2Seq(Seq2SeqConfig(src_vocab=len(sv), tgt_vocab=len(tv)))
    logits, loss = model(src, src_len, tgt_in, tgt_out)          # teacher forcing, (B, T, V) and a scalar
    out = model.greedy(src, src_len)                             # out.tokens[i], out.scores, out.attention
    hyps = model.beam(src, src_len, beam=5)                      # hyps[i] = [Hypothesis, ...] best first

The encoder and decoder are separate modules, and the decoding functions take (decoder, encoded
source), so notebook 14 can share one encoder between two decoders.
"""
from __future__ import annotations

import math

from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from .. import checks
from ..data.vocab import BOS_ID, EOS_ID, PAD_ID

ATTENTIONS = ("general", "additive")


@dataclass
class Seq2SeqConfig:
    src_vocab: int                 # source vocabulary size (the 4 special tokens included)
    tgt_vocab: int                 # target vocabulary size
    emb: int = 64                  # token embedding width
    hidden: int = 128              # GRU width (the encoder's two directions are projected to it)
    dropout: float = 0.1           # on embeddings and on the attentional output o_t
    attention: str = "general"     # "general" (Luong, multiplicative) or "additive" (Bahdanau)

    def __post_init__(self):
        pos = checks.positive_int
        checks.fields(self, src_vocab=pos, tgt_vocab=pos, emb=pos, hidden=pos)
        if self.attention not in ATTENTIONS:
            raise ValueError(f"attention={self.attention!r}; allowed values: {', '.join(ATTENTIONS)}")
        checks.fields(self, dropout=lambda n, v: checks.probability(n, v, hi_open=True))


@dataclass
class Encoded:
    """What the decoder needs from the source: memory (B, S, H), mask (B, S) True at real tokens, h0 (B, H)."""
    memory: torch.Tensor
    mask: torch.Tensor
    h0: torch.Tensor

    def repeat(self, k: int) -> "Encoded":
        """Each row k times in a row (for beam search): (B, ...) -> (B*k, ...)."""
        return Encoded(*(t.repeat_interleave(k, dim=0) for t in (self.memory, self.mask, self.h0)))


@dataclass
class Decoded:
    tokens: list        # B lists of token ids, without <bos>/<eos>
    scores: torch.Tensor  # (B,) sum of log-probabilities of the tokens and the final <eos>
    attention: list     # B tensors (len(tokens)+1, S_i): the weights of every emitted token (and <eos>)


@dataclass
class Hypothesis:
    tokens: list        # token ids, without <bos>/<eos>
    score: float        # sum of log-probabilities (divided by the length penalty if one is used)
    log_prob: float     # sum of log-probabilities
    attention: torch.Tensor  # (len(tokens)+1, S)


class Encoder(nn.Module):
    def __init__(self, vocab: int, emb: int, hidden: int, dropout: float = 0.0):
        super().__init__()
        self.embed = nn.Embedding(vocab, emb, padding_idx=PAD_ID)
        self.rnn = nn.GRU(emb, hidden, batch_first=True, bidirectional=True)
        self.proj = nn.Linear(2 * hidden, hidden)       # both directions -> the memory width
        self.init = nn.Linear(2 * hidden, hidden)       # final states -> the decoder's first state
        self.drop = nn.Dropout(dropout)

    def forward(self, src, src_len, embed: nn.Embedding | None = None) -> Encoded:
        """src (B, S) ids, src_len (B,) -> Encoded. `embed` replaces the own embedding (shared encoders)."""
        if src.dim() != 2 or src_len.shape != src.shape[:1]:
            raise ValueError(f"src must be (B, S) and src_len (B,); got {tuple(src.shape)} and {tuple(src_len.shape)}")
        n_vocab = (embed or self.embed).num_embeddings
        if src.numel() and (int(src.min()) < 0 or int(src.max()) >= n_vocab):
            raise ValueError(f"src holds ids {int(src.min())}..{int(src.max())}; allowed: ids in 0..{n_vocab - 1} "
                             "(the source vocabulary; were the vocabularies swapped?)")
        if src_len.numel() and (int(src_len.min()) < 0 or int(src_len.max()) > src.shape[1]):
            raise ValueError(f"src_len holds lengths {int(src_len.min())}..{int(src_len.max())}; allowed: "
                             f"0..{src.shape[1]} (the padded source length)")
        x = self.drop((embed or self.embed)(src))                                   # (B, S, E)
        packed = nn.utils.rnn.pack_padded_sequence(x, src_len.cpu().clamp(min=1), batch_first=True,
                                                   enforce_sorted=False)
        out, h = self.rnn(packed)                                                   # h: (2, B, H)
        out, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=src.shape[1])
        mask = torch.arange(src.shape[1], device=src.device)[None, :] < src_len[:, None]   # (B, S)
        memory = self.proj(out)                                                     # (B, S, H)
        h0 = torch.tanh(self.init(torch.cat([h[0], h[1]], dim=-1)))                 # (B, H)
        return Encoded(memory, mask, h0)


class Attention(nn.Module):
    """Scores of decoder states against the memory, softmax over real positions (padding gets exactly 0)."""

    def __init__(self, hidden: int, kind: str = "general"):
        super().__init__()
        if kind not in ATTENTIONS:
            raise ValueError(f"attention={kind!r}; allowed values: {', '.join(ATTENTIONS)}")
        self.kind = kind
        self.W_m = nn.Linear(hidden, hidden, bias=False)
        if kind == "additive":
            self.W_h = nn.Linear(hidden, hidden, bias=True)
            self.v = nn.Linear(hidden, 1, bias=False)

    def forward(self, h, memory, mask):
        """h (B, T, H), memory (B, S, H), mask (B, S) -> weights (B, T, S), context (B, T, H)."""
        if self.kind == "general":
            scores = h @ self.W_m(memory).transpose(1, 2)                           # (B, T, S)
        else:
            e = torch.tanh(self.W_m(memory)[:, None, :, :] + self.W_h(h)[:, :, None, :])   # (B, T, S, H)
            scores = self.v(e).squeeze(-1)                                          # (B, T, S)
        scores = scores.masked_fill(~mask[:, None, :], float("-inf"))
        weights = torch.softmax(scores, dim=-1)
        return weights, weights @ memory


class Decoder(nn.Module):
    def __init__(self, vocab: int, emb: int, hidden: int, attention: str = "general", dropout: float = 0.0):
        super().__init__()
        self.embed = nn.Embedding(vocab, emb, padding_idx=PAD_ID)
        self.rnn = nn.GRU(emb, hidden, batch_first=True)
        self.attn = Attention(hidden, attention)
        self.combine = nn.Linear(2 * hidden, hidden)
        self.out = nn.Linear(hidden, vocab)
        self.drop = nn.Dropout(dropout)
        # <pad> and <bos> are never outputs: their logits are -inf, so no decoder can ever emit them
        self.register_buffer("_never", torch.tensor([PAD_ID, BOS_ID]), persistent=False)

    def forward(self, tgt_in, enc: Encoded, h=None):
        """Teacher forcing. tgt_in (B, T) -> logits (B, T, V), attention (B, T, S), last state (B, H)."""
        h = enc.h0 if h is None else h
        states, h_last = self.rnn(self.drop(self.embed(tgt_in)), h[None].contiguous())   # (B, T, H)
        weights, context = self.attn(states, enc.memory, enc.mask)
        o = self.drop(torch.tanh(self.combine(torch.cat([context, states], dim=-1))))    # (B, T, H)
        logits = self.out(o).index_fill(-1, self._never.to(o.device), float("-inf"))    # (B, T, V)
        return logits, weights, h_last[0]

    def step(self, y_prev, h, enc: Encoded):
        """One step: y_prev (B,) ids, h (B, H) -> log-probs (B, V), new h (B, H), attention (B, S)."""
        logits, weights, h = self.forward(y_prev[:, None], enc, h)
        return torch.log_softmax(logits[:, 0], dim=-1), h, weights[:, 0]


# ----------------------------------------------------------------------------- decoding

@torch.no_grad()
def greedy_decode(decoder: Decoder, enc: Encoded, max_len: int = 40) -> Decoded:
    """The most probable token at every step, until <eos> (or max_len tokens)."""
    return _decode(decoder, enc, max_len, temperature=0.0)


@torch.no_grad()
def sample_decode(decoder: Decoder, enc: Encoded, max_len: int = 40, temperature: float = 1.0,
                  generator: torch.Generator | None = None) -> Decoded:
    """Sample y_t ~ softmax(logits / temperature) until <eos>; the scores are log p at temperature 1."""
    if not isinstance(temperature, (int, float)) or not temperature > 0 or temperature == float("inf"):
        raise ValueError(f"temperature must be > 0 for sampling; got {temperature} (use greedy_decode for 0)")
    return _decode(decoder, enc, max_len, temperature=temperature, generator=generator)


def _decode(decoder, enc, max_len, temperature, generator=None) -> Decoded:
    max_len = checks.positive_int("max_len", max_len)
    B = enc.memory.shape[0]
    y = torch.full((B,), BOS_ID, dtype=torch.long, device=enc.memory.device)
    h = enc.h0
    alive = torch.ones(B, dtype=torch.bool, device=y.device)
    scores = torch.zeros(B, device=y.device)
    toks, atts = [], []
    for _ in range(max_len):
        logp, h, a = decoder.step(y, h, enc)
        if temperature == 0:
            y = logp.argmax(-1)
        else:
            probs = torch.softmax(logp / temperature, dim=-1)
            if not torch.isfinite(probs).all():     # diverged weights: say so, not torch's multinomial error
                raise FloatingPointError("the translator's output probabilities are not finite (NaN/inf): its "
                                         "weights diverged; lower the learning rate")
            y = torch.multinomial(probs, 1, generator=generator).squeeze(1)
        scores = scores + torch.where(alive, logp.gather(1, y[:, None]).squeeze(1), torch.zeros_like(scores))
        toks.append(torch.where(alive, y, torch.full_like(y, PAD_ID)))
        atts.append(a)
        alive = alive & (y != EOS_ID)
        if not alive.any():
            break
    toks = torch.stack(toks, 1).tolist()                                            # (B, T)
    atts = torch.stack(atts, 1)                                                     # (B, T, S)
    tokens, attention = [], []
    lengths = enc.mask.sum(1).tolist()
    for i, row in enumerate(toks):
        n = row.index(EOS_ID) if EOS_ID in row else len(row)
        tokens.append(row[:n])
        attention.append(atts[i, :min(n + 1, len(row)), :lengths[i]])
    return Decoded(tokens, scores, attention)


@torch.no_grad()
def beam_decode(decoder: Decoder, enc: Encoded, beam: int = 5, max_len: int = 40,
                length_penalty: float = 0.0) -> list[list[Hypothesis]]:
    """Batched beam search: for each source, the `beam` best hypotheses, sorted by score (best first).

    score = log p(y | x) / lp(y) with lp = ((5 + |y|) / 6) ** length_penalty (Wu et al. 2016); 0 = plain
    log-probability, for which the search stops exactly when no live hypothesis can beat the finished ones.
    beam=1 is greedy decoding.
    """
    if isinstance(beam, bool) or not isinstance(beam, int) or beam < 1:
        raise ValueError(f"beam must be a positive integer; got {beam!r}")
    if max_len < 1:
        raise ValueError(f"max_len must be >= 1; got {max_len}")
    length_penalty = checks.nonneg_float("length_penalty", length_penalty)
    B, S = enc.mask.shape
    K = beam
    dev = enc.memory.device
    encK = enc.repeat(K)
    h = encK.h0
    y = torch.full((B * K,), BOS_ID, dtype=torch.long, device=dev)
    scores = torch.full((B, K), float("-inf"), device=dev)
    scores[:, 0] = 0.0                                     # at first only one live hypothesis per source
    hist = torch.zeros(B * K, 0, dtype=torch.long, device=dev)
    att_hist = torch.zeros(B * K, 0, S, device=dev)
    finished = [[] for _ in range(B)]                      # (log_prob, tokens, attention)
    done = [False] * B

    def penalised(lp, n):
        return lp / (((5 + n) / 6) ** length_penalty) if length_penalty else lp

    for t in range(max_len):
        logp, h, a = decoder.step(y, h, encK)              # (B*K, V), (B*K, H), (B*K, S)
        V = logp.shape[1]
        cand = (scores.reshape(B * K, 1) + logp).reshape(B, K, V)
        kth = cand.reshape(B, -1).topk(K, dim=1).values[:, -1]                      # (B,)
        eos = cand[:, :, EOS_ID]                                                    # (B, K)
        for b, k in (eos >= kth[:, None]).nonzero().tolist():   # <eos> among the top K: a finished hypothesis
            if not done[b] and torch.isfinite(eos[b, k]):
                r = b * K + k
                finished[b].append((eos[b, k].item(), hist[r].tolist(), torch.cat([att_hist[r], a[r, None]])))
        cand[:, :, EOS_ID] = float("-inf")                 # live hypotheses continue with other tokens
        top = cand.reshape(B, -1).topk(K, dim=1)
        scores = top.values                                                          # (B, K)
        rows = (torch.arange(B, device=dev)[:, None] * K + top.indices // V).reshape(-1)
        y = (top.indices % V).reshape(-1)
        h = h[rows]
        hist = torch.cat([hist[rows], y[:, None]], dim=1)
        att_hist = torch.cat([att_hist[rows], a[rows, None]], dim=1)
        for b in range(B):                                 # stop a source when no live one can still win
            if not done[b] and len(finished[b]) >= K:
                kth_done = sorted((f[0] for f in finished[b]), reverse=True)[K - 1]
                done[b] = length_penalty == 0 and scores[b].max().item() <= kth_done
        if all(done):
            break
    out = []
    for b in range(B):
        hyps = [Hypothesis(toks, penalised(lp, len(toks) + 1), lp, att[:, :int(enc.mask[b].sum())])
                for lp, toks, att in finished[b]]
        if len(hyps) < K:                                  # ran out of steps: keep the live ones too
            for k in range(K):
                r = b * K + k
                if torch.isfinite(scores[b, k]):
                    hyps.append(Hypothesis(hist[r].tolist(), penalised(scores[b, k].item(), hist.shape[1]),
                                           scores[b, k].item(), att_hist[r, :, :int(enc.mask[b].sum())]))
        out.append(sorted(hyps, key=lambda hyp: -hyp.score)[:K])
    return out


# ----------------------------------------------------------------------------- the model

class Seq2Seq(nn.Module):
    """Encoder + attention decoder; `forward(src, src_len, tgt_in, tgt_out=None) -> (logits, loss)`."""

    def __init__(self, config: Seq2SeqConfig):
        super().__init__()
        self.config = config
        c = config
        self.encoder = Encoder(c.src_vocab, c.emb, c.hidden, c.dropout)
        self.decoder = Decoder(c.tgt_vocab, c.emb, c.hidden, c.attention, c.dropout)

    def encode(self, src, src_len) -> Encoded:
        return self.encoder(src, src_len)

    def forward(self, src, src_len, tgt_in, tgt_out=None, return_attention: bool = False):
        """Teacher forcing: logits (B, T, V) and the mean cross-entropy per target token (None without
        tgt_out); padding (id 0) in tgt_out is ignored. return_attention adds the weights (B, T, S)."""
        logits, weights, _ = self.decoder(tgt_in, self.encode(src, src_len))
        loss = None
        if tgt_out is not None:
            if tgt_out.shape != tgt_in.shape:
                raise ValueError(f"tgt_out {tuple(tgt_out.shape)} must have the shape of tgt_in {tuple(tgt_in.shape)}")
            loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), tgt_out.reshape(-1),
                                   ignore_index=PAD_ID)
        return (logits, loss, weights) if return_attention else (logits, loss)

    def sequence_log_prob(self, src, src_len, tgt_in, tgt_out):
        """log p(y | x) summed over each target's tokens (padding excluded): (B,), differentiable."""
        logits, _ = self(src, src_len, tgt_in)
        logp = torch.log_softmax(logits, dim=-1).gather(2, tgt_out[:, :, None]).squeeze(2)   # (B, T)
        return torch.where(tgt_out != PAD_ID, logp, torch.zeros_like(logp)).sum(1)   # (-inf at padding)

    # The decoders below run in eval mode (no dropout) and put the module's mode back afterwards.
    def greedy(self, src, src_len, max_len: int = 40) -> Decoded:
        with eval_mode(self):
            return greedy_decode(self.decoder, self.encode(src, src_len), max_len)

    def sample(self, src, src_len, max_len: int = 40, temperature: float = 1.0, generator=None) -> Decoded:
        with eval_mode(self):
            return sample_decode(self.decoder, self.encode(src, src_len), max_len, temperature, generator)

    def beam(self, src, src_len, beam: int = 5, max_len: int = 40, length_penalty: float = 0.0):
        with eval_mode(self):
            return beam_decode(self.decoder, self.encode(src, src_len), beam, max_len, length_penalty)


@contextmanager
def eval_mode(module: nn.Module):
    """Run a block with `module.eval()` and no gradients; restore train/eval mode afterwards."""
    was_training = module.training
    module.eval()
    try:
        with torch.no_grad():
            yield module
    finally:
        module.train(was_training)


# ----------------------------------------------------------------------------- training and recipes

def train_mle(model: Seq2Seq, pairs, src_vocab, tgt_vocab, steps: int, batch_size: int = 64, lr: float = 3e-3,
              seed: int = 0, clip: float = 1.0, callbacks=(), every: int = 50, desc: str = "MLE",
              bucket: int = 0) -> dict:
    """Teacher-forced maximum likelihood with Adam and a one-cycle learning rate; returns the history.

    Each step: a batch of pairs -> loss = mean cross-entropy of y_t given y_<t and x -> clip -> Adam step.
    bucket=k > 1 batches pairs of similar length (sorted within runs of k batches; see
    `parallel.batches`): less padding, so cheaper steps; 0 (the default) keeps fully random batches.
    """
    from ..data.parallel import batches
    from ..train import DivergenceGuard, loop

    steps, batch_size = checks.positive_int("steps", steps), checks.positive_int("batch_size", batch_size)
    lr, clip, seed = checks.learning_rate("lr", lr), checks.clip("clip", clip), checks.nonneg_int("seed", seed)
    checks.non_empty("pairs", pairs, "training pairs")
    bucket = checks.nonneg_int("bucket", bucket)
    device = next(model.parameters()).device
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    # warm-up over the first 10% of the steps; torch's OneCycleLR divides by zero when that is exactly one
    # step (steps=10), so nudge it there
    pct_start = 0.1 if steps != 10 else 0.15
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=pct_start)
    gen = torch.Generator().manual_seed(seed)
    stream = iter(())

    def step(i):
        nonlocal stream
        b = next(stream, None)
        if b is None:                                      # a new shuffled epoch
            stream = batches(pairs, src_vocab, tgt_vocab, batch_size, generator=gen, device=device, bucket=bucket)
            b = next(stream)
        src, src_len, tgt_in, tgt_out = b
        _, loss = model(src, src_len, tgt_in, tgt_out)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), math.inf if clip is None else clip)
        opt.step()
        sched.step()
        return {"loss": loss.item()}

    model.train()
    history = loop(step, steps, guard=DivergenceGuard(model, optimizers=[opt], hint="lower lr"),
                   callbacks=callbacks, every=every, desc=desc)
    model.eval()
    return history


def translate(model: Seq2Seq, sources, src_vocab, tgt_vocab, beam: int = 1, batch_size: int = 500,
              max_len: int = 40, unknown: str = "unk") -> list[list[str]]:
    """Token lists in -> token lists out (greedy for beam=1, else the best beam hypothesis).

    unknown: "unk" maps words the source vocabulary lacks to <unk> (and warns when a sentence has no known
    word at all: its translation is a guess), "error" refuses them with a KeyError naming them. An empty
    source sentence is refused.
    """
    import warnings

    from ..data.vocab import UNK_ID, pad_batch

    checks.one_of("unknown", unknown, ("unk", "error"))
    batch_size = checks.positive_int("batch_size", batch_size)
    device = next(model.parameters()).device
    out = []
    if isinstance(sources, str):
        raise TypeError("sources must be a list of token lists, got str; allowed: e.g. [['seventy', 'one']]")
    sources = list(sources)
    encoded = []
    for j, s in enumerate(sources):
        ids = src_vocab.encode(s, unknown=unknown)
        if not ids:
            raise ValueError(f"sources[{j}] is empty; allowed: sentences of at least one token")
        if all(t == UNK_ID for t in ids):
            warnings.warn(f"sources[{j}]={list(s)[:8]!r}: no word is in the source vocabulary, so its translation "
                          "is a guess (pass unknown='error' to refuse such sentences; were the vocabularies "
                          "swapped?)", stacklevel=2)
        encoded.append(ids)
    for i in range(0, len(sources), batch_size):
        src, src_len = pad_batch(encoded[i:i + batch_size])
        src, src_len = src.to(device), src_len.to(device)
        if beam == 1:
            ids = model.greedy(src, src_len, max_len).tokens
        else:
            ids = [hyps[0].tokens for hyps in model.beam(src, src_len, beam, max_len)]
        out.extend(tgt_vocab.decode(t) for t in ids)
    return out


CHECKPOINT_DIR = Path(__file__).resolve().parents[2] / "data" / "checkpoints"


@dataclass
class NumberRecipe:
    """Everything that decides notebook 12's number translator (the checkpoint is valid for one recipe)."""
    pair: str = "en-fr"          # language pair, one of gan_course.data.parallel.PAIRS
    n_train: int = 20000         # training pairs (numbers drawn from the train pool)
    n_valid: int = 500           # validation pairs
    n_test: int = 1000           # held-out test pairs (numbers never seen in training)
    data_seed: int = 0           # decides the split of 0..999,999 and the draw
    emb: int = 64                # model sizes, see Seq2SeqConfig
    hidden: int = 128
    dropout: float = 0.1
    attention: str = "general"
    steps: int = 600             # Adam steps of batch_size pairs
    batch_size: int = 64
    lr: float = 3e-3
    seed: int = 0                # initialisation and batch order

    def __post_init__(self):
        pos = checks.positive_int
        checks.fields(self, n_train=pos, n_valid=pos, n_test=pos, data_seed=checks.nonneg_int, emb=pos,
                      hidden=pos, dropout=lambda n, v: checks.probability(n, v, hi_open=True), steps=pos,
                      batch_size=pos, lr=checks.learning_rate, seed=checks.nonneg_int)

    @classmethod
    def for_mode(cls, fast: bool, **overrides) -> "NumberRecipe":
        """The full recipe, or the FAST one (a smaller corpus and fewer steps: under a minute)."""
        fast = checks.boolean("fast", fast)
        base = dict(n_train=4000, n_valid=200, n_test=300, steps=120) if fast else {}
        return cls(**{**base, **overrides})


def number_translator(recipe: NumberRecipe, device="cpu", checkpoint_dir=None, callbacks=(), verbose=True,
                      retrain: bool = False):
    """Load notebook 12's translator from its checkpoint, or train it (and save it) if there is none.

    Returns (model, corpus, info) with info = {"loaded": bool, "seconds": training seconds, "history": ...}.
    checkpoint_dir=False never reads or writes a checkpoint; retrain=True trains and replaces it. A file at
    the checkpoint's path that is not a 'seq2seq-numbers' checkpoint is refused, never overwritten, and an
    unwritable checkpoint_dir is refused before training (see `checkpoint.reusable`).
    """
    import time

    from .. import checkpoint
    from ..data.parallel import number_corpus

    r = recipe
    corpus = number_corpus(r.pair, r.n_train, r.n_valid, r.n_test, seed=r.data_seed)
    config = Seq2SeqConfig(len(corpus.src_vocab), len(corpus.tgt_vocab), r.emb, r.hidden, r.dropout, r.attention)
    model = Seq2Seq(config).to(device)
    path = None
    if checkpoint_dir is not False:
        path = Path(checkpoint_dir or CHECKPOINT_DIR) / f"12_translation_{r.pair}_{r.n_train}_{r.steps}.pt"
        ck = checkpoint.reusable(path, kind="seq2seq-numbers", config=recipe, retrain=retrain, verbose=verbose)
        if ck is not None:
            checkpoint.load_state(model, ck["state"]["model"], path)
            model.eval()
            if verbose:
                print(f"loaded {path.name} (trained in {ck['extra']['seconds']:.0f} s; delete it to retrain)")
            return model, corpus, {"loaded": True, **ck["extra"]}
        checks.writable_dir("checkpoint_dir", path.parent)              # before training, not after
    torch.manual_seed(r.seed)
    model = Seq2Seq(config).to(device)
    t0, c0 = time.perf_counter(), time.process_time()
    history = train_mle(model, corpus.train, corpus.src_vocab, corpus.tgt_vocab, r.steps, r.batch_size, r.lr,
                        seed=r.seed, callbacks=callbacks, desc=f"MLE {r.pair}")
    extra = {"seconds": time.perf_counter() - t0, "cpu_seconds": time.process_time() - c0,
             "history": [v for _, v in history["loss"]]}
    if path is not None:
        checkpoint.save(path, kind="seq2seq-numbers", config=recipe, step=r.steps,
                        state={"model": model.state_dict()}, extra=extra)
    return model, corpus, {"loaded": False, **extra}
