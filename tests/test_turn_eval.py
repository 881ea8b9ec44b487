"""``python -m turn_taking eval`` end to end on a few real dialogues: real Silero VAD, the shipped
TRADE recognizer and both peer models (pipecat Smart Turn v3.2, LiveKit v1-mini)."""

import json

import numpy as np
import pytest

from asr.eval.harness import voice_groups
from turn_taking.cli import main
from turn_taking.data.labels import read_dialogues
from turn_taking.data.build import build
from turn_taking.detectors import create_detector
from turn_taking.detectors.peers import PeerModels
from turn_taking.eval.report import trace_path
from turn_taking.eval.voice import base_voice
from turn_taking.trace import LISTENING, caller_channel, read_traces
from turn_taking.voice_end import POOLING, load_head
from asr.vad import STOP_MS

pytestmark = pytest.mark.models


@pytest.fixture(scope="module")
def labels(tmp_path_factory):
    out = tmp_path_factory.mktemp("dialogues")
    build(out, {"dev": 1, "test": 2}, workers=2)
    return out


def test_eval_writes_a_report_for_every_detector(labels, tmp_path, capsys):
    names = ["vad", "punct", "fusion", "adaptive", "learned", "smart_turn", "livekit"]
    assert main(["eval", "--dialogues", str(labels / "test.jsonl"), "--tune", str(labels / "dev.jsonl"),
                 "--out", str(tmp_path), "--workers", "1"]) == 0
    report = (tmp_path / "report.md").read_text()
    assert all(f"| {n} |" in report for n in names) and (tmp_path / "pareto.png").stat().st_size > 10_000
    summary = json.loads((tmp_path / "summary.json").read_text())
    for n in names:
        f1 = summary[n]["dev_chosen"]["best_f1"]
        assert 0 <= f1["cutoff_rate"] <= 1 and f1["eots"] > 0
        assert set(summary[n]["dev_sweep"]) == {"latency_at_5", "latency_at_10"}  # the dev points choices come from
    assert "| dev sweep: latency @5% / @10% |" in report
    voices = {voice_groups(d.caller_voice)[0] for d in read_dialogues(labels / "test.jsonl")}
    assert summary["vad"]["test_sweep"]["latency_at_5"]["holds_by_voice"].keys() <= voices
    assert all(v in report.split("## At the 5 % point")[1] for v in voices)
    assert "## TRADE protocol" in report and summary["fusion"]["trade_protocol"]["params"]["fallback_ms"] is None
    assert "## Barge-in" in report and set(summary["barge_in"]) == {"vad", "confirm", "pause_confirm"}
    assert "### Its sentence-end marks" in report and summary["sentence_end_marks"]["eots"] > 0
    voice = summary["voice_end"]  # the shipped learned policy weighs the voice: every pause was scored
    assert "## The voice-end model" in report and voice["ends"] > 0 and voice["holds"] > 0
    heard = summary["caller_wer"]  # the recognizer heard the callers' words, not just something
    assert "## The recognizer on the caller channel" in report and heard["words"] > 0 and heard["wer"] < 0.8
    traces = read_traces(trace_path(labels / "test.jsonl", tmp_path, "trade", 320, {}))
    assert len(traces) == 2
    for t in traces.values():
        words = " ".join(e.text for e in t.events if e.kind == "final")
        assert len(words.split()) >= 3  # the recognizer heard the caller
        assert t.peers["smart_turn"] and t.peers["livekit"]
        assert all(0 <= s.p <= 1 for s in t.peers["smart_turn"] + t.peers["livekit"])
        # every event is stamped no earlier than the audio it needed
        assert all(e.at >= e.time for e in t.events if e.kind == "sentence_end")


def test_eval_scores_the_hybrid_whose_caller_text_is_whispers_segment_finals(labels, tmp_path):
    args = ["eval", "--dialogues", str(labels / "test.jsonl"), "--tune", str(labels / "dev.jsonl"), "--out",
            str(tmp_path), "--workers", "1", "--limit", "1", "--detectors", "adaptive", "--final-recognizer"]
    with pytest.raises(SystemExit):  # a streaming recognizer cannot give the segment finals
        main(args + ["trade"])
    assert main(args + ["faster-whisper"]) == 0
    assert "final transcripts by faster-whisper" in (tmp_path / "report.md").read_text()
    (trace,) = read_traces(trace_path(labels / "test.jsonl", tmp_path, "trade", 320, {},  # no peer scored: none traced
                                      final_recognizer="faster-whisper", peers=False)).values()
    assert not trace.peers
    finals = [e for e in trace.events if e.kind == "segment_final"]
    # one per stretch of speech, heard no sooner than the agent's VAD stop after it
    assert len(finals) >= 2 and all(e.at >= e.time + STOP_MS / 1000 for e in finals)
    assert any(e.kind == "closed" for e in trace.events)  # the stream closes each stretch; finals replace its words
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["caller_wer"]["words"] > 0 and summary["caller_wer"]["wer"] < 0.5
    assert summary["final_transcripts"]["finals"] == len(finals) and summary["final_transcripts"]["p50_ms"] > 200
    rows = json.loads((tmp_path / "sweep-adaptive.json").read_text())["test"]
    assert {r["params"]["final_punct"] for r in rows} == {False, True}


