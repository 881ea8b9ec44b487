"""The audio output reports the reply as the caller hears it: each sentence when its first
sample plays, and on a stop the words played so far."""

import asyncio

import numpy as np
import pytest

from agent.frames import (
    BotStartedSpeakingFrame,
    BotStoppedSpeakingFrame,
    InterruptionFrame,
    TTSAudioRawFrame,
    TTSStartedFrame,
    TTSStoppedFrame,
    TTSTextFrame,
)
from agent.pipeline import Pipeline
from agent.runner import PipelineTask
from agent.transport import AudioOutput, CallRecorder
from asr.audio import SAMPLE_RATE
from tests.conftest import Collector

SENTENCES = [("One two three four.", 1.0), ("Five six.", 0.5)]  # (text, seconds of audio)


async def _play(cut_after_s: float | None):
    """Queue both sentences (a constant 0.5 tone each) and, with ``cut_after_s``, interrupt that
    long after the first sample played. Returns the frames seen upstream and downstream of the
    output, and how many samples played."""
    upstream, downstream, recorder = Collector(name="up"), Collector(name="down"), CallRecorder()
    task = PipelineTask(Pipeline([upstream, AudioOutput(recorder), downstream]))
    runner = asyncio.create_task(task.run())
    await task.queue_frame(TTSStartedFrame(context_id=1))
    for text, seconds in SENTENCES:
        await task.queue_frame(TTSTextFrame(text=text, context_id=1))
        audio = np.full(int(seconds * SAMPLE_RATE), 0.5, np.float32)
        for i in range(0, len(audio), 640):
            await task.queue_frame(TTSAudioRawFrame(audio=audio[i:i + 640], sample_rate=SAMPLE_RATE, context_id=1))
    await task.queue_frame(TTSStoppedFrame(context_id=1))
    async with asyncio.timeout(10):
        while not upstream.of(BotStartedSpeakingFrame):
            await asyncio.sleep(0.005)
        if cut_after_s is not None:
            await asyncio.sleep(cut_after_s)
            await task.queue_frame(InterruptionFrame())
        while not upstream.of(BotStoppedSpeakingFrame):
            await asyncio.sleep(0.005)
    await task.stop_when_done()
    await asyncio.wait_for(runner, 10)
    played = int(np.sum(recorder.channel("bot") > 0.25))
    return upstream, downstream, played


def _heard(played: int) -> tuple[list[str], str]:
    """The sentences begun and the words heard after ``played`` samples, worked out by hand."""
    begun, words, start = [], [], 0
    for text, seconds in SENTENCES:
        n = int(seconds * SAMPLE_RATE)
        if played <= start:
            break
        begun.append(text)
        said = text.split()
        words += said[:int(min(1.0, (played - start) / n) * len(said))]
        start += n
    return begun, " ".join(words)


@pytest.mark.parametrize("cut_after_s", [0.45, 1.2])
def test_a_cut_reply_reports_the_words_played(cut_after_s):
    upstream, downstream, played = asyncio.run(_play(cut_after_s))
    (stop,) = upstream.of(BotStoppedSpeakingFrame)
    begun, heard = _heard(played)
    assert stop.interrupted and 0 < played < 1.5 * SAMPLE_RATE
    assert stop.text == heard and heard, (played, stop.text)
    assert [f.text for f in downstream.of(TTSTextFrame)] == begun  # a sentence never played is never passed on


def test_a_reply_played_to_the_end_reports_all_of_it():
    upstream, downstream, played = asyncio.run(_play(None))
    (stop,) = upstream.of(BotStoppedSpeakingFrame)
    assert not stop.interrupted and played == 1.5 * SAMPLE_RATE
    assert stop.text == "One two three four. Five six."
    assert [f.text for f in downstream.of(TTSTextFrame)] == [t for t, _ in SENTENCES]


def test_a_sentence_is_passed_on_when_it_starts_to_play_not_when_queued():
    async def run():
        upstream, downstream = Collector(name="up"), Collector(name="down")
        task = PipelineTask(Pipeline([upstream, AudioOutput(), downstream]))
        runner = asyncio.create_task(task.run())
        await task.queue_frame(TTSStartedFrame(context_id=1))
        await task.queue_frame(TTSTextFrame(text="Hello there.", context_id=1))
        await asyncio.sleep(0.3)
        waiting = len(downstream.of(TTSTextFrame))  # queued, no audio yet
        await task.queue_frame(TTSAudioRawFrame(audio=np.full(3200, 0.5, np.float32), sample_rate=SAMPLE_RATE))
        await task.queue_frame(TTSStoppedFrame(context_id=1))
        await task.stop_when_done()
        await asyncio.wait_for(runner, 10)
        return waiting, downstream.of(TTSTextFrame), upstream.of(BotStoppedSpeakingFrame)

    waiting, passed, (stop,) = asyncio.run(run())
    assert waiting == 0 and [f.text for f in passed] == ["Hello there."] and stop.text == "Hello there."
