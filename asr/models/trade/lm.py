"""The LLM half of TRADE behind one interface, in two families.

Both read the streaming encoder's frames (B, S, 384) under a per-token audio mask (LDAA: each
token sees only the audio window of the chunk it is emitted in) and return final-layer hidden
states, which are the transducer's prediction network, and logits, which are fused into its
choices at no extra cost.

(a) ``WhisperDecoderLM``: Whisper tiny.en's decoder; audio arrives through cross-attention,
    restricted to the window by the cross-attention mask; LoRA on every attention projection.
(b) ``CausalLMWithAudio``: any HF causal LM (SmolLM2-135M bundled), the paper's own design:
    adapted audio embeddings are placed in its input after an instruction, the transcript
    follows, and a 4-D attention mask hides the audio outside each token's window; LoRA on
    q/k/v/o. The adaptor stacks ``stack`` frames and is an MLP, so a window's embeddings do not
    depend on audio outside it (the paper's adaptor is a causal transformer layer).

Decoding uses ``start`` (prefill prompt + window + transcript so far) and ``step`` (one more
token); a state belongs to one hypothesis and is never modified in place, so beam search can
branch it.
"""

from __future__ import annotations

import copy

import torch
from torch import Tensor, nn

from asr.models.lora import add_lora
from asr.models.whisper.load import NO_TIMESTAMPS, SOT
from asr.models.whisper.model import TextDecoder

EOT_WHISPER = 50256


class AudioLM(nn.Module):
    dim: int  # hidden size, the joint's prediction input
    prompt: list[int]  # LLM ids before the transcript
    eos: int  # id that ends a transcript (a CE target, never emitted by the transducer)
    stack: int = 1  # encoder frames per audio position (chunk sizes must be multiples)

    def hidden(self, audio: Tensor, audio_mask: Tensor, tokens: Tensor) -> Tensor:
        """Teacher forcing. audio (B, S, Da); audio_mask (B, N, S) bool; tokens (B, N) → (B, N, dim)."""
        raise NotImplementedError

    def output_weight(self) -> Tensor:
        """(V, dim): the frozen output projection, ``logits = hidden @ output_weight().T`` (the
        search scores only the rows of the compact vocabulary)."""
        raise NotImplementedError

    def logits(self, hidden: Tensor) -> Tensor:
        return hidden @ self.output_weight().T

    def start(self, audio: Tensor, tokens: Tensor) -> tuple[Tensor, object]:
        """Prefill one window (1, S, Da) and tokens (1, N) → (hidden of the last token (1, dim), state)."""
        raise NotImplementedError

    def step(self, state, token: int) -> tuple[Tensor, object]:
        """Advance one state by one token → (hidden (1, dim), new state)."""
        raise NotImplementedError


class WhisperDecoderLM(AudioLM):
    def __init__(self, decoder: TextDecoder, lora_rank: int, lora_alpha: float):
        super().__init__()
        decoder.requires_grad_(False)
        add_lora(decoder.blocks, ("query", "key", "value", "out"), lora_rank, lora_alpha)
        self.decoder = decoder
        self.dim = decoder.ln.normalized_shape[0]
        self.prompt, self.eos = [SOT, NO_TIMESTAMPS], EOT_WHISPER

    def hidden(self, audio, audio_mask, tokens):
        x, _ = self.decoder.hidden(tokens, self.decoder.cross_kv(audio), cross_mask=audio_mask)
        return x

    def output_weight(self):
        return self.decoder.token_embedding.weight

    def start(self, audio, tokens):
        cross = self.decoder.cross_kv(audio)
        x, cache = self.decoder.hidden(tokens, cross)
        return x[:, -1], (cross, cache)

    def step(self, state, token):
        cross, cache = state
        x, cache = self.decoder.hidden(torch.tensor([[token]]), cross, cache)
        return x[:, -1], (cross, cache)


class CausalLMWithAudio(AudioLM):
    INSTRUCTION = "Transcribe the speech."

    def __init__(self, model, tokenizer, audio_dim: int, lora_rank: int, lora_alpha: float, stack: int = 4):
        super().__init__()
        model.requires_grad_(False)
        add_lora(model.model.layers, ("q_proj", "k_proj", "v_proj", "o_proj"), lora_rank, lora_alpha)
        self.model, self.stack = model, stack
        self.dim = model.config.hidden_size
        self.adaptor = nn.Sequential(nn.Linear(audio_dim * stack, self.dim), nn.GELU(), nn.Linear(self.dim, self.dim))
        self.register_buffer("instruction", torch.tensor(tokenizer.encode(self.INSTRUCTION + "\n")), persistent=False)
        self.prompt = tokenizer.encode("\n")  # after the audio: the transcript starts on a new line
        self.eos = tokenizer.eos_token_id

    def _audio(self, audio: Tensor) -> Tensor:
        B, S, D = audio.shape
        S = S // self.stack * self.stack
        return self.adaptor(audio[:, :S].reshape(B, S // self.stack, self.stack * D))  # (B, S/stack, dim)

    def _embed(self, audio: Tensor, tokens: Tensor) -> tuple[Tensor, int, int]:
        emb = self.model.model.embed_tokens
        B = tokens.shape[0]
        head = emb(self.instruction)[None].expand(B, -1, -1)
        a = self._audio(audio)
        return torch.cat([head, a, emb(tokens)], 1), head.shape[1], a.shape[1]

    def hidden(self, audio, audio_mask, tokens):
        x, P, A = self._embed(audio, tokens)
        B, N = tokens.shape
        L = P + A + N
        allowed = torch.ones(L, L, dtype=torch.bool).tril()[None].repeat(B, 1, 1)  # (B, L, L)
        allowed[:, P + A:, P:P + A] = audio_mask[:, :, ::self.stack][:, :, :A]  # LDAA on the audio part
        out = self.model.model(inputs_embeds=x, attention_mask=allowed[:, None]).last_hidden_state
        return out[:, P + A:]

    def output_weight(self):
        if self.model.lm_head.bias is not None:
            raise ValueError("an LM head with a bias is not supported: the search scores hidden @ weight.T")
        return self.model.lm_head.weight

    def start(self, audio, tokens):
        x, _, _ = self._embed(audio, tokens)
        out = self.model.model(inputs_embeds=x, use_cache=True)
        return out.last_hidden_state[:, -1], out.past_key_values

    def step(self, state, token):
        past = copy.deepcopy(state)  # HF caches grow in place; a branched hypothesis needs its own
        out = self.model.model(inputs_embeds=self.model.model.embed_tokens(torch.tensor([[token]])),
                               past_key_values=past, use_cache=True)
        return out.last_hidden_state[:, -1], out.past_key_values
