"""LiveKit Agents integration on the real library (livekit-agents), without a server: our STT
plugin's speech events on a WAV, the turn-detector plugin, and a real AgentSession with
custom audio input and output through a full caller → bot turn."""

import asyncio

import numpy as np
import pytest
from livekit import rtc
from livekit.agents import llm, stt

from agent.config import VADConfig
from asr.audio import SAMPLE_RATE, resample
from asr.eval.wer import word_errors
from integrations.livekit import TradeSTT, TradeTurnDetector

pytestmark = pytest.mark.models
LEAD_S, PAUSE_S, TAIL_S = 0.5, 1.5, 2.0


@pytest.fixture(scope="module")
def two_turns(speech):
    """Two caller turns at 8 kHz (LiveKit's stream resamples for the recognizer); true speech ends."""
    clips, lines = speech
    pad = lambda s: np.zeros(int(SAMPLE_RATE * s), np.float32)  # noqa: E731
    audio = np.concatenate([pad(LEAD_S), clips[0], pad(PAUSE_S), clips[2], pad(TAIL_S)])
    ends = [LEAD_S + len(clips[0]) / SAMPLE_RATE, LEAD_S + (len(clips[0]) + len(clips[2])) / SAMPLE_RATE + PAUSE_S]
    return (resample(audio, SAMPLE_RATE, 8000) * 32767).astype(np.int16), [lines[0], lines[2]], ends


async def _speech_events(plugin: TradeSTT, pcm16: np.ndarray, sr: int):
    """Push 20 ms frames as fast as the stream takes them; events with the audio time they came at."""
    stream, events, fed = plugin.stream(), [], {"s": 0.0}

    async def read():
        async for e in stream:
            events.append((fed["s"], e))

    reader = asyncio.create_task(read())
    step = sr // 50
    for i in range(0, len(pcm16), step):
        stream.push_frame(rtc.AudioFrame(pcm16[i:i + step].tobytes(), sr, 1, len(pcm16[i:i + step])))
        fed["s"] = (i + step) / sr
        await asyncio.sleep(0.02)  # real time: decoding keeps up, as in a call
    stream.end_input()
    await asyncio.wait_for(reader, 30)
    return events


@pytest.mark.parametrize("pause_ms", [None, 96], ids=["stop-only", "vad-pauses"])
def test_stt_plugin_streams_two_turns_each_ended_by_our_detector(trade, two_turns, pause_ms):
    pcm16, lines, ends = two_turns
    plugin = TradeSTT(recognizer=trade, detector="adaptive", vad=VADConfig(pause_ms=pause_ms))
    events = asyncio.run(_speech_events(plugin, pcm16, 8000))
    kinds = [e.type for _, e in events]
    starts = [t for t, e in events if e.type == stt.SpeechEventType.START_OF_SPEECH]
    stops = [t for t, e in events if e.type == stt.SpeechEventType.END_OF_SPEECH]
    assert len(starts) == len(stops) == 2, kinds
    for start, stop, end in zip(starts, stops, ends):
        assert start < end < stop < end + 2.0  # never before the caller stopped, and not long after
    for k, (said, start, stop) in enumerate(zip(lines, starts, [*stops[:1], float("inf")])):
        finals = [e.alternatives[0] for t, e in events
                  if e.type == stt.SpeechEventType.FINAL_TRANSCRIPT and start <= t <= stop]
        text = " ".join(f.text for f in finals)
        assert word_errors(said, text).wer < 0.4, (said, text)  # the plumbing, not accuracy
        assert all(f.words and f.start_time <= f.end_time for f in finals)  # word times ride along
        assert not any(f.text[0] in ".,?!" for f in finals), text  # punctuation joins its word
    first_final = next(t for t, e in events if e.type == stt.SpeechEventType.FINAL_TRANSCRIPT)
    assert first_final < ends[0], "no words before the caller finished: the recognizer did not stream"


def test_stt_plugin_sends_the_uncommitted_tail_as_an_interim(trade):
    """The shipped checkpoint commits most words as soon as they end, so a short call may have
    no uncommitted tail at all; the recognizer's partial text must still reach LiveKit."""
    from asr.events import Partial

    async def go():
        stream = TradeSTT(recognizer=trade).stream()
        stream._send_transcripts([Partial("call me at", 1.0)])
        event = await asyncio.wait_for(stream.__anext__(), 10)
        await stream.aclose()
        return event

    event = asyncio.run(go())
    assert event.type == stt.SpeechEventType.INTERIM_TRANSCRIPT and event.alternatives[0].text == "call me at"


