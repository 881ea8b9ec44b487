"""MQTT turn events against a real mosquitto on loopback (installed by `make sysdeps`):
auth, order, and nothing lost or duplicated when the broker is stopped and restarted mid-call."""

import asyncio
import json

import pytest

from integrations.mqtt import SCHEMA_VERSION, CallRecorder, EventError, MQTTConfig, TurnEventPublisher, parse_event
from agent.frames import (
    BotStartedSpeakingFrame,
    BotStoppedSpeakingFrame,
    FrameDirection,
    InterruptionFrame,
    UserStoppedSpeakingFrame,
    UserTurnFrame,
)
from agent.turn_events import EventStamper, TurnEventObserver, make_event
from tests.broker import mqtt_config, recorded, wait_for


def test_schema_validates_and_says_what_is_wrong():
    e = make_event("end_of_utterance", call_id="c1", seq=3, media_time_s=4.2, wall_time=1.0, text="hi",
                   latency_ms=310.0, detector="fusion")
    assert parse_event(e.model_dump_json()) == e
    with pytest.raises(EventError, match="unknown turn event"):
        make_event("lunch", call_id="c1", seq=1, media_time_s=0, wall_time=0)
    with pytest.raises(EventError, match="seq"):
        parse_event(e.model_dump_json().replace('"seq":3', '"seq":0'))
    with pytest.raises(EventError, match="turn event"):
        parse_event(b"{not json")
    with pytest.raises(EventError):
        parse_event(json.dumps({**json.loads(e.model_dump_json()), "v": 2}))
    with pytest.raises(ValueError):
        MQTTConfig(prefix="calls/#")


class Sink:
    """Keeps each event as a consumer would read it: sent as JSON and parsed back."""

    def __init__(self):
        self.stamp, self.events = EventStamper("c1"), []

    def emit(self, kind, media_time_s, **fields):
        self.events.append(parse_event(self.stamp(kind, media_time_s, **fields).model_dump_json()))
        return self.events[-1]


def test_a_turn_that_goes_on_says_it_replaces_the_last_end_of_utterance():
    sink = Sink()
    observer = TurnEventObserver(sink, "adaptive")
    for i, (text, continues) in enumerate([("Great, thank you.", None), ("Great, thank you. Goodbye!", 1)], 1):
        for frame in (UserStoppedSpeakingFrame(speech_end_s=float(i), turn_index=i),
                      UserTurnFrame(text=text, turn_index=i, speech_end_s=float(i), continues_turn=continues)):
            observer.on_push_frame(None, None, frame, FrameDirection.DOWNSTREAM, i + 0.4)
    eou = [e for e in sink.events if e.event == "end_of_utterance"]
    assert [(e.text, e.continues_previous, e.latency_ms) for e in eou] == [
        ("Great, thank you.", False, 400.0), ("Great, thank you. Goodbye!", True, 400.0)]


def test_a_barge_in_says_what_the_caller_heard_of_the_reply():
    """The words come from the output's stop (what played), the time from the interruption."""
    sink = Sink()
    observer = TurnEventObserver(sink, "adaptive")
    frames = [(BotStartedSpeakingFrame(pts_s=1.0), 1.0), (InterruptionFrame(), 2.5), (InterruptionFrame(), 2.6),
              (BotStoppedSpeakingFrame(interrupted=True, text="Sure, I can", pts_s=2.55), 2.55),
              (InterruptionFrame(withdrawn=True), 3.0),  # a reply withdrawn before it played: no barge-in
              (BotStartedSpeakingFrame(pts_s=4.0), 4.0), (BotStoppedSpeakingFrame(text="Bye.", pts_s=5.0), 5.0)]
    for frame, wall_s in frames:
        observer.on_push_frame(None, None, frame, FrameDirection.UPSTREAM, wall_s)
    assert [(e.event, e.media_time_s) for e in sink.events] == [
        ("bot_started_speaking", 1.0), ("barge_in", 2.5), ("bot_stopped_speaking", 2.55),
        ("bot_started_speaking", 4.0), ("bot_stopped_speaking", 5.0)]
    assert sink.events[1].bot_text_heard == "Sure, I can" and sink.events[2].interrupted


def test_broker_urls(monkeypatch):
    c = MQTTConfig.from_url("mqtt://agent:p%40ss@broker.local:1884/acme/calls")
    assert (c.host, c.port, c.username, c.password.get_secret_value(), c.prefix) == (
        "broker.local", 1884, "agent", "p@ss", "acme/calls")
    monkeypatch.setenv("MQTT_PASSWORD", "from-env")
    c = MQTTConfig.from_url("mqtt://agent@localhost")
    assert (c.port, c.password.get_secret_value(), c.prefix) == (1883, "from-env", "trade/calls")
    for bad in ("http://localhost", "mqtt://", "mqtt://localhost/calls/#"):
        with pytest.raises(ValueError):
            MQTTConfig.from_url(bad)


