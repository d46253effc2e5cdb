"""Adversarially regularized autoencoder for sentences (ARAE; Zhao, Kim, Zhang, Rush, LeCun 2018).

A GAN cannot backpropagate through sampled words, but it can work in a continuous space that
represents sentences. ARAE builds that space with a deterministic autoencoder and trains a GAN in it:

    encoder:    c = enc(x) / ||enc(x)||             a code on the unit sphere, (B, d_code)
    decoder:    p(x | c + noise)                    a GRU language model conditioned on the code
    generator:  c~ = G(z),  z ~ N(0, I)             an MLP, output normalised like the codes
    critic:     C(c) -> score (B,)                  an MLP; WGAN-GP (Gulrajani et al. 2017) between
                                                    the codes of real sentences and G's codes
    sampling:   z -> G(z) -> decoder -> a sentence  (no encoder needed)

One training step (Zhao et al. 2018, Algorithm 1, with the gradient penalty instead of weight clipping):
  1. autoencoder: minimise -log p(x | enc(x) + eps), eps ~ N(0, noise_std^2): the noise makes the
     decoder robust to codes that are near, not on, the real ones (the generator's);
  2. critic (critic_steps times, on this batch's codes and fresh generated codes): minimise
     C(G(z)) - C(enc(x)) + gradient penalty; then the encoder, with a small weight, minimises C(enc(x))
     (it moves real codes toward the generator's: the adversarial regularisation of the code space
     that gives ARAE its name);
  3. generator: minimise -C(G(z)).

Unlike a VAE, nothing here is a likelihood of x under the generator: ARAE has no NLL to report, only
samples (judged by BLEU, Self-BLEU and forward/reverse perplexity in notebook 11).
"""
from __future__ import annotations

import math

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from .. import checks, losses
from ..data.vocab import PAD_ID
from .mlp import MLP
from .sentence_vae import ConditionalDecoder, SentenceEncoder, bucket_batches, load_or_train, rec_nll, vae_batch


@dataclass
class ARAEConfig:
    vocab_size: int                 # size of the vocabulary, special tokens included
    emb: int = 64                   # token embedding width (shared by encoder and decoder)
    hidden: int = 128               # GRU state width of the encoder and of the decoder
    d_code: int = 32                # size of the sentence code (on the unit sphere)
    d_noise: int = 32               # size of the generator's input z ~ N(0, I)
    width: int = 128                # hidden units of the generator and of the critic MLPs
    depth: int = 2                  # hidden layers of the generator and of the critic MLPs
    noise_std: float = 0.1          # std of the Gaussian noise added to codes in the autoencoder step
    noise_decay: float = 0.998      # noise_std is multiplied by this every 10 steps (Zhao et al. anneal it)
    critic_steps: int = 5           # critic updates per generator update (WGAN-GP's n_critic)
    gp_weight: float = 10.0         # gradient-penalty weight (Gulrajani et al. 2017)
    enc_adv_weight: float = 0.05    # weight of the encoder's adversarial term (0: a fixed code space)
    lr_ae: float = 2e-3             # Adam learning rate of the autoencoder
    lr_gan: float = 1e-4            # Adam learning rate of the generator and the critic
    gan_start: int = 0              # autoencoder-only steps before the GAN starts
    batch_size: int = 64            # sentences per step
    steps: int = 2000               # training steps (one autoencoder step + the GAN steps each)
    clip: float | None = 1.0        # gradient-norm clipping of the autoencoder (None: none)
    seed: int = 0                   # seed of the initial weights, minibatches and noise

    def __post_init__(self):
        pos = checks.positive_int
        checks.fields(self, vocab_size=checks.vocab_size, emb=pos, hidden=pos, d_code=pos,
                      d_noise=pos, width=pos, depth=pos, noise_std=checks.nonneg_float, critic_steps=pos,
                      gp_weight=checks.nonneg_float, enc_adv_weight=checks.nonneg_float,
                      lr_ae=checks.learning_rate, lr_gan=checks.learning_rate, gan_start=checks.nonneg_int,
                      batch_size=pos, steps=checks.nonneg_int, clip=checks.clip, seed=checks.nonneg_int)


def check_config(cfg: ARAEConfig) -> None:
    if cfg.vocab_size < 5:
        raise ValueError(f"vocab_size must be > 4 (the special tokens); got {cfg.vocab_size}")
    for name in ("emb", "hidden", "d_code", "d_noise", "width", "depth", "critic_steps", "batch_size"):
        v = getattr(cfg, name)
        if not isinstance(v, int) or isinstance(v, bool) or v < 1:
            raise ValueError(f"{name} must be a positive integer; got {v!r}")
    for name in ("noise_std", "gp_weight", "enc_adv_weight"):
        if getattr(cfg, name) < 0:
            raise ValueError(f"{name} must be >= 0; got {getattr(cfg, name)!r}")
    if not 0 < cfg.noise_decay <= 1:
        raise ValueError(f"noise_decay must be in (0, 1]; got {cfg.noise_decay!r}")


