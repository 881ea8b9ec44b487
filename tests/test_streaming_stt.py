"""The agent's streaming STT processor on the real TRADE checkpoint and Silero VAD: what it
sends the user-turn processor for two stretches of speech, on a call clock that does not
start at zero (a browser call's first audio arrives some time into the call)."""

import asyncio

import numpy as np
import pytest

from agent.frames import (
    EndFrame,
    InputAudioRawFrame,
    InterimTranscriptionFrame,
    RecognizerEventsFrame,
    TranscriptionFrame,
    VADUserPausedFrame,
    VADUserStoppedSpeakingFrame,
)
from agent.config import STTConfig, VADConfig
from agent.pipeline import Pipeline
from agent.runner import PipelineTask
from agent.stt import StreamingSTTProcessor, stt_processors
from agent.vad import VADProcessor
from asr.audio import FRAME_SAMPLES, SAMPLE_RATE
from asr.eval.wer import word_errors
from asr.events import SentenceEnd
from tests.conftest import Collector

pytestmark = pytest.mark.models
T0_S, LEAD_S, PAUSE_S = 5.0, 0.6, 1.5


async def _transcribe(trade, audio: np.ndarray, vad: VADConfig = VADConfig(), stt=None, finals: int = 0) -> Collector:
    """Every frame the STT sends (TRADE's, unless ``stt``), the audio pushed as fast as the graph
    takes it; the call ends once ``finals`` transcripts are out (a segmented recognizer's come
    from a worker, and the end cancels work in flight)."""
    sink = Collector()
    task = PipelineTask(Pipeline([VADProcessor(vad), *(stt or [StreamingSTTProcessor(recognizer=trade)]), sink]))
    runner = asyncio.create_task(task.run())
    for i in range(0, len(audio), FRAME_SAMPLES):
        await task.queue_frame(InputAudioRawFrame(audio=audio[i:i + FRAME_SAMPLES], sample_rate=SAMPLE_RATE,
                                                  pts_s=T0_S + i / SAMPLE_RATE))
    async def transcribed():
        while len(sink.of(TranscriptionFrame)) < finals:
            await asyncio.sleep(0.05)

    await asyncio.wait_for(transcribed(), 60)
    await task.queue_frame(EndFrame())
    await asyncio.wait_for(runner, 120)
    return sink


def test_one_final_per_stretch_of_speech_with_its_sentence_ends(trade, speech):
    clips, lines = speech
    pad = lambda s: np.zeros(int(SAMPLE_RATE * s), np.float32)  # noqa: E731
    audio = np.concatenate([pad(LEAD_S), clips[0], pad(PAUSE_S), clips[2], pad(PAUSE_S)])
    first_end = T0_S + LEAD_S + len(clips[0]) / SAMPLE_RATE
    sink = asyncio.run(_transcribe(trade, audio))

    finals, stops = sink.of(TranscriptionFrame), [f.speech_end_s for f in sink.of(VADUserStoppedSpeakingFrame)]
    # each final covers a VAD speech end, in order, the last one included: what the turn
    # processor waits for (a pause the caller ends before the words are committed joins the next)
    ends = [f.segment_end_s for f in finals]
    assert set(ends) <= set(stops) and ends == sorted(ends) and ends[-1] == stops[-1], (ends, stops)
    said = [[f for f in finals if f.segment_end_s < first_end + PAUSE_S / 2],
            [f for f in finals if f.segment_end_s > first_end + PAUSE_S / 2]]
    for part, line in zip(said, [lines[0], lines[2]]):
        text = " ".join(f.text for f in part)
        assert word_errors(line, text).wer < 0.4, (line, text)
        assert text.rstrip()[-1] in ".?!", text  # the sentence's mark joins its words
    # word times are on the call's clock (it started at T0_S), inside their stretch of speech
    words = said[0][0].words
    assert T0_S + LEAD_S - 0.5 <= words[0].start_s and said[0][-1].words[-1].end_s <= first_end + 0.5, words
    assert said[1][0].words[0].start_s > first_end
    # while the caller spoke: interim text, and the recognizer's evidence for the detector
    assert sink.of(InterimTranscriptionFrame)
    marks = [e for f in sink.of(RecognizerEventsFrame) for e in f.events if isinstance(e, SentenceEnd)]
    assert any(abs(m.time_s - first_end) < 0.6 for m in marks), (marks, first_end)
    # at the VAD's stop (200 ms of silence), not a chunk and a look-ahead later: the stream closes there
    first = min((m for m in marks if abs(m.time_s - first_end) < 0.6), key=lambda m: m.emitted_s)
    assert first.emitted_s <= stops[0] + 0.2 + 0.04, (first, stops[0])
    assert all(f.end_probability is None or 0 <= f.end_probability <= 1 for f in sink.of(RecognizerEventsFrame))


