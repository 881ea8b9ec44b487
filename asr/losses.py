"""Sequence losses in plain PyTorch (no torchaudio on CPU here): RNN-T, CTC, MWER.

``rnnt_loss`` is memory-lean by function merging: it takes the joint's raw logits
(B, T, U+1, V), never materialises their log-softmax for autograd, and writes the gradient
(softmax · node occupancy − edge posteriors) straight into one tensor of the logits' size.
The forward/backward variables run over anti-diagonals t + u = n, vectorised over the batch
and the diagonal.
"""

from __future__ import annotations

import torch
from torch import Tensor

NEG = -1e30  # log(0) that stays finite, so masked cells never make NaNs


def _diagonal_cells(n: int, T: int, U1: int) -> tuple[Tensor, Tensor]:
    u = torch.arange(max(0, n - T + 1), min(n, U1 - 1) + 1)
    return n - u, u  # (t, u) on diagonal n inside the T × U1 grid


def _lattice(logits: Tensor, targets: Tensor, logit_lengths: Tensor, target_lengths: Tensor, blank: int,
             delay_penalty: float = 0.0):
    """Log-probs of the blank and label edges at each node, with padding masked to NEG. A
    ``delay_penalty`` λ adds λ·((T−1)/2 − t) to every label edge: emitting late costs more."""
    B, T, U1, _ = logits.shape
    lse = logits.logsumexp(-1)  # (B, T, U+1)
    blank_lp = logits[..., blank] - lse
    idx = targets[:, None, :, None].expand(B, T, U1 - 1, 1)
    label_lp = logits[:, :, :-1].gather(-1, idx).squeeze(-1) - lse[:, :, :-1]  # (B, T, U)
    if delay_penalty:
        t = torch.arange(T, dtype=label_lp.dtype)
        label_lp = label_lp + delay_penalty * ((logit_lengths[:, None] - 1) / 2 - t[None, :])[..., None]
    u = torch.arange(U1 - 1)
    label_lp = label_lp.masked_fill(u[None, None, :] >= target_lengths[:, None, None], NEG)
    t = torch.arange(T)
    blank_lp = blank_lp.masked_fill(t[None, :, None] >= logit_lengths[:, None, None], NEG)
    return lse, blank_lp, label_lp


def _alpha_beta(blank_lp: Tensor, label_lp: Tensor, logit_lengths: Tensor, target_lengths: Tensor):
    B, T, U1 = blank_lp.shape
    b = torch.arange(B)[:, None]
    alpha = torch.full((B, T, U1), NEG)
    alpha[:, 0, 0] = 0.0
    for n in range(1, T + U1 - 1):
        t, u = _diagonal_cells(n, T, U1)
        top = torch.where(t > 0, alpha[b, (t - 1).clamp(min=0), u] + blank_lp[b, (t - 1).clamp(min=0), u],
                          torch.tensor(NEG))
        left = torch.where(u > 0, alpha[b, t, (u - 1).clamp(min=0)] + label_lp[b, t, (u - 1).clamp(min=0)],
                           torch.tensor(NEG))
        alpha[b, t, u] = torch.logaddexp(top, left)
    last_t, last_u = logit_lengths - 1, target_lengths
    log_z = alpha[torch.arange(B), last_t, last_u] + blank_lp[torch.arange(B), last_t, last_u]  # (B,)

    # beta[t, u]: log-prob of finishing from node (t, u), its own emission included
    beta = torch.full((B, T, U1), NEG)
    padded_label = torch.cat([label_lp, torch.full((B, T, 1), NEG)], 2)  # no label edge out of u = U
    for n in range(T + U1 - 2, -1, -1):
        t, u = _diagonal_cells(n, T, U1)
        below = torch.where(t + 1 < T, beta[b, (t + 1).clamp(max=T - 1), u], torch.tensor(NEG))
        right = torch.where(u + 1 < U1, beta[b, t, (u + 1).clamp(max=U1 - 1)], torch.tensor(NEG))
        value = torch.logaddexp(blank_lp[b, t, u] + below, padded_label[b, t, u] + right)
        terminal = (t[None, :] == last_t[:, None]) & (u[None, :] == last_u[:, None])
        beta[b, t, u] = torch.where(terminal, blank_lp[b, t, u], value)
    return alpha, beta, log_z


