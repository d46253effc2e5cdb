"""Tuning a language model against a learned reward with a KL anchor: SeqGAN's idea, grown up (RLHF).

A policy pi_theta (a course `LanguageModel`) completes prompts x into lines y. A reward model r_phi,
trained beforehand from scored examples, gives each finished line a number. The policy maximises

    J(theta) = E_x E_{y ~ pi_theta(.|x)} [ r_phi(x, y) ] - beta * KL(pi_theta(.|x) || pi_ref(.|x))

where pi_ref is a frozen copy of the pretrained policy (Ziegler et al. 2019; Stiennon et al. 2020).
Sampling is not differentiable (the same wall as in notebook 09), so the gradient is REINFORCE's:
with the sequence log-ratio k1(y) = log pi_theta(y|x) - log pi_ref(y|x),

    grad J = E_y[ grad log pi_theta(y|x) * (r_phi(y) - beta * k1(y) - b) ]          (1)

is exact for any baseline b that does not depend on y (grad KL = E[grad log pi * k1] because
E[grad log pi] = 0). The "reward" of a sample is therefore R(y) = r_phi(y) - beta * k1(y), held constant
(detached) in the surrogate loss, and every token of y gets the same advantage A(y) = R(y) - b.

Baselines (`advantages`), for rewards R of shape (P prompts, G samples per prompt):
    none   A = R
    mean   A = R - mean of the whole batch (B = P*G; it holds y itself, so E[grad] = (1 - 1/B) grad J)
    group  A = R_i - 1/(G-1) sum_{j != i} R_j      (leave one out within the prompt's group: RLOO,
                                                      Kool et al. 2019; unbiased, needs G >= 2)
    grpo   A = (R_i - mean_j R_j) / (std_j R_j + eps)   (DeepSeekMath, Shao et al. 2024: the group mean
                                                      with y itself and a division by the group's std;
                                                      = (G-1)/G * group / std -- a rescaled estimator)

Updates (`RLHFConfig.update`):
    reinforce  loss = -1/B sum_b A_b sum_t log pi_theta(y_bt | x_b, y_b,<t)          (gradient = (1))
    ppo        K epochs on the same batch with per-token ratios rho_t = pi_theta(y_t|.)/pi_old(y_t|.):
               loss = -1/B sum_b sum_t min(rho_bt A_b, clip(rho_bt, 1-eps, 1+eps) A_b)
               (Schulman et al. 2017; the first epoch has rho = 1 and the same gradient as reinforce)

KL estimators (`kl_terms`), per sequence, with d_t = log pi_theta(y_t|.) - log pi_ref(y_t|.) on a
sample y ~ pi_theta (Schulman 2020, "Approximating KL divergence"):
    k1    = sum_t d_t                                  unbiased, can be negative, high variance
    k3    = sum_t (exp(-d_t) - 1 + d_t)                unbiased per token, always >= 0 (GRPO's choice)
    exact = sum_t KL(pi_theta(.|x, y_<t) || pi_ref(.|x, y_<t))   the full-vocabulary KL at each visited
            prefix: unbiased for the sequence KL by the chain rule, the lowest variance of the three.
The notebook reports `exact` as "KL".

The policy's distribution never emits <pad>, <bos> or <unk> (their logits are set to -inf in sampling
and in the log-probabilities alike), so a sampled line is words up to its first <eos> (or max_len).

    ref = frozen_copy(policy)
    rm = RewardModel(RewardConfig(vocab_size=V)); fit_reward_model(rm, seqs, scores, steps=300)
    history = train(policy, ref, rm, prompts, RLHFConfig(beta=0.05), seed=0, true_reward=fn)
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from functools import partial

import torch
import torch.nn as nn
import torch.nn.functional as F

from .. import checks
from ..data.vocab import BOS_ID, EOS_ID, PAD_ID, UNK_ID
from .lm import filter_logits

BASELINES = ("none", "mean", "group", "grpo")
UPDATES = ("reinforce", "ppo")
NEVER = (PAD_ID, BOS_ID, UNK_ID)          # ids the policy never emits


# ----------------------------------------------------------------------------------------------------
# checks

def check_beta(beta) -> float:
    return checks.nonneg_float("beta", beta)


def check_group_size(group_size) -> int:
    return checks.integer("group_size", group_size, minimum=2,
                          allowed="an integer >= 2 (a group baseline needs other samples of the same prompt)")


def prompt_tensor(prompts, vocab_size: int | None = None) -> torch.Tensor:
    """Prompts -> (P, 1 + L) ids: <bos> then the prompt's L >= 1 token ids (all prompts of one length).

    prompts: a list of id lists (without <bos>) or a (P, L) tensor. An empty prompt is refused."""
    if isinstance(prompts, torch.Tensor):
        rows = prompts.tolist() if prompts.dim() == 2 else None
    else:
        rows = [list(p) for p in checks.non_empty("prompts", list(prompts), "prompts (lists of token ids)")]
    if rows is None or not rows:
        raise ValueError(f"prompts of shape {tuple(prompts.shape)} is not allowed; allowed: (P, L) ids, P, L >= 1")
    for i, r in enumerate(rows):
        if len(r) == 0:
            raise ValueError(f"prompts[{i}]=[] is not allowed; allowed: a non-empty list of token ids "
                             "(the first words of the line; <bos> is added)")
    if len({len(r) for r in rows}) != 1:
        raise ValueError(f"prompt lengths={sorted({len(r) for r in rows})} is not allowed; allowed: prompts "
                         "of one length (batch them by length)")
    x = torch.tensor(rows, dtype=torch.long)
    hi = vocab_size - 1 if vocab_size else None
    if (x < 4).any() or (hi is not None and (x > hi).any()):
        raise ValueError(f"prompts ids in {int(x.min())}..{int(x.max())} is not allowed; allowed: word ids "
                         f"4..{hi} (no special tokens)")
    return torch.cat([torch.full((len(rows), 1), BOS_ID), x], 1)


@dataclass
class RLHFConfig:
    beta: float = 0.05            # weight of KL(pi || pi_ref) in the objective (0 = no anchor)
    group_size: int = 8           # samples per prompt (G); the group baseline compares them
    prompts_per_step: int = 8     # prompts per update (P); a batch is P * G lines
    steps: int = 100              # policy updates
    lr: float = 1e-3              # Adam learning rate of the policy
    max_len: int = 16             # most tokens sampled after the prompt
    baseline: str = "group"       # none | mean | group | grpo (see the module docstring)
    update: str = "reinforce"     # reinforce | ppo
    ppo_epochs: int = 2           # PPO: gradient steps on each batch
    clip_eps: float = 0.2         # PPO: the ratio is clipped to [1 - eps, 1 + eps]
    clip: float | None = 1.0      # gradient-norm clipping (None = none)

    def __post_init__(self):
        self.beta = check_beta(self.beta)
        self.group_size = check_group_size(self.group_size)
        checks.fields(self, prompts_per_step=checks.positive_int, steps=checks.nonneg_int,
                      lr=checks.learning_rate, max_len=checks.positive_int,
                      baseline=partial(checks.one_of, allowed=BASELINES),
                      update=partial(checks.one_of, allowed=UPDATES), ppo_epochs=checks.positive_int,
                      clip_eps=partial(checks.in_range, lo=0, hi=1, lo_open=True, hi_open=True),
                      clip=checks.clip)


def frozen_copy(model: nn.Module) -> nn.Module:
    """The reference policy: a copy with no gradients, in eval mode."""
    ref = copy.deepcopy(model).eval()
    for p in ref.parameters():
        p.requires_grad_(False)
    return ref


# ----------------------------------------------------------------------------------------------------
# sampling and log-probabilities

def _allowed(logits: torch.Tensor) -> torch.Tensor:
    """logits (..., V) with the ids in NEVER set to -inf."""
    logits = logits.clone()
    logits[..., list(NEVER)] = float("-inf")
    return logits


@torch.no_grad()
def sample(policy, prompts: torch.Tensor, group_size: int, max_len: int, temperature: float = 1.0,
           generator: torch.Generator | None = None) -> torch.Tensor:
    """G samples per prompt: prompts (P, P0) with <bos> -> lines (P*G, P0 + max_len), rows p*G..p*G+G-1
    continue prompt p; <pad> after a line's <eos>."""
    x = prompts.repeat_interleave(group_size, 0)                       # (B, P0)
    out = policy.generate(x.shape[0], max_len, temperature, prefix=x, generator=generator, banned=NEVER)
    return torch.cat([x, out], 1)


