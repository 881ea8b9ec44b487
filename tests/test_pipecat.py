"""pipecat integration on the real library: a pipecat pipeline (its Silero VAD processor, our
TRADE STT service, its LLM user aggregator with our stop strategy) hears a WAV of two caller
turns in real time and must produce two user turns with their transcripts."""

import asyncio

import numpy as np
import pytest
import soundfile as sf
from pipecat.audio.vad.silero import SileroVADAnalyzer
from pipecat.frames.frames import (
    EndFrame,
    InputAudioRawFrame,
    TranscriptionFrame,
    UserStartedSpeakingFrame,
    UserStoppedSpeakingFrame,
)
from pipecat.pipeline.pipeline import Pipeline
from pipecat.pipeline.task import PipelineParams
from pipecat.pipeline.worker import PipelineWorker
from pipecat.processors.aggregators.llm_context import LLMContext
from pipecat.processors.aggregators.llm_response_universal import LLMContextAggregatorPair, LLMUserAggregatorParams
from pipecat.processors.audio.vad_processor import VADProcessor
from pipecat.processors.frame_processor import FrameProcessor
from pipecat.turns.user_turn_strategies import UserTurnStrategies
from pipecat.workers.runner import WorkerRunner

from asr.audio import SAMPLE_RATE, resample
from asr.events import Final
from asr.eval.wer import word_errors
from asr.recognizer import create_recognizer
from integrations.pipecat import RecognizerEventsFrame, TradeSTTService, TradeTurnStopStrategy
from integrations.wav_call import CallerFeed, Clock

pytestmark = pytest.mark.models
LEAD_S, PAUSE_S, TAIL_S = 0.5, 1.5, 2.0


class Seen(FrameProcessor):
    """Keeps every non-audio frame with the media time (seconds of audio fed) it arrived at."""

    def __init__(self, clock):
        super().__init__()
        self.clock, self.frames = clock, []

    async def process_frame(self, frame, direction):
        await super().process_frame(frame, direction)
        if not isinstance(frame, InputAudioRawFrame):
            self.frames.append((self.clock(), frame))
        await self.push_frame(frame, direction)

    def of(self, kind):
        return [(t, f) for t, f in self.frames if isinstance(f, kind)]


@pytest.fixture(scope="module")
def trade():
    return create_recognizer("trade", chunk_ms=640)


@pytest.fixture(scope="module")
def caller_wav(speech, tmp_path_factory):
    """Two caller turns in one telephone-rate WAV (8 kHz: the service resamples for the
    recognizer; pipecat's Silero takes 8 or 16 kHz); the true speech ends."""
    clips, lines = speech
    pad = lambda s: np.zeros(int(SAMPLE_RATE * s), np.float32)  # noqa: E731
    audio = np.concatenate([pad(LEAD_S), clips[0], pad(PAUSE_S), clips[2], pad(TAIL_S)])
    ends = [LEAD_S + len(clips[0]) / SAMPLE_RATE, LEAD_S + (len(clips[0]) + len(clips[2])) / SAMPLE_RATE + PAUSE_S]
    path = tmp_path_factory.mktemp("pipecat") / "caller.wav"
    sf.write(path, resample(audio, SAMPLE_RATE, 8000), 8000, subtype="PCM_16")
    return path, [lines[0], lines[2]], ends


async def _run_pipeline(wav, stt, strategy):
    pcm, sr = sf.read(wav, dtype="int16")
    clock = Clock()
    caller = CallerFeed(pcm, sr, clock)
    heard, seen = Seen(lambda: clock.fed_s), Seen(lambda: clock.fed_s)  # after the STT; after the aggregator
    context = LLMContext()
    user, _ = LLMContextAggregatorPair(context, user_params=LLMUserAggregatorParams(
        user_turn_strategies=UserTurnStrategies(stop=[strategy])))
    worker = PipelineWorker(Pipeline([VADProcessor(vad_analyzer=SileroVADAnalyzer()), stt, heard, user, seen]),
                            params=PipelineParams(audio_in_sample_rate=sr), idle_timeout_secs=None)
    runner = WorkerRunner(handle_sigint=False)
    await runner.add_workers(worker)

    async def play():
        await asyncio.sleep(0.5)  # the StartFrame has reached every processor
        while not caller.done:
            frame = await caller.next_frame()
            await worker.queue_frame(InputAudioRawFrame(audio=frame.tobytes(), sample_rate=sr, num_channels=1))
        await worker.queue_frame(EndFrame())

    await asyncio.wait_for(asyncio.gather(runner.run(), play()), 60)
    return heard, seen, [m["content"] for m in context.get_messages() if m["role"] == "user"]


