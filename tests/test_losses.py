"""Losses against brute-force enumeration of every alignment on tiny lattices: values and gradients."""

import itertools
import math

import pytest
import torch

from asr.losses import ctc_loss, mwer_loss, rnnt_loss


def rnnt_brute_force(logits, target, T, U, blank=0, delay_penalty=0.0):
    """−log Σ over every RNN-T path: T blanks (the last one ends the utterance) and U labels; a
    label emitted at frame t scores an extra delay_penalty · ((T − 1) / 2 − t)."""
    lp = logits[:T, :U + 1].log_softmax(-1)
    total = []
    for label_slots in itertools.combinations(range(T - 1 + U), U):  # where the labels go before the last blank
        t = u = 0
        score = lp.new_zeros(())
        for i in range(T - 1 + U):
            if i in label_slots:
                score = score + lp[t, u, target[u]] + delay_penalty * ((T - 1) / 2 - t)
                u += 1
            else:
                score = score + lp[t, u, blank]
                t += 1
        total.append(score + lp[T - 1, U, blank])
    return -torch.logsumexp(torch.stack(total), 0)


@pytest.mark.parametrize("seed,delay_penalty", [(0, 0.0), (1, 0.0), (2, 0.0), (3, 0.0), (4, 0.3), (5, 1.0)])
def test_rnnt_loss_and_gradient_match_brute_force(seed, delay_penalty):
    g = torch.Generator().manual_seed(seed)
    B, T, U, V = 3, 5, 3, 5
    logits = torch.randn(B, T, U + 1, V, generator=g, requires_grad=True)
    targets = torch.randint(1, V, (B, U), generator=g)
    T_b, U_b = torch.tensor([5, 3, 4]), torch.tensor([3, 2, 0])
    ours = rnnt_loss(logits, targets, T_b, U_b, reduction="none", delay_penalty=delay_penalty)
    (g1,) = torch.autograd.grad(ours.sum(), logits)
    ref = torch.stack([rnnt_brute_force(logits[b], targets[b], int(T_b[b]), int(U_b[b]), delay_penalty=delay_penalty)
                       for b in range(B)])
    (g2,) = torch.autograd.grad(ref.sum(), logits)
    torch.testing.assert_close(ours, ref, atol=1e-4, rtol=1e-5)
    torch.testing.assert_close(g1, g2, atol=1e-5, rtol=1e-4)


def test_rnnt_loss_grad_is_zero_on_padding_and_sums_to_zero_per_node():
    g = torch.Generator().manual_seed(7)
    logits = torch.randn(2, 6, 4, 6, generator=g, requires_grad=True)
    targets = torch.randint(1, 6, (2, 3), generator=g)
    rnnt_loss(logits, targets, torch.tensor([6, 4]), torch.tensor([3, 1]), reduction="sum").backward()
    assert logits.grad[1, 4:].abs().max() == 0 and logits.grad[1, :, 2:].abs().max() == 0
    torch.testing.assert_close(logits.grad.sum(-1), torch.zeros(2, 6, 4), atol=1e-6, rtol=0)


def ctc_brute_force(log_probs, target, blank=0):
    T, V = log_probs.shape
    total = []
    for path in itertools.product(range(V), repeat=T):
        collapsed = [k for i, k in enumerate(path) if k != blank and (i == 0 or path[i - 1] != k)]
        if collapsed == list(target):
            total.append(sum(log_probs[t, k] for t, k in enumerate(path)))
    return -torch.logsumexp(torch.stack(total), 0)


def test_ctc_loss_matches_brute_force():
    g = torch.Generator().manual_seed(1)
    lp = torch.randn(1, 5, 3, generator=g).log_softmax(-1)
    target = torch.tensor([[1, 2]])
    ours = ctc_loss(lp, target, torch.tensor([5]), torch.tensor([2]), reduction="sum")
    assert math.isclose(float(ours), float(ctc_brute_force(lp[0], [1, 2])), rel_tol=1e-5)


def test_mwer_prefers_fewer_errors():
    scores = torch.tensor([[0.0, 0.0, 0.0]], requires_grad=True)
    errors = torch.tensor([[0, 2, 4]])
    loss = mwer_loss(scores, errors)
    loss.backward()
    assert abs(loss.item()) < 1e-6  # uniform posterior: expected error equals the mean
    assert scores.grad[0, 0] < 0 < scores.grad[0, 2]  # gradient descent raises the best hypothesis