def test_with_vad_pauses_the_mark_comes_before_the_stop_and_the_words_stay(trade, speech):
    """``vad.pause_ms``: the VAD reports a short silence before its stop (again each time it
    lasts another ``pause_ms``), the stream decodes what it has there, and the sentence's mark
    goes out before the stop is known; the pause decode works on copies, so the words are those
    of a call without pauses."""
    clips, _ = speech
    pad = lambda s: np.zeros(int(SAMPLE_RATE * s), np.float32)  # noqa: E731
    audio = np.concatenate([pad(LEAD_S), clips[0], pad(PAUSE_S)])
    plain, paused = (asyncio.run(_transcribe(trade, audio, VADConfig(pause_ms=ms))) for ms in (None, 96))

    assert not plain.of(VADUserPausedFrame)
    pauses, stops = paused.of(VADUserPausedFrame), paused.of(VADUserStoppedSpeakingFrame)
    # the 200 ms stop comes after pauses at 96 and 192 ms of the same silence
    assert [p.pause_start_s for p in pauses] == [s.speech_end_s for s in stops for _ in (96, 192)] != [], \
        (pauses, stops)
    marks = [e for f in paused.of(RecognizerEventsFrame) for e in f.events if isinstance(e, SentenceEnd)]
    assert marks and marks[0].emitted_s < stops[0].speech_end_s + 0.2, (marks, stops)  # the stop: 200 ms on
    assert [f.text for f in paused.of(TranscriptionFrame)] == [f.text for f in plain.of(TranscriptionFrame)]


def test_final_words_can_come_from_a_segmented_recognizer_while_the_stream_drives_turns(trade, models, speech):
    """``stt.final_recognizer``: TRADE still sends its partials and sentence-end events, and the
    one final transcript per stretch of speech is faster-whisper's of that VAD segment."""
    clips, lines = speech
    pad = lambda s: np.zeros(int(SAMPLE_RATE * s), np.float32)  # noqa: E731
    audio = np.concatenate([pad(LEAD_S), clips[1], pad(PAUSE_S)])
    heard = []

    class Whisper:  # the bundled faster-whisper, noting what it transcribed
        def transcribe(self, pcm):
            heard.append(models.final_recognizer.transcribe(pcm))
            return heard[-1]

    config = STTConfig(recognizer="trade", final_recognizer="faster-whisper")
    sink = asyncio.run(_transcribe(trade, audio, stt=stt_processors(config, trade, Whisper()), finals=1))

    finals, stops = sink.of(TranscriptionFrame), sink.of(VADUserStoppedSpeakingFrame)
    assert [f.segment_end_s for f in finals] == [s.speech_end_s for s in stops] != []
    assert [f.text for f in finals] == [t.text for t in heard], (finals, heard)
    assert word_errors(lines[1], finals[0].text).wer < 0.2, finals[0].text
    assert sink.of(InterimTranscriptionFrame)
    assert any(isinstance(e, SentenceEnd) for f in sink.of(RecognizerEventsFrame) for e in f.events)