def token_logprobs(model, lines: torch.Tensor, prompt_len: int, temperature: float = 1.0):
    """(log p(y_t | x, y_<t) (B, L), log p(. | x, y_<t) (B, L, V), mask (B, L)) for the completion tokens
    y = lines[:, prompt_len:]; mask is 1 up to and including the first <eos>, 0 on the <pad> after it."""
    logits, _ = model(lines[:, :-1])                                     # (B, T-1, V)
    logp_all = F.log_softmax(_allowed(logits[:, prompt_len - 1:]) / temperature, -1)   # (B, L, V)
    y = lines[:, prompt_len:]
    mask = (y != PAD_ID).float()
    logp = logp_all.gather(-1, y.unsqueeze(-1)).squeeze(-1)
    logp = torch.where(mask.bool(), logp, torch.zeros_like(logp))       # pad: log p set to 0 (not -inf)
    return logp, logp_all, mask


def kl_terms(logp, ref_logp, mask, logp_all=None, ref_all=None) -> dict:
    """Per-sequence KL estimates k1, k3 (and `exact`, the full-vocabulary per-step KL, when the full
    log-distributions (B, L, V) are given); see the module docstring."""
    d = (logp - ref_logp) * mask
    out = {"k1": d.sum(1), "k3": ((torch.exp(-d) - 1 + d) * mask).sum(1)}
    if logp_all is not None:
        p = logp_all.exp()
        diff = torch.where(p > 0, logp_all - ref_all, torch.zeros_like(p))   # 0 log 0 = 0 on banned ids
        step = (p * diff).sum(-1)                                          # (B, L)
        out["exact"] = (step * mask).sum(1)
    return out


