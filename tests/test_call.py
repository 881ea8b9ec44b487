"""Integration: full simulated calls on the real bundled models (Silero, TRADE, Whisper tiny.en,
SmolLM2-135M, Piper joe, espeak-ng caller), plus failures injected into the responder and TTS.
The short call also publishes its turn events to a real mosquitto, which is stopped and
restarted mid-call."""

import asyncio
import json
import re

import numpy as np
import pytest
import soundfile as sf

from agent.call import run_call
from agent.cli import DEMO_SCENARIO
from agent.config import AgentConfig
from agent.frames import (
    BotStartedSpeakingFrame,
    BotStoppedSpeakingFrame,
    InterruptionFrame,
    LLMFullResponseEndFrame,
    LLMTextFrame,
    TTSAudioRawFrame,
    TTSTextFrame,
    UserTurnFrame,
)
from agent.metrics import METRICS
from agent.pipeline import Pipeline
from agent.responder import LLMResponder
from agent.runner import PipelineTask
from agent.scenario import load_scenario
from agent.transport import AudioOutput, CallRecorder
from agent.tts import TTSProcessor
from agent.turn_events import TurnEventObserver
from integrations.mqtt import CallRecorder as MQTTCallRecorder
from integrations.mqtt import TurnEventPublisher
from tests.broker import Broker, mqtt_config, recorded, wait_for
from tests.conftest import Collector
from tests.fakes.faulty import FlakyLM, FlakyVoice

pytestmark = pytest.mark.models
SHORT = DEMO_SCENARIO.parent / "short.yaml"


async def _call_publishing_turn_events(models, out, broker):
    """The short call with its turn events on MQTT. Once its first event is delivered, the broker
    goes down for 3 s, and stays down until an event is held (at most 20 s): a slow start of the
    call on a loaded machine must not let the outage pass with nothing to hold."""
    config = mqtt_config(broker)
    recorder = MQTTCallRecorder(config, out / "mqtt.jsonl")
    recording = asyncio.create_task(recorder.run())
    await asyncio.wait_for(recorder.subscribed.wait(), 10)
    publisher = TurnEventPublisher(config, "short-call")
    await publisher.start()
    held_while_down = []

    async def outage():
        await wait_for(lambda: publisher.delivered > 0, 60)  # the call is under way
        await asyncio.to_thread(broker.stop)
        await asyncio.sleep(3.0)
        for _ in range(850):  # 17 s more at most
            if publisher.buffered:
                break
            await asyncio.sleep(0.02)
        held_while_down.append(publisher.buffered)
        await asyncio.to_thread(broker.start)

    down = asyncio.create_task(outage())
    report = await run_call(load_scenario(str(SHORT)), AgentConfig(), out, models=models,
                            observers=[TurnEventObserver(publisher, AgentConfig().turn.detector)])
    await down
    assert await publisher.close(timeout_s=15) == 0
    await wait_for(lambda: len(recorded(out / "mqtt.jsonl")) >= publisher.delivered, 15)
    await asyncio.sleep(0.3)  # a duplicate would arrive now
    recording.cancel()
    await asyncio.gather(recording, return_exceptions=True)
    return report, held_while_down[0], recorder


@pytest.fixture(scope="module")
def short_call(models, tmp_path_factory):
    out = tmp_path_factory.mktemp("call")
    broker = Broker(tmp_path_factory.mktemp("mosquitto"))
    broker.start()
    try:
        report, held, recorder = asyncio.run(_call_publishing_turn_events(models, out, broker))
    finally:
        broker.stop()
    return out, report, held, recorder


def test_call_writes_events_audio_and_metrics(short_call):
    out, report, *_ = short_call
    events = [json.loads(line) for line in (out / "events.jsonl").read_text().splitlines()]
    assert events and all("wall_s" in e and "media_s" in e and "event" in e for e in events)
    audio, sr = sf.read(out / "call.wav")
    assert sr == 16000 and audio.ndim == 2 and audio.shape[1] == 2
    assert np.abs(audio[:, 0]).max() > 0.05 and np.abs(audio[:, 1]).max() > 0.05  # caller and bot both heard
    saved = json.loads((out / "metrics.json").read_text())
    assert saved["summary"] == report.summary and len(saved["turns"]) == 2
    assert (out / "latency.png").read_bytes()[:4] == b"\x89PNG"


