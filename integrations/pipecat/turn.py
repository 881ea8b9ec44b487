"""Our end-of-turn detectors as a pipecat user-turn stop strategy.

    from pipecat.turns.user_turn_strategies import UserTurnStrategies
    strategies = UserTurnStrategies(stop=[TradeTurnStopStrategy("adaptive")])
    user, assistant = LLMContextAggregatorPair(context, user_params=LLMUserAggregatorParams(
        user_turn_strategies=strategies))

Any detector of ``turn_taking.detectors`` works (``silence``, ``punct``, ``fusion``,
``adaptive``, ``smart_turn``, ``livekit``). The strategy feeds it what the user aggregator
sees — audio, VAD start/stop, and the ``RecognizerEventsFrame``s of ``TradeSTTService`` — in
media time, counted in samples of caller audio as in the evaluation's replay, and ends the
turn at the first audio frame past the detector's due time at which the recognizer has also
decoded the audio up to the speech end (so the turn's last words are in it; at most
``CATCH_UP_S`` later). Which detector wins on which data: ``turn_taking/RESULTS.md``.
"""

from __future__ import annotations

from pipecat.frames.frames import (
    Frame,
    InputAudioRawFrame,
    VADUserStartedSpeakingFrame,
    VADUserStoppedSpeakingFrame,
)
from pipecat.turns.types import ProcessFrameResult
from pipecat.turns.user_stop.base_user_turn_stop_strategy import BaseUserTurnStopStrategy

from asr.audio import SAMPLE_RATE, from_pcm16, resample
from asr.events import Final, Partial, SentenceEnd
from integrations.pipecat.stt import RecognizerEventsFrame
from turn_taking.detectors import EndOfTurnDetector, create_detector


CATCH_UP_S = 1.0  # longest wait past the due time for the recognizer to reach the speech end


class TradeTurnStopStrategy(BaseUserTurnStopStrategy):
    def __init__(self, detector: str | EndOfTurnDetector = "adaptive", **options):
        """``detector``: a detector name (``options`` go to it) or a detector instance."""
        super().__init__()
        self.detector = create_detector(detector, **options) if isinstance(detector, str) else detector
        # only acoustic detectors (the peers' turn models) take the audio: skip the conversion otherwise
        self._hears_audio = type(self.detector).on_audio is not EndOfTurnDetector.on_audio
        self.media_s = 0.0  # seconds of caller audio seen
        self._words: list[str] = []  # committed words of the current turn
        self._partial = ""
        self._speech_end_s = 0.0
        self._decoded_s: float | None = None  # None: no recognizer that reports it

    async def process_frame(self, frame: Frame) -> ProcessFrameResult:
        if isinstance(frame, InputAudioRawFrame):
            if self._hears_audio:
                pcm = resample(from_pcm16(frame.audio, frame.num_channels), frame.sample_rate, SAMPLE_RATE)
                self.detector.on_audio(pcm, self.media_s)
            self.media_s += frame.num_frames / frame.sample_rate
            due = self.detector.turn_end_due_s()
            if due is not None and due <= self.media_s and self._caught_up(due):
                self._forget_turn()
                await self.trigger_user_turn_stopped()
        elif isinstance(frame, VADUserStartedSpeakingFrame):
            self.detector.on_speech_start(max(0.0, self.media_s - frame.start_secs))
        elif isinstance(frame, VADUserStoppedSpeakingFrame):
            self._speech_end_s = max(0.0, self.media_s - frame.stop_secs)
            self.detector.on_speech_end(self._speech_end_s)
        elif isinstance(frame, RecognizerEventsFrame):
            self._recognized(frame)
        return ProcessFrameResult.CONTINUE

    def _caught_up(self, due: float) -> bool:
        return (self._decoded_s is None or self._decoded_s >= self._speech_end_s
                or self.media_s >= due + CATCH_UP_S)

    def _recognized(self, frame: RecognizerEventsFrame):
        now = self.media_s
        self._decoded_s = frame.decoded_s
        for e in frame.events:
            if isinstance(e, Final):
                self._words += [w.text for w in e.words]
                self._partial = ""
            elif isinstance(e, Partial):
                self._partial = e.text
            elif isinstance(e, SentenceEnd):
                self.detector.on_sentence_end(e.mark, e.time_s, now)
        if frame.events:
            self.detector.on_transcript(" ".join([*self._words, self._partial]).strip(), not self._partial, now)
        if frame.end_probability is not None:
            self.detector.on_end_probability(frame.end_probability, now)

    async def handle_user_turn_stopped(self):  # also when another strategy or the timeout ended it
        self._forget_turn()

    def _forget_turn(self):
        self.detector.reset()
        self._words, self._partial = [], ""