# ----------------------------------------------------------------------------------------------------
# baselines and losses

def advantages(rewards: torch.Tensor, kind: str = "group", eps: float = 1e-6) -> torch.Tensor:
    """Advantages (P, G) for rewards (P, G): P prompts, G samples each (see the module docstring)."""
    checks.one_of("baseline", kind, BASELINES)
    if rewards.dim() != 2:
        raise ValueError(f"rewards of shape {tuple(rewards.shape)} is not allowed; allowed: (prompts, group_size)")
    P, G = rewards.shape
    if kind == "none":
        return rewards
    if kind == "mean":
        return rewards - rewards.mean()
    check_group_size(G)
    if kind == "group":
        return rewards - (rewards.sum(1, keepdim=True) - rewards) / (G - 1)
    centred = rewards - rewards.mean(1, keepdim=True)
    return centred / (rewards.std(1, keepdim=True) + eps)


def reinforce_loss(logp: torch.Tensor, adv: torch.Tensor) -> torch.Tensor:
    """-1/B sum_b A_b sum_t log pi(y_bt | .): logp (B, L) masked, adv (B,) detached."""
    return -(logp.sum(1) * adv.detach()).mean()


def ppo_loss(logp: torch.Tensor, logp_old: torch.Tensor, adv: torch.Tensor, mask: torch.Tensor,
             clip_eps: float = 0.2) -> torch.Tensor:
    """-1/B sum_b sum_t min(rho_bt A_b, clip(rho_bt, 1-eps, 1+eps) A_b), rho = exp(logp - logp_old)."""
    rho = torch.exp(logp - logp_old.detach())
    a = adv.detach().unsqueeze(1)
    surr = torch.minimum(rho * a, rho.clamp(1 - clip_eps, 1 + clip_eps) * a)
    return -(surr * mask).sum(1).mean()


