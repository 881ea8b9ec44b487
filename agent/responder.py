"""LLM responder: answers each user turn with streamed text from a local causal LM.

SmolLM2-135M-Instruct (bundled GGUF) runs through transformers with a KV cache, greedy, in a
worker thread; tokens cross into the event loop as they are produced, so TTS can start on the
first sentence while the rest is generated. An interruption cancels the generation within
one token. A turn that continues an earlier one (``UserTurnFrame.continues_turn``: the caller
went on before the reply played) replaces that turn and its withdrawn reply in the history, so
the model sees the caller's whole turn once and nothing the caller never heard. A reply a
barge-in cut is kept as far as the caller heard it (``BotStoppedSpeakingFrame.text``, from the
audio output). If generation fails, the caller hears ``fallback_text`` and the call goes on.
"""

from __future__ import annotations

import asyncio
import logging
import re
import threading
import time
from typing import AsyncIterator

from agent.config import LLMConfig, TTSConfig
from agent.frames import (
    BotStoppedSpeakingFrame,
    Frame,
    FrameDirection,
    LLMFullResponseEndFrame,
    LLMFullResponseStartFrame,
    LLMTextFrame,
    MetricsFrame,
    StartFrame,
    UserTurnFrame,
)
from agent.processor import FrameProcessor

log = logging.getLogger(__name__)
_SENTENCE_ENDS = re.compile(r"[.!?](?:\s|$)")


def chat_prompt(chat: list[dict], config: LLMConfig) -> list[dict]:
    """The chat the small model sees: one system prompt (the chat's own system messages, or
    the configured prompt) and only the last ``max_history_messages`` turns."""
    system = "\n\n".join(m["content"] for m in chat if m["role"] == "system") or config.system_prompt
    turns = [m for m in chat if m["role"] != "system"]
    return [{"role": "system", "content": system}, *turns[-config.max_history_messages - 1:]]


class LocalLM:
    """Greedy streaming generation with a KV cache; ``stop`` ends it from another thread."""

    def __init__(self, config: LLMConfig):
        from asr.lm import load_causal_lm

        self.model, self.tokenizer = load_causal_lm(config.model, threads=config.threads)
        self.max_new_tokens = config.max_new_tokens
        self.repetition_penalty = config.repetition_penalty
        self.max_sentences = config.max_sentences

    def stream(self, messages: list[dict], on_text, stop: threading.Event):
        """Call ``on_text(delta)`` for each new piece of text; returns the full answer.

        Greedy with a repetition penalty (CTRL-style) on the tokens of this answer and of the
        previous assistant message: small models otherwise loop and repeat their last reply.
        """
        import torch

        ids = self.tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt",
                                                 return_dict=True)["input_ids"]
        eos = {self.tokenizer.eos_token_id, *(self.tokenizer.all_special_ids or [])}
        last_reply = next((m["content"] for m in reversed(messages) if m["role"] == "assistant"), "")
        penalised = set(self.tokenizer.encode(last_reply, add_special_tokens=False))
        out_ids: list[int] = []
        text = ""
        past = None
        with torch.inference_mode():
            for _ in range(self.max_new_tokens):
                if stop.is_set():
                    break
                out = self.model(input_ids=ids, past_key_values=past, use_cache=True)
                past = out.past_key_values
                logits = out.logits[0, -1]
                if penalised and self.repetition_penalty != 1.0:
                    idx = torch.tensor(sorted(penalised))
                    vals = logits[idx]
                    logits[idx] = torch.where(vals > 0, vals / self.repetition_penalty, vals * self.repetition_penalty)
                nxt = int(logits.argmax())
                if nxt in eos:
                    break
                out_ids.append(nxt)
                penalised.add(nxt)
                ids = torch.tensor([[nxt]])
                new_text = self.tokenizer.decode(out_ids, skip_special_tokens=True)
                if new_text.endswith("\ufffd"):
                    continue  # an incomplete UTF-8 sequence: wait for the next token
                delta, text = new_text[len(text):], new_text
                if delta:
                    on_text(delta)
                if len(_SENTENCE_ENDS.findall(text)) >= self.max_sentences:
                    break
        return text

    async def astream(self, messages: list[dict]) -> AsyncIterator[str]:
        """``stream`` in a worker thread, as an async iterator of pieces of text. Cancelling or
        closing the iteration stops the generation within one token; a failure of the
        generation is raised at the end."""
        loop = asyncio.get_running_loop()
        deltas: asyncio.Queue[str | None] = asyncio.Queue()
        stop = threading.Event()

        def run():
            try:
                return self.stream(messages, lambda d: loop.call_soon_threadsafe(deltas.put_nowait, d), stop)
            finally:
                loop.call_soon_threadsafe(deltas.put_nowait, None)

        worker = loop.run_in_executor(None, run)
        try:
            while (delta := await deltas.get()) is not None:
                yield delta
            await worker
        finally:
            stop.set()

    def warmup(self):
        self.stream([{"role": "user", "content": "Hello."}], lambda d: None, threading.Event())


