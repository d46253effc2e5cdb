"""Notebook 09b's pieces against their formulas: the meter scorer on hand-scanned lines, the KL estimators
against the exact KL of a tiny policy (every line enumerated), the group-relative estimator's expectation
against the exact gradient of J = E[R] - beta KL (every pair of samples enumerated, as test_seqgan.py does
for SeqGAN), PPO's first epoch against REINFORCE, and the bad inputs."""
import itertools
import math

import pytest
import torch

from gan_course.data.meter import MeterScorer
from gan_course.data.vocab import BOS_ID, EOS_ID, PAD_ID
from gan_course.models import rlhf
from gan_course.models.lm import LanguageModel, LMConfig

# ----------------------------------------------------------------------------------------------------
# the exact meter scorer


@pytest.fixture(scope="module")
def meter():
    return MeterScorer()


@pytest.mark.parametrize("line, score", [
    ("shall i compare thee to a summer's day ?", 1.0),        # ten syllables, every stress in place
    ("to be or not to be , that is the question", 10 / 11),  # 'tion' is an eleventh (feminine) syllable
    ("remember me", 4 / 10),                                  # re-MEM-ber ME: 4 syllables in place of 10
    ("beauty beauty beauty beauty beauty", 0.0),              # BEAU-ty: a trochee, every stress misplaced
    ("the beauty", 3 / 10),                                   # shifted by one: the beau-TY ... fits
    ("o , remember !", 1 / 10),        # no syllables in punctuation; re-MEM-ber from slot 1 misfits: only o
])
def test_meter_score_on_hand_scanned_lines(meter, line, score):
    assert meter.score(line.split()) == pytest.approx(score)


def test_meter_pronunciations_and_errors(meter):
    assert meter.stresses("remember") == ("010",)
    assert set(meter.stresses("the")) == {"0", "1"}
    assert meter.syllables("to be or not to be".split()) == {6}
    assert meter.covers(",") and meter.covers("thou") and not meter.covers("o'er")
    with pytest.raises(KeyError, match="is not in CMUdict"):
        meter.score(["o'er"])
    with pytest.raises(TypeError, match="tokens='shall i' is not allowed"):
        meter.score("shall i")


# ----------------------------------------------------------------------------------------------------
# a tiny policy whose every line can be enumerated: words 4 and 5, prompt [<bos>, 4], max_len 2

WORDS, MAX_LEN = (4, 5), 2
PROMPT = torch.tensor([[BOS_ID, 4]])


def tiny_lm(seed):
    torch.manual_seed(seed)
    lm = LanguageModel(LMConfig(vocab_size=6, emb=4, hidden=4)).double()
    with torch.no_grad():
        for p in lm.parameters():
            p.mul_(3.0)                       # peaked enough that policy and reference differ clearly
    return lm


def all_lines():
    """Every line the policy can produce: <eos> first, or a word then <eos> or a word."""
    comps = [[EOS_ID, PAD_ID]] + [[w, t] for w in WORDS for t in (EOS_ID, *WORDS)]
    return torch.cat([PROMPT.expand(len(comps), -1), torch.tensor(comps)], 1)   # (7, 4)


def seq_logp(model, lines):
    logp, logp_all, mask = rlhf.token_logprobs(model, lines, prompt_len=2)
    return logp, logp_all, mask


def test_enumerated_lines_carry_all_the_probability():
    lines = all_lines()
    logp, _, _ = seq_logp(tiny_lm(0), lines)
    assert logp.sum(1).exp().sum().item() == pytest.approx(1.0, abs=1e-12)


def test_sampler_frequencies_match_the_policy():
    pol, lines = tiny_lm(0), all_lines()
    probs = seq_logp(pol, lines)[0].sum(1).exp()
    n = 20000
    drawn = rlhf.sample(pol, PROMPT, n, MAX_LEN, generator=torch.Generator().manual_seed(0))
    counts = torch.tensor([(drawn == row).all(1).sum().item() for row in lines], dtype=torch.double)
    assert counts.sum() == n                                  # nothing outside the enumeration
    se = (probs * (1 - probs) / n).sqrt()
    assert ((counts / n - probs).abs() / se).max() < 4.5


