"""Silero VAD timing on real speech, and the user-turn processor's decisions."""

import asyncio

import numpy as np
import pytest

from agent.config import TurnConfig, VADConfig
from agent.frames import (
    BotAudioPauseFrame,
    BotAudioResumeFrame,
    BotStartedSpeakingFrame,
    BotStoppedSpeakingFrame,
    FrameDirection,
    InterimTranscriptionFrame,
    InterruptionFrame,
    RecognizerEventsFrame,
    TranscriptionFrame,
    UserStartedSpeakingFrame,
    UserStoppedSpeakingFrame,
    UserTurnFrame,
    VADUserStartedSpeakingFrame,
    VADUserStoppedSpeakingFrame,
)
from agent.pipeline import Pipeline
from agent.runner import PipelineTask
from agent.turns import UserTurnProcessor
from agent.vad import VADProcessor
from asr.audio import trim_silence
from asr.events import SentenceEnd
from asr.voices import load_voice
from turn_taking.bargein import BargeInPolicy
from asr.vad import SileroVAD
from tests.conftest import Collector


@pytest.fixture(scope="module")
def silero():
    return SileroVAD()


def test_vad_marks_true_speech_onsets_and_pauses(silero):
    voice = load_voice("espeak:en-us+f2?rate=150")
    a = trim_silence(voice.synthesize("Hello, I need help with my order.").audio)
    # a plosive onset: espeak adds random jitter, and a weak vowel onset ("It has …") fell below
    # Silero's threshold for its first 200 ms in about one synthesis in five
    b = trim_silence(voice.synthesize("Please check it again today.").audio)
    sil = lambda s: np.zeros(int(s * 16000), np.float32)  # noqa: E731
    audio = np.concatenate([sil(1.0), a, sil(1.2), b, sil(1.0)])
    truth = [(1.0, 1.0 + len(a) / 16000), (2.2 + len(a) / 16000, 2.2 + (len(a) + len(b)) / 16000)]
    vad = VADProcessor(VADConfig(start_ms=100, stop_ms=300), vad=silero)
    silero.reset()
    events = []
    for i in range(0, len(audio), 320):
        events += vad.analyze(audio[i:i + 320], i / 16000)
    starts = [e.speech_start_s for e in events if isinstance(e, VADUserStartedSpeakingFrame)]
    stops = [e.speech_end_s for e in events if isinstance(e, VADUserStoppedSpeakingFrame)]
    assert len(starts) == 2 and len(stops) == 2, events
    for (t0, t1), s, e in zip(truth, starts, stops):
        assert abs(s - t0) < 0.1 and abs(e - t1) < 0.15, (t0, t1, s, e)


def test_vad_rejects_wrong_rate(silero):
    from agent.frames import InputAudioRawFrame

    vad = VADProcessor(vad=silero)
    with pytest.raises(ValueError, match="16000 Hz"):
        asyncio.run(vad.process_frame(InputAudioRawFrame(audio=np.zeros(441, np.float32), sample_rate=44100),
                                      None))


async def _turn_task(end_silence_ms=300):
    turns, sink = UserTurnProcessor(TurnConfig(detector="silence", end_silence_ms=end_silence_ms)), Collector()
    task = PipelineTask(Pipeline([turns, sink]))
    runner = asyncio.create_task(task.run())
    await asyncio.sleep(0.02)
    return task, turns, sink, runner


async def test_a_late_transcript_is_waited_for_not_split():
    task, turns, sink, runner = await _turn_task(end_silence_ms=100)
    now = task.clock.now()
    await task.queue_frame(VADUserStartedSpeakingFrame(speech_start_s=now))
    await task.queue_frame(VADUserStoppedSpeakingFrame(speech_end_s=now + 0.01))
    await asyncio.sleep(0.4)  # the silence timer is long past; the transcript is not here yet
    assert not sink.of(UserTurnFrame)
    await task.queue_frame(TranscriptionFrame(text="my order is late", pts_s=now))
    async with asyncio.timeout(2):
        while not sink.of(UserTurnFrame):
            await asyncio.sleep(0.01)
    (turn,) = sink.of(UserTurnFrame)
    assert turn.text == "my order is late" and len(sink.of(UserStoppedSpeakingFrame)) == 1
    await task.cancel()
    await runner


