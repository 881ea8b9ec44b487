"""One live user turn: an end-of-turn detector fed from VAD and a streaming recognizer as their
signals arrive, and the moment the turn is over.

The framework adapters (pipecat's stop strategy, LiveKit's STT) share it, so a detector
behaves the same in both and in the evaluation's replay. The turn ends at the first check
past the detector's due time at which the recognizer has also decoded the audio up to the
speech end, so the turn's last words are in it; a recognizer that lags gets at most
``CATCH_UP_S`` more. Times are media seconds of caller audio. A detector that weighs how
finished the caller's voice sounds (``reads_voice``) gets the voice-end model's score of each
pause as soon as its audio has arrived (``turn_taking.voice_end``).
"""

from __future__ import annotations

import numpy as np

from asr.audio import SAMPLE_RATE
from asr.events import Final, Partial, SentenceEnd, StreamEvent
from turn_taking.detectors import EndOfTurnDetector, create_detector
from turn_taking.voice_end import HEARD_S, PauseAudio, VoiceEndModel

CATCH_UP_S = 1.0  # longest wait past the due time for the recognizer to reach the speech end


class TurnTracker:
    def __init__(self, detector: str | EndOfTurnDetector = "adaptive", voice: VoiceEndModel | None = None,
                 **options):
        """``detector``: a name of ``turn_taking.detectors`` (``options`` go to it) or an instance;
        ``voice``: the voice-end model, for a detector that reads it (loaded here otherwise)."""
        self.detector = create_detector(detector, **options) if isinstance(detector, str) else detector
        reads_voice = getattr(self.detector, "reads_voice", False)
        self.voice = (voice or VoiceEndModel()) if reads_voice else None
        self._pause_audio = PauseAudio()
        # only acoustic detectors (the peers' turn models, the voice) take the audio: callers may skip it
        self.hears_audio = reads_voice or type(self.detector).on_audio is not EndOfTurnDetector.on_audio
        self._words: list[str] = []  # committed words of the current turn
        self._partial = ""
        self._speech_end_s = 0.0
        self._decoded_s: float | None = None  # None: a recognizer that does not report it

    @property
    def text(self) -> str:
        """The turn's words so far, committed and pending."""
        return " ".join([*self._words, self._partial]).strip()

    def on_audio(self, pcm: np.ndarray, t_s: float):
        self.detector.on_audio(pcm, t_s)
        if self.voice is None:
            return
        self._pause_audio.push(pcm, t_s)
        if due := self._pause_audio.due():
            onset, audio = due
            self.detector.on_turn_score(self.voice(audio), onset, HEARD_S, t_s + len(pcm) / SAMPLE_RATE)

    def speech_started(self, t_s: float):
        self._pause_audio.speech_started()
        self.detector.on_speech_start(t_s)

    def speech_stopped(self, t_s: float):
        self._speech_end_s = t_s
        self._pause_audio.speech_stopped(t_s)
        self.detector.on_speech_end(t_s)

    def recognized(self, events: list[StreamEvent], end_probability: float | None, decoded_s: float | None,
                   now_s: float):
        """What one recognizer step produced, known at ``now_s``."""
        self._decoded_s = decoded_s
        for e in events:
            if isinstance(e, Final):
                self._words += [w.text for w in e.words]
                self._partial = ""
            elif isinstance(e, Partial):
                self._partial = e.text
            elif isinstance(e, SentenceEnd):
                self.detector.on_sentence_end(e.mark, e.time_s, now_s)
        if events:
            self.detector.on_transcript(self.text, not self._partial, now_s)
        if end_probability is not None:
            self.detector.on_end_probability(end_probability, now_s)

    def turn_over(self, now_s: float) -> bool:
        """Whether the turn has ended by ``now_s``; if so, the tracker is ready for the next."""
        due = self.detector.turn_end_due_s()
        if due is None or due > now_s:
            return False
        caught_up = (self._decoded_s is None or self._decoded_s >= self._speech_end_s
                     or now_s >= due + CATCH_UP_S)
        if caught_up:
            self.reset()
        return caught_up

    def reset(self):
        """Forget the turn (it was taken, here or by another party)."""
        self.detector.reset()
        self._words, self._partial = [], ""
