"""The voice-end model (how finished the caller's voice sounds at a pause): its head, the
cross-fitting that keeps a policy from trusting it more than on a new voice, the learned
policy reading it, and the agent scoring live pauses as the evaluation does."""

import asyncio
from types import SimpleNamespace

import numpy as np
import pytest

from agent.config import TurnConfig
from agent.frames import InputAudioRawFrame, VADUserStartedSpeakingFrame, VADUserStoppedSpeakingFrame
from agent.pipeline import Pipeline
from agent.runner import PipelineTask
from agent.turns import UserTurnProcessor
from asr.audio import trim_silence
from asr.voices import load_voice
from tests.conftest import Collector
from turn_taking.detectors import create_detector
from turn_taking.detectors.learned import BASIS, EVIDENCE, FEATURES, VOICE, VOICE_FEATURES, load_weights
from turn_taking.eval.voice import PauseFeatures, attach, out_of_fold
from turn_taking.learn import save
from turn_taking.replay import Signal, replay, signals
from turn_taking.trace import CallerTrace, speech_regions
from turn_taking.tracker import TurnTracker
from turn_taking.voice_end import (CONTEXT_S, HEARD_S, NAME, POOLING, SHIPPED, Head, PauseAudio, VoiceEndModel,
                                   load_head)


def _auc(score, y):
    pos, neg = score[y == 1], score[y == 0]
    return float(np.mean(pos[:, None] > neg[None, :]))


def test_the_head_separates_what_it_can_and_reads_back_what_it_wrote(rng, tmp_path):
    x = rng.normal(size=(400, 6))
    y = (x[:, 0] - 0.5 * x[:, 3] + 0.3 * rng.normal(size=400) > 0).astype(float)
    head = Head.fit(x[:300] * 7 + 3, y[:300], fit_on="blobs")  # standardised inside: scale does not matter
    held = head(x[300:] * 7 + 3)
    assert _auc(held, y[300:]) > 0.95 and ((held > 0.5) == y[300:]).mean() > 0.85
    head.save(tmp_path / "head.json")
    again = load_head(tmp_path / "head.json")
    assert np.allclose(again(x * 7 + 3), head(x * 7 + 3), atol=1e-4)
    assert again.about == {"pooling": POOLING, "fit_on": "blobs"}
    (tmp_path / "bad.json").write_text(f'{{"mean": [0, 0], "scale": [1, 1], "w": [1, 2], "pooling": "{POOLING}"}}')
    with pytest.raises(ValueError, match="fit-voice"):
        load_head(tmp_path / "bad.json")
    # a head fit before the pooling changed
    (tmp_path / "old.json").write_text('{"mean": [0], "scale": [1], "w": [1, 2]}')
    with pytest.raises(ValueError, match="other features.*fit-voice"):
        load_head(tmp_path / "old.json")


def test_out_of_fold_scores_each_voice_with_a_head_that_never_heard_it(rng):
    """Voice A ends its turns with the feature low, the other voices with it high. A head that
    heard A scores A's ends well; the head out of fold, fit on the others alone, gets them
    backwards, as a policy would meet it on a new voice."""
    dialogues, pauses = [], {}
    for k, voice in enumerate(["espeak:en-a+f1?rate=150", "espeak:en-b", "festival:c", "piper:d"] * 5):
        y = np.array([0, 1, 0, 1])
        silences = [SimpleNamespace(start=2.0 * i, end=2.0 * i + 1.0, label="eot" if e else "hold")
                    for i, e in enumerate(y)]
        dialogues.append(SimpleNamespace(id=f"d{k}", caller_voice=voice, silences=silences))
        sign = -1 if voice.startswith("espeak:en-a") else 1
        x = np.stack([sign * (2 * y - 1) + 0.2 * rng.normal(size=4), rng.normal(size=4)], 1)
        pauses[f"d{k}"] = PauseFeatures(np.array([2.0 * i for i in range(4)]), x, np.zeros(4))
    heads = out_of_fold(dialogues, pauses)
    a = [d.id for d in dialogues if d.caller_voice.startswith("espeak:en-a")]
    x_a, y_a = np.concatenate([pauses[i][1] for i in a]), np.tile([0, 1, 0, 1], len(a))
    assert _auc(heads[a[0]](x_a), y_a) < 0.2  # fit without voice A
    assert _auc(Head.fit(x_a, y_a)(x_a), y_a) > 0.95
    others = [d.id for d in dialogues if d.id not in a]
    assert all(_auc(heads[i](pauses[i][1]), np.array([0, 1, 0, 1])) == 1.0 for i in others)
    with pytest.raises(ValueError, match="more caller voices"):
        out_of_fold([d for d in dialogues if d.id in a], {i: pauses[i] for i in a})