async def test_transcripts_arriving_while_the_turn_waits_for_them_all_join_it_at_once():
    """The timer has run out at the second stretch's stop and the turn waits for transcripts;
    the first one re-decides the pause (cancelling that wait as it wakes) and the second follows
    at once. Both join the turn, taken without waiting out the transcript deadline."""
    task, turns, sink, runner = await _turn_task(end_silence_ms=50)
    now = task.clock.now()
    await task.queue_frame(VADUserStartedSpeakingFrame(speech_start_s=now - 2.0))
    await task.queue_frame(VADUserStoppedSpeakingFrame(speech_end_s=now - 1.0))
    await task.queue_frame(VADUserStartedSpeakingFrame(speech_start_s=now - 0.8))
    await task.queue_frame(VADUserStoppedSpeakingFrame(speech_end_s=now))
    await asyncio.sleep(0.2)  # past the timer: the decision waits for both transcripts
    await task.queue_frame(TranscriptionFrame(text="Great, thank you so much.", segment_end_s=now - 1.0))
    await task.queue_frame(TranscriptionFrame(text="Goodbye!", segment_end_s=now))
    async with asyncio.timeout(1.0):  # the transcript deadline is 5 s
        while not sink.of(UserTurnFrame):
            await asyncio.sleep(0.01)
    assert [t.text for t in sink.of(UserTurnFrame)] == ["Great, thank you so much. Goodbye!"]
    await task.cancel()
    await runner


async def test_speech_resuming_inside_the_timer_continues_the_turn():
    task, turns, sink, runner = await _turn_task(end_silence_ms=300)
    now = task.clock.now()
    await task.queue_frame(VADUserStartedSpeakingFrame(speech_start_s=now))
    await task.queue_frame(VADUserStoppedSpeakingFrame(speech_end_s=now))
    await asyncio.sleep(0.02)
    await task.queue_frame(TranscriptionFrame(text="my number is four five", pts_s=now))
    await asyncio.sleep(0.1)
    await task.queue_frame(VADUserStartedSpeakingFrame(speech_start_s=now + 0.1))
    await task.queue_frame(VADUserStoppedSpeakingFrame(speech_end_s=now + 0.2))
    await asyncio.sleep(0.02)  # as in the graph: a segment's transcript follows its VAD stop
    await task.queue_frame(TranscriptionFrame(text="six seven", pts_s=now))
    async with asyncio.timeout(2):
        while not sink.of(UserTurnFrame):
            await asyncio.sleep(0.01)
    await asyncio.sleep(0.4)
    assert [t.text for t in sink.of(UserTurnFrame)] == ["my number is four five six seven"]
    assert len(sink.of(UserStartedSpeakingFrame)) == 1
    await task.cancel()
    await runner


async def _say(task, text: str):
    """A stretch of caller speech ending now, and its transcript."""
    now = task.clock.now()
    await task.queue_frame(VADUserStartedSpeakingFrame(speech_start_s=now - 0.5))
    await task.queue_frame(VADUserStoppedSpeakingFrame(speech_end_s=now))
    await asyncio.sleep(0.02)
    await task.queue_frame(TranscriptionFrame(text=text, segment_end_s=now))


async def _turns_taken(sink, n: int) -> list[UserTurnFrame]:
    async with asyncio.timeout(2):
        while len(sink.of(UserTurnFrame)) < n:
            await asyncio.sleep(0.01)
    return sink.of(UserTurnFrame)


async def test_speech_before_the_reply_plays_withdraws_it_and_the_turn_goes_on():
    """Taken at a pause, the turn's reply is still being prepared when the caller goes on: the
    reply is cut (unheard) and the caller's words so far open the next turn, which says it
    continues the first. Once a reply has played, new speech is a turn of its own."""
    task, turns, sink, runner = await _turn_task(end_silence_ms=100)
    await _say(task, "Great, thank you so much.")
    (first,) = await _turns_taken(sink, 1)
    assert first.continues_turn is None and not sink.of(InterruptionFrame)
    await _say(task, "Goodbye!")
    second = (await _turns_taken(sink, 2))[1]
    (withdrawn,) = sink.of(InterruptionFrame)
    assert withdrawn.withdrawn and not sink.of(UserStartedSpeakingFrame)[1].interrupted_bot  # nothing had played
    assert (second.text, second.continues_turn) == ("Great, thank you so much. Goodbye!", first.turn_index)
    await turns.queue_frame(BotStartedSpeakingFrame(pts_s=task.clock.now()), FrameDirection.UPSTREAM)
    await turns.queue_frame(BotStoppedSpeakingFrame(pts_s=task.clock.now()), FrameDirection.UPSTREAM)
    await asyncio.sleep(0.02)
    await _say(task, "Thanks.")
    third = (await _turns_taken(sink, 3))[2]
    assert (third.text, third.continues_turn) == ("Thanks.", None) and len(sink.of(InterruptionFrame)) == 1
    await task.cancel()
    await runner


