"""Turn-taking dialogues: label invariants checked against the audio itself."""

import numpy as np
import pytest
import soundfile as sf

from asr.audio import SAMPLE_RATE
from asr.data.catalogue import is_held_out
from asr.data.text import build_corpus
from turn_taking.data.build import build, conversational_sentences
from turn_taking.data.dialogues import CATEGORY_WEIGHTS, build_dialogue, plan_turn
from turn_taking.data.labels import MIN_SILENCE_S, LabelError, read_dialogues
from turn_taking.data.turns_manifest import GUARD_S


@pytest.fixture(scope="module")
def sentences():
    return {s: [x for x in v if x.domain != "read"] for s, v in build_corpus(1500, seed=2, wordnet=False).items()}


@pytest.fixture(scope="module")
def dialogues(sentences):
    """A mix: two ordinary calls, one full of barge-ins, one full of backchannels."""
    return [build_dialogue(0, "test", 0, sentences["test"]),
            build_dialogue(0, "train", 1, sentences["train"]),
            build_dialogue(0, "test", 2, sentences["test"], long_bot_p=1.0, backchannel_p=0.0, interrupt_p=1.0),
            build_dialogue(0, "dev", 3, sentences["dev"], long_bot_p=1.0, backchannel_p=1.0, interrupt_p=0.0)]


def _rms(x):
    return float(np.sqrt(np.mean(x ** 2))) if len(x) else 0.0


def test_every_caller_silence_of_100ms_is_labelled(dialogues):
    for _, d in dialogues:
        for turn_index, turn in enumerate(d.turns):
            if turn.speaker != "caller":
                continue
            words = [w for w in d.words if turn.start - 1e-3 <= w.start <= turn.end + 1e-3]
            labelled = {(round(s.start, 3), round(s.end, 3)) for s in d.silences if s.turn == turn_index}
            for a, b in zip(words, words[1:]):
                if b.start - a.end >= MIN_SILENCE_S:
                    assert (round(a.end, 3), round(b.start, 3)) in labelled, (d.id, a, b)
            eots = [s for s in d.silences if s.turn == turn_index and s.label == "eot"]
            assert len(eots) == 1 and abs(eots[0].start - turn.end) < 1e-3


def test_silences_are_silent_and_speech_is_not(dialogues):
    for audio, d in dialogues:
        caller = audio[:, 0]
        loud = _rms(np.concatenate([caller[int(w.start * SAMPLE_RATE): int(w.end * SAMPLE_RATE)] for w in d.words]))
        for s in d.silences:
            assert s.end - s.start >= MIN_SILENCE_S - 1e-3
            inner = caller[int((s.start + 0.03) * SAMPLE_RATE): int((s.end - 0.03) * SAMPLE_RATE)]
            assert _rms(inner) < 0.2 * loud, (d.id, s)


def test_hold_and_eot_semantics(dialogues):
    for _, d in dialogues:
        for s in d.silences:
            if s.label == "hold":
                assert any(abs(w.start - s.end) < 1e-3 for w in d.words)  # the caller goes on
                if s.category not in ("pause",):
                    assert 0.2 - 1e-3 <= s.end - s.start <= 2.0 + 1e-3
            else:
                assert 1.5 - 1e-3 <= s.end - s.start <= 3.0 + 1e-3
                assert not any(s.start + 1e-3 < w.start < s.end - 1e-3 for w in d.words)
                assert any(abs(t.start - s.end) < 1e-3 for t in d.turns if t.speaker == "bot")


def test_overlaps_happen_during_bot_speech(dialogues):
    kinds = set()
    for audio, d in dialogues:
        for o in d.overlaps:
            kinds.add(o.label)
            bot = d.turns[o.bot_turn]
            assert bot.speaker == "bot" and bot.start <= o.start <= (bot.cut_at or bot.end)
            if o.label == "interruption":
                assert bot.cut_at is not None and o.start < bot.cut_at <= o.start + 0.4
                after = audio[int((bot.cut_at + 0.05) * SAMPLE_RATE): int((bot.cut_at + 0.5) * SAMPLE_RATE), 1]
                assert _rms(after) < 1e-3  # the bot really stopped
            else:
                assert bot.cut_at is None and o.text.lower().strip(".") in {
                    "mhm", "okay", "right", "uh-huh", "yeah", "i see", "sure", "mm-hmm"}
    assert kinds == {"backchannel", "interruption"}


