"""Speech-to-text processors. Both send one ``TranscriptionFrame`` per stretch of speech, whose
``segment_end_s`` is the VAD speech end it covers and whose word times are in media time, so
the user-turn processor knows when a turn's words are all in.

``SegmentedSTTProcessor`` pairs an offline recognizer with VAD (what pipecat calls a
segmented STT service and LiveKit a StreamAdapter): audio between VAD speech start and stop,
plus a little pre- and post-roll, is transcribed in a worker thread while audio keeps
flowing.

``StreamingSTTProcessor`` runs a streaming recognizer (TRADE) on the live audio, one stream
per stretch of speech (``asr.utterances.UtteranceStreams``). While the caller speaks it sends
``InterimTranscriptionFrame``s, and every decoding step that produced something goes out as a
``RecognizerEventsFrame`` (sentence-end punctuation with its emission time, the LLM's
sentence-end probability) for the semantic end-of-turn detectors. At the first audio after a
VAD speech end the stream is padded with silence past that end and closed, and the stretch's
words are sent as its ``TranscriptionFrame``.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque

import numpy as np

from agent.config import ConfigError, STTConfig
from agent.frames import (
    EndFrame,
    Frame,
    FrameDirection,
    InputAudioRawFrame,
    InterimTranscriptionFrame,
    RecognizerEventsFrame,
    StartFrame,
    TranscriptionFrame,
    VADUserPausedFrame,
    VADUserStartedSpeakingFrame,
    VADUserStoppedSpeakingFrame,
)
from agent.processor import FrameProcessor
from asr.audio import SAMPLE_RATE
from asr.events import Final, Partial, StreamEvent, Word, join_words
from asr.recognizer import Recognizer, StreamingRecognizer, capabilities, create_recognizer
from asr.utterances import UtteranceStreams

log = logging.getLogger(__name__)


class AudioHistory:
    """The last ``max_s`` seconds of a stream, addressable by media time.

    Kept as the frames it arrived in (appending is O(1) on the 20 ms hot path); only
    ``slice`` concatenates, once per speech segment."""

    def __init__(self, max_s: float = 60.0):
        self._max_s = max_s
        self._chunks: deque[tuple[float, np.ndarray]] = deque()  # (media time of first sample, audio)
        self.end_s = 0.0
        self.changed = asyncio.Event()

    def append(self, audio: np.ndarray, pts_s: float):
        self._chunks.append((pts_s, audio))
        self.end_s = pts_s + len(audio) / SAMPLE_RATE
        while self._chunks and self._chunks[0][0] < self.end_s - self._max_s:
            self._chunks.popleft()
        self.changed.set()

    def slice(self, start_s: float, end_s: float) -> tuple[np.ndarray, float]:
        """Audio in [start_s, end_s) clipped to what is held; returns (audio, actual start)."""
        parts = [(t, a) for t, a in self._chunks if t < end_s and t + len(a) / SAMPLE_RATE > start_s]
        if not parts:
            return np.zeros(0, np.float32), start_s
        t0 = parts[0][0]
        audio = np.concatenate([a for _, a in parts])
        a = max(0, int(round((start_s - t0) * SAMPLE_RATE)))
        b = max(a, int(round((end_s - t0) * SAMPLE_RATE)))
        return audio[a:b], t0 + a / SAMPLE_RATE

    async def wait_until(self, t_s: float, timeout_s: float):
        """Wait until audio up to ``t_s`` has arrived (or the timeout passes)."""
        try:  # asyncio.timeout: a cancel never gets lost if audio arrives with it (agent/turns.py)
            async with asyncio.timeout(timeout_s):
                while self.end_s < t_s:
                    self.changed.clear()
                    await self.changed.wait()
        except TimeoutError:
            pass


def load_recognizer(config: STTConfig) -> Recognizer:
    try:
        return create_recognizer(config.recognizer, **config.options)
    except TypeError as e:  # an option the recognizer does not take
        raise ConfigError(f"stt.options {config.options} do not fit {config.recognizer}: {e}") from None


def stt_processors(config: STTConfig, recognizer: Recognizer | None = None,
                   final_recognizer: Recognizer | None = None) -> list[FrameProcessor]:
    """The processors that fit the configured recognizer, to follow the VAD processor directly
    (the streaming one orders VAD frames after the audio they followed): streaming if it can
    stream. With ``stt.final_recognizer`` the streaming one sends its partials and events, and a
    segmented one after it the final transcripts."""
    if not capabilities(config.recognizer).streaming:
        return [SegmentedSTTProcessor(config, recognizer=recognizer)]
    if (final := config.final()) is None:
        return [StreamingSTTProcessor(config, recognizer=recognizer)]
    return [StreamingSTTProcessor(config, recognizer=recognizer, finals=False),
            SegmentedSTTProcessor(final, recognizer=final_recognizer)]


class SegmentedSTTProcessor(FrameProcessor):
    def __init__(self, config: STTConfig | None = None, recognizer: Recognizer | None = None, **kwargs):
        """``config``: default, the default final recognizer's (faster-whisper)."""
        super().__init__(**kwargs)
        self.config = config or STTConfig().final()
        self.recognizer = recognizer
        self._history = AudioHistory()
        self._segment_start_s: float | None = None
        self._jobs: set[asyncio.Task] = set()
        self._order = asyncio.Lock()  # one transcription at a time, results in segment order

    async def start(self, frame: StartFrame):
        if self.recognizer is None:
            self.recognizer = await asyncio.to_thread(load_recognizer, self.config)
            await asyncio.to_thread(self.recognizer.warmup)

    async def stop(self):
        for job in self._jobs:
            job.cancel()
        await asyncio.gather(*self._jobs, return_exceptions=True)

    async def process_frame(self, frame: Frame, direction: FrameDirection):
        if isinstance(frame, InputAudioRawFrame):
            self._history.append(frame.audio, frame.pts_s or 0.0)
        elif isinstance(frame, VADUserStartedSpeakingFrame):
            if self._segment_start_s is None:
                self._segment_start_s = frame.speech_start_s
        elif isinstance(frame, VADUserStoppedSpeakingFrame) and self._segment_start_s is not None:
            start, self._segment_start_s = self._segment_start_s, None
            job = asyncio.create_task(self._transcribe(start, frame.speech_end_s), name=f"{self.name}.job")
            self._jobs.add(job)
            job.add_done_callback(self._jobs.discard)
        await self.push_frame(frame, direction)

    async def _transcribe(self, speech_start_s: float, speech_end_s: float):
        start_s = speech_start_s - self.config.pre_roll_ms / 1000
        end_s = speech_end_s + self.config.post_roll_ms / 1000
        await self._history.wait_until(end_s, timeout_s=2.0)
        audio, t0 = self._history.slice(start_s, end_s)
        async with self._order:
            try:
                transcript = await asyncio.to_thread(self.recognizer.transcribe, audio)
            except Exception:
                log.exception("recognizer failed on a %.2f s segment", len(audio) / SAMPLE_RATE)
                return
        emitted_s = self.clock.now()
        transcript = transcript.shifted(t0)
        for w in transcript.words:
            w.emitted_s = emitted_s
        await self.push_frame(TranscriptionFrame(text=transcript.text, words=transcript.words,
                                                 segment_end_s=speech_end_s, pts_s=speech_end_s))