async def _bot_speaking(config: TurnConfig):
    """A turn processor whose bot is speaking, and what it pushes."""
    turns, sink = UserTurnProcessor(config), Collector()
    task = PipelineTask(Pipeline([turns, sink]))
    runner = asyncio.create_task(task.run())
    await asyncio.sleep(0.02)
    await turns.queue_frame(BotStartedSpeakingFrame(pts_s=0.0), FrameDirection.UPSTREAM)
    await asyncio.sleep(0.01)
    return turns, sink, task, runner


async def _caller_over_bot(config: TurnConfig):
    """As ``_bot_speaking``, then the caller starts talking; also returns the onset."""
    turns, sink, task, runner = await _bot_speaking(config)
    onset = turns.clock.now()
    await task.queue_frame(VADUserStartedSpeakingFrame(speech_start_s=onset))
    return turns, sink, task, runner, onset


async def _turn_text(sink) -> str:
    async with asyncio.timeout(2):
        while not sink.of(UserTurnFrame):
            await asyncio.sleep(0.01)
    return sink.of(UserTurnFrame)[0].text


CUT_AT_ONSET = BargeInPolicy(pause_on_speech=False, max_backchannel_s=0, keywords=False)
QUICK = BargeInPolicy(max_backchannel_s=0.3, resume_after_s=0.1)
SILENCE_100MS = TurnConfig(detector="silence", barge_in=QUICK, end_silence_ms=100)


async def test_the_cut_at_onset_policy_interrupts_at_once_unless_interruptions_are_off():
    for allow in (True, False):
        turns, sink, task, runner, _ = await _caller_over_bot(TurnConfig(allow_interruptions=allow,
                                                                         barge_in=CUT_AT_ONSET))
        await asyncio.sleep(0.05)
        assert bool(sink.of(InterruptionFrame)) is allow and not sink.of(BotAudioPauseFrame)
        assert sink.of(UserStartedSpeakingFrame)[0].interrupted_bot is allow
        await task.cancel()
        await runner


async def test_long_speech_over_the_bot_pauses_it_then_interrupts_and_opens_the_turn():
    turns, sink, task, runner, onset = await _caller_over_bot(SILENCE_100MS)
    await asyncio.sleep(0.1)
    assert sink.of(BotAudioPauseFrame) and not sink.of(InterruptionFrame)
    await asyncio.sleep(0.35)
    (cut,) = sink.of(InterruptionFrame)
    assert cut.speech_start_s == onset and cut.pts_s == pytest.approx(onset + 0.3, abs=0.05)
    assert sink.of(UserStartedSpeakingFrame)[0].interrupted_bot
    await task.queue_frame(VADUserStoppedSpeakingFrame(speech_end_s=turns.clock.now()))
    await task.queue_frame(TranscriptionFrame(text="I said the blue one", pts_s=turns.clock.now()))
    assert await _turn_text(sink) == "I said the blue one"
    await task.cancel()
    await runner


async def test_a_backchannel_pauses_the_bot_resumes_it_and_never_becomes_a_turn():
    turns, sink, task, runner, _ = await _caller_over_bot(SILENCE_100MS)
    await asyncio.sleep(0.1)
    await task.queue_frame(VADUserStoppedSpeakingFrame(speech_end_s=turns.clock.now()))
    await asyncio.sleep(0.2)
    assert sink.of(BotAudioPauseFrame) and sink.of(BotAudioResumeFrame)
    await task.queue_frame(TranscriptionFrame(text="Mhm.", pts_s=turns.clock.now()))  # arrives after the resume
    await asyncio.sleep(0.3)
    assert not sink.of(InterruptionFrame) and not sink.of(UserStartedSpeakingFrame) and not sink.of(UserTurnFrame)
    await task.cancel()
    await runner


async def test_an_interruption_word_cuts_the_bot_before_the_speech_is_long():
    turns, sink, task, runner, _ = await _caller_over_bot(TurnConfig(
        detector="silence", barge_in=BargeInPolicy(max_backchannel_s=5.0), end_silence_ms=100))
    await task.queue_frame(InterimTranscriptionFrame(text="okay", pts_s=turns.clock.now()))
    await asyncio.sleep(0.05)
    assert not sink.of(InterruptionFrame)
    await task.queue_frame(InterimTranscriptionFrame(text="okay wait", pts_s=turns.clock.now()))
    await asyncio.sleep(0.05)
    assert sink.of(InterruptionFrame)
    await task.queue_frame(VADUserStoppedSpeakingFrame(speech_end_s=turns.clock.now()))
    await task.queue_frame(TranscriptionFrame(text="Okay, wait, that's wrong.", pts_s=turns.clock.now()))
    assert await _turn_text(sink) == "Okay, wait, that's wrong."
    await task.cancel()
    await runner