def test_incomplete_points_come_from_every_category(sentences):
    import random

    rng = random.Random(0)
    for category in CATEGORY_WEIGHTS:
        segments = plan_turn(category, "test", rng, sentences["test"])
        assert segments[-1].hold_after is None
        if category in ("digits", "email", "hesitation", "trailing_and", "mid_clause", "continuation"):
            assert any(s.hold_after == category for s in segments[:-1])
    trailing = plan_turn("trailing_and", "train", rng, sentences["train"])
    assert trailing[0].spoken.endswith(" and")


def test_build_writes_valid_labels_with_held_out_test_callers(tmp_path):
    stats = build(tmp_path, {"test": 2, "train": 1}, workers=2)
    assert stats["test"]["dialogues"] == 2
    test = read_dialogues(tmp_path / "test.jsonl")
    assert all(is_held_out(d.caller_voice) for d in test)
    assert not any(is_held_out(d.caller_voice) for d in read_dialogues(tmp_path / "train.jsonl"))
    for d in test:
        info = sf.info(d.audio)
        assert (info.samplerate, info.channels) == (16000, 2) and abs(info.duration - d.duration) < 1e-2
    build(tmp_path, {"test": 3}, workers=1)  # resumes: one more, the first two untouched
    again = read_dialogues(tmp_path / "test.jsonl")
    assert [d.id for d in again] == ["test-000000", "test-000001", "test-000002"]
    assert again[0] == test[0]


def test_sentences_for_callers_skip_read_text():
    s = conversational_sentences(None, seed=0)
    assert all(x.domain != "read" for v in s.values() for x in v)


def test_malformed_labels_are_a_clear_error(tmp_path):
    path = tmp_path / "test.jsonl"
    path.write_text('{"id": 3}\n')
    with pytest.raises(LabelError, match="test.jsonl:1"):
        read_dialogues(path)


def test_caller_turns_export_as_training_examples(tmp_path, dialogues):
    """Each caller turn and backchannel becomes one clip: its own words inside, only the call's
    quiet around them, and a reference the recognizer's vocabulary can target."""
    from asr.audio import load_audio
    from asr.data.manifest import read_manifest
    from asr.models.trade.targets import make_targets
    from asr.vocab import CompactVocab
    from turn_taking.data.dialogues import write_dialogue
    from turn_taking.data.labels import Dialogue
    from turn_taking.data.turns_manifest import export

    calls = tmp_path / "calls"
    calls.mkdir()
    for split, picked in (("dev", [3]), ("test", [0])):
        with (calls / f"{split}.jsonl").open("w") as f:
            for i in picked:
                audio, d = dialogues[i]
                f.write(write_dialogue(calls, audio, Dialogue(**d.model_dump())).model_dump_json() + "\n")
    stats = export(calls / "dev.jsonl", tmp_path / "turns")
    utts = read_manifest(tmp_path / "turns" / "dev.jsonl")
    _, dev = dialogues[3]
    spans = [(t.start, t.end, t.text, "turn") for t in dev.turns if t.speaker == "caller"]
    spans += [(o.start, o.end, o.text, "backchannel") for o in dev.overlaps if o.label == "backchannel"]
    # synthesis differs a little between builds (which voices a machine has, their timings): a span
    # is left out only if its voice could not time its words (a festival voice cannot time "Mhm")
    # or a backchannel said right before the caller's next turn leaves one of the two no room for
    # its guard
    fits = [(text, kind) for a, b, text, kind in spans
            if any(a - 1e-3 <= w.start and w.end <= b + 1e-3 for w in dev.words)
            and all(round(a - w.end, 3) >= GUARD_S or round(w.start - b, 3) >= GUARD_S
                    or a - 1e-3 <= w.start <= b + 1e-3 for w in dev.words)]
    assert len(fits) > len(spans) // 2 and {"turn", "backchannel"} <= {kind for _, kind in fits}
    assert stats["examples"] == len(utts) == len(fits)
    assert sorted(u.text for u in utts) == sorted(text for text, _ in fits)
    vocab = CompactVocab.load("asr/checkpoints/trade-whisper/vocab.json")
    for u in utts:
        audio = load_audio(u.audio)
        first, last = int(u.words[0].start * SAMPLE_RATE), int(u.words[-1].end * SAMPLE_RATE)
        around = np.concatenate([audio[:max(0, first - 1600)], audio[last + 1600:]])
        assert _rms(around) < 0.2 * _rms(audio[first:last]), u.id
        assert make_targets(u.text, u.words, vocab).ids
    with pytest.raises(ValueError, match="held out"):
        export(calls / "test.jsonl", tmp_path / "never")


