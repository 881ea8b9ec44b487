"""Our streaming recognizer and end-of-turn detector as a LiveKit Agents STT plugin.

    session = AgentSession(stt=TradeSTT(detector="adaptive"), llm=..., tts=...,
                           turn_handling={"turn_detection": "stt"})

Each stream runs the real Silero VAD (``asr.vad``, with the agent's hysteresis and
``VADConfig``), the recognizer one stretch of speech at a time
(``asr.utterances.UtteranceStreams``) and a ``turn_taking`` detector (``TurnTracker``). It sends LiveKit's speech events:

- ``START_OF_SPEECH`` when the VAD hears the caller begin a turn;
- ``INTERIM_TRANSCRIPT`` with the words not yet committed, ``FINAL_TRANSCRIPT`` with the
  committed ones (their word times in ``words``, seconds since the stream began);
- ``END_OF_SPEECH`` when the detector says the turn is over: with ``turn_detection="stt"``
  this is what ends the user's turn, so our detector decides when the agent answers.

Audio at any rate is resampled to 16 kHz by LiveKit's stream; decoding runs in a worker
thread. ``flush()`` (a manual commit) releases the words the recognizer still holds.
"""

from __future__ import annotations

import asyncio
import uuid

from livekit.agents import APIConnectOptions, stt
from livekit.agents.types import DEFAULT_API_CONNECT_OPTIONS, NOT_GIVEN, NotGivenOr, TimedString
from livekit.agents.utils import AudioBuffer

from agent.config import VADConfig
from asr.audio import SAMPLE_RATE, from_pcm16
from asr.events import Final, Partial, StreamEvent, Word, join_words
from asr.recognizer import StreamingRecognizer, capabilities, create_recognizer
from asr.utterances import UtteranceStreams
from turn_taking.tracker import TurnTracker
from asr.vad import SileroVAD, SpeechBoundary, SpeechSegmenter, StreamingVAD

LANGUAGE = "en"


class TradeSTT(stt.STT):
    def __init__(self, *, recognizer: StreamingRecognizer | None = None, recognizer_name: str = "trade",
                 recognizer_options: dict | None = None, detector: str = "adaptive",
                 detector_options: dict | None = None, vad: VADConfig = VADConfig()):
        super().__init__(capabilities=stt.STTCapabilities(streaming=True, interim_results=True,
                                                          aligned_transcript="word", offline_recognize=False))
        name = recognizer.name if recognizer else recognizer_name
        if not (recognizer.capabilities if recognizer else capabilities(recognizer_name)).streaming:
            raise ValueError(f"recognizer {name!r} does not stream; use a streaming one: trade or "
                             "whisper-local-agreement")
        self._recognizer, self._name, self._options = recognizer, recognizer_name, recognizer_options or {}
        self.detector, self.detector_options = detector, detector_options or {}
        self.vad = vad
        self.last_stream: TradeSpeechStream | None = None  # for the turn-detector plugin

    @property
    def model(self) -> str:
        return self._recognizer.name if self._recognizer else self._name

    @property
    def provider(self) -> str:
        return "trade-voice-agent"

    def recognizer(self) -> StreamingRecognizer:
        """The recognizer, loaded on first use (``prewarm`` loads it ahead of the call)."""
        if self._recognizer is None:
            self._recognizer = create_recognizer(self._name, **self._options)
        return self._recognizer

    def prewarm(self) -> None:
        self.recognizer()

    async def _recognize_impl(self, buffer: AudioBuffer, *, language=NOT_GIVEN, conn_options=None) -> stt.SpeechEvent:
        raise NotImplementedError("TradeSTT streams: use stream() (AgentSession does)")

    def stream(self, *, language: NotGivenOr[str] = NOT_GIVEN,
               conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS) -> TradeSpeechStream:
        self.last_stream = TradeSpeechStream(self, conn_options)
        return self.last_stream