def test_audio_history_slices_by_media_time_and_forgets_old_audio():
    from agent.stt import AudioHistory

    h = AudioHistory(max_s=1.0)
    for i in range(100):  # 2 s of 20 ms frames whose samples count up
        h.append(np.arange(i * 320, (i + 1) * 320, dtype=np.float32), i * 0.02)
    audio, t0 = h.slice(1.5, 1.6)
    assert t0 == pytest.approx(1.5) and len(audio) == 1600 and audio[0] == 1.5 * 16000
    audio, t0 = h.slice(0.0, 0.5)  # forgotten: more than max_s ago
    assert len(audio) == 0


async def _adaptive_turn_task():
    """A turn processor on our adaptive detector: 0.1 s after a finished sentence, 1.5 s when
    the recognizer has said nothing about the pause, 3 s after a dangling word."""
    config = TurnConfig(detector="adaptive", detector_options={"complete_ms": 100, "unknown_ms": 1500,
                                                               "incomplete_ms": 3000})
    turns, sink = UserTurnProcessor(config), Collector()
    task = PipelineTask(Pipeline([turns, sink]))
    runner = asyncio.create_task(task.run())
    await asyncio.sleep(0.02)
    return task, sink, runner


async def _pause_after(task, text: str, *, sentence_end: bool) -> float:
    """The caller says ``text`` and pauses; returns how long after the pause the turn was taken."""
    now = task.clock.now()
    await task.queue_frame(VADUserStartedSpeakingFrame(speech_start_s=now - 1.0))
    await task.queue_frame(InterimTranscriptionFrame(text=text))
    await task.queue_frame(VADUserStoppedSpeakingFrame(speech_end_s=now))
    await asyncio.sleep(0.05)  # the recognizer reaches the pause a little later
    events = [SentenceEnd(".", now - 0.05, task.clock.now())] if sentence_end else []
    await task.queue_frame(RecognizerEventsFrame(events=events, end_probability=0.05))
    await task.queue_frame(TranscriptionFrame(text=text + ("." if sentence_end else ""), segment_end_s=now))
    return now


async def test_a_sentence_end_from_the_recognizer_takes_the_turn_sooner():
    task, sink, runner = await _adaptive_turn_task()
    await _pause_after(task, "I want to change my delivery address", sentence_end=True)
    async with asyncio.timeout(0.6):  # well before the 1.5 s the detector waits without evidence
        while not sink.of(UserTurnFrame):
            await asyncio.sleep(0.01)
    assert sink.of(UserTurnFrame)[0].text == "I want to change my delivery address."
    await task.cancel()
    await runner

    task, sink, runner = await _adaptive_turn_task()  # the same words with no sentence end: it waits
    await _pause_after(task, "I want to change my delivery address", sentence_end=False)
    await asyncio.sleep(1.0)
    assert not sink.of(UserTurnFrame)
    await task.cancel()
    await runner


async def test_a_dangling_word_in_the_live_transcript_holds_the_turn():
    task, sink, runner = await _adaptive_turn_task()
    await _pause_after(task, "I want to change my address and", sentence_end=False)
    await asyncio.sleep(2.0)  # past the 1.5 s of an undecided pause
    assert not sink.of(UserTurnFrame)
    await task.cancel()
    await runner


async def test_a_final_transcript_that_finishes_the_live_one_re_decides_the_pause():
    """The live words end on a dangling "my" (a misheard "Goodbye"); the final transcript that
    follows (another recognizer's, as in the hybrid) reads as a finished sentence, so the turn is
    taken at the undecided 1.5 s, not the dangling word's 3 s."""
    task, sink, runner = await _adaptive_turn_task()
    now = task.clock.now()
    await task.queue_frame(VADUserStartedSpeakingFrame(speech_start_s=now - 1.0))
    await task.queue_frame(InterimTranscriptionFrame(text="Could my,"))
    await task.queue_frame(VADUserStoppedSpeakingFrame(speech_end_s=now))
    await asyncio.sleep(0.3)
    await task.queue_frame(TranscriptionFrame(text="Goodbye!", segment_end_s=now))
    async with asyncio.timeout(2.5):
        while not sink.of(UserTurnFrame):
            await asyncio.sleep(0.01)
    assert task.clock.now() - now >= 1.4 and sink.of(UserTurnFrame)[0].text == "Goodbye!"
    await task.cancel()
    await runner
