"""Low-rank adaptation (LoRA, Hu et al. 2021) of frozen linear layers.

``W x + (alpha / r) · B A x`` with A random and B zero, so an adapted model starts out
identical to the frozen one. Only A and B train and only they go into a checkpoint.
"""

from __future__ import annotations

import math
from collections.abc import Callable

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


def _replace(module: nn.Module, chosen: Callable[[str, nn.Module], bool],
             make: Callable[[nn.Module], nn.Module]) -> int:
    """Replace every descendant ``chosen(name, child)`` picks with ``make(child)``. Returns how many."""
    targets = [(parent, name, child) for parent in module.modules() for name, child in parent.named_children()
               if chosen(name, child)]
    for parent, name, child in targets:
        setattr(parent, name, make(child))
    return len(targets)


def add_lora(module: nn.Module, names: tuple[str, ...], rank: int, alpha: float) -> int:
    """Wrap every ``nn.Linear`` child whose attribute name is in ``names``. Returns how many."""
    return _replace(module, lambda name, child: name in names and isinstance(child, nn.Linear),
                    lambda child: LoRALinear(child, rank, alpha))


def _merged(lora: LoRALinear) -> nn.Linear:
    layer = nn.Linear(lora.base.in_features, lora.base.out_features, bias=lora.bias is not None)
    with torch.no_grad():
        layer.weight.copy_(lora.weight)
        if lora.bias is not None:
            layer.bias.copy_(lora.bias)
    return layer.requires_grad_(False)


def merge_lora(module: nn.Module) -> int:
    """Fold every adapter into its base layer (``W + (alpha / r) · B A``) for inference: the same
    outputs without the adapter's two extra matmuls per call. The merged layers no longer train
    their adapters. Returns how many."""
    return _replace(module, lambda _, child: isinstance(child, LoRALinear), _merged)