def test_kl_estimators_against_the_exact_kl():
    pol, ref, lines = tiny_lm(0), tiny_lm(1), all_lines()
    logp, logp_all, mask = seq_logp(pol, lines)
    ref_logp, ref_all, _ = seq_logp(ref, lines)
    p = logp.sum(1).exp()                                     # pi(y) of each enumerated line
    exact = (p * (logp.sum(1) - ref_logp.sum(1))).sum().item()    # sum_y pi(y) log pi(y) / ref(y)
    assert exact > 0.05
    kl = rlhf.kl_terms(logp, ref_logp, mask, logp_all, ref_all)
    for name in ("k1", "k3", "exact"):                        # each unbiased: E_pi[estimate] = KL
        assert (p * kl[name]).sum().item() == pytest.approx(exact, rel=1e-9), name
    assert (kl["k3"] >= 0).all()
    # the per-step estimate has the smallest variance of the three
    var = {k: (p * (kl[k] - exact) ** 2).sum().item() for k in kl}
    assert var["exact"] < var["k3"] and var["exact"] < var["k1"]


def exact_objective_grad(pol, ref, table, beta):
    """grad of J = sum_y pi(y) R(y) - beta sum_y pi(y) log pi(y)/ref(y), by enumeration and autograd."""
    lines = all_lines()
    logp = seq_logp(pol, lines)[0].sum(1)
    with torch.no_grad():
        ref_logp = seq_logp(ref, lines)[0].sum(1)
    p = logp.exp()
    J = (p * table).sum() - beta * (p * (logp - ref_logp)).sum()
    pol.zero_grad()
    J.backward()
    return torch.cat([q.grad.flatten() for q in pol.parameters()]).clone()


def expected_estimate(pol, ref, table, beta, G, kind):
    """E over G i.i.d. samples of the estimator's gradient, summed exactly over all 7^G tuples."""
    lines = all_lines()
    logp = seq_logp(pol, lines)[0].sum(1)                     # (7,) differentiable
    with torch.no_grad():
        ref_logp = seq_logp(ref, lines)[0].sum(1)
        p = logp.exp()
        reward = table - beta * (logp - ref_logp)             # R(y) - beta k1(y), held constant
    surrogate = 0.0
    for tup in itertools.product(range(len(lines)), repeat=G):
        idx = torch.tensor(tup)
        adv = rlhf.advantages(reward[idx].view(1, G), kind).view(G)
        weight = p[idx].prod()
        surrogate = surrogate - weight * rlhf.reinforce_loss(logp[idx].view(G, 1), adv)
    pol.zero_grad()
    surrogate.backward()
    return torch.cat([q.grad.flatten() for q in pol.parameters()]).clone()


@pytest.mark.parametrize("G", [2, 3])
def test_group_relative_estimator_is_unbiased(G):
    pol, ref = tiny_lm(0), tiny_lm(1)
    table = torch.randn(7, generator=torch.Generator().manual_seed(2), dtype=torch.double)
    beta = 0.3
    exact = exact_objective_grad(pol, ref, table, beta)
    assert exact.norm() > 1e-3
    torch.testing.assert_close(expected_estimate(pol, ref, table, beta, G, "group"), exact, rtol=1e-9, atol=1e-12)
    # the mean baseline holds the sample itself: E[estimate] = (1 - 1/B) grad J (here B = G)
    torch.testing.assert_close(expected_estimate(pol, ref, table, beta, G, "mean"), (1 - 1 / G) * exact,
                               rtol=1e-9, atol=1e-12)
    torch.testing.assert_close(expected_estimate(pol, ref, table, beta, G, "none"), exact, rtol=1e-9, atol=1e-12)