def normalize(c: torch.Tensor) -> torch.Tensor:
    """Codes onto the unit sphere: c / ||c|| per row (B, d). The scale cannot drift, so the critic has to
    judge directions, and the decoder always sees codes of the same size."""
    return F.normalize(c, dim=-1)


class ARAE(nn.Module):
    """Autoencoder (encoder, decoder) + code generator G + code critic C."""

    def __init__(self, cfg: ARAEConfig):
        super().__init__()
        check_config(cfg)
        self.cfg = cfg
        self.embed = nn.Embedding(cfg.vocab_size, cfg.emb, padding_idx=PAD_ID)
        self.encoder = SentenceEncoder(self.embed, cfg.hidden, cfg.d_code)
        self.decoder = ConditionalDecoder(self.embed, cfg.hidden, cfg.d_code)
        self.generator = MLP(cfg.d_noise, cfg.d_code, width=cfg.width, depth=cfg.depth)
        self.critic = MLP(cfg.d_code, 1, width=cfg.width, depth=cfg.depth, activation="leaky_relu", squeeze=True)

    @property
    def device(self):
        return self.embed.weight.device

    def encode(self, targets: torch.Tensor) -> torch.Tensor:
        """targets (B, T) x_1..x_n <eos> <pad>... -> codes (B, d_code) on the unit sphere."""
        return normalize(self.encoder(targets))

    def generate_codes(self, n: int, generator=None) -> torch.Tensor:
        """c~ = G(z), z ~ N(0, I): (n, d_code) on the unit sphere."""
        z = torch.randn(n, self.cfg.d_noise, generator=generator).to(self.device)
        return normalize(self.generator(z))

    @torch.no_grad()
    def sample(self, n: int, max_len: int = 20, greedy: bool = True, temperature: float = 1.0,
               top_k: int | None = None, generator=None) -> torch.Tensor:
        """n sentences (n, max_len) ids: z -> G(z) -> decoder (greedy, or sampled)."""
        was = self.training
        self.eval()
        ids = self.decoder.generate(self.generate_codes(n, generator), max_len, greedy, temperature, top_k,
                                    generator)
        self.train(was)
        return ids


def build(cfg: ARAEConfig, device=None) -> ARAE:
    check_config(cfg)
    torch.manual_seed(cfg.seed)
    return ARAE(cfg).to(device or "cpu")


def optimizers(model: ARAE):
    """(opt_ae, opt_c, opt_g, opt_enc): autoencoder; critic; generator; encoder (adversarial term)."""
    cfg = model.cfg
    ae = list(model.embed.parameters()) + list(model.encoder.rnn.parameters()) + \
        list(model.encoder.out.parameters()) + list(model.decoder.parameters())
    ae = list({id(p): p for p in ae}.values())            # the shared embedding once
    return (torch.optim.Adam(ae, lr=cfg.lr_ae),
            torch.optim.Adam(model.critic.parameters(), lr=cfg.lr_gan, betas=(0.5, 0.9)),
            torch.optim.Adam(model.generator.parameters(), lr=cfg.lr_gan, betas=(0.5, 0.9)),
            # the encoder's own weights only: the embedding is shared with the decoder and stays out of the game
            torch.optim.Adam(list(model.encoder.rnn.parameters()) + list(model.encoder.out.parameters()),
                             lr=cfg.lr_gan, betas=(0.5, 0.9)))


def ae_step(model: ARAE, opt_ae, seqs, noise_std: float, generator=None):
    """1. Autoencoder: minimise -log p(x | c + eps) per sentence. Returns (nats per sentence, the codes
    c of this batch, detached: the real codes of the critic steps)."""
    inputs, targets = vae_batch(seqs, model.device)
    c = model.encode(targets)                                                  # (B, d)
    eps = torch.randn(c.shape, generator=generator).to(c.device)
    logits = model.decoder(inputs, c + noise_std * eps)                        # (B, T, V)
    loss = rec_nll(logits, targets).mean()
    opt_ae.zero_grad(set_to_none=True)
    loss.backward()
    clip = math.inf if model.cfg.clip is None else model.cfg.clip
    nn.utils.clip_grad_norm_([p for g in opt_ae.param_groups for p in g["params"]], clip)
    opt_ae.step()
    return loss.item(), c.detach()


def critic_step(model: ARAE, opt_c, real: torch.Tensor, generator=None) -> dict:
    """2. Critic: minimise C(G(z)) - C(c) + GP (WGAN-GP) on real codes c (B, d) and fresh G(z).
    Returns the critic's estimate of the Wasserstein distance and the penalty."""
    with torch.no_grad():
        fake = model.generate_codes(len(real), generator)                      # (B, d)
    w_loss = losses.d_loss_wgan(model.critic(real), model.critic(fake))
    gp = losses.gradient_penalty(model.critic, real, fake, weight=model.cfg.gp_weight, generator=generator)
    opt_c.zero_grad(set_to_none=True)
    (w_loss + gp).backward()
    opt_c.step()
    return {"w_dist": -w_loss.item(), "gp": gp.item()}