def _voice_weights(path, voice_weight=40.0):
    """A learned policy that reads the voice alone: the turn is over when the voice says so."""
    w = np.zeros((len(VOICE_FEATURES), len(BASIS)))
    w[VOICE_FEATURES.index("bias"), 0] = -3.0
    w[VOICE_FEATURES.index("voice_logit"), 0] = voice_weight
    save(w, path, EVIDENCE + VOICE, command="test")
    return path


def _take_after(detector, voice_p: float, scored_onset: float, text: str = "my number is five five five") -> float:
    onset = 1.0
    sigs = [Signal(0.0, "speech_start", (0.0,)), Signal(onset, "speech_end", (onset,)),
            Signal(onset + 0.05, "transcript", (text, "")),
            Signal(onset + HEARD_S, f"turn_score:{NAME}", (voice_p, scored_onset, HEARD_S)),
            Signal(onset + 5.0, "speech_start", (onset + 5.0,))]
    (take, *_) = replay(sigs, detector)
    return take.at - onset


def test_the_learned_policy_weighs_the_voice_of_this_pause_only(tmp_path):
    weights = _voice_weights(tmp_path / "voice.json")
    assert load_weights(weights)[1] == EVIDENCE + VOICE
    detector = create_detector("learned", weights=str(weights), threshold=0.5, max_ms=2000)
    text_only = tmp_path / "text.json"
    save(np.zeros((len(FEATURES), len(BASIS))), text_only, command="test")
    assert detector.reads_voice and create_detector("learned").reads_voice  # the shipped weights read it
    assert not create_detector("learned", weights=str(text_only)).reads_voice
    assert _take_after(detector, 0.95, 1.0) == pytest.approx(HEARD_S)  # a falling voice: at once
    assert _take_after(detector, 0.05, 1.0) == pytest.approx(2.0)  # a held one: the longest wait
    assert _take_after(detector, 0.95, 0.4) == pytest.approx(2.0)  # a score of another pause is not this one's
    adaptive = create_detector("adaptive", complete_ms=100, unknown_ms=800)  # reads no voice, whatever it hears
    assert _take_after(adaptive, 0.95, 1.0) == _take_after(adaptive, 0.05, 1.0) == pytest.approx(0.8)



def test_a_voice_score_reaches_the_policy_once_the_encoder_has_run(tmp_path):
    """The evaluation stamps each pause's score with the encoder time it took, as the agent's
    thread delivers it: a policy that reads the voice alone can take the turn no sooner."""
    probs = [0.0] * 5 + [0.9] * 30 + [0.0] * 60
    weights = _voice_weights(tmp_path / "voice.json")
    head = Head(np.zeros(1), np.ones(1), np.array([0.0, 5.0]))  # every pause sounds finished
    takes = []
    for compute in (0.0, 0.12):
        trace = CallerTrace(id="d", duration=3.0, vad=probs, recognizer="r", compute_s=0.1, events=[], peers={})
        onset = speech_regions(np.asarray(probs), 3.0)[0][1]
        attach({"d": trace}, {"d": PauseFeatures(np.array([onset]), np.zeros((1, 1)), np.array([compute]))}, head)
        detector = create_detector("learned", weights=str(weights), threshold=0.5, max_ms=2000)
        (take, *_) = replay(signals(trace), detector)
        takes.append(take.at - onset)
    assert takes == pytest.approx([HEARD_S, HEARD_S + 0.12])

def _phrase(voice, text):
    return trim_silence(voice.synthesize(text).audio)


@pytest.mark.models
def test_the_shipped_head_hears_a_finished_sentence_fall_and_a_held_phrase_not(rng):
    """A caller voice the head was not fit on (espeak's Scottish English), reading one breath:
    the pause after a finished request against the pause inside a phone number. As in a call, the
    caller was quiet before speaking (while the bot spoke): the model reads the pause against
    the seconds before it."""
    model = VoiceEndModel()
    voice = load_voice("espeak:en-gb-scotland+m3?rate=150")
    before, silence = np.zeros(2 * 16000, np.float32), np.zeros(int(HEARD_S * 16000), np.float32)
    ends, holds = [], []
    for text, held in [("I would like to cancel my order, please.", "my number is five five five,"),
                       ("That is everything, thank you.", "I was wondering if,"),
                       ("It arrived broken yesterday.", "the code is two four,")]:
        ends.append(model(np.concatenate([before, _phrase(voice, text), silence])))
        holds.append(model(np.concatenate([before, _phrase(voice, held), silence])))
    assert all(0 <= p <= 1 for p in ends + holds)
    assert min(ends) > max(holds), (ends, holds)
    assert load_head(SHIPPED).about["command"].startswith("python -m turn_taking fit-voice")