class StreamingSTTProcessor(FrameProcessor):
    def __init__(self, config: STTConfig = STTConfig(), recognizer: StreamingRecognizer | None = None,
                 finals: bool = True, **kwargs):
        """``finals`` off: no ``TranscriptionFrame``s (a segmented recognizer after this one sends them)."""
        super().__init__(**kwargs)
        self.config, self.recognizer, self.finals = config, recognizer, finals
        self._streams: UtteranceStreams | None = None  # made at the first audio: its time is the call's
        self._queued_s = 0.0  # media time of the end of the audio queued to this processor
        self._vad: list[tuple[float, Frame]] = []  # VAD frames waiting for the audio they followed
        self._words: list[Word] = []  # committed words of the current stretch of speech
        self._partial = ""
        self._pause_s: float | None = None  # the VAD speech end the next commit covers
        self._state: tuple = ()

    async def start(self, frame: StartFrame):
        if self.recognizer is None:
            self.recognizer = await asyncio.to_thread(load_recognizer, self.config)
            await asyncio.to_thread(self.recognizer.warmup)

    async def queue_frame(self, frame: Frame, direction: FrameDirection = FrameDirection.DOWNSTREAM):
        if isinstance(frame, InputAudioRawFrame):
            self._queued_s = (frame.pts_s or 0.0) + len(frame.audio) / SAMPLE_RATE
        elif isinstance(frame, (VADUserStartedSpeakingFrame, VADUserPausedFrame, VADUserStoppedSpeakingFrame)):
            # VAD frames overtake the audio queued here; the recognizer hears of them after the
            # audio that came before them
            self._vad.append((self._queued_s, frame))
        await super().queue_frame(frame, direction)

    async def process_frame(self, frame: Frame, direction: FrameDirection):
        if isinstance(frame, EndFrame) and self._streams:  # the words still held go out before the end
            while self._vad:
                await self._tell_recognizer(self._vad.pop(0)[1])
            await self._publish(await asyncio.to_thread(self._streams.finish))
        await self.push_frame(frame, direction)
        if isinstance(frame, InputAudioRawFrame):
            if self._streams is None:
                self._streams = UtteranceStreams(self.recognizer, start_s=frame.pts_s or 0.0)
            streams = self._streams  # between stretches of speech a push only holds the audio: no thread
            await self._publish(await asyncio.to_thread(streams.push, frame.audio) if streams.listening
                                else streams.push(frame.audio))
            while self._vad and self._vad[0][0] <= self._streams.now_s + 1e-6:
                await self._tell_recognizer(self._vad.pop(0)[1])

    async def _tell_recognizer(self, vad: Frame):
        if isinstance(vad, VADUserStartedSpeakingFrame):
            self._pause_s = None
            self._streams.speech_started(vad.speech_start_s)
        elif isinstance(vad, VADUserPausedFrame):  # a decode of what it has: marks before the stop
            await self._publish(await asyncio.to_thread(self._streams.speech_paused, vad.pause_start_s))
        else:
            self._pause_s = vad.speech_end_s
            # the stream closes now: its last words and sentence end reach turn-taking at the stop
            await self._publish(await asyncio.to_thread(self._streams.speech_stopped, vad.speech_end_s))

    async def _publish(self, events: list[StreamEvent]):
        for e in events:
            if isinstance(e, Final):
                self._words += e.words
                self._partial = ""
            elif isinstance(e, Partial):
                self._partial = e.text
        listening = self._streams.listening
        state = (self._streams.end_probability(), self._streams.decoded_s())
        if events or (listening and state != self._state):  # between stretches only the clock moves
            self._state = state
            await self.push_frame(RecognizerEventsFrame(events=events, end_probability=state[0], decoded_s=state[1],
                                                        pts_s=self._streams.now_s))
        if not listening and (self._words or self._pause_s is not None):
            await self._commit()
        elif any(isinstance(e, (Final, Partial)) for e in events):
            text = join_words([w.text for w in self._words] + ([self._partial] if self._partial else []))
            await self.push_frame(InterimTranscriptionFrame(text=text, pts_s=self._streams.now_s))

    async def _commit(self):
        """The stretch of speech is closed: its words as one final transcript."""
        end_s = self._pause_s if self._pause_s is not None else self._streams.now_s
        words, self._words, self._partial, self._pause_s = self._words, [], "", None
        if not self.finals:
            return
        await self.push_frame(TranscriptionFrame(text=join_words([w.text for w in words]), words=words,
                                                 segment_end_s=end_s, pts_s=end_s))