@pytest.mark.asyncio
async def test_events_arrive_in_order_once_across_a_broker_restart(broker, tmp_path):
    config = mqtt_config(broker)
    out = tmp_path / "call.jsonl"
    recorder = CallRecorder(config, out)
    rec_task = asyncio.create_task(recorder.run())
    await asyncio.wait_for(recorder.subscribed.wait(), 10)
    pub = TurnEventPublisher(config, "call-42")
    await pub.start()
    kinds = ["speech_started", "partial_transcript", "final_transcript", "speech_stopped", "end_of_utterance",
             "bot_reply", "barge_in"]
    fields = {"partial_transcript": {"text": "my order"}, "final_transcript": {"text": "my order number"},
              "end_of_utterance": {"text": "my order number", "latency_ms": 320.0, "detector": "fusion"},
              "bot_reply": {"text": "Let me check."}, "barge_in": {"bot_text_heard": "Let me"}}
    n = 140
    for i in range(n):
        kind = kinds[i % len(kinds)]
        pub.emit(kind, media_time_s=i * 0.05, **fields.get(kind, {}))
        if i == 40:
            await wait_for(lambda: len(recorded(out)) >= 20, 10)
            broker.stop()  # mid-call: the publisher must buffer, the recorder reconnect
        if i == 90:
            await asyncio.sleep(1.0)  # past the publisher's ack timeout: it knows the broker is gone
            assert pub.buffered > 0 and not pub.connected.is_set()
            broker.start()
        await asyncio.sleep(0.01)
    assert await pub.close(timeout_s=15) == 0
    await wait_for(lambda: len(recorded(out)) >= n, 15)
    await asyncio.sleep(0.3)  # anything duplicated would arrive now
    rec_task.cancel()
    await asyncio.gather(rec_task, return_exceptions=True)
    rows = recorded(out)
    assert [r["seq"] for r in rows] == list(range(1, n + 1))
    assert [r["event"] for r in rows] == [kinds[i % len(kinds)] for i in range(n)]
    assert all(r["call_id"] == "call-42" and r["v"] == SCHEMA_VERSION for r in rows)
    assert recorder.gaps == 0 and recorder.invalid == 0


@pytest.mark.asyncio
async def test_wrong_password_keeps_events_buffered(broker):
    pub = TurnEventPublisher(mqtt_config(broker).model_copy(update={"password": None}), "call-1")
    await pub.start()
    pub.emit("speech_started", media_time_s=0.1)
    await asyncio.sleep(0.5)
    assert pub.buffered == 1 and pub.delivered == 0 and not pub.connected.is_set()
    assert await pub.close(timeout_s=0.2) == 1


@pytest.mark.asyncio
async def test_recorder_drops_duplicates_and_invalid_messages(broker, tmp_path):
    config = mqtt_config(broker)
    out = tmp_path / "dups.jsonl"
    recorder = CallRecorder(config, out, call_id="c9", client_id="dup-test")
    task = asyncio.create_task(recorder.run())
    await asyncio.wait_for(recorder.subscribed.wait(), 10)
    e1 = make_event("speech_started", call_id="c9", seq=1, media_time_s=0, wall_time=0)
    e2 = make_event("speech_stopped", call_id="c9", seq=2, media_time_s=1, wall_time=0)
    async with config.client() as client:
        for payload in [e1.model_dump_json(), e1.model_dump_json(), b"garbage", e2.model_dump_json()]:
            await client.publish("test/calls/c9/x", payload, qos=1)
    await wait_for(lambda: len(recorded(out)) == 2 and recorder.invalid == 1, 10)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert recorder.duplicates == 1 and [r["seq"] for r in recorded(out)] == [1, 2]


def test_the_recognizers_semantic_signal_becomes_turn_events():
    from agent.frames import RecognizerEventsFrame
    from asr.events import Partial, SentenceEnd

    sink = Sink()
    observer = TurnEventObserver(sink, "adaptive")
    frames = [RecognizerEventsFrame(events=[Partial("my order", 1.0)], end_probability=0.02),
              RecognizerEventsFrame(events=[], end_probability=0.04),  # moved too little to send
              RecognizerEventsFrame(events=[SentenceEnd(".", 2.31, 2.9)], end_probability=0.81)]
    for i, frame in enumerate(frames):
        observer.on_push_frame(None, None, frame, None, wall_s=3.0 + i)
        observer.on_push_frame(None, None, frame, None, wall_s=3.5 + i)  # the same frame further on: once
    assert [(e.event, getattr(e, "p", None) or getattr(e, "mark", None)) for e in sink.events] == [
        ("end_probability", 0.02), ("sentence_end", "."), ("end_probability", 0.81)]
    assert sink.events[1].audio_time_s == 2.31 and sink.events[1].media_time_s == 5.0