class TradeSpeechStream(stt.RecognizeStream):
    def __init__(self, owner: TradeSTT, conn_options: APIConnectOptions):
        super().__init__(stt=owner, conn_options=conn_options, sample_rate=SAMPLE_RATE)
        self._owner = owner
        self.turn = TurnTracker(owner.detector, **owner.detector_options)
        self.end_probability: float | None = None  # the recognizer's P(sentence ends here), latest
        self._in_turn = False
        self._held: list[Word] = []  # the last final's words, sent once no more punctuation can join them
        self._request_id = uuid.uuid4().hex[:12]

    async def _run(self) -> None:
        recognizer = await asyncio.to_thread(self._owner.recognizer)
        config = self._owner.vad
        vad = StreamingVAD(await asyncio.to_thread(SileroVAD),
                           SpeechSegmenter(config.confidence, config.start_ms, config.stop_ms, config.pause_ms))
        streams = UtteranceStreams(recognizer)
        async for item in self._input_ch:
            if isinstance(item, self._FlushSentinel):
                self._send_transcripts(await asyncio.to_thread(streams.finish))
                self._send_held()
                continue
            pcm = from_pcm16(bytes(item.data), item.num_channels)
            events = []
            for boundary in vad.push(pcm, streams.now_s):
                events += await self._vad(boundary, streams)
            events += await asyncio.to_thread(streams.push, pcm)
            self.end_probability = streams.end_probability()
            if self.turn.hears_audio:
                self.turn.on_audio(pcm, streams.now_s - len(pcm) / SAMPLE_RATE)
            self.turn.recognized(events, self.end_probability, streams.decoded_s(), streams.now_s)
            self._send_transcripts(events)
            if self._in_turn and self.turn.turn_over(streams.now_s):
                self._in_turn = False
                self._send_held()
                self._send(stt.SpeechEventType.END_OF_SPEECH)
        self._send_transcripts(await asyncio.to_thread(streams.finish))
        self._send_held()

    async def _vad(self, boundary: SpeechBoundary, streams: UtteranceStreams) -> list[StreamEvent]:
        """Tell the recognizer and the turn; returns the recognizer's events at a pause or stop."""
        t_s = boundary.t_s
        if boundary.pause:  # the turn waits for the stop; the recognizer decodes what it has
            return await asyncio.to_thread(streams.speech_paused, t_s)
        if boundary.speaking:
            streams.speech_started(t_s)
            self.turn.speech_started(t_s)
            if not self._in_turn:
                self._in_turn = True
                self._send(stt.SpeechEventType.START_OF_SPEECH)
            return []
        self.turn.speech_stopped(t_s)
        return await asyncio.to_thread(streams.speech_stopped, t_s)

    def _send_transcripts(self, events: list[StreamEvent]):
        """Finals are held until the next words: LiveKit joins final transcripts with spaces,
        so punctuation the recognizer commits a step later ("order" then ".") joins the words
        before it here."""
        for e in events:
            if isinstance(e, Final) and e.words:
                if any(c.isalnum() for w in e.words for c in w.text):
                    self._send_held()
                self._held += e.words
            elif isinstance(e, Partial):
                self._send(stt.SpeechEventType.INTERIM_TRANSCRIPT, _speech([], e.text))

    def _send_held(self):
        if self._held:
            self._send(stt.SpeechEventType.FINAL_TRANSCRIPT, _speech(self._held))
            self._held = []

    def _send(self, kind: stt.SpeechEventType, data: stt.SpeechData | None = None):
        self._event_ch.send_nowait(stt.SpeechEvent(type=kind, request_id=self._request_id,
                                                   alternatives=[data] if data else []))


def _speech(words: list[Word], text: str | None = None) -> stt.SpeechData:
    text = join_words([w.text for w in words]) if text is None else text
    timed = [TimedString(w.text, start_time=w.start_s, end_time=w.end_s) for w in words]
    return stt.SpeechData(language=LANGUAGE, text=text, words=timed or None,
                          start_time=words[0].start_s if words else 0.0, end_time=words[-1].end_s if words else 0.0,
                          confidence=1.0)
