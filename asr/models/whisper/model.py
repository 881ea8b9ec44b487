"""Whisper in plain PyTorch, with an encoder that also runs as a bounded-memory stream.

Bottom-up: ``MultiHeadAttention`` → ``ResidualAttentionBlock`` → ``AudioEncoder`` /
``TextDecoder`` → ``Whisper``. ``ModelDimensions`` is the whole config and travels with
checkpoints.

Streaming (see ``StreamingEncoder``): the encoder works on chunks of C frames (20 ms each).
Frames of chunk k attend to N_l left chunks, their own chunk and L look-ahead frames (0..C). The
look-ahead is a *copy* of chunk k+1's first L frames appended to the input (TRADE's copy-and-append): the copy
attends to the same keys as chunk k but is never cached, so look-ahead does not compound
with depth. ``chunk_attention_mask`` builds the same attention pattern for one full-sequence
forward over [frames ‖ copies], which is what training uses and what streaming must equal.
Positions are the checkpoint's table for frames < 1500 and Whisper's sinusoids evaluated at
the absolute frame index beyond, so a stream may run past 30 s.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn


@dataclass(frozen=True)
class ModelDimensions:
    n_mels: int = 80
    n_audio_ctx: int = 1500
    n_audio_state: int = 384
    n_audio_head: int = 6
    n_audio_layer: int = 4
    n_vocab: int = 51864
    n_text_ctx: int = 448
    n_text_state: int = 384
    n_text_head: int = 6
    n_text_layer: int = 4


def sinusoids(positions: Tensor, channels: int, max_timescale: float = 10000.0) -> Tensor:
    """Whisper's positional embedding at arbitrary (possibly > 1500) integer positions."""
    inv = torch.exp(-math.log(max_timescale) / (channels // 2 - 1) * torch.arange(channels // 2))
    t = positions.float()[:, None] * inv[None, :]  # (T, C/2)
    return torch.cat([torch.sin(t), torch.cos(t)], dim=1)  # (T, C)


class MultiHeadAttention(nn.Module):
    def __init__(self, n_state: int, n_head: int):
        super().__init__()
        self.n_head = n_head
        self.query = nn.Linear(n_state, n_state)
        self.key = nn.Linear(n_state, n_state, bias=False)
        self.value = nn.Linear(n_state, n_state)
        self.out = nn.Linear(n_state, n_state)

    def forward(self, x: Tensor, kv: tuple[Tensor, Tensor] | None = None, mask: Tensor | None = None) -> Tensor:
        """x: (B, T, C). kv: precomputed (k, v), each (B, S, C); otherwise self-attention on x.
        mask: bool (T, S) or (B, T, S), True where attention is allowed."""
        q = self.query(x)
        k, v = kv if kv is not None else (self.key(x), self.value(x))
        B, T, C = q.shape
        h = self.n_head
        q = q.view(B, T, h, C // h).transpose(1, 2)  # (B, h, T, hs)
        k = k.view(B, k.shape[1], h, C // h).transpose(1, 2)  # (B, h, S, hs)
        v = v.view(B, v.shape[1], h, C // h).transpose(1, 2)
        if mask is not None and mask.dim() == 3:
            mask = mask[:, None]  # (B, 1, T, S)
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)  # (B, h, T, hs)
        return self.out(y.transpose(1, 2).reshape(B, T, C))


class ResidualAttentionBlock(nn.Module):
    def __init__(self, n_state: int, n_head: int, cross_attention: bool = False):
        super().__init__()
        self.attn = MultiHeadAttention(n_state, n_head)
        self.attn_ln = nn.LayerNorm(n_state)
        self.cross_attn = MultiHeadAttention(n_state, n_head) if cross_attention else None
        self.cross_attn_ln = nn.LayerNorm(n_state) if cross_attention else None
        self.mlp = nn.Sequential(nn.Linear(n_state, 4 * n_state), nn.GELU(), nn.Linear(4 * n_state, n_state))
        self.mlp_ln = nn.LayerNorm(n_state)

    def forward(self, x: Tensor, mask: Tensor | None = None, past_kv: tuple[Tensor, Tensor] | None = None,
                cross_kv: tuple[Tensor, Tensor] | None = None, cross_mask: Tensor | None = None
                ) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        """past_kv: cached self-attention (k, v) of earlier positions, prepended to x's own.
        Returns the output and the self-attention (k, v) over past + x, for the caller's cache."""
        h = self.attn_ln(x)
        k, v = self.attn.key(h), self.attn.value(h)
        if past_kv is not None:
            k, v = torch.cat([past_kv[0], k], 1), torch.cat([past_kv[1], v], 1)
        x = x + self.attn(h, (k, v), mask)
        if self.cross_attn is not None:
            x = x + self.cross_attn(self.cross_attn_ln(x), cross_kv, cross_mask)
        return x + self.mlp(self.mlp_ln(x)), (k, v)


class AudioEncoder(nn.Module):
    def __init__(self, dims: ModelDimensions):
        super().__init__()
        self.dims = dims
        self.conv1 = nn.Conv1d(dims.n_mels, dims.n_audio_state, kernel_size=3, padding=1)
        self.conv2 = nn.Conv1d(dims.n_audio_state, dims.n_audio_state, kernel_size=3, stride=2, padding=1)
        self.blocks = nn.ModuleList(ResidualAttentionBlock(dims.n_audio_state, dims.n_audio_head)
                                    for _ in range(dims.n_audio_layer))
        self.ln_post = nn.LayerNorm(dims.n_audio_state)
        self.register_buffer("positional_embedding", sinusoids(torch.arange(dims.n_audio_ctx), dims.n_audio_state))

    def positions(self, a: int, b: int) -> Tensor:
        """Embeddings of frames [a, b): the checkpoint's table, then sinusoids past its end."""
        n = self.positional_embedding.shape[0]
        table = self.positional_embedding[min(a, n):min(b, n)]
        beyond = sinusoids(torch.arange(max(a, n), max(b, n)), self.dims.n_audio_state).to(table.dtype)
        return torch.cat([table, beyond], 0)  # (b - a, C)

    def embed(self, mel: Tensor) -> Tensor:
        """mel (B, n_mels, 2T) → conv features + positions (B, T, C)."""
        x = F.gelu(self.conv2(F.gelu(self.conv1(mel))))  # (B, C, T)
        x = x.transpose(1, 2)  # (B, T, C)
        return x + self.positions(0, x.shape[1])

    def forward(self, mel: Tensor, chunk_frames: int | None = None, left_chunks: int = -1,
                lookahead: int = 0, lengths: Tensor | None = None) -> Tensor:
        """Full-sequence forward. With ``chunk_frames`` it applies the streaming attention
        pattern (``chunk_attention_mask``, ``lookahead`` frames of the next chunk) and returns the
        outputs of the real frames only.
        ``lengths`` (B,): valid encoder frames per item of a padded batch; padding is never attended."""
        x = self.embed(mel)
        T = x.shape[1]
        mask, source = None, torch.arange(T)  # source: the frame each key stands for
        if chunk_frames:
            mask = chunk_attention_mask(T, chunk_frames, left_chunks, lookahead)
            copies = lookahead_copies(T, chunk_frames, lookahead)
            x = torch.cat([x, x[:, copies]], 1)  # (B, T + copies, C)
            source = torch.cat([source, copies])
        if lengths is not None:
            valid = source[None, :] < lengths[:, None]  # (B, K)
            base = mask if mask is not None else torch.ones(len(source), len(source), dtype=torch.bool)
            # every query keeps itself, so a padded query's row is never empty (no NaNs)
            mask = (base[None] & valid[:, None, :]) | torch.eye(len(source), dtype=torch.bool)[None]  # (B, Q, K)
        for block in self.blocks:
            x, _ = block(x, mask)
        return self.ln_post(x[:, :T])


def lookahead_copies(T: int, C: int, lookahead: int) -> Tensor:
    """The frames copied as look-ahead: the first ``lookahead`` of every chunk but the first
    (none when the sequence is shorter than a chunk)."""
    t = torch.arange(C, max(C, T))
    return t[t % C < min(lookahead, C)]


def chunk_attention_mask(T: int, C: int, left_chunks: int = -1, lookahead: int = 0) -> Tensor:
    """Bool mask (Q, K), True = may attend, for the sequence [frames 0..T) ‖ [look-ahead copies].

    Real frame in chunk k sees real chunks k-N_l..k and the copy of the first ``lookahead``
    frames of chunk k+1. The copy from chunk j (made for chunk j-1) sees real chunks
    j-1-N_l..j-1 and the other copies from chunk j. ``left_chunks`` < 0 means unlimited left context.
    A copy rather than a plain mask keeps the look-ahead from compounding with depth: chunk k+1's
    real frames see chunk k+2, its copy does not.
    """
    chunk = torch.arange(T) // C  # (T,)
    lo = chunk - left_chunks if left_chunks >= 0 else torch.full_like(chunk, -1 << 30)
    real = (chunk[None, :] <= chunk[:, None]) & (chunk[None, :] >= lo[:, None])  # (T, T)
    if not lookahead:
        return real
    copy_chunk = chunk[lookahead_copies(T, C, lookahead)]  # a copy from chunk j serves chunk j-1
    serving = copy_chunk - 1  # (copies,)
    real_to_copy = serving[None, :] == chunk[:, None]  # (T, copies)
    lo_c = serving - left_chunks if left_chunks >= 0 else torch.full_like(serving, -1 << 30)
    copy_to_real = (chunk[None, :] <= serving[:, None]) & (chunk[None, :] >= lo_c[:, None])  # (copies, T)
    copy_to_copy = copy_chunk[None, :] == copy_chunk[:, None]  # (copies, copies)
    return torch.cat([torch.cat([real, real_to_copy], 1), torch.cat([copy_to_real, copy_to_copy], 1)], 0)


class StreamingEncoder:
    """Runs an ``AudioEncoder`` chunk by chunk with a per-layer KV cache of N_l chunks.

    Feed log-mel frames as they come (``push``); every complete chunk (plus its look-ahead
    frames and the 20 ms the convolutions need beyond it) yields its C encoder frames. Memory is
    bounded by the cache and a few mel frames, however long the stream. ``lookahead`` frames of
    the next chunk (0..C) must arrive before a chunk is encoded: latency against context.
    """

    def __init__(self, encoder: AudioEncoder, chunk_frames: int, left_chunks: int, lookahead: int = 0):
        if left_chunks < 0:
            raise ValueError("streaming needs a finite left context (left_chunks ≥ 0)")
        self.enc, self.C, self.N_l = encoder, chunk_frames, left_chunks
        self.L = min(max(0, int(lookahead)), chunk_frames)
        self.mel = torch.zeros(encoder.dims.n_mels, 0)  # mel frames from 2·done - 2 on
        self.done = 0  # encoder frames already emitted
        self.cache: list[tuple[Tensor, Tensor] | None] = [None] * len(encoder.blocks)

    def _mel_offset(self) -> int:
        return max(0, 2 * self.done - 2)

    def _embed(self, a: int, b: int, mel_total: int | None) -> Tensor:
        """Conv features + positions of encoder frames [a, b) (1, b-a, C). Frame j needs conv1
        outputs 2j-1..2j+1, i.e. mel frames 2j-2..2j+2. ``mel_total`` is set once the stream has
        ended: conv1 outputs past it are conv2's zero padding, mel past it conv1's."""
        off = self._mel_offset()
        lo, hi = 2 * a - 2, 2 * b + 1  # mel frames lo .. hi-1
        win = self.mel[:, max(lo, 0) - off: hi - off]
        pad_left = max(0, -lo)
        win = F.pad(win, (pad_left, (hi - lo) - pad_left - win.shape[1]))[None]  # (1, n_mels, 2(b-a)+3)
        h = F.gelu(F.conv1d(win, self.enc.conv1.weight, self.enc.conv1.bias))  # conv1 outputs 2a-1 .. 2b-1
        idx = torch.arange(2 * a - 1, 2 * b)
        h = h * ((idx >= 0) & (idx < (mel_total if mel_total is not None else 1 << 62))).to(h.dtype)
        x = F.gelu(F.conv1d(h, self.enc.conv2.weight, self.enc.conv2.bias, stride=2)).transpose(1, 2)
        return x + self.enc.positions(a, b)

    @torch.no_grad()
    def push(self, mel: Tensor, final: bool = False) -> Tensor:
        """mel: (n_mels, n) new frames; ``final`` flushes the end of the stream.
        Returns the encoder frames completed by this call (1, m, C), m ≥ 0."""
        self.mel = torch.cat([self.mel, mel], 1)
        mel_total = self._mel_offset() + self.mel.shape[1]  # mel frames received so far
        total = (mel_total + 1) // 2  # encoder frames once the stream ends
        outputs = []
        while self.done < total:
            a = self.done
            b = min(a + self.C, total)
            la_end = min(b + self.L, total)
            if not final and (b - a < self.C or 2 * (b + self.L) + 1 > mel_total):
                break  # the chunk, its look-ahead and the convolutions' 20 ms are not all here yet
            x = self._embed(a, la_end, mel_total if final else None)  # chunk ‖ look-ahead copy
            outputs.append(self._step(x, b - a))
            drop = max(0, 2 * b - 2) - self._mel_offset()
            self.done, self.mel = b, self.mel[:, drop:]
        if not outputs:
            return torch.zeros(1, 0, self.enc.dims.n_audio_state)
        return torch.cat(outputs, 1)

    def state_size(self) -> dict[str, int]:
        """What the stream holds between pushes: the KV cache (floats) and buffered mel frames."""
        return {"kv_cache_floats": sum(k.numel() + v.numel() for kv in self.cache if kv for k, v in [kv]),
                "mel_buffer_frames": self.mel.shape[1]}

    def _step(self, x: Tensor, n_real: int) -> Tensor:
        keep = self.N_l * self.C
        for i, block in enumerate(self.enc.blocks):
            past = self.cache[i]
            n_past = 0 if past is None else past[0].shape[1]
            x, (k, v) = block(x, past_kv=past)  # every query sees cache + chunk + look-ahead copy
            k, v = k[:, :n_past + n_real], v[:, :n_past + n_real]  # copies never enter the cache
            self.cache[i] = (k[:, -keep:], v[:, -keep:]) if keep else None
        return self.enc.ln_post(x[:, :n_real])


class TextDecoder(nn.Module):
    def __init__(self, dims: ModelDimensions):
        super().__init__()
        self.token_embedding = nn.Embedding(dims.n_vocab, dims.n_text_state)
        self.positional_embedding = nn.Parameter(torch.empty(dims.n_text_ctx, dims.n_text_state))
        self.blocks = nn.ModuleList(ResidualAttentionBlock(dims.n_text_state, dims.n_text_head, cross_attention=True)
                                    for _ in range(dims.n_text_layer))
        self.ln = nn.LayerNorm(dims.n_text_state)

    def cross_kv(self, audio: Tensor) -> list[tuple[Tensor, Tensor]]:
        """Per-block cross-attention keys/values of the encoder output (computed once)."""
        return [(b.cross_attn.key(audio), b.cross_attn.value(audio)) for b in self.blocks]

    def forward(self, tokens: Tensor, cross: list[tuple[Tensor, Tensor]], cache: list | None = None,
                cross_mask: Tensor | None = None) -> tuple[Tensor, list]:
        """tokens (B, U) new tokens; cache: per-block self (k, v) of earlier tokens (updated and returned).
        Returns logits (B, U, V) and the new cache."""
        x, new_cache = self.hidden(tokens, cross, cache, cross_mask)
        return x @ self.token_embedding.weight.T, new_cache

    def hidden(self, tokens: Tensor, cross: list[tuple[Tensor, Tensor]], cache: list | None = None,
               cross_mask: Tensor | None = None) -> tuple[Tensor, list]:
        """As ``forward`` but returns the final-layer hidden states (B, U, C) (TRADE's prediction
        network reads them). ``cross_mask`` (B, U, S) bool limits which audio frames each token sees."""
        past = 0 if cache is None else cache[0][0].shape[1]
        U = tokens.shape[1]
        x = self.token_embedding(tokens) + self.positional_embedding[past:past + U]
        causal = torch.ones(U, past + U, dtype=torch.bool).tril(past)  # (U, past+U)
        new_cache = []
        for i, block in enumerate(self.blocks):
            x, kv = block(x, causal, past_kv=None if cache is None else cache[i], cross_kv=cross[i],
                          cross_mask=cross_mask)
            new_cache.append(kv)
        return self.ln(x), new_cache


class Whisper(nn.Module):
    def __init__(self, dims: ModelDimensions):
        super().__init__()
        self.dims = dims
        self.encoder = AudioEncoder(dims)
        self.decoder = TextDecoder(dims)
