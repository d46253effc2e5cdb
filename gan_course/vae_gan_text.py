"""VAE + GAN for text: the combination the seeds describe, done so that the gradient actually flows.

The seed article writes the combined game as

    min_G max_D  E_{x ~ data}[log D(x)] + E_{z ~ q(z|x)}[log(1 - D(G(z)))]

with a VAE that learns q(z|x) and a generator G that turns codes into text. Taken literally for text it
cannot train: G(z) would be a sequence of *sampled* words, and no gradient passes through a sample
(notebook 06 shows the None). Here it is done correctly:

* the VAE is a real one (notebook 10): an encoder q(z|x) = N(mu(x), sigma(x)^2), a decoder p(x|z) that
  is the generator G, the KL term, and the ELBO as its training objective;
* G's text reaches D through the Gumbel-softmax relaxation (notebook 08, `gan_course.gumbel`): at every
  step the decoder's logits give a Gumbel-max token (fed to the next step, as RelGAN does) and a relaxed
  one-hot y_t (what D reads). With `hard=True` (straight-through) D sees exact one-hot words, like the
  real ones, so it cannot win by noticing that fake words are "blurred"; the gradient is the soft one's;
* D (SeqGAN's CNN from `gan_course.models.text_gan`) reads (B, T, V) one-hot rows: real sentences and
  the decoder's sentences from z ~ q(z|x) (reconstructions) and from z ~ p(z) (samples);
* the encoder and decoder minimise  -ELBO + gan_weight * (non-saturating) GAN loss of both kinds of fake,
  so the GAN term pushes the decoder's *free-running* text toward real text, while the ELBO keeps q(z|x)
  a proper posterior and the decoder a proper likelihood (its NLL can still be measured).

Relation to VAE-GAN (Larsen, Sonderby, Larochelle, Winther 2016): the same three players (encoder,
decoder = generator, discriminator) and the same two kinds of fakes, Dec(z ~ q(z|x)) and Dec(z ~ p(z)).
Larsen et al. *replace* the pixel likelihood by a distance between D's features of x and of its
reconstruction (a learned similarity) -- so their model has no likelihood left. For words the
categorical likelihood is exact and cheap, so we keep it and *add* the GAN term: an ELBO regularised by
an adversary. A VAE is not a GAN (it has no adversary); this model is both, and it is trained in
two phases: the VAE first (pretraining, as every text GAN that works does), then the joint game.
"""
from __future__ import annotations

import math

from dataclasses import dataclass, field

import torch
import torch.nn as nn
import torch.nn.functional as F

from . import checks, losses
from .data.vocab import BOS_ID, EOS_ID, PAD_ID
from .gumbel import check_temperature, gumbel_noise, gumbel_softmax
from .models.sentence_vae import SentenceVAE, SentenceVAEConfig, bucket_batches, vae_batch, vae_objective
from .models.text_gan import CNNConfig, CNNDiscriminator


@dataclass
class VAEGANConfig:
    vae: SentenceVAEConfig          # the VAE (encoder q(z|x), decoder = generator G), pretrained or not
    seq_len: int = 17               # the fixed length D reads: longest sentence + <eos>, <pad> after
    tau: float = 1.0                # Gumbel-softmax temperature of the relaxed words
    hard: bool = True               # straight-through: D sees exact one-hot words, gradient of the soft ones
    gan_weight: float = 1.0         # weight of the GAN term next to the (per-sentence) -ELBO; 0: VAE only
    prior_fakes: bool = True        # also judge sentences decoded from z ~ p(z) (Larsen et al.), not only q(z|x)
    d_emb: int = 32                 # embedding width of D (SeqGAN's CNN)
    d_filters: int = 64             # filters per window width of D
    lr_d: float = 2e-4              # Adam learning rate of D
    lr: float = 5e-4                # Adam learning rate of encoder + decoder in the joint phase
    d_warmup: int = 0               # D-only steps before the joint steps (an informed D from the start)
    steps: int = 300                # joint steps (one D step, one VAE+G step each)
    seed: int = 0                   # seed of D's weights, minibatches and noise
    d_cnn: dict = field(default_factory=dict)  # extra CNNConfig fields (e.g. dropout), if any

    def __post_init__(self):
        checks.fields(self, seq_len=checks.positive_int, tau=checks.positive_float, hard=checks.boolean,
                      gan_weight=checks.nonneg_float, prior_fakes=checks.boolean, d_emb=checks.positive_int,
                      d_filters=checks.positive_int, lr_d=checks.learning_rate, lr=checks.learning_rate,
                      d_warmup=checks.nonneg_int, steps=checks.nonneg_int, seed=checks.nonneg_int)


