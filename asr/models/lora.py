"""Low-rank adaptation (LoRA, Hu et al. 2021) of frozen linear layers.

``W x + (alpha / r) · B A x`` with A random and B zero, so an adapted model starts out
identical to the frozen one. Only A and B train and only they go into a checkpoint.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn


class LoRALinear(nn.Module):
    def __init__(self, base: nn.Linear, rank: int, alpha: float):
        super().__init__()
        self.base = base
        self.scale = alpha / rank
        self.lora_a = nn.Parameter(torch.empty(rank, base.in_features))
        self.lora_b = nn.Parameter(torch.zeros(base.out_features, rank))
        nn.init.kaiming_uniform_(self.lora_a, a=math.sqrt(5))
        base.weight.requires_grad_(False)
        if base.bias is not None:
            base.bias.requires_grad_(False)

    @property
    def weight(self) -> Tensor:
        """The merged weight (so code that reads ``.weight`` sees the adapted layer)."""
        return self.base.weight + self.scale * self.lora_b @ self.lora_a

    @property
    def bias(self) -> Tensor | None:
        return self.base.bias

    def forward(self, x: Tensor) -> Tensor:
        return self.base(x) + (x @ self.lora_a.T @ self.lora_b.T) * self.scale


def add_lora(module: nn.Module, names: tuple[str, ...], rank: int, alpha: float) -> int:
    """Wrap every ``nn.Linear`` child whose attribute name is in ``names``. Returns how many."""
    targets = [(parent, name) for parent in module.modules() for name, child in parent.named_children()
               if name in names and isinstance(child, nn.Linear)]
    for parent, name in targets:
        setattr(parent, name, LoRALinear(getattr(parent, name), rank, alpha))
    return len(targets)


def merge_lora(module: nn.Module) -> int:
    """Fold every adapter into its base layer (``W + (alpha / r) · B A``) for inference: the same
    outputs without the adapter's two extra matmuls per call. The merged layers no longer train
    their adapters. Returns how many."""
    targets = [(parent, name, child) for parent in module.modules() for name, child in parent.named_children()
               if isinstance(child, LoRALinear)]
    for parent, name, child in targets:
        merged = nn.Linear(child.base.in_features, child.base.out_features, bias=child.base.bias is not None)
        with torch.no_grad():
            merged.weight.copy_(child.weight)
            if child.base.bias is not None:
                merged.bias.copy_(child.base.bias)
        setattr(parent, name, merged.requires_grad_(False))
    return len(targets)