# ----------------------------------------------------------------------------------------------------
# the reward model: SeqGAN's discriminator, trained on scores instead of real-vs-generated

@dataclass
class RewardConfig:
    vocab_size: int               # the policy's vocabulary
    emb: int = 32                 # token embedding width
    hidden: int = 64              # GRU state width

    def __post_init__(self):
        checks.fields(self, vocab_size=checks.vocab_size, emb=checks.positive_int, hidden=checks.positive_int)


class RewardModel(nn.Module):
    """Embedding -> GRU -> linear on the state after the last token: lines (B, T) -> scores (B,)."""

    def __init__(self, config: RewardConfig):
        super().__init__()
        self.config = config
        self.embed = nn.Embedding(config.vocab_size, config.emb, padding_idx=PAD_ID)
        self.rnn = nn.GRU(config.emb, config.hidden, batch_first=True)
        self.head = nn.Sequential(nn.Linear(config.hidden, config.hidden), nn.Tanh(), nn.Linear(config.hidden, 1))

    def forward(self, lines: torch.Tensor) -> torch.Tensor:
        h, _ = self.rnn(self.embed(lines))                                   # (B, T, H)
        last = (lines != PAD_ID).sum(1).clamp(min=1) - 1                     # index of the last real token
        return self.head(h[torch.arange(len(lines)), last]).squeeze(-1)     # (B,)