def test_vad_cut_exports_the_pieces_the_agent_hears(tmp_path, sentences):
    """With ``cut="vad"`` a turn the caller pauses in becomes one clip per stretch of speech the
    real Silero VAD finds: the pieces hold the turn's words in order, each with its own written
    text (the turn's text, cut between words), and no piece starts inside another's speech. An
    e-mail address said across a pause cannot be cut and stays whole (in the turn export)."""
    from asr.audio import load_audio
    from asr.data.manifest import read_manifest
    from turn_taking.data.dialogues import write_dialogue
    from turn_taking.data.turns_manifest import export

    calls = tmp_path / "calls"
    calls.mkdir()
    audio, d = build_dialogue(0, "dev", 3, sentences["dev"])  # mid-clause, e-mail and digit holds
    with (calls / "dev.jsonl").open("w") as f:
        f.write(write_dialogue(calls, audio, d).model_dump_json() + "\n")
    export(calls / "dev.jsonl", tmp_path / "pieces", cut="vad")
    pieces = read_manifest(tmp_path / "pieces" / "dev.jsonl")
    callers = [t for t in d.turns if t.speaker == "caller"]
    assert {t.category for t in callers} >= {"digits", "email", "mid_clause"}
    by_turn = {}
    for u in pieces:
        turn = next(t for t in callers if u.spoken in t.spoken)
        by_turn.setdefault(turn.text, []).append(u)
        audio = load_audio(u.audio)
        first, last = int(u.words[0].start * SAMPLE_RATE), int(u.words[-1].end * SAMPLE_RATE)
        around = np.concatenate([audio[:max(0, first - 1600)], audio[last + 1600:]])
        assert _rms(around) < 0.2 * _rms(audio[first:last]), u.id
    cut = {t.category for t in callers if t.text in by_turn}
    assert "digits" in cut and "mid_clause" in cut and "email" not in cut
    for turn in callers:
        parts = by_turn.get(turn.text, [])
        assert not parts or len(parts) >= 2 and " ".join(p.text for p in parts) == turn.text  # nothing lost
        assert [p.continues for p in parts] == [True] * (len(parts) - 1) + [False] * bool(parts)
        if turn.category != "continuation":  # there the first sentence is complete before the pause
            assert not any(p.text.rstrip().endswith(".") for p in parts[:-1])  # a hold has no full stop
    assert any(p.spoken.split()[0] in ("zero", "one", "two", "three", "four", "five", "six", "seven",
                                       "eight", "nine") for p in pieces)  # a digit group opens a stream


def test_a_turn_is_read_in_one_piece_and_its_holds_cut_in():
    """The voice reads the whole turn, so a hold keeps the phrase's pitch instead of ending it as
    a segment read alone would; apart from the pauses cut in, the audio is that one reading."""
    import random

    from asr.voices import CUT_FADE_S, load_voice, spoken_words
    from turn_taking.data.dialogues import speak_turn

    voice = load_voice("festival:kal")
    segments = plan_turn("digits", "train", random.Random(3), [])
    audio, words, holds = speak_turn(voice, "festival:kal", segments, random.Random(4))
    whole = voice.synthesize(" ".join(s.spoken for s in segments))
    assert [w.text for w in words] == [w.text for w in whole.words]
    ends = list(np.cumsum([len(spoken_words(s.spoken)) for s in segments])[:-1] - 1)
    assert sorted(holds) == ends and set(holds.values()) == {"digits"}
    added = 0.0
    for k in ends:
        pause, natural = words[k + 1].start_s - words[k].end_s, whole.words[k + 1].start_s - whole.words[k].end_s
        assert max(0.2, natural) - 2e-3 <= pause <= max(2.0, natural) + 2e-3
        added += pause - natural
    assert abs(len(audio) - len(whole.audio) - added * SAMPLE_RATE) <= len(ends)
    cut = int((whole.words[ends[0]].end_s + whole.words[ends[0] + 1].start_s) / 2 * SAMPLE_RATE)
    keep = cut - int(CUT_FADE_S * SAMPLE_RATE)
    np.testing.assert_array_equal(audio[:keep], whole.audio[:keep])
    a, b = (int(t * SAMPLE_RATE) for t in (words[ends[0]].end_s + 0.03, words[ends[0] + 1].start_s - 0.03))
    assert _rms(audio[a:b]) < 0.05 * _rms(whole.audio)  # the pause is silent