class _RNNTLoss(torch.autograd.Function):
    @staticmethod
    def forward(ctx, logits, targets, logit_lengths, target_lengths, blank, delay_penalty):
        with torch.no_grad():
            lse, blank_lp, label_lp = _lattice(logits, targets, logit_lengths, target_lengths, blank, delay_penalty)
            alpha, beta, log_z = _alpha_beta(blank_lp, label_lp, logit_lengths, target_lengths)
        ctx.save_for_backward(logits, targets, logit_lengths, target_lengths, lse, blank_lp, label_lp,
                              alpha, beta, log_z)
        ctx.blank = blank
        return -log_z

    @staticmethod
    def backward(ctx, grad_out):
        logits, targets, logit_lengths, target_lengths, lse, blank_lp, label_lp, alpha, beta, log_z = \
            ctx.saved_tensors
        B, T, U1, V = logits.shape
        z = log_z[:, None, None]
        occupancy = (alpha + beta - z).exp()  # (B, T, U+1): posterior of visiting each node
        beta_below = torch.cat([beta[:, 1:], torch.full((B, 1, U1), NEG)], 1)
        end = (torch.arange(T)[None, :, None] == (logit_lengths - 1)[:, None, None]) & \
              (torch.arange(U1)[None, None, :] == target_lengths[:, None, None])
        beta_below = torch.where(end, torch.zeros(()), beta_below)  # the final blank leaves the lattice
        blank_post = (alpha + blank_lp + beta_below - z).exp()
        label_post = (alpha[:, :, :-1] + label_lp + beta[:, :, 1:] - z).exp()  # (B, T, U)
        grad = (logits - lse[..., None]).exp_().mul_(occupancy[..., None])  # softmax · occupancy
        grad[..., ctx.blank] -= blank_post
        grad[:, :, :-1].scatter_add_(-1, targets[:, None, :, None].expand(B, T, U1 - 1, 1), -label_post[..., None])
        return grad.mul_(grad_out[:, None, None, None]), None, None, None, None, None


def rnnt_loss(logits: Tensor, targets: Tensor, logit_lengths: Tensor, target_lengths: Tensor,
              blank: int = 0, reduction: str = "mean", delay_penalty: float = 0.0) -> Tensor:
    """logits (B, T, U+1, V) from the joint; targets (B, U) int64. Per-sequence −log p(y|x), reduced.
    ``delay_penalty`` > 0 is k2's delay-penalised RNN-T: paths that emit labels early score higher."""
    losses = _RNNTLoss.apply(logits.float(), targets.long(), logit_lengths.long(), target_lengths.long(), blank,
                             delay_penalty)
    return {"mean": losses.mean, "sum": losses.sum, "none": lambda: losses}[reduction]()


def ctc_loss(log_probs: Tensor, targets: Tensor, input_lengths: Tensor, target_lengths: Tensor,
             blank: int = 0, reduction: str = "mean") -> Tensor:
    """log_probs (B, T, V) log-softmaxed. PyTorch's own CTC (plain CPU kernels), batch-first."""
    return torch.nn.functional.ctc_loss(log_probs.transpose(0, 1), targets, input_lengths, target_lengths,
                                        blank=blank, reduction=reduction, zero_infinity=True)


def mwer_loss(hyp_log_probs: Tensor, hyp_word_errors: Tensor) -> Tensor:
    """Minimum word error rate over an N-best list (Transducer-Llama's fine-tuning loss).

    hyp_log_probs (B, N): model scores of the N-best hypotheses; hyp_word_errors (B, N).
    Scores are renormalised over the list; errors are centred on their mean (variance reduction).
    """
    posterior = hyp_log_probs.log_softmax(-1).exp()  # (B, N)
    errors = hyp_word_errors.float()
    return (posterior * (errors - errors.mean(-1, keepdim=True))).sum(-1).mean()