def fit_reward_model(model: RewardModel, lines: torch.Tensor, scores: torch.Tensor, steps: int,
                     batch_size: int = 128, lr: float = 3e-3, seed: int = 0) -> list[float]:
    """Regress scores (N,) on lines (N, T) by mean squared error with Adam; returns the losses."""
    steps, batch_size = checks.nonneg_int("steps", steps), checks.positive_int("batch_size", batch_size)
    lr = checks.learning_rate("lr", lr)
    if len(lines) != len(scores) or len(lines) == 0:
        raise ValueError(f"lines ({len(lines)}) and scores ({len(scores)}) is not allowed; allowed: as many "
                         "scores as lines, at least one")
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    losses = []
    for _ in range(steps):
        idx = torch.randint(len(lines), (batch_size,), generator=g)
        loss = F.mse_loss(model(lines[idx]), scores[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    model.eval()
    return losses


@torch.no_grad()
def score_lines(model: RewardModel, lines: torch.Tensor, chunk: int = 2048) -> torch.Tensor:
    """The reward model's scores (N,) of lines (N, T), in chunks, no gradient."""
    return torch.cat([model(part) for part in lines.split(chunk)])


# ----------------------------------------------------------------------------------------------------
# one update, the loop, evaluation

def rlhf_step(policy, reference, reward_model, prompts: torch.Tensor, config: RLHFConfig, opt,
              generator: torch.Generator, true_reward=None) -> dict:
    """Sample G lines per prompt, reward r_phi - beta*k1, advantages, one REINFORCE or K PPO updates."""
    P0, B = prompts.shape[1], prompts.shape[0] * config.group_size
    lines = sample(policy, prompts, config.group_size, config.max_len, generator=generator)
    with torch.no_grad():
        ref_logp, ref_all, _ = token_logprobs(reference, lines, P0)
        rm = score_lines(reward_model, lines)
    policy.train()
    logp, logp_all, mask = token_logprobs(policy, lines, P0)
    kl = kl_terms(logp.detach(), ref_logp, mask, logp_all.detach(), ref_all)
    reward = rm - config.beta * kl["k1"]                                  # (B,) held constant
    adv = advantages(reward.view(-1, config.group_size), config.baseline).reshape(B)
    logp_old = logp.detach()
    for epoch in range(config.ppo_epochs if config.update == "ppo" else 1):
        if epoch > 0:
            logp, _, _ = token_logprobs(policy, lines, P0)
        loss = (ppo_loss(logp, logp_old, adv, mask, config.clip_eps) if config.update == "ppo"
                else reinforce_loss(logp, adv))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if config.clip is not None:
            nn.utils.clip_grad_norm_(policy.parameters(), config.clip)
        opt.step()
    out = {"rm": rm.mean().item(), "kl": kl["exact"].mean().item(), "k1": kl["k1"].mean().item(),
           "k3": kl["k3"].mean().item(), "loss": loss.item()}
    if true_reward is not None:
        out["true"] = sum(true_reward(row) for row in lines.tolist()) / B
    return out


def train(policy, reference, reward_model, prompts, config: RLHFConfig, seed: int = 0, true_reward=None,
          callback=None) -> list[dict]:
    """config.steps updates of `policy`, each on prompts_per_step prompts drawn from `prompts` (id lists or
    a (N, L) tensor of one length). true_reward(ids) -> float, if given, is recorded (never trained on).
    Returns one dict per step: rm, true, kl (exact), k1, k3, loss. A non-finite loss stops with
    train.TrainingDiverged (the last good weights restored)."""
    from ..train import DivergenceGuard

    seed = checks.nonneg_int("seed", seed)
    pool = prompt_tensor(prompts, policy.config.vocab_size)
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(policy.parameters(), lr=config.lr)
    guard = DivergenceGuard(policy, optimizers=[opt], hint=f"lower lr (now {config.lr:g})")
    history = []
    for step in range(config.steps):
        idx = torch.randint(len(pool), (config.prompts_per_step,), generator=gen)
        history.append(rlhf_step(policy, reference, reward_model, pool[idx], config, opt, gen, true_reward))
        guard.check(step, loss=history[-1]["loss"])
        if callback is not None:
            callback(step, history[-1])
    return history


@torch.no_grad()
def evaluate(policy, reference, reward_model, prompts, true_reward, group_size: int = 1, max_len: int = 16,
             temperature: float = 1.0, best_of: int = 1, seed: int = 0) -> dict:
    """Sample lines for every prompt (best_of > 1: keep, of best_of samples, the one the reward model
    scores highest) and measure rm, true (mean and standard error), KL to the reference (exact per-step
    KL of the sampling distribution; for best-of-n the bound log n - (n-1)/n of Stiennon et al. 2020 is
    added to the base policy's), and return the lines (ids) too."""
    pool = prompt_tensor(prompts, policy.config.vocab_size)
    best_of = checks.positive_int("best_of", best_of)
    gen = torch.Generator().manual_seed(checks.nonneg_int("seed", seed))
    P0 = pool.shape[1]
    lines = sample(policy, pool, group_size * best_of, max_len, temperature, gen)     # (P*G*n, T)
    rm = score_lines(reward_model, lines)
    logp, logp_all, mask = token_logprobs(policy, lines, P0, temperature)
    ref_logp, ref_all, _ = token_logprobs(reference, lines, P0)
    kl = kl_terms(logp, ref_logp, mask, logp_all, ref_all)["exact"]
    if best_of > 1:
        pick = rm.view(-1, best_of).argmax(1) + torch.arange(0, len(rm), best_of)
        lines, rm = lines[pick], rm[pick]
        kl = kl.mean() + math.log(best_of) - (best_of - 1) / best_of
    true = torch.tensor([true_reward(r) for r in lines.tolist()])
    return {"rm": rm.mean().item(), "true": true.mean().item(),
            "true_se": (true.std() / math.sqrt(len(true))).item(), "kl": float(kl.mean()), "lines": lines}


def distinct_n(lines: list[list[str]], n: int = 2) -> float:
    """Distinct n-grams / all n-grams over a set of tokenised lines (1 = no n-gram repeats)."""
    grams = [tuple(l[i:i + n]) for l in lines for i in range(len(l) - n + 1)]
    return len(set(grams)) / len(grams) if grams else 0.0
