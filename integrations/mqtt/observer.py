"""Turn the agent's frames into MQTT turn events, as the call happens.

``TurnEventObserver`` is a frame observer (``agent.processor.FrameObserver``): it sees every
frame pushed anywhere in the graph, keeps each frame once (a frame crosses several
processors), and hands the ones that mean something to a caller's turn to the publisher:

=================================  =====================================================
agent frame                        turn event
=================================  =====================================================
VADUserStartedSpeakingFrame        speech_started  (media time of the speech onset)
VADUserStoppedSpeakingFrame        speech_stopped  (media time of the silence onset)
InterimTranscriptionFrame          partial_transcript
TranscriptionFrame                 final_transcript
UserStoppedSpeakingFrame +         end_of_utterance, ``latency_ms`` from the VAD speech end
UserTurnFrame                      to the decision, ``text`` of the whole turn
LLMFullResponseEndFrame            bot_reply
InterruptionFrame while the bot    barge_in, ``bot_text_heard``: the reply's sentences sent
speaks                             to the audio output before it was cut
=================================  =====================================================

Publishing never blocks the call (``TurnEventPublisher.emit`` only appends to a buffer).
"""

from __future__ import annotations

from agent.frames import (
    BotStartedSpeakingFrame,
    BotStoppedSpeakingFrame,
    Frame,
    FrameDirection,
    InterimTranscriptionFrame,
    InterruptionFrame,
    LLMFullResponseEndFrame,
    LLMFullResponseStartFrame,
    TranscriptionFrame,
    TTSTextFrame,
    UserStoppedSpeakingFrame,
    UserTurnFrame,
    VADUserStartedSpeakingFrame,
    VADUserStoppedSpeakingFrame,
)
from agent.transport import AudioOutput
from integrations.mqtt.publisher import TurnEventPublisher


class TurnEventObserver:
    def __init__(self, publisher: TurnEventPublisher, detector: str):
        self.publisher, self.detector = publisher, detector
        self._seen: set[int] = set()
        self._decided_s: dict[int, float] = {}  # turn index → decision time
        self._bot_speaking = False
        self._bot_text: list[str] = []  # sentences of the current reply sent to the audio output

    def on_push_frame(self, src, dst, frame: Frame, direction: FrameDirection, wall_s: float):
        if isinstance(frame, TTSTextFrame) and isinstance(src, AudioOutput):
            self._bot_text.append(frame.text)  # the output has taken the sentence to play
        if frame.id in self._seen:
            return
        self._seen.add(frame.id)
        emit = self.publisher.emit
        if isinstance(frame, VADUserStartedSpeakingFrame):
            emit("speech_started", frame.speech_start_s)
        elif isinstance(frame, VADUserStoppedSpeakingFrame):
            emit("speech_stopped", frame.speech_end_s)
        elif isinstance(frame, InterimTranscriptionFrame) and frame.text:
            emit("partial_transcript", wall_s, text=frame.text)
        elif isinstance(frame, TranscriptionFrame) and frame.text:
            emit("final_transcript", wall_s, text=frame.text)
        elif isinstance(frame, UserStoppedSpeakingFrame):
            self._decided_s[frame.turn_index] = wall_s
        elif isinstance(frame, UserTurnFrame):
            decided = self._decided_s.pop(frame.turn_index, wall_s)
            emit("end_of_utterance", decided, text=frame.text, detector=self.detector,
                 latency_ms=round(max(0.0, decided - frame.speech_end_s) * 1000, 1))
        elif isinstance(frame, LLMFullResponseStartFrame):
            self._bot_text = []
        elif isinstance(frame, LLMFullResponseEndFrame) and frame.text:
            emit("bot_reply", wall_s, text=frame.text)
        elif isinstance(frame, BotStartedSpeakingFrame):
            self._bot_speaking = True
        elif isinstance(frame, BotStoppedSpeakingFrame):
            self._bot_speaking = False
        elif isinstance(frame, InterruptionFrame) and self._bot_speaking:
            emit("barge_in", wall_s, bot_text_heard=" ".join(self._bot_text))
