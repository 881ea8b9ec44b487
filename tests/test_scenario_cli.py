"""Scenarios and the command line: malformed input gives one clear line and exit code 2."""

import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

from agent.cli import EXIT_BAD_INPUT, main
from agent.scenario import ScenarioError, load_scenario, render_turns


def write(tmp_path, text, name="s.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_pauses_inside_a_turn_become_true_speech_spans(tmp_path):
    sc = load_scenario(write(tmp_path, "name: t\nturns:\n  - say: ['My number is four five', {pause_ms: 800}, 'six seven.']\n"))
    (turn,) = render_turns(sc)
    assert len(turn.speech_spans) == 2
    (a0, a1), (b0, b1) = turn.speech_spans
    assert a0 == 0 and b0 - a1 == pytest.approx(0.8, abs=1e-3)
    assert b1 == pytest.approx(len(turn.audio) / 16000)


def test_a_turn_is_read_in_one_breath_and_its_pauses_cut_in(tmp_path):
    """The text before a pause is the whole turn's reading, not the text read alone (which
    would end the way a turn ends)."""
    from asr.audio import trim_silence
    from asr.voices import load_voice, read_in_pieces

    say = ["The order number is four five two,", "seven seven nine."]
    sc = load_scenario(write(tmp_path, f"name: t\ncaller_voice: 'festival:kal'\nturns:\n"
                                       f"  - say: ['{say[0]}', {{pause_ms: 450}}, '{say[1]}']\n"))
    (turn,) = render_turns(sc)
    voice = load_voice("festival:kal")
    (a0, a1), (b0, b1) = turn.speech_spans
    first = trim_silence(read_in_pieces(voice, say)[0][0])
    np.testing.assert_array_equal(turn.audio[:int(round(a1 * 16000))], first)
    alone = trim_silence(voice.synthesize(say[0]).audio)
    assert len(alone) != len(first) or not np.allclose(alone, first)
    assert b0 - a1 == pytest.approx(0.45, abs=1e-3)


def test_wav_turns_are_converted_and_relative_to_the_scenario(tmp_path):
    tone = (0.3 * np.sin(np.arange(48000) / 7)).astype(np.float32)
    sf.write(tmp_path / "hello.wav", np.stack([tone, tone], 1), 48000)
    sc = load_scenario(write(tmp_path, "name: t\nturns:\n  - wav: hello.wav\n    start: barge_in\n"))
    (turn,) = render_turns(sc)
    assert turn.start == "barge_in" and abs(len(turn.audio) - 16000) < 400


@pytest.mark.parametrize("text,msg", [
    ("name: t\nturns: []\n", "turns"),
    ("name: t\nturns:\n  - say: hi\n    wav: a.wav\n", "exactly one"),
    ("name: t\nturns:\n  - say: hi\n    start: whenever\n", "start"),
    ("turns:\n  - say: hi\n", "name"),
    ("name: t\nturns:\n  - say: [hi, {pause_ms: -4}]\n", "pause_ms"),
    ("just a string", "mapping"),
])
def test_malformed_scenarios(tmp_path, text, msg):
    with pytest.raises(ScenarioError, match=msg):
        load_scenario(write(tmp_path, text))


@pytest.mark.parametrize("body,msg", [
    (None, "scenario file not found"),
    ("name: t\nturns:\n  - say: [unclosed\n", "not valid YAML"),
    ("name: t\ncaller_voice: espeak:klingon\nturns:\n  - say: hi\n", "no voice"),
    ("name: t\ncaller_voice: mbrola:us1\nturns:\n  - say: hi\n", "unknown voice family"),
    ("name: t\nturns:\n  - wav: missing.wav\n", "audio file not found"),
    ("name: t\nturns:\n  - wav: corrupt.wav\n", "cannot read audio file"),
])
def test_cli_bad_input_exits_2_with_one_line(tmp_path, capsys, body, msg):
    (tmp_path / "corrupt.wav").write_bytes(b"RIFF....WAVEfmt garbage")
    path = tmp_path / "missing.yaml" if body is None else write(tmp_path, body)
    code = main(["call", "--scenario", str(path), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err.strip()
    assert code == EXIT_BAD_INPUT
    assert len(err.splitlines()) == 1 and msg in err, err


def test_cli_bad_config_override_exits_2(tmp_path, capsys):
    code = main(["demo", "--out", str(tmp_path), "--set", "vad.confidence=7"])
    assert code == EXIT_BAD_INPUT and "vad.confidence" in capsys.readouterr().err


def test_help_teaches_by_example():
    out = subprocess.run([sys.executable, "-m", "agent", "--help"], capture_output=True, text=True).stdout
    assert "python -m agent call --scenario" in out and "demo" in out


@pytest.mark.parametrize("args,msg", [
    (["demo", "--set", "stt.recognizer=faster-whisper", "--set", "turn.detector=adaptive"],
     "does not stream: set stt.recognizer=trade"),
    (["demo", "--set", "turn.end_silence_ms=300"], "also set turn.detector=silence"),
    (["demo", "--set", "turn.detector=smart_turn"], "integrations/pipecat"),
    (["demo", "--set", "stt.recognizer=trade", "--set", "turn.detector=fusion",
      "--set", "turn.detector_options.delta=5"], "unexpected keyword argument 'delta'"),
    (["demo", "--set", "stt.recognizer=whisper-huge"], "unknown recognizer"),
    (["bench", "--variant", "a b:stt.recognizer=trade"], "expected NAME"),
    (["bench", "--variant", "x", "--variant", "x:turn.end_silence_ms=300"], "share a name"),
    (["bench", "--variant", "t:stt.recognizer=faster-whisper,turn.detector=adaptive"], "does not stream"),
    (["bench", "--voice", "espeak:klingon"], "no voice"),
])
def test_configurations_the_agent_cannot_run_exit_2_before_loading(tmp_path, capsys, args, msg):
    code = main([*args, "--out", str(tmp_path)])
    err = capsys.readouterr().err.strip()
    assert code == EXIT_BAD_INPUT and msg in err and len(err.splitlines()) == 1, err


def test_bench_summary_counts_what_a_caller_feels():
    from agent.bench import Variant, summarize_variant

    assert Variant.parse("trade:stt.recognizer=trade,turn.detector=adaptive") == Variant(
        "trade", ["stt.recognizer=trade", "turn.detector=adaptive"])
    assert Variant.parse("baseline") == Variant("baseline", [])
    turn = {"text": "my order number is four five", "transcript": "my order number is four five",
            "cut_off": False, "taken_early": False, "eou_delay_ms": 400.0, "voice_to_voice_ms": 1500.0}
    turns = [turn, {**turn, "transcript": "my order", "cut_off": True, "taken_early": True, "eou_delay_ms": 200.0},
             {**turn, "transcript": None, "eou_delay_ms": None, "voice_to_voice_ms": None},
             {**turn, "taken_early": True}]  # taken early, but the caller went on before the reply played
    s = summarize_variant(turns)
    assert (s["turns"], s["cut_offs"], s["taken_early"], s["unanswered"]) == (4, 1, 2, 1)
    assert s["eou_p50_ms"] == 400.0 and s["v2v_p50_ms"] == 1500.0
    assert s["wer"] == round((4 + 6) / 24, 4)  # four words missing from one turn, all six from another


def test_a_turn_taken_early_is_cut_off_only_if_the_caller_heard_the_bot():
    from agent.caller import CallerTurnRecord
    from agent.metrics import turn_metrics

    record = CallerTurnRecord(0, "Great, thank you so much. Goodbye!", "after_bot", 1.0, 4.0)
    ev = lambda event, wall, media=None, **f: {"event": event, "wall_s": wall, "media_s": media, **f}  # noqa: E731
    early = [ev("UserStoppedSpeakingFrame", 2.5, turn_index=1),
             ev("UserTurnFrame", 2.5, turn_index=1, text="Great, thank you so much.")]
    whole = [ev("UserStoppedSpeakingFrame", 4.6, turn_index=2),
             ev("UserTurnFrame", 4.6, turn_index=2, text="Great, thank you so much. Goodbye!")]
    withdrawn = turn_metrics(early + [ev("InterruptionFrame", 3.2)] + whole, [record])[0]
    heard = turn_metrics(early + [ev("BotStartedSpeakingFrame", 3.4, 3.4)] + whole, [record])[0]
    assert (withdrawn["taken_early"], withdrawn["cut_off"]) == (True, False)
    assert (heard["taken_early"], heard["cut_off"]) == (True, True)
    assert withdrawn["eou_delay_ms"] == 600.0 and withdrawn["transcript"] == "Great, thank you so much. Goodbye!"


def test_the_call_transcript_holds_what_was_said_on_the_line():
    from agent.metrics import call_transcript

    ev = lambda event, wall, **f: {"event": event, "wall_s": wall, "media_s": None, **f}  # noqa: E731
    events = [ev("LLMFullResponseEndFrame", 0.5, text="Hello! How can I help?"),
              ev("BotStoppedSpeakingFrame", 2.0, interrupted=False, text="Hello! How can I help?"),
              ev("TranscriptionFrame", 4.0, text="Where is my order?"),
              ev("LLMFullResponseEndFrame", 4.8, text="It shipped on Monday. It should arrive tomorrow."),
              ev("BotStoppedSpeakingFrame", 5.6, interrupted=True, text="It shipped on"),
              ev("TranscriptionFrame", 6.5, text="Wait, which order?"),
              ev("LLMFullResponseEndFrame", 7.0, text="The one ending in 42."),  # withdrawn before it played
              ev("TranscriptionFrame", 8.0, text="The other one."),
              ev("BotStoppedSpeakingFrame", 9.0, interrupted=True, text="")]  # cut before a word played
    assert [(t["speaker"], t["text"], t.get("interrupted")) for t in call_transcript(events)] == [
        ("bot", "Hello! How can I help?", False), ("caller", "Where is my order?", None),
        ("bot", "It shipped on", True), ("caller", "Wait, which order?", None), ("caller", "The other one.", None)]


def test_the_live_transcript_tells_a_barge_in_from_a_withdrawn_reply_and_says_what_was_heard():
    from rich.console import Console

    from agent.frames import (
        BotStoppedSpeakingFrame,
        FrameDirection,
        InterruptionFrame,
        LLMFullResponseStartFrame,
        LLMTextFrame,
        TranscriptionFrame,
    )
    from agent.metrics import LiveTranscript

    console = Console(record=True, width=200, force_terminal=False)
    live = LiveTranscript(console)
    frames = [TranscriptionFrame(text="my order [/b] 452"), InterruptionFrame(withdrawn=True),
              LLMFullResponseStartFrame(turn_index=1), LLMTextFrame(text="Sure, I can help with that."),
              InterruptionFrame(), BotStoppedSpeakingFrame(interrupted=True, text="Sure, I can")]
    for i, frame in enumerate(frames):
        live.on_push_frame(None, None, frame, FrameDirection.DOWNSTREAM, float(i))
    lines = [line.split("s ", 1)[1] for line in console.export_text().splitlines()]
    assert lines == ["caller ▸ my order [/b] 452", "↺ caller went on: the reply is withdrawn before it played",
                     "bot ▸ Sure, I can help with that.", "✋ barge-in", "  the caller heard “Sure, I can”"]