def check_config(cfg: VAEGANConfig) -> None:
    if not isinstance(cfg.vae, SentenceVAEConfig):
        raise TypeError(f"vae must be a SentenceVAEConfig; got {type(cfg.vae).__name__}")
    check_temperature(cfg.tau, "tau")
    if not cfg.gan_weight >= 0 or cfg.gan_weight == float("inf"):       # NaN too
        raise ValueError(f"gan_weight must be >= 0 (0: the plain VAE); got {cfg.gan_weight!r}")
    if not isinstance(cfg.d_warmup, int) or cfg.d_warmup < 0:
        raise ValueError(f"d_warmup must be an integer >= 0; got {cfg.d_warmup!r}")
    if not isinstance(cfg.seq_len, int) or cfg.seq_len < 2:
        raise ValueError(f"seq_len must be an integer >= 2; got {cfg.seq_len!r}")


def build_discriminator(cfg: VAEGANConfig, device=None) -> CNNDiscriminator:
    check_config(cfg)
    torch.manual_seed(cfg.seed)
    widths = tuple(k for k in (2, 3, 4, 5) if k <= cfg.seq_len)
    c = CNNConfig(vocab_size=cfg.vae.vocab_size, seq_len=cfg.seq_len, emb=cfg.d_emb, filter_sizes=widths,
                  num_filters=(cfg.d_filters,) * len(widths), **cfg.d_cnn)
    return CNNDiscriminator(c).to(device or "cpu")


def pad_to(targets: torch.Tensor, seq_len: int) -> torch.Tensor:
    """targets (B, T) x_1..x_n <eos> <pad>... -> (B, seq_len): padded with <pad> or cut (keep <eos> rows)."""
    B, T = targets.shape
    if T >= seq_len:
        return targets[:, :seq_len]
    return torch.cat([targets, targets.new_full((B, seq_len - T), PAD_ID)], 1)


def relaxed_decode(decoder, z: torch.Tensor, seq_len: int, tau: float = 1.0, hard: bool = True,
                   generator=None):
    """Free-running decoding from codes z (B, d_z), differentiable through the Gumbel-softmax.

    At step t the decoder's logits o_t give the Gumbel-max word w_t = argmax(o_t + g_t) (an exact sample,
    fed as the next input) and y_t = softmax((o_t + g_t) / tau) (straight-through one-hot if hard).
    After a sentence's <eos>, y_t is the <pad> one-hot (as in the real data) and gets no gradient.
    Returns (y (B, seq_len, V) one-hot rows with a gradient, words (B, seq_len) ids).
    """
    tau = check_temperature(tau)
    B, dev = len(z), z.device
    V = decoder.vocab_size
    pad_row = F.one_hot(torch.tensor(PAD_ID, device=dev), V).float()           # (V,)
    tok = torch.full((B, 1), BOS_ID, dtype=torch.long, device=dev)
    done = torch.zeros(B, dtype=torch.bool, device=dev)
    state, ys, words = None, [], []
    for _ in range(seq_len):
        logits, state = decoder(tok, z, state=state, return_state=True)        # (B, 1, V)
        logits = logits[:, 0]                                                  # (B, V)
        g = gumbel_noise(logits.shape, generator, "cpu").to(dev)               # drawn on the CPU: seeded anywhere
        y = gumbel_softmax(logits, tau=tau, hard=hard, noise=g)                # (B, V)
        w = (logits + g).argmax(-1)                                            # (B,) the sampled word
        w = w.masked_fill(done, PAD_ID)
        y = torch.where(done.unsqueeze(1), pad_row.expand(B, V), y)
        ys.append(y)
        words.append(w)
        done = done | (w == EOS_ID)
        tok = w.unsqueeze(1)
    return torch.stack(ys, 1), torch.stack(words, 1)