def test_advantage_formulas():
    r = torch.tensor([[1.0, 2.0, 6.0], [0.0, 0.0, 3.0]])
    torch.testing.assert_close(rlhf.advantages(r, "group"), torch.tensor([[-3.0, -1.5, 4.5], [-1.5, -1.5, 3.0]]))
    torch.testing.assert_close(rlhf.advantages(r, "mean"), r - 2.0)
    g = rlhf.advantages(r, "grpo", eps=0.0)
    torch.testing.assert_close(g[0], (r[0] - 3.0) / r[0].std())
    # grpo = (G-1)/G * group / std
    torch.testing.assert_close(g, (2 / 3) * rlhf.advantages(r, "group") / r.std(1, keepdim=True))


def test_ppo_first_epoch_has_the_reinforce_gradient_and_clips():
    pol, lines = tiny_lm(0), all_lines()
    adv = torch.randn(7, generator=torch.Generator().manual_seed(3), dtype=torch.double)

    def grad(loss_fn):
        logp, _, mask = seq_logp(pol, lines)
        pol.zero_grad()
        loss_fn(logp, mask).backward()
        return torch.cat([q.grad.flatten() for q in pol.parameters()]).clone()

    g_pg = grad(lambda lp, m: rlhf.reinforce_loss(lp, adv))
    g_ppo = grad(lambda lp, m: rlhf.ppo_loss(lp, lp.detach(), adv, m, 0.2))
    torch.testing.assert_close(g_ppo, g_pg)
    # far outside the trust region, the clipped term has no gradient
    g_far = grad(lambda lp, m: rlhf.ppo_loss(lp, lp.detach() - 5.0 * m, adv.abs(), m, 0.2))
    assert g_far.abs().max() == 0


def test_reward_model_fits_a_simple_score():
    torch.manual_seed(0)
    lines = torch.randint(4, 9, (400, 5))
    scores = (lines == 4).double().mean(1).float()
    rm = rlhf.RewardModel(rlhf.RewardConfig(vocab_size=9))
    losses = rlhf.fit_reward_model(rm, lines, scores, steps=150, batch_size=64, lr=1e-2)
    assert losses[-1] < 0.3 * losses[0]


# ----------------------------------------------------------------------------------------------------
# bad input


def test_bad_inputs_name_the_parameter():
    with pytest.raises(ValueError, match=r"beta=-0.1 is not allowed; allowed: .*>= 0"):
        rlhf.RLHFConfig(beta=-0.1)
    with pytest.raises(ValueError, match="group_size=1 is not allowed; allowed: an integer >= 2"):
        rlhf.RLHFConfig(group_size=1)
    with pytest.raises(ValueError, match="group_size=1 is not allowed"):
        rlhf.advantages(torch.zeros(3, 1), "group")
    with pytest.raises(ValueError, match=r"prompts\[1\]=\[\] is not allowed; allowed: a non-empty list"):
        rlhf.prompt_tensor([[5], []])
    with pytest.raises(ValueError, match="prompts is empty; allowed:"):
        rlhf.prompt_tensor([])
    with pytest.raises(ValueError, match="baseline='loo' is not allowed; allowed:"):
        rlhf.RLHFConfig(baseline="loo")
    with pytest.raises(ValueError, match="prompts ids in 1..5 is not allowed"):
        rlhf.prompt_tensor([[1, 5]], vocab_size=6)


def test_training_runs_and_records():
    pol = tiny_lm(0).float()
    ref = rlhf.frozen_copy(pol)
    rm = rlhf.RewardModel(rlhf.RewardConfig(vocab_size=6))
    cfg = rlhf.RLHFConfig(beta=0.1, group_size=4, prompts_per_step=2, steps=3, max_len=3, update="ppo")
    hist = rlhf.train(pol, ref, rm, [[4], [5]], cfg, seed=0, true_reward=lambda ids: float(5 in ids))
    assert len(hist) == 3 and all(math.isfinite(h["kl"]) and 0 <= h["true"] <= 1 for h in hist)
    assert hist[0]["kl"] == pytest.approx(0.0, abs=1e-6)        # the first batch comes from pi_ref itself