def encoder_adv_step(model: ARAE, opt_enc, seqs) -> float:
    """2b. The encoder lowers the critic's score of real codes: minimise enc_adv_weight * E C(enc(x)),
    pulling the code space toward what the generator can produce (Zhao et al. 2018)."""
    _, targets = vae_batch(seqs, model.device)
    loss = model.cfg.enc_adv_weight * model.critic(model.encode(targets)).mean()
    opt_enc.zero_grad(set_to_none=True)
    loss.backward()
    opt_enc.step()
    return loss.item()


def generator_step(model: ARAE, opt_g, n: int, generator=None) -> float:
    """3. Generator: minimise -C(G(z))."""
    loss = losses.g_loss_wgan(model.critic(model.generate_codes(n, generator)))
    opt_g.zero_grad(set_to_none=True)
    loss.backward()
    opt_g.step()
    return loss.item()


def fit(cfg: ARAEConfig, train_seqs, device=None, callbacks=(), every: int = 50, desc: str = "ARAE"):
    """Train an ARAE for cfg.steps steps; returns (model, history)."""
    from ..train import DivergenceGuard, loop

    model = build(cfg, device)
    opt_ae, opt_c, opt_g, opt_enc = optimizers(model)
    gen = torch.Generator().manual_seed(cfg.seed)
    data = bucket_batches(list(train_seqs), cfg.batch_size, generator=gen)

    def step(i):
        seqs = next(data)
        rec, codes = ae_step(model, opt_ae, seqs, cfg.noise_std * cfg.noise_decay ** (i // 10), gen)
        logs = {"rec": rec}
        if i >= cfg.gan_start:
            for _ in range(cfg.critic_steps):       # the same real codes, fresh generated ones each time
                logs.update(critic_step(model, opt_c, codes, gen))
            if cfg.enc_adv_weight > 0:
                encoder_adv_step(model, opt_enc, seqs)
            logs["loss_g"] = generator_step(model, opt_g, cfg.batch_size, gen)
        return logs

    guard = DivergenceGuard(model, optimizers=[opt_ae, opt_c, opt_g, opt_enc],
                            hint="lower ARAEConfig.lr_gan or raise gp_weight")
    history = loop(step, cfg.steps, guard=guard, callbacks=callbacks, every=every, desc=desc)
    return model, history


def load_or_fit(cfg: ARAEConfig, train_seqs, path, device=None, callbacks=(), every: int = 50, desc: str = "ARAE",
                retrain: bool = False):
    """`fit` with a checkpoint at `path` (reused only if saved with the same config).
    Returns (model, history, loaded). A file there that is not an 'arae' checkpoint is refused, never
    overwritten (retrain=True replaces it)."""
    return load_or_train(path, "arae", cfg, lambda: build(cfg, device),
                         lambda: fit(cfg, train_seqs, device, callbacks, every, desc), retrain=retrain)


def two_sample_accuracy(a: torch.Tensor, b: torch.Tensor, steps: int = 300, width: int = 64, lr: float = 3e-3,
                        seed: int = 0) -> float:
    """Held-out accuracy of a fresh classifier telling samples a (n, d) from samples b (m, d).

    A classifier two-sample test (Lopez-Paz & Oquab 2017), independent of the critic being trained: half of
    each set trains an MLP (one hidden layer of `width`, Adam, `steps` full-batch steps on the balanced
    BCE), the other half scores it. 0.5 = the two sets look alike to it; near 1 = they are plainly
    different. Use it to check a WGAN critic whose W estimate says "no difference".
    """
    steps, width, seed = checks.positive_int("steps", steps), checks.positive_int("width", width), \
        checks.nonneg_int("seed", seed)
    lr = checks.learning_rate("lr", lr)
    if a.dim() != 2 or b.dim() != 2 or a.shape[1] != b.shape[1] or len(a) < 4 or len(b) < 4:
        raise ValueError(f"a and b must be (n >= 4, d) sample sets of the same width; got {tuple(a.shape)} and "
                         f"{tuple(b.shape)}")
    a, b = a.detach().float().cpu(), b.detach().float().cpu()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        pa, pb = torch.randperm(len(a)), torch.randperm(len(b))
        clf = nn.Sequential(nn.Linear(a.shape[1], width), nn.ReLU(), nn.Linear(width, 1))
    ha, hb = len(a) // 2, len(b) // 2
    xa, xb, ta, tb = a[pa[:ha]], b[pb[:hb]], a[pa[ha:]], b[pb[hb:]]
    opt = torch.optim.Adam(clf.parameters(), lr=lr)
    for _ in range(steps):
        loss = 0.5 * (F.binary_cross_entropy_with_logits(clf(xa).squeeze(1), torch.ones(len(xa)))
                      + F.binary_cross_entropy_with_logits(clf(xb).squeeze(1), torch.zeros(len(xb))))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    with torch.no_grad():
        return 0.5 * ((clf(ta).squeeze(1) > 0).float().mean() + (clf(tb).squeeze(1) <= 0).float().mean()).item()