def test_fit_writes_weights_the_learned_detector_reads(labels, tmp_path, capsys):
    out = tmp_path / "learned.json"
    assert main(["fit", "--dialogues", str(labels / "test.jsonl"), "--traces", str(tmp_path / "traces"),
                 "--out", str(out), "--workers", "1"]) == 0
    about = json.loads(out.read_text())
    assert about["end_examples"] > 0 and about["examples"] > about["end_examples"]
    assert about["command"].startswith("python -m turn_taking fit --dialogues")
    traces = read_traces(trace_path(labels / "test.jsonl", tmp_path / "traces", "trade", 320, {}, peers=False))
    assert len(traces) == 2 and not any(t.peers for t in traces.values())  # fitting needs no peer models
    detector = create_detector("learned", threshold=0.9, weights=str(out))
    assert detector.weights.shape == (len(about["features"]), len(about["basis"]))
    # what evidence is worth: the same fit without some, and eval reading those weights
    blind = tmp_path / "blind.json"
    assert main(["fit", "--dialogues", str(labels / "test.jsonl"), "--traces", str(tmp_path / "traces"),
                 "--out", str(blind), "--workers", "1", "--leave-out", "mark,comma"]) == 0
    without = json.loads(blind.read_text())
    assert without["left_out"] == ["mark", "comma"]
    assert all(w == 0 for name, row in zip(without["features"], without["weights"])  # and their products
               if set(name.split("*")) & set(without["left_out"]) for w in row)
    with pytest.raises(SystemExit):
        main(["fit", "--dialogues", str(labels / "test.jsonl"), "--out", str(blind), "--leave-out", "pitch"])
    assert main(["eval", "--dialogues", str(labels / "test.jsonl"), "--tune", str(labels / "dev.jsonl"),
                 "--out", str(tmp_path / "eval"), "--workers", "1", "--limit", "1", "--detectors", "learned",
                 "--learned-weights", str(blind)]) == 0
    assert json.loads((tmp_path / "eval" / "summary.json").read_text())["learned"]["dev_chosen"]["best_f1"]
    with pytest.raises(SystemExit):
        main(["eval", "--dialogues", str(labels / "test.jsonl"), "--tune", str(labels / "dev.jsonl"),
              "--out", str(tmp_path / "eval"), "--detectors", "learned", "--learned-weights", str(tmp_path / "no.json")])


def test_fit_voice_writes_the_head_and_a_policy_fit_on_it_needs_other_voices(labels, tmp_path, capsys):
    head = tmp_path / "head.json"
    assert main(["fit-voice", "--dialogues", str(labels / "test.jsonl"), "--traces", str(tmp_path), "--out", str(head),
                 "--workers", "1"]) == 0
    about = load_head(head).about
    assert about["pauses"] > about["ends"] > 0 and about["command"].startswith("python -m turn_taking fit-voice")
    cache = tmp_path / "traces" / "test-voice.npz"
    assert cache.stat().st_size > 0  # the encoder's features, cached
    # a cache written under an older pooling, narrower: its features are not this model's
    held = dict(np.load(cache))
    assert str(held.pop("pooling")) == POOLING
    np.savez(cache, pooling="an older pooling", **{k: v[:, :1152] if k.endswith("/x") else v for k, v in held.items()})
    assert main(["fit-voice", "--dialogues", str(labels / "test.jsonl"), "--traces", str(tmp_path), "--out", str(head),
                 "--workers", "1"]) == 0
    held = dict(np.load(cache))
    assert str(held.pop("pooling")) == POOLING  # computed again under this pooling
    width = next(v for k, v in held.items() if k.endswith("/x")).shape[1]
    assert width > 1152 and len(load_head(head).mean) == width  # the head is fit on this model's features
    # both test dialogues are in one caller voice: no head could score them as a voice it never heard
    assert len({base_voice(d.caller_voice) for d in read_dialogues(labels / "test.jsonl")}) == 1
    with pytest.raises(SystemExit):
        main(["fit", "--dialogues", str(labels / "test.jsonl"), "--traces", str(tmp_path), "--out",
              str(tmp_path / "w.json"), "--workers", "1", "--voice"])
    assert "more caller voices" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # nor leave a voice out to choose the fit's penalty
        main(["fit", "--dialogues", str(labels / "test.jsonl"), "--traces", str(tmp_path), "--workers", "1",
              "--cross-voices", "1e-3,1e-2"])
    assert "two voices or more" in capsys.readouterr().err


