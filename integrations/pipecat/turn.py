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
decoded the audio up to the speech end (``turn_taking.tracker.TurnTracker``, shared with the
LiveKit plugin). Which detector wins on which data: ``turn_taking/RESULTS.md``.
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
from integrations.pipecat.stt import RecognizerEventsFrame
from turn_taking.detectors import EndOfTurnDetector
from turn_taking.tracker import TurnTracker


class TradeTurnStopStrategy(BaseUserTurnStopStrategy):
    def __init__(self, detector: str | EndOfTurnDetector = "adaptive", **options):
        """``detector``: a detector name (``options`` go to it) or a detector instance."""
        super().__init__()
        self.turn = TurnTracker(detector, **options)
        self.media_s = 0.0  # seconds of caller audio seen

    async def process_frame(self, frame: Frame) -> ProcessFrameResult:
        if isinstance(frame, InputAudioRawFrame):
            if self.turn.hears_audio:
                pcm = resample(from_pcm16(frame.audio, frame.num_channels), frame.sample_rate, SAMPLE_RATE)
                self.turn.on_audio(pcm, self.media_s)
            self.media_s += frame.num_frames / frame.sample_rate
            if self.turn.turn_over(self.media_s):
                await self.trigger_user_turn_stopped()
        elif isinstance(frame, VADUserStartedSpeakingFrame):
            self.turn.speech_started(max(0.0, self.media_s - frame.start_secs))
        elif isinstance(frame, VADUserStoppedSpeakingFrame):
            self.turn.speech_stopped(max(0.0, self.media_s - frame.stop_secs))
        elif isinstance(frame, RecognizerEventsFrame):
            self.turn.recognized(frame.events, frame.end_probability, frame.decoded_s, self.media_s)
        return ProcessFrameResult.CONTINUE

    async def handle_user_turn_stopped(self):  # also when another strategy or the timeout ended it
        self.turn.reset()
