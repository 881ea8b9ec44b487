"""TTS processor: speaks the responder's stream sentence by sentence.

Text chunks accumulate until a sentence is complete; each sentence is synthesised in a worker
thread (Piper joe by default) and pushed as 40 ms ``TTSAudioRawFrame``s, so the output can stop
within one chunk on barge-in. If synthesis fails, the pre-synthesised fallback line is played
instead and the call goes on.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time

import numpy as np

from agent.config import TTSConfig
from agent.frames import (
    Frame,
    FrameDirection,
    LLMFullResponseEndFrame,
    LLMFullResponseStartFrame,
    LLMTextFrame,
    MetricsFrame,
    StartFrame,
    TTSAudioRawFrame,
    TTSStartedFrame,
    TTSStoppedFrame,
    TTSTextFrame,
)
from agent.processor import FrameProcessor
from asr.audio import SAMPLE_RATE
from asr.voices import Voice, load_voice

log = logging.getLogger(__name__)

CHUNK_S = 0.04
_SENTENCE_END = re.compile(r"(?<=[.!?;:])[\"')\]]*\s+")
_CLAUSE_END = re.compile(r"(?<=[,.!?;:])[\"')\]]*\s+")
_SPEAKABLE = re.compile(r"[A-Za-z0-9]")
FIRST_CLAUSE_MIN_WORDS = 4


def split_sentences(buffer: str, first: bool = False) -> tuple[list[str], str]:
    """Complete sentences in ``buffer`` and the incomplete rest.

    With ``first`` (nothing of this response spoken yet) a clause of at least
    ``FIRST_CLAUSE_MIN_WORDS`` words ending in a comma also counts, so the bot starts talking
    before the LLM finishes a long first sentence.
    """
    parts, last = [], 0
    for m in (_CLAUSE_END if first else _SENTENCE_END).finditer(buffer):
        piece = buffer[last:m.end()].strip()
        if first and piece.endswith(",") and len(piece.split()) < FIRST_CLAUSE_MIN_WORDS:
            continue
        parts.append(piece)
        last = m.end()
        if first:  # after the first clause, back to whole sentences
            rest_parts, rest = split_sentences(buffer[last:])
            return [p for p in parts + rest_parts if p], rest
    return [p for p in parts if p], buffer[last:]


class TTSProcessor(FrameProcessor):
    def __init__(self, config: TTSConfig = TTSConfig(), voice: Voice | None = None, **kwargs):
        super().__init__(**kwargs)
        self.config = config
        self.voice = voice
        self.fallback_audio: np.ndarray | None = None
        self._buffer = ""
        self._context = 0
        self._turn_index = 0
        self._first_audio_pending = False

    async def start(self, frame: StartFrame):
        if self.voice is None:
            self.voice = await asyncio.to_thread(load_voice, self.config.voice)
        if self.fallback_audio is None:
            self.fallback_audio = (await asyncio.to_thread(self.voice.synthesize, self.config.fallback_text)).audio

    async def process_frame(self, frame: Frame, direction: FrameDirection):
        if isinstance(frame, LLMFullResponseStartFrame):
            self._buffer, self._context, self._turn_index = "", self._context + 1, frame.turn_index
            self._first_audio_pending = True
            await self.push_frame(frame, direction)
            await self.push_frame(TTSStartedFrame(context_id=self._context))
        elif isinstance(frame, LLMTextFrame):
            self._buffer += frame.text
            sentences, self._buffer = split_sentences(self._buffer, first=self._first_audio_pending)
            await self.push_frame(frame, direction)
            for sentence in sentences:
                await self.say(sentence)
        elif isinstance(frame, LLMFullResponseEndFrame):
            rest, self._buffer = self._buffer.strip(), ""
            if rest:
                await self.say(rest)
            await self.push_frame(frame, direction)
            await self.push_frame(TTSStoppedFrame(context_id=self._context))
        else:
            await self.push_frame(frame, direction)

    async def say(self, sentence: str):
        if not _SPEAKABLE.search(sentence):
            return
        started = time.monotonic()
        try:
            audio = (await asyncio.to_thread(self.voice.synthesize, sentence)).audio
        except Exception:
            log.exception("TTS failed on %r; playing the fallback line", sentence)
            audio = self.fallback_audio
        if self._first_audio_pending:
            self._first_audio_pending = False
            await self.push_frame(MetricsFrame(metric="tts_ttfb", value_ms=(time.monotonic() - started) * 1000,
                                               turn_index=self._turn_index, processor=self.name))
        await self.push_frame(TTSTextFrame(text=sentence, context_id=self._context))
        step = int(CHUNK_S * SAMPLE_RATE)
        for i in range(0, len(audio), step):
            await self.push_frame(TTSAudioRawFrame(audio=audio[i:i + step], sample_rate=SAMPLE_RATE,
                                                   context_id=self._context))
