"""Our streaming recognizer as a pipecat STT service.

    stt = TradeSTTService()                      # the shipped TRADE checkpoint, 640 ms chunks
    stt = TradeSTTService(recognizer_options={"chunk_ms": 320})

Audio frames go to the recognizer through ``asr.utterances.UtteranceStreams`` (one stream per
stretch of speech, told about VAD; decoding runs in a worker thread). What it produces becomes
pipecat's frames:

- ``Partial`` → ``InterimTranscriptionFrame``: the words since the last final, may change;
- ``Final`` → ``TranscriptionFrame`` (``result`` holds the words with their audio times). Its
  text carries its own leading space, so punctuation the recognizer commits after a word
  joins that word ("order" + "." → "order."); punctuation for audio before a VAD pause that
  arrives after it, when the turn may be over, is left out of the text (the strategy still
  gets it);
- at a ``VADUserStoppedSpeakingFrame`` the stream is padded with silence past the speech end
  and closed, and the words it still holds are committed, so the turn's last words arrive
  without waiting for more speech; at ``EndFrame`` whatever it holds comes out;
- everything, with sentence-end punctuation, the LLM's sentence-end probability and how far
  decoding has got, also goes out as a ``RecognizerEventsFrame`` per decode step, for
  ``TradeTurnStopStrategy`` (between stretches of speech only when something happened: there
  is nothing to decode).

Audio at any sample rate is resampled to 16 kHz with pipecat's stream resampler.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import AsyncGenerator

from pipecat.audio.utils import create_stream_resampler
from pipecat.frames.frames import (
    DataFrame,
    EndFrame,
    Frame,
    InterimTranscriptionFrame,
    StartFrame,
    TranscriptionFrame,
    VADUserStartedSpeakingFrame,
    VADUserStoppedSpeakingFrame,
)
from pipecat.processors.frame_processor import FrameDirection
from pipecat.services.settings import STTSettings
from pipecat.services.stt_service import STTService
from pipecat.transcriptions.language import Language
from pipecat.utils.time import time_now_iso8601

from asr.audio import SAMPLE_RATE, from_pcm16
from asr.events import Final, Partial, StreamEvent, join_words
from asr.recognizer import StreamingRecognizer, capabilities, create_recognizer
from asr.utterances import UtteranceStreams


@dataclass
class RecognizerEventsFrame(DataFrame):
    """What one push into the recognizer produced, in its own terms: ``events`` (partials,
    finals, sentence ends; times in seconds of caller audio since the call began), the LLM's
    probability that the sentence ends after the current text, and ``decoded_s``: the audio
    decoded so far (None if the recognizer cannot tell)."""

    events: list[StreamEvent] = field(default_factory=list)
    end_probability: float | None = None
    decoded_s: float | None = None


def _spoken(word: str) -> bool:
    return any(c.isalnum() for c in word)


class TradeSTTService(STTService):
    def __init__(self, *, recognizer: StreamingRecognizer | None = None, recognizer_name: str = "trade",
                 recognizer_options: dict | None = None, **kwargs):
        kwargs.setdefault("settings", STTSettings(model=recognizer_name, language=Language.EN))
        super().__init__(**kwargs)
        streams = recognizer.capabilities.streaming if recognizer else capabilities(recognizer_name).streaming
        if not streams:
            raise ValueError(f"recognizer {recognizer.name if recognizer else recognizer_name!r} does not stream; "
                             "use a streaming one: trade or whisper-local-agreement")
        self._recognizer = recognizer
        self._recognizer_name, self._recognizer_options = recognizer_name, recognizer_options or {}
        self._streams: UtteranceStreams | None = None
        self._resampler = create_stream_resampler()
        self._last_state: tuple = ()
        self._was_listening = False
        self._pause_s = -1.0  # call time of the last VAD speech end

    async def start(self, frame: StartFrame):
        await super().start(frame)
        if self._recognizer is None:
            self._recognizer = await asyncio.to_thread(create_recognizer, self._recognizer_name,
                                                       **self._recognizer_options)
        self._streams = UtteranceStreams(self._recognizer)

    async def stop(self, frame: EndFrame):
        """The call ended: the words still held (no pause after them) go out before the end."""
        if self._streams:
            for out in self._frames(await asyncio.to_thread(self._streams.finish)):
                await self.push_frame(out)
        await super().stop(frame)

    async def run_stt(self, audio: bytes) -> AsyncGenerator[Frame, None]:
        if self.sample_rate != SAMPLE_RATE:
            audio = await self._resampler.resample(audio, self.sample_rate, SAMPLE_RATE)
        for frame in self._frames(await asyncio.to_thread(self._streams.push, from_pcm16(audio))):
            yield frame

    async def process_frame(self, frame: Frame, direction: FrameDirection):
        await super().process_frame(frame, direction)
        if isinstance(frame, VADUserStartedSpeakingFrame) and self._streams:
            self._streams.speech_started(max(0.0, self._streams.now_s - frame.start_secs))
        elif isinstance(frame, VADUserStoppedSpeakingFrame) and self._streams:
            self._pause_s = max(0.0, self._streams.now_s - frame.stop_secs)
            for out in self._frames(await asyncio.to_thread(self._streams.speech_stopped, self._pause_s)):
                await self.push_frame(out)

    def _text(self, final: Final) -> str:
        words = list(final.words)
        while words and not _spoken(words[0].text) and words[0].start_s <= self._pause_s:
            words.pop(0)  # punctuation closing the words before a pause: their turn may be over
        words = [w.text for w in words]
        if not words:
            return ""
        text = join_words(words)
        return text if not _spoken(words[0]) else " " + text

    def _frames(self, events: list[StreamEvent]) -> list[Frame]:
        out: list[Frame] = []
        for e in events:
            if isinstance(e, Final) and (text := self._text(e)):
                frame = TranscriptionFrame(text, self._user_id, time_now_iso8601(), result=e)
                frame.includes_inter_frame_spaces = True
                out.append(frame)
            elif isinstance(e, Partial):
                out.append(InterimTranscriptionFrame(e.text, self._user_id, time_now_iso8601(), result=e))
        state = (self._streams.end_probability(), self._streams.decoded_s())  # read off the last step
        listening, was_listening = self._streams.listening, self._was_listening
        self._was_listening = listening
        if events or (state != self._last_state and (listening or was_listening)):  # between turns only time moves
            self._last_state = state
            out.append(RecognizerEventsFrame(events=events, end_probability=state[0], decoded_s=state[1]))
        return out