class LLMResponder(FrameProcessor):
    def __init__(self, config: LLMConfig = LLMConfig(), tts_config: TTSConfig = TTSConfig(),
                 lm: LocalLM | None = None, **kwargs):
        super().__init__(**kwargs)
        self.config, self.fallback_text = config, tts_config.fallback_text
        self.lm = lm
        self.history: list[dict] = []
        self._last_turn: tuple[int, int] | None = None  # the last turn answered: its index, where its message is

    async def start(self, frame: StartFrame):
        if self.lm is None:
            self.lm = await asyncio.to_thread(LocalLM, self.config)

    async def _greet(self):
        self.history.append({"role": "assistant", "content": self.config.greeting})
        await self.push_frame(LLMFullResponseStartFrame(turn_index=0))
        await self.push_frame(LLMTextFrame(text=self.config.greeting))
        await self.push_frame(LLMFullResponseEndFrame(turn_index=0, text=self.config.greeting))

    def _messages(self) -> list[dict]:
        return chat_prompt(self.history, self.config)

    async def process_frame(self, frame: Frame, direction: FrameDirection):
        if isinstance(frame, UserTurnFrame):
            await self._respond(frame)
        elif isinstance(frame, BotStoppedSpeakingFrame):
            if frame.interrupted:
                self._heard(frame.text)
            await self.push_frame(frame, direction)
        elif isinstance(frame, StartFrame):
            await self.push_frame(frame, direction)
            if self.config.greeting:
                await self._greet()
        else:
            await self.push_frame(frame, direction)

    def _heard(self, text: str):
        """The reply the caller cut is the last message (an interruption cancels everything
        after it): keep what was heard of it, or nothing if no word was."""
        if self.history and self.history[-1]["role"] == "assistant":
            if text.strip():
                self.history[-1]["content"] = text.strip()
            else:
                self.history.pop()

    async def _respond(self, turn: UserTurnFrame):
        if self._last_turn and turn.continues_turn == self._last_turn[0]:
            del self.history[self._last_turn[1]:]  # the turn's first part and the reply withdrawn unheard
        self._last_turn = (turn.turn_index, len(self.history))
        self.history.append({"role": "user", "content": turn.text})
        await self.push_frame(LLMFullResponseStartFrame(turn_index=turn.turn_index))
        started = time.monotonic()
        spoken, failed = "", False
        try:
            async for delta in self.lm.astream(self._messages()):
                if not spoken:
                    await self.push_frame(MetricsFrame(metric="llm_ttft", value_ms=(time.monotonic() - started) * 1000,
                                                       turn_index=turn.turn_index, processor=self.name))
                spoken += delta
                await self.push_frame(LLMTextFrame(text=delta))
        except asyncio.CancelledError:  # interrupted: the generation stops; the output says what was heard
            self.history.append({"role": "assistant", "content": spoken})
            raise
        except Exception:
            log.exception("responder failed on turn %d; answering with the fallback line", turn.turn_index)
            failed = True
        if failed or not spoken.strip():
            spoken = self.fallback_text
            await self.push_frame(LLMTextFrame(text=spoken))
        spoken = spoken.strip()
        self.history.append({"role": "assistant", "content": spoken})
        await self.push_frame(LLMFullResponseEndFrame(turn_index=turn.turn_index, text=spoken))