def test_caller_words_are_transcribed_and_the_bot_answers(short_call):
    _, report, *_ = short_call
    caller = " ".join(t["text"].lower() for t in report.transcript if t["speaker"] == "caller")
    assert "help" in caller and "order" in caller and "repeat" in caller, caller
    bot = [t["text"] for t in report.transcript if t["speaker"] == "bot"]
    assert len(bot) >= 2 and all(b.strip() for b in bot)  # greeting + at least one real answer


def test_every_metric_is_present_and_positive(short_call):
    _, report, *_ = short_call
    for row in report.turns:
        for m in METRICS:
            assert row[m] is not None and row[m] > 0, (row["turn"], m, row)
    for m in METRICS:
        assert report.summary[m]["p50"] > 0 and report.summary[m]["p95"] >= report.summary[m]["p50"]


def test_barge_in_stops_bot_audio_within_200_ms(short_call):
    out, report, *_ = short_call
    barge = report.turns[1]
    assert barge["start"] == "barge_in"
    assert 0 <= barge["barge_in_stop_ms"] <= 200, barge
    events = [json.loads(line) for line in (out / "events.jsonl").read_text().splitlines()]
    stop = next(e for e in events if e["event"] == "BotStoppedSpeakingFrame" and e["interrupted"])
    restart = next((e["media_s"] for e in events if e["event"] == "BotStartedSpeakingFrame"
                    and e["media_s"] > stop["wall_s"]), stop["wall_s"] + 1.0)
    bot, _ = sf.read(out / "call.wav")
    # events stamp media time to 0.1 ms (1.6 samples): the restart's first sample may sit one before its stamp
    a, b = int((stop["wall_s"] + 0.05) * 16000), int((restart - 0.001) * 16000)
    assert b > a and np.abs(bot[a:b, 1]).max() < 1e-3, "bot audio kept playing after the barge-in"


def test_turn_events_reach_mqtt_once_in_order_across_a_broker_restart(short_call):
    out, report, held_while_down, recorder = short_call
    events = [json.loads(line) for line in (out / "events.jsonl").read_text().splitlines()]
    got = recorded(out / "mqtt.jsonl")
    assert held_while_down > 0, "no event was published while the broker was down"
    assert [e["seq"] for e in got] == list(range(1, len(got) + 1)) and recorder.gaps == 0
    kinds = [e["event"] for e in got]
    count = lambda kind: sum(e["event"] == kind for e in events)  # noqa: E731
    assert kinds.count("speech_started") == count("VADUserStartedSpeakingFrame")
    assert kinds.count("speech_stopped") == count("VADUserStoppedSpeakingFrame")
    eou = [e for e in got if e["event"] == "end_of_utterance"]
    assert [e["text"] for e in eou] == [e["text"] for e in events if e["event"] == "UserTurnFrame"]
    assert all(e["latency_ms"] > 0 and e["detector"] == "adaptive" for e in eou)
    barge = [e for e in got if e["event"] == "barge_in"]
    assert len(barge) == 1 and barge[0]["bot_text_heard"], barge
    # the call's transcript says what was said on the line: each reply played out in full, and the
    # one the caller cut as far as they heard it (a bot_reply comes only if its generation finished)
    words = lambda text: re.findall(r"[a-z0-9']+", text.lower())  # noqa: E731
    said = [t for t in report.transcript if t["speaker"] == "bot"]
    (cut,) = [t for t in said if t["interrupted"]]
    assert cut["text"] == barge[0]["bot_text_heard"]
    heard = words(cut["text"])
    replies = [words(e["text"]) for e in got if e["event"] == "bot_reply"]
    assert [words(t["text"]) for t in said if not t["interrupted"]] == [r for r in replies if r[:len(heard)] != heard]
    times = [e["media_time_s"] for e in got if e["event"] in ("speech_started", "speech_stopped")]
    assert times == sorted(times)


async def _respond_to(turns: list[str], lm, voice, config: AgentConfig):
    collector, recorder = Collector(), CallRecorder()
    tts = TTSProcessor(config.tts, voice=voice)
    task = PipelineTask(Pipeline([LLMResponder(config.llm, config.tts, lm=lm), tts, collector,
                                  AudioOutput(recorder)]))
    runner = asyncio.create_task(task.run())
    for i, text in enumerate(turns, 1):
        await task.queue_frame(UserTurnFrame(text=text, turn_index=i, speech_end_s=0.0))
    await task.stop_when_done()
    await asyncio.wait_for(runner, 60)
    return collector, recorder, tts