@pytest.mark.models
async def test_the_agent_scores_a_pause_from_the_audio_it_heard_as_the_evaluation_does(tmp_path):
    model = VoiceEndModel()
    config = TurnConfig(detector="learned", detector_options={})
    detector = create_detector("learned", weights=str(_voice_weights(tmp_path / "v.json", voice_weight=0.0)))
    turns, sink = UserTurnProcessor(config, detector=detector, voice=model), Collector()
    task = PipelineTask(Pipeline([turns, sink]))
    runner = asyncio.create_task(task.run())
    await asyncio.sleep(0.02)
    speech = _phrase(load_voice("festival:kal"), "Please send it to my home address.")
    audio = np.concatenate([np.zeros(8000, np.float32), speech, np.zeros(16000, np.float32)])
    onset = (8000 + len(speech)) / 16000
    scores = []
    detector.on_turn_score = lambda p, onset_s, heard_s, t_s: scores.append((p, onset_s, heard_s))
    await task.queue_frame(VADUserStartedSpeakingFrame(speech_start_s=0.5))
    for i in range(0, len(audio), 320):
        if i / 16000 <= onset < (i + 320) / 16000:
            await task.queue_frame(VADUserStoppedSpeakingFrame(speech_end_s=onset))
        await task.queue_frame(InputAudioRawFrame(audio=audio[i:i + 320], sample_rate=16000, pts_s=i / 16000))
    async with asyncio.timeout(5):
        while not scores:
            await asyncio.sleep(0.01)
    await asyncio.sleep(0.1)
    ((p, at, heard),) = scores  # once per pause
    assert at == onset and heard == HEARD_S
    assert p == pytest.approx(model(audio[:round((onset + HEARD_S) * 16000)]), abs=1e-6)
    await task.cancel()
    await runner


def test_the_shipped_policy_takes_a_finished_sounding_pause_sooner_than_a_held_one():
    for text in ("I'd like a refund.", "My number is four five two"):
        due = {p: _take_after(create_detector("learned"), p, 1.0, text) for p in (0.05, 0.5, 0.95)}
        assert due[0.95] < due[0.5] < due[0.05], (text, due)


def test_pause_audio_hands_each_pause_over_once_as_heard_s_of_it_arrives(rng):
    audio = rng.normal(size=16000 * 10).astype(np.float32)
    pauses, got = PauseAudio(), []
    pauses.speech_stopped(3.0)
    pauses.speech_started()  # the caller went on: no score is due for that pause
    pauses.speech_stopped(8.0)
    for i in range(0, len(audio), 320):
        pauses.push(audio[i:i + 320], i / 16000)
        if due := pauses.due():
            got.append(due)
    ((onset, clip),) = got
    end = round((8.0 + HEARD_S) * 16000)
    assert onset == 8.0 and len(clip) >= (CONTEXT_S + HEARD_S) * 16000
    assert np.array_equal(clip, audio[end - len(clip):end])
    assert len(clip) < (PauseAudio.KEEP_S + 0.1) * 16000  # older audio is let go


@pytest.mark.models
def test_the_framework_adapters_tracker_scores_a_pause_from_the_audio_it_was_given():
    model = VoiceEndModel()
    tracker = TurnTracker("learned", voice=model)  # the shipped policy weighs the voice
    assert tracker.hears_audio and not TurnTracker("adaptive").hears_audio
    scores = []
    tracker.detector.on_turn_score = lambda p, onset_s, heard_s, t_s: scores.append((p, onset_s, heard_s))
    speech = _phrase(load_voice("festival:kal"), "Please send it to my home address.")
    audio = np.concatenate([np.zeros(8000, np.float32), speech, np.zeros(16000, np.float32)])
    onset = (8000 + len(speech)) / 16000
    tracker.speech_started(0.5)
    for i in range(0, len(audio), 320):
        if i / 16000 <= onset < (i + 320) / 16000:
            tracker.speech_stopped(onset)
        tracker.on_audio(audio[i:i + 320], i / 16000)
    ((p, at, heard),) = scores
    assert at == onset and heard == HEARD_S
    assert p == pytest.approx(model(audio[:round((onset + HEARD_S) * 16000)]), abs=1e-6)
