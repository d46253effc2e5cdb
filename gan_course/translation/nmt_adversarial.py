"""Adversarial NMT (notebook 13): a discriminator judges (source, translation) pairs, and the translator
is trained by policy gradient on its verdict, mixed with maximum likelihood.

    Wu, Xia, Zhao, Tian, Qin, Lai & Liu 2017, "Adversarial neural machine translation" (ACML 2018)
    Yu, Zhang, Wang & Yu 2017, "SeqGAN" (policy gradient through a discriminator)
    Williams 1992, "Simple statistical gradient-following algorithms" (REINFORCE)

The translator G (a `Seq2Seq`) cannot be trained by backpropagating through D: its output tokens are
sampled, and sampling has no gradient (notebook 06). So, as in SeqGAN, G is a policy and D's verdict a
reward:

    D:   maximise  log D(x, y) + log(1 - D(x, y')),  y the human translation, y' ~ G(. | x)
    G:   minimise  -(r(x, y') - b) log G(y' | x)   +   lambda * (-log G(y | x))
         with the reward r = D(x, y') (the probability that y' is human) and b the batch mean reward.

The second term is plain teacher-forced MLE; Wu et al. found training unstable without it.

The discriminator follows Wu et al.: an "image" whose pixel (i, j) combines source token i and target
token j, then two 2-D convolutions with max pooling, then a linear layer: it sees which words of the
translation go with which words of the source.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from .. import checks
from ..data.parallel import batch as make_batch
from ..data.vocab import BOS_ID, EOS_ID, PAD_ID, pad_batch
from .seq2seq import Seq2Seq, eval_mode


@dataclass
class AdversarialConfig:
    steps: int = 150              # adversarial steps (one D step and one G step each)
    batch_size: int = 64          # source sentences per step
    lr_g: float = 3e-4            # translator learning rate (it starts from a trained model: small)
    lr_d: float = 1e-3            # discriminator learning rate
    d_pretrain: int = 100         # D steps against the frozen starting translator before G moves
    mle_weight: float = 1.0       # lambda: weight of the teacher-forced MLE term in G's loss
    temperature: float = 1.0      # sampling temperature of y' ~ G (1 = the model's distribution)
    max_len: int = 40             # longest sampled translation
    seed: int = 0                 # batch order, sampling and D's initialisation

    def __post_init__(self):
        checks.fields(self, steps=checks.nonneg_int, batch_size=checks.positive_int, lr_g=checks.learning_rate,
                      lr_d=checks.learning_rate, d_pretrain=checks.nonneg_int, mle_weight=checks.nonneg_float,
                      temperature=checks.positive_float, max_len=checks.positive_int, seed=checks.nonneg_int)


class PairDiscriminator(nn.Module):
    """D(x, y) -> logit (B,) that y is a human translation of x (Wu et al. 2017's CNN on a 2-D grid).

    Pixel (i, j) = ReLU(W_s e(x_i) + W_t e(y_j)); two 3x3 conv layers with 2x2 max pooling; a max over the
    grid's real cells; a linear layer. Padding cells are zeroed and never win the final max.
    """

    def __init__(self, src_vocab: int, tgt_vocab: int, emb: int = 32, channels: int = 32):
        super().__init__()
        self.src_embed = nn.Embedding(src_vocab, emb, padding_idx=PAD_ID)
        self.tgt_embed = nn.Embedding(tgt_vocab, emb, padding_idx=PAD_ID)
        self.W_s = nn.Linear(emb, channels)
        self.W_t = nn.Linear(emb, channels, bias=False)
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)
        self.out = nn.Linear(channels, 1)

    def forward(self, src, tgt):
        """src (B, S), tgt (B, T) padded with 0 -> logits (B,)."""
        mask = ((src != PAD_ID)[:, :, None] & (tgt != PAD_ID)[:, None, :]).float()[:, None]   # (B, 1, S, T)
        grid = self.W_s(self.src_embed(src))[:, :, None, :] + self.W_t(self.tgt_embed(tgt))[:, None, :, :]
        z = torch.relu(grid).permute(0, 3, 1, 2) * mask                               # (B, C, S, T)
        z = torch.relu(self.conv1(z)) * mask
        z, mask = F.max_pool2d(z, 2, ceil_mode=True), F.max_pool2d(mask, 2, ceil_mode=True)
        z = torch.relu(self.conv2(z)) * mask
        z = z.masked_fill(mask == 0, float("-inf")).flatten(2).max(dim=2).values      # (B, C)
        z = torch.where(torch.isfinite(z), z, torch.zeros_like(z))   # an empty translation: no cell at all
        return self.out(z).squeeze(1)


def samples_to_batch(tokens: list, device) -> tuple:
    """Sampled token lists -> (tgt (B, T) padded, tgt_in = <bos> y, tgt_out = y <eos>) tensors."""
    tgt, _ = pad_batch([t if t else [EOS_ID] for t in tokens])
    tgt_in, _ = pad_batch([[BOS_ID] + t for t in tokens])
    tgt_out, _ = pad_batch([t + [EOS_ID] for t in tokens])
    return tgt.to(device), tgt_in.to(device), tgt_out.to(device)


def human_tgt(tgt_out):
    """The human translation as D sees it: y without <eos> (D compares like with like)."""
    return tgt_out.masked_fill(tgt_out == EOS_ID, PAD_ID)


def d_step(D, opt_d, G, batch, cfg: AdversarialConfig, generator=None) -> dict:
    """One discriminator step: human pairs (x, y) -> 1, translator samples (x, y') -> 0."""
    src, src_len, _, tgt_out = batch
    fake = G.sample(src, src_len, cfg.max_len, cfg.temperature, generator).tokens
    fake_tgt, _, _ = samples_to_batch(fake, src.device)
    real_logit, fake_logit = D(src, human_tgt(tgt_out)), D(src, fake_tgt)
    loss = F.binary_cross_entropy_with_logits(real_logit, torch.ones_like(real_logit)) + \
        F.binary_cross_entropy_with_logits(fake_logit, torch.zeros_like(fake_logit))
    opt_d.zero_grad()
    loss.backward()
    opt_d.step()
    acc = ((real_logit > 0).float().mean() + (fake_logit < 0).float().mean()) / 2
    return {"loss_d": loss.item(), "d_accuracy": acc.item()}


def g_step(G, D, opt_g, batch, cfg: AdversarialConfig, generator=None) -> dict:
    """One translator step: REINFORCE with reward D(x, y') and a batch-mean baseline, plus lambda * MLE."""
    src, src_len, tgt_in, tgt_out = batch
    sample = G.sample(src, src_len, cfg.max_len, cfg.temperature, generator).tokens
    fake_tgt, fake_in, fake_out = samples_to_batch(sample, src.device)
    with torch.no_grad():
        reward = torch.sigmoid(D(src, fake_tgt))                                      # (B,) in (0, 1)
    advantage = reward - reward.mean()
    log_p = G.sequence_log_prob(src, src_len, fake_in, fake_out)                      # (B,)
    pg_loss = -(advantage * log_p).mean()
    _, mle_loss = G(src, src_len, tgt_in, tgt_out)
    loss = pg_loss + cfg.mle_weight * mle_loss
    opt_g.zero_grad()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(G.parameters(), 1.0)
    opt_g.step()
    return {"reward": reward.mean().item(), "loss_mle": mle_loss.item()}


def train_adversarial(G: Seq2Seq, D: PairDiscriminator, pairs, src_vocab, tgt_vocab, cfg: AdversarialConfig,
                      callbacks=(), every: int = 10, desc: str = "adversarial") -> dict:
    """Pretrain D against the starting G, then alternate d_step and g_step; returns the history."""
    from ..train import DivergenceGuard, loop

    if not isinstance(cfg, AdversarialConfig):
        raise TypeError(f"cfg must be an AdversarialConfig; got {type(cfg).__name__}")
    checks.non_empty("pairs", pairs, "training pairs")
    device = next(G.parameters()).device
    gen = torch.Generator().manual_seed(cfg.seed)
    sample_gen = torch.Generator(device=device).manual_seed(cfg.seed + 1) if device.type != "cpu" else \
        torch.Generator().manual_seed(cfg.seed + 1)
    opt_g = torch.optim.Adam(G.parameters(), lr=cfg.lr_g)
    opt_d = torch.optim.Adam(D.parameters(), lr=cfg.lr_d)

    def next_batch():
        idx = torch.randint(len(pairs), (cfg.batch_size,), generator=gen).tolist()
        return make_batch([pairs[i] for i in idx], src_vocab, tgt_vocab, device)

    G.train()
    D.train()
    pre = loop(lambda i: d_step(D, opt_d, G, next_batch(), cfg, sample_gen), cfg.d_pretrain,
               guard=DivergenceGuard(D, optimizers=[opt_d], hint="lower lr_d"),
               every=every, desc="pretrain D", show_progress=False) if cfg.d_pretrain else {}

    def step(i):
        logs = d_step(D, opt_d, G, next_batch(), cfg, sample_gen)
        try:
            logs.update(g_step(G, D, opt_g, next_batch(), cfg, sample_gen))
        except FloatingPointError:      # G's weights diverged and its sampler cannot draw: let the guard restore
            logs.update(reward=float("nan"), loss_mle=float("nan"))
        return logs

    guard = DivergenceGuard(G, D, optimizers=[opt_g, opt_d], hint="lower lr_g or raise mle_weight")
    history = loop(step, cfg.steps, guard=guard, callbacks=callbacks, every=every, desc=desc)
    G.eval()
    D.eval()
    history["pretrain_d_accuracy"] = pre.get("d_accuracy", [])
    return history


def train_mle_more(G: Seq2Seq, pairs, src_vocab, tgt_vocab, cfg: AdversarialConfig, desc: str = "MLE") -> dict:
    """The fair baseline: the same starting model, the same number of steps, batch and learning rate,
    with the MLE term alone (what adversarial training must beat)."""
    from ..train import DivergenceGuard, loop

    device = next(G.parameters()).device
    gen = torch.Generator().manual_seed(cfg.seed)
    opt = torch.optim.Adam(G.parameters(), lr=cfg.lr_g)

    def step(i):
        idx = torch.randint(len(pairs), (cfg.batch_size,), generator=gen).tolist()
        src, src_len, tgt_in, tgt_out = make_batch([pairs[j] for j in idx], src_vocab, tgt_vocab, device)
        _, loss = G(src, src_len, tgt_in, tgt_out)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(G.parameters(), 1.0)
        opt.step()
        return {"loss_mle": loss.item()}

    G.train()
    history = loop(step, cfg.steps, guard=DivergenceGuard(G, optimizers=[opt], hint="lower lr_g"), every=10,
                   desc=desc)
    G.eval()
    return history


@torch.no_grad()
def discriminator_accuracy(D, G, pairs, src_vocab, tgt_vocab, batch_size: int = 500, max_len: int = 40,
                           seed: int = 0) -> float:
    """Accuracy of D on held-out pairs: human translations vs the translator's samples (0.5 = fooled)."""
    device = next(G.parameters()).device
    gen = torch.Generator().manual_seed(seed)
    hits = n = 0
    with eval_mode(D):
        for i in range(0, len(pairs), batch_size):
            src, src_len, _, tgt_out = make_batch(pairs[i:i + batch_size], src_vocab, tgt_vocab, device)
            fake, _, _ = samples_to_batch(G.sample(src, src_len, max_len, 1.0, gen).tokens, device)
            hits += (D(src, human_tgt(tgt_out)) > 0).sum().item() + (D(src, fake) < 0).sum().item()
            n += 2 * src.shape[0]
    return hits / n
