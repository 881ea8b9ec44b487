"""Greedy decoding for ``Whisper`` with a KV cache (new tokens only, never the whole prefix)."""

from __future__ import annotations

import torch
from torch import Tensor

from asr.models.whisper.load import EOT, NO_TIMESTAMPS, SOT
from asr.models.whisper.model import Whisper


@torch.no_grad()
def greedy_decode(model: Whisper, audio_features: Tensor, *, prompt: list[int] = (SOT, NO_TIMESTAMPS),
                  suppress: list[int] = (), suppress_begin: list[int] = (), max_tokens: int = 224) -> list[int]:
    """audio_features: (1, T, C) encoder output. Returns the generated token ids (no EOT)."""
    cross = model.decoder.cross_kv(audio_features)
    tokens = torch.tensor([list(prompt)])
    cache, out = None, []
    suppress_t = torch.tensor(list(suppress), dtype=torch.long)
    for step in range(max_tokens):
        logits, cache = model.decoder(tokens, cross, cache)
        logits = logits[0, -1]
        if len(suppress_t):
            logits[suppress_t] = -float("inf")
        if step == 0 and suppress_begin:
            logits[list(suppress_begin)] = -float("inf")
        nxt = int(logits.argmax())
        if nxt == EOT:
            break
        out.append(nxt)
        tokens = torch.tensor([[nxt]])
    return out