def test_responder_failure_plays_the_fallback_and_the_call_goes_on(models):
    config = AgentConfig()
    config.llm.greeting = ""
    collector, recorder, _ = asyncio.run(_respond_to(["hello", "where is my order"], FlakyLM(fail_on=(1,)),
                                                  models.voice, config))
    ends = collector.of(LLMFullResponseEndFrame)
    assert [e.text for e in ends] == [config.tts.fallback_text, "Your order ships tomorrow."]
    assert len(recorder.channel("bot")) > 16000 * 2  # both answers were spoken


def test_tts_failure_plays_thefallback_audio(models):
    config = AgentConfig()
    config.llm.greeting = ""
    voice = FlakyVoice(models.voice)
    collector, _, tts = asyncio.run(_respond_to(["hi", "again"], FlakyLM(reply="This will explode. Fine.", fail_on=()),
                                                voice, config))
    spoken = [f.text for f in collector.of(TTSTextFrame)]
    assert spoken == ["This will explode.", "Fine."] * 2  # the call went on after each failure
    audio = np.concatenate([f.audio for f in collector.of(TTSAudioRawFrame)])
    fallback = tts.fallback_audio
    assert np.array_equal(audio[:len(fallback)], fallback)  # the failed sentence became the fallback line
    assert len(audio) > 2 * len(fallback)


def test_a_turn_that_goes_on_replaces_its_first_part_and_the_withdrawn_reply(models):
    """The caller went on while the reply to "Great, thank you so much." was being generated:
    the model's history holds the whole turn once and only the reply the caller heard."""
    async def run():
        config = AgentConfig()
        config.llm.greeting = ""
        responder, sink = LLMResponder(config.llm, config.tts, lm=models.lm), Collector()
        task = PipelineTask(Pipeline([responder, sink]))
        runner = asyncio.create_task(task.run())
        await task.queue_frame(UserTurnFrame(text="Great, thank you so much.", turn_index=1, speech_end_s=0.0))
        async with asyncio.timeout(30):
            while not sink.of(LLMTextFrame):
                await asyncio.sleep(0.01)
        await task.queue_frame(InterruptionFrame())
        async with asyncio.timeout(5):  # the caller's next words come after it, not with it
            while not sink.of(InterruptionFrame):
                await asyncio.sleep(0.01)
        await task.queue_frame(UserTurnFrame(text="Great, thank you so much. Goodbye!", turn_index=2,
                                             speech_end_s=0.0, continues_turn=1))
        await task.stop_when_done()
        await asyncio.wait_for(runner, 60)
        return responder.history, sink

    history, sink = asyncio.run(run())
    (answered,) = sink.of(LLMFullResponseEndFrame)
    assert answered.turn_index == 2 and answered.text
    assert history == [{"role": "user", "content": "Great, thank you so much. Goodbye!"},
                       {"role": "assistant", "content": answered.text}]


def test_a_reply_cut_by_a_barge_in_is_remembered_as_far_as_the_caller_heard_it(models):
    """Real SmolLM2 and Piper: the caller talks over the reply after half a second of it; the
    model's history keeps only the words that played, not all that was generated."""
    async def run():
        config = AgentConfig()
        config.llm.greeting = ""
        responder, probe, recorder = LLMResponder(config.llm, config.tts, lm=models.lm), Collector(), CallRecorder()
        task = PipelineTask(Pipeline([responder, probe, TTSProcessor(config.tts, voice=models.voice),
                                      AudioOutput(recorder)]))
        runner = asyncio.create_task(task.run())
        await task.queue_frame(UserTurnFrame(text="What can you help me with today?", turn_index=1, speech_end_s=0.0))
        async with asyncio.timeout(60):
            while not probe.of(BotStartedSpeakingFrame):
                await asyncio.sleep(0.01)
            await asyncio.sleep(0.5)
            await task.queue_frame(InterruptionFrame())
            while not probe.of(BotStoppedSpeakingFrame):
                await asyncio.sleep(0.01)
        await task.stop_when_done()
        await asyncio.wait_for(runner, 60)
        return responder.history, probe

    history, probe = asyncio.run(run())
    (stop,) = probe.of(BotStoppedSpeakingFrame)
    generated = "".join(f.text for f in probe.of(LLMTextFrame)).split()
    heard = stop.text.split()
    assert stop.interrupted and 0 < len(heard) < len(generated), (stop.text, generated)
    assert heard == generated[:len(heard)]
    assert history == [{"role": "user", "content": "What can you help me with today?"},
                       {"role": "assistant", "content": stop.text}]