def test_turn_detector_plugin_reads_the_live_recognizer_and_the_tail(trade, speech):
    clips, _ = speech
    plugin = TradeSTT(recognizer=trade)
    detector = TradeTurnDetector(plugin)
    pcm16 = (np.concatenate([np.zeros(SAMPLE_RATE // 2, np.float32), clips[3], np.zeros(SAMPLE_RATE, np.float32)])
             * 32767).astype(np.int16)
    asyncio.run(_speech_events(plugin, pcm16, SAMPLE_RATE))

    def chat(text):
        ctx = llm.ChatContext()
        ctx.add_message(role="user", content=text)
        return ctx

    def p_end(d, text):
        return asyncio.run(d.predict_end_of_turn(chat(text)))

    # after a finished sentence the recognizer's evidence says the turn is likely over
    assert p_end(detector, "Thank you, that is all for today.") >= asyncio.run(detector.unlikely_threshold())
    assert p_end(detector, "I would like to change my order and") == 0.0  # no sentence ends on "and"
    assert p_end(detector, "My order number is 452.") == 0.0  # a number still being dictated
    assert p_end(detector, "My email is olga.") == 0.0  # an address without its domain
    unheard = TradeTurnDetector(TradeSTT(recognizer=trade))  # no stream yet: the punctuation decides
    assert p_end(unheard, "Thank you.") == 1.0 and p_end(unheard, "Thank you") == unheard.threshold
    assert asyncio.run(detector.supports_language("en")) and not asyncio.run(detector.supports_language("de"))


def test_agent_session_answers_a_caller_turn_from_a_wav(trade, speech):
    """A real AgentSession (our STT ending the turn, bundled SmolLM2 and Piper), with LiveKit
    AudioInput/AudioOutput implementations on a WAV and on the call clock."""
    from integrations.livekit.call import run_wav_call

    clips, lines = speech
    end_s = LEAD_S + len(clips[0]) / SAMPLE_RATE
    audio = np.concatenate([np.zeros(int(LEAD_S * SAMPLE_RATE), np.float32), clips[0], np.zeros(SAMPLE_RATE, np.float32)])
    call = asyncio.run(asyncio.wait_for(run_wav_call((audio * 32767).astype(np.int16), SAMPLE_RATE,
                                                     stt=TradeSTT(recognizer=trade)), 120))
    assert [m["role"] for m in call.messages] == ["user", "assistant"], call.messages
    assert word_errors(lines[0], call.messages[0]["content"]).wer < 0.4, call.messages
    assert [line.who for line in call.lines] == ["caller", "bot"]
    assert end_s < call.lines[0].t_s < end_s + 2.0  # the turn ended after the caller did, promptly
    voiced = np.flatnonzero(np.abs(call.bot) > 0.02) / SAMPLE_RATE
    assert len(voiced) and voiced[0] >= call.lines[0].t_s  # the bot spoke, after the turn ended
    assert voiced[-1] - voiced[0] > 1.0 and voiced[-1] <= len(call.caller) / SAMPLE_RATE  # all of it was heard


def test_a_recognizer_that_cannot_stream_is_refused():
    with pytest.raises(ValueError, match="does not stream"):
        TradeSTT(recognizer_name="faster-whisper")


def test_join_token_lets_the_identity_into_the_room(monkeypatch):
    from livekit import api

    from integrations.livekit.__main__ import join_token

    secret = "a-secret-of-at-least-32-characters!"
    monkeypatch.setenv("LIVEKIT_API_KEY", "key")
    monkeypatch.setenv("LIVEKIT_API_SECRET", secret)
    claims = api.TokenVerifier("key", secret).verify(join_token("support", "caller-1", ttl_minutes=5))
    assert claims.identity == "caller-1" and claims.video.room == "support" and claims.video.room_join
    monkeypatch.delenv("LIVEKIT_API_SECRET")
    with pytest.raises(SystemExit, match="LIVEKIT_API_SECRET"):
        join_token("support", "caller-1")


def test_wav_command_refuses_a_missing_recording(tmp_path, capsys):
    from integrations.livekit.__main__ import main

    assert main(["wav", "--wav", str(tmp_path / "nope.wav"), "--out", str(tmp_path)]) == 2
    assert "cannot use" in capsys.readouterr().err