def test_the_reference_recognizer_hears_every_word_and_every_end(labels, tmp_path):
    """``--recognizer reference``: the labels' words and punctuation, as a perfect recognizer would
    give them. Traced without the peer models, which no detector asked for here."""
    args = ["eval", "--dialogues", str(labels / "test.jsonl"), "--tune", str(labels / "dev.jsonl"), "--out",
            str(tmp_path), "--workers", "1", "--recognizer", "reference", "--detectors", "punct,adaptive"]
    for wrong in (["--final-recognizer", "faster-whisper"], ["--option", "beam=2"], ["--option", "marks=yes"]):
        with pytest.raises(SystemExit):
            main(args + wrong)
    assert main(args) == 0
    summary = json.loads((tmp_path / "summary.json").read_text())
    heard = summary["caller_wer"]
    assert heard["words"] > 0 and heard["substitutions"] == heard["insertions"] == 0 and heard["wer"] < 0.05
    marks = summary["sentence_end_marks"]
    assert marks["eots_marked"] == 1.0 and marks["arrival_p50_ms"] == pytest.approx(LISTENING["pause_ms"], abs=1)
    traces = read_traces(trace_path(labels / "test.jsonl", tmp_path, "reference", 320, {}, peers=False))
    assert len(traces) == 2 and not any(t.peers for t in traces.values())
    assert main(args + ["--option", "marks=false"]) == 0
    assert json.loads((tmp_path / "summary.json").read_text())["sentence_end_marks"]["eots_marked"] == 0.0


def test_live_smart_turn_scores_real_audio_like_the_trace(labels, tmp_path):
    """The live detector (audio in, real model) gives the cached trace's score at the same pause."""
    main(["eval", "--dialogues", str(labels / "test.jsonl"), "--tune", str(labels / "dev.jsonl"),
          "--out", str(tmp_path), "--workers", "1", "--detectors", "livekit"])
    traced = sorted((tmp_path / "traces").glob("*.jsonl"))
    main(["eval", "--dialogues", str(labels / "test.jsonl"), "--tune", str(labels / "dev.jsonl"),
          "--out", str(tmp_path), "--workers", "1", "--detectors", "vad"])
    assert sorted((tmp_path / "traces").glob("*.jsonl")) == traced  # no peers asked: the cache with them serves
    trace = next(iter(read_traces(trace_path(labels / "test.jsonl", tmp_path, "trade", 320, {})).values()))
    from turn_taking.data.labels import read_dialogues

    dialogue = next(d for d in read_dialogues(labels / "test.jsonl") if d.id == trace.id)
    score = next(s for s in trace.peers["livekit"] if s.offset == 0.2)
    audio = caller_channel(dialogue.audio)[:int((score.onset + 0.2) * 16000)]
    model = PeerModels().livekit
    dues = []
    for threshold in (score.p - 1e-3, score.p + 1e-3):  # the live score sits between the two
        det = create_detector("livekit", threshold=threshold, heard_ms=200, min_delay_ms=300,
                              max_delay_ms=2000, model=model)
        det.on_speech_start(0.0)
        det.on_speech_end(score.onset)
        det.on_audio(audio, 0.0)
        dues.append(det.turn_end_due_s() - score.onset)
    assert dues == pytest.approx([0.3, 2.0], abs=1e-3)


def test_traces_hear_the_caller_as_the_agent_does_by_default():
    from agent.config import VADConfig

    assert LISTENING == {"pause_decode": True, "pause_ms": VADConfig().pause_ms}


def test_traces_are_keyed_by_checkpoint_content(tmp_path):
    """Retrained weights at the same path must not reuse the old weights' traces."""
    import shutil

    from asr.recognizers.trade import SHIPPED

    ck = tmp_path / "ck"
    shutil.copytree(SHIPPED, ck)
    labels = tmp_path / "test.jsonl"
    before = trace_path(labels, tmp_path, "trade", 320, {"checkpoint": str(ck)})
    assert before == trace_path(labels, tmp_path, "trade", 320, {"checkpoint": str(ck)})
    with (ck / "model.safetensors").open("ab") as f:
        f.write(b"\0")
    assert trace_path(labels, tmp_path, "trade", 320, {"checkpoint": str(ck)}) != before
    assert trace_path(labels, tmp_path, "trade", 640, {}) != trace_path(labels, tmp_path, "trade", 320, {})
    agent = trace_path(labels, tmp_path, "trade", 320, {})
    assert agent == trace_path(labels, tmp_path, "trade", 320, {}, {"pause_decode": True, "pause_ms": 64})
    for unlike in ({"pause_decode": False, "pause_ms": 64}, {"pause_decode": True, "pause_ms": None},
                   {"pause_decode": True, "pause_ms": 96}):
        assert trace_path(labels, tmp_path, "trade", 320, {}, unlike) != agent
    assert trace_path(labels, tmp_path, "trade", 320, {}, final_recognizer="faster-whisper") != agent
    from asr.recognizer import weights_fingerprint

    assert weights_fingerprint("trade", checkpoint=str(ck)) == weights_fingerprint("trade-offline", checkpoint=str(ck))
    assert weights_fingerprint("faster-whisper") == ""  # weights pinned by its package