class VAEGAN:
    """A sentence VAE whose decoder is also the generator of a GAN with a text discriminator.

        gan = VAEGAN(vae, VAEGANConfig(vae=vae.cfg), train_seqs)
        history = gan.train()            # cfg.steps joint steps: d_step then vae_g_step
    """

    def __init__(self, vae: SentenceVAE, cfg: VAEGANConfig, train_seqs, device=None):
        check_config(cfg)
        if not isinstance(vae, SentenceVAE):
            raise TypeError(f"vae must be a SentenceVAE; got {type(vae).__name__}")
        v_model = getattr(getattr(vae, "cfg", None), "vocab_size", cfg.vae.vocab_size)
        if v_model != cfg.vae.vocab_size:
            raise ValueError(f"the vocabularies disagree: the VAE model's vocab_size={v_model} but "
                             f"cfg.vae.vocab_size={cfg.vae.vocab_size}; allowed: the config the VAE was built with")
        self.vae, self.cfg = vae, cfg
        self.D = build_discriminator(cfg, device or vae.device)
        self.gen = torch.Generator().manual_seed(cfg.seed)
        self.data = bucket_batches(list(train_seqs), cfg.vae.batch_size, generator=self.gen)
        self.opt_d = torch.optim.Adam(self.D.parameters(), lr=cfg.lr_d, betas=(0.5, 0.999))
        self.opt = torch.optim.Adam(vae.parameters(), lr=cfg.lr)
        self.step_count = 0

    def _fakes(self, targets):
        """Decoded sentences from z ~ q(z|x) and (prior_fakes) z ~ p(z): (y (n, T, V), words (n, T))."""
        mu, logvar = self.vae.encode(targets)
        zs = [losses.reparameterize(mu, logvar, generator=self.gen)]           # (B, d_z)
        if self.cfg.prior_fakes:
            zs.append(self.vae.sample_prior(len(mu), generator=self.gen))
        return relaxed_decode(self.vae.decoder, torch.cat(zs), self.cfg.seq_len, self.cfg.tau, self.cfg.hard,
                              self.gen)

    def d_step(self, seqs) -> dict:
        """D: minimise -E[log D(x)] - E[log(1 - D(G(z)))], z ~ q(z|x) and p(z)."""
        _, targets = vae_batch(seqs, self.vae.device)
        real = F.one_hot(pad_to(targets, self.cfg.seq_len), self.cfg.vae.vocab_size).float()  # (B, T, V)
        with torch.no_grad():
            fake, _ = self._fakes(targets)
        real_logits, fake_logits = self.D(real), self.D(fake)
        loss = losses.d_loss_bce(real_logits, fake_logits)
        self.opt_d.zero_grad(set_to_none=True)
        loss.backward()
        self.opt_d.step()
        acc = 0.5 * ((real_logits > 0).float().mean() + (fake_logits < 0).float().mean())
        return {"loss_d": loss.item(), "d_acc": acc.item()}

    def vae_g_step(self, seqs, beta: float = 1.0) -> dict:
        """Encoder + decoder: minimise -ELBO (with the VAE's training cures) + gan_weight * GAN loss."""
        cfg = self.cfg
        inputs, targets = vae_batch(seqs, self.vae.device)
        _, rec, kl_dims = self.vae(inputs, targets, word_dropout_p=cfg.vae.word_dropout, generator=self.gen)
        loss = vae_objective(rec, kl_dims, beta=beta, free_bits=cfg.vae.free_bits)
        loss_g = torch.zeros(())
        if cfg.gan_weight > 0:                                                 # 0: the VAE alone (a control)
            fake, _ = self._fakes(targets)
            loss_g = losses.g_loss_nonsaturating(self.D(fake))                 # -E log D(G(z))
            loss = loss + cfg.gan_weight * loss_g
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(self.vae.parameters(), math.inf if cfg.vae.clip is None else cfg.vae.clip)
        self.opt.step()
        return {"rec": rec.mean().item(), "kl": kl_dims.sum(1).mean().item(), "loss_g": loss_g.item()}

    def train(self, steps: int | None = None, callbacks=(), every: int = 25, desc: str = "VAE + GAN") -> dict:
        """cfg.d_warmup D-only steps (first call only), then `steps` joint steps; returns the history."""
        from .train import DivergenceGuard, loop

        steps = self.cfg.steps if steps is None else steps
        guard = DivergenceGuard(self.vae, self.D, optimizers=[self.opt, self.opt_d],
                                hint="lower VAEGANConfig.lr / lr_d or gan_weight")
        was = self.vae.training
        self.vae.train()

        def step(i):
            logs = self.d_step(next(self.data)) if self.cfg.gan_weight > 0 else {}
            logs.update(self.vae_g_step(next(self.data), beta=1.0))   # the VAE is pretrained: the true ELBO
            self.step_count += 1
            return logs

        if self.cfg.gan_weight > 0 and self.step_count == 0:
            for _ in range(self.cfg.d_warmup):   # D first learns real lines from the VAE's own
                self.d_step(next(self.data))
        hist = loop(step, steps, guard=guard, callbacks=callbacks, every=every, desc=desc)
        self.vae.train(was)
        return hist

    @torch.no_grad()
    def d_accuracy(self, real_seqs, n: int = 256) -> float:
        """D's accuracy on n real sentences and n decoded from the prior (exact samples, hard words)."""
        _, targets = vae_batch(real_seqs[:n], self.vae.device)
        real = F.one_hot(pad_to(targets, self.cfg.seq_len), self.cfg.vae.vocab_size).float()
        fake, _ = relaxed_decode(self.vae.decoder, self.vae.sample_prior(len(real), self.gen), self.cfg.seq_len,
                                 self.cfg.tau, True, self.gen)
        was = self.D.training
        self.D.eval()
        acc = 0.5 * ((self.D(real) > 0).float().mean() + (self.D(fake) < 0).float().mean()).item()
        self.D.train(was)
        return acc