@pytest.mark.parametrize("detector", ["silence", "adaptive"])
def test_pipecat_pipeline_takes_two_turns_with_their_transcripts(trade, caller_wav, detector):
    wav, lines, ends = caller_wav
    heard, seen, turns = asyncio.run(_run_pipeline(wav, TradeSTTService(recognizer=trade),
                                            TradeTurnStopStrategy(detector)))
    started, stopped = seen.of(UserStartedSpeakingFrame), seen.of(UserStoppedSpeakingFrame)
    assert len(started) == len(stopped) == 2, (ends, turns, [(t, type(f).__name__) for t, f in started + stopped])
    for (t_start, _), (t_stop, _), end in zip(started, stopped, ends):
        assert t_start < end < t_stop < end + 2.0  # never before the caller stopped, and not long after
    assert len(turns) == 2
    for said, text in zip(lines, turns):  # the plumbing, not the recognizer's accuracy (asr/RESULTS.md)
        assert word_errors(said, text).wer < 0.4, (said, text)
    finals = heard.of(TranscriptionFrame)
    assert finals[0][0] < ends[0], "no words before the caller finished: the recognizer did not stream"
    assert all(f.result.words for _, f in finals)  # word timings ride along
    assert heard.of(RecognizerEventsFrame) and not seen.of(TranscriptionFrame)  # the aggregator took them


def test_the_words_still_held_when_the_call_ends_are_flushed_at_end_frame(trade, speech, tmp_path):
    """The caller is cut off mid-sentence: no VAD pause follows, the EndFrame must flush."""
    from asr.utterances import UtteranceStreams

    clips, _ = speech
    # cut 60 % into "I would like to change my delivery address.": the last word or two have
    # not been decoded or committed when the audio stops
    audio = np.concatenate([np.zeros(SAMPLE_RATE // 2, np.float32), clips[0][:int(len(clips[0]) * 0.6)]])
    sf.write(wav := tmp_path / "cut.wav", audio, SAMPLE_RATE, subtype="PCM_16")
    direct = UtteranceStreams(trade)
    direct.speech_started(0.5)  # the same audio outside pipecat, the VAD's onset taken as exact
    pcm = sf.read(wav, dtype="float32")[0]
    before = [w.text for i in range(0, len(pcm), 320) for e in direct.push(pcm[i:i + 320])
              if isinstance(e, Final) for w in e.words]
    after = before + [w.text for e in direct.finish() if isinstance(e, Final) for w in e.words]
    assert len(after) > len(before)  # there is something to flush
    heard, _, _ = asyncio.run(_run_pipeline(wav, TradeSTTService(recognizer=trade), TradeTurnStopStrategy("silence")))
    words = [w.text for _, f in heard.of(TranscriptionFrame) for w in f.result.words]
    assert len(words) >= len(after) and word_errors(" ".join(after), " ".join(words)).wer < 0.3, (before, after, words)


def test_runnable_pipeline_answers_the_caller_with_the_bundled_llm_and_voice(trade, speech):
    """python -m integrations.pipecat's call: one caller turn, one spoken answer."""
    from integrations.pipecat.call import run_wav_call

    clips, lines = speech
    end_s = LEAD_S + len(clips[1]) / SAMPLE_RATE
    audio = np.concatenate([np.zeros(int(LEAD_S * SAMPLE_RATE), np.float32), clips[1],
                            np.zeros(SAMPLE_RATE, np.float32)])
    call = asyncio.run(asyncio.wait_for(run_wav_call(
        (audio * 32767).astype(np.int16), SAMPLE_RATE, stt=TradeSTTService(recognizer=trade)), 120))
    assert [m["role"] for m in call.messages] == ["user", "assistant"], call.messages
    assert word_errors(lines[1], call.messages[0]["content"]).wer < 0.4, call.messages
    assert [line.who for line in call.lines][:2] == ["caller", "bot"]
    assert end_s < call.lines[0].t_s < end_s + 2.0  # the turn ended after the caller did, promptly
    voiced = np.flatnonzero(np.abs(call.bot) > 0.02) / SAMPLE_RATE
    assert len(voiced) and voiced[0] >= call.lines[0].t_s  # the bot spoke, after the turn ended
    assert voiced[-1] - voiced[0] > 1.0 and voiced[-1] <= len(call.caller) / SAMPLE_RATE  # all of it was heard
    assert not np.any(call.caller[int(end_s * SAMPLE_RATE) + SAMPLE_RATE:])  # silence fed while the bot answered


def test_a_recognizer_that_cannot_stream_is_refused():
    with pytest.raises(ValueError, match="does not stream"):
        TradeSTTService(recognizer_name="faster-whisper")
    with pytest.raises(ValueError, match="unknown recognizer"):
        TradeSTTService(recognizer_name="nope")


def test_the_command_refuses_a_missing_recording(tmp_path, capsys):
    from integrations.pipecat.__main__ import main

    assert main(["--wav", str(tmp_path / "nope.wav"), "--out", str(tmp_path)]) == 2
    assert "cannot use" in capsys.readouterr().err
