"""The bundled Piper voice (or any ``asr.voices`` voice) as a LiveKit Agents TTS plugin.

    session = AgentSession(tts=LocalTTS(), ...)              # piper:joe
    session = AgentSession(tts=LocalTTS("espeak:en-us"), ...)

LiveKit hands it one sentence at a time (its sentence tokenizer streams the LLM's text);
each is synthesised in a worker thread and sent as 16 kHz PCM.
"""

from __future__ import annotations

import asyncio
import uuid

import numpy as np
from livekit.agents import APIConnectOptions, tts
from livekit.agents.types import DEFAULT_API_CONNECT_OPTIONS

from asr.audio import SAMPLE_RATE
from asr.voices import Voice, load_voice


class LocalTTS(tts.TTS):
    def __init__(self, voice: str | Voice = "piper:joe"):
        super().__init__(capabilities=tts.TTSCapabilities(streaming=False), sample_rate=SAMPLE_RATE, num_channels=1)
        self._voice = load_voice(voice) if isinstance(voice, str) else voice

    @property
    def model(self) -> str:
        return self._voice.name

    @property
    def provider(self) -> str:
        return "local"

    def synthesize(self, text: str, *, conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS) -> LocalChunkedStream:
        return LocalChunkedStream(tts=self, input_text=text, conn_options=conn_options)


class LocalChunkedStream(tts.ChunkedStream):
    async def _run(self, output_emitter: tts.AudioEmitter) -> None:
        voice = self._tts._voice  # type: ignore[attr-defined]
        audio = (await asyncio.to_thread(voice.synthesize, self.input_text)).audio
        output_emitter.initialize(request_id=uuid.uuid4().hex[:12], sample_rate=SAMPLE_RATE, num_channels=1,
                                  mime_type="audio/pcm")
        output_emitter.push((np.clip(audio, -1, 1) * 32767).astype(np.int16).tobytes())
        output_emitter.flush()
