"""End-of-turn detectors, the trace replay and the turn-taking metrics, on hand-made signals."""

import itertools
import json
import random

import numpy as np
import pytest

from turn_taking.data.labels import Dialogue, Silence, Turn, Word
from turn_taking.detectors import create_detector
from turn_taking.detectors.adaptive import number_digits, tail_cue
from turn_taking.detectors.learned import BASIS, EVIDENCE, FEATURES, STEP_S, LearnedDetector, basis, features, is_answer
from turn_taking.learn import Examples, cross_voice_sweep, design, fit, per_silence, save
from turn_taking.eval.metrics import Scores, cutoff_at, frontier, greedy_matches, latency_at
from turn_taking.replay import Listener, Signal, Take, replay, signals
from turn_taking.trace import VAD_PARAMS, CallerTrace, PeerScore, RecognizerEvent
from asr.vad import WINDOW_S, SpeechSegmenter, speech_boundaries


def _speech_end(t):
    return Signal(t + 0.1, "speech_end", (t,))


def _at(sigs, detector):
    """When the detector takes the turn, for each take."""
    return [k.at for k in replay(sigs, detector)]


def test_segmenter_needs_a_whole_run_and_stamps_the_onset():
    probs = [0.1] * 5 + [0.9] * 10 + [0.2] * 2 + [0.9] * 3 + [0.1] * 10
    b = speech_boundaries(np.array(probs), confidence=0.5, start_ms=64, stop_ms=96)
    # speech from window 5; the 2-window dip is shorter than 96 ms and does not end it
    assert [(x.speaking, round(x.t_s / WINDOW_S)) for x in b] == [(True, 5), (False, 20)]
    assert b[0].known_s == pytest.approx(7 * WINDOW_S) and b[1].known_s == pytest.approx(23 * WINDOW_S)
    seg = SpeechSegmenter(0.5, 0, 32)
    assert seg.update(0.9, 0.0).speaking and seg.update(0.1, WINDOW_S).t_s == pytest.approx(WINDOW_S)


def test_segmenter_reports_a_pause_every_pause_ms_before_the_stop_and_stays_speaking():
    seg = SpeechSegmenter(0.5, start_ms=64, stop_ms=256, pause_ms=96)
    probs = [0.9] * 3 + [0.1] * 4 + [0.9] * 2 + [0.1] * 10
    b = [(x.speaking, x.pause, round(x.t_s / WINDOW_S), round(x.known_s / WINDOW_S))
         for i, p in enumerate(probs) if (x := seg.update(p, i * WINDOW_S))]
    # a 4-window dip: one pause at its third window, no stop; then pauses at the third and
    # sixth windows of silence and the stop at the eighth, all stamped at the silence's onset
    assert b == [(True, False, 0, 2), (True, True, 3, 6), (True, True, 9, 12), (True, True, 9, 15),
                 (False, False, 9, 17)]
    with pytest.raises(ValueError, match="pause_ms"):
        SpeechSegmenter(stop_ms=200, pause_ms=200)


def test_silence_timer_takes_the_turn_after_its_delay_and_not_during_speech():
    sigs = [Signal(0.1, "speech_start", (0.0,)), _speech_end(1.0), Signal(1.4, "speech_start", (1.35,)),
            _speech_end(2.0)]
    assert _at(sigs, create_detector("vad", end_silence_ms=500)) == pytest.approx([2.5])
    assert _at(sigs, create_detector("vad", end_silence_ms=200)) == pytest.approx([1.2, 2.2])


def test_fusion_needs_a_mark_near_the_pause_and_falls_back_to_silence():
    base = [Signal(0.1, "speech_start", (0.0,)), _speech_end(1.0)]
    mark = [Signal(1.3, "sentence_end", (".", 0.95))]
    far_mark = [Signal(1.3, "sentence_end", (".", 0.2))]
    fusion = dict(delta_ms=300, min_silence_ms=200, fallback_ms=1500)
    assert _at(sorted(base + mark, key=lambda s: s.at), create_detector("fusion", **fusion)) == pytest.approx([1.3])
    assert _at(sorted(base + far_mark, key=lambda s: s.at), create_detector("fusion", **fusion)) == pytest.approx([2.5])
    # punctuation alone fires at the mark, pause or not
    assert _at(sorted(base + far_mark, key=lambda s: s.at), create_detector("punct", fallback_ms=1500)) == \
        pytest.approx([1.3])


def test_each_take_puts_the_end_where_its_detector_times_it():
    """The TRADE protocol's predicted end: fusion is timed from the VAD (the silence onset),
    punctuation-only by the mark's stamp, and a silence fallback by the onset again."""
    base = [Signal(0.1, "speech_start", (0.0,)), _speech_end(1.0)]
    mark = sorted(base + [Signal(1.3, "sentence_end", (".", 0.95))], key=lambda s: s.at)
    assert replay(mark, create_detector("fusion", delta_ms=300, min_silence_ms=200)) == [Take(1.3, 1.0)]
    assert replay(mark, create_detector("punct", delay_ms=100)) == [pytest.approx(Take(1.4, 0.95))]
    assert replay(base, create_detector("punct", fallback_ms=600)) == [pytest.approx(Take(1.6, 1.0))]
    assert replay(base, create_detector("vad", end_silence_ms=300)) == [pytest.approx(Take(1.3, 1.0))]
    # the paper's detectors have no silence fallback: no mark, no take
    assert replay(base, create_detector("fusion", fallback_ms=None)) == []
    assert replay(base, create_detector("punct", fallback_ms=None)) == []
    # a mark emitted while the caller still speaks: the end is the stamp, not a silence
    talking = [Signal(0.1, "speech_start", (0.0,)), Signal(0.8, "sentence_end", (".", 0.6)), _speech_end(3.0)]
    assert replay(talking, create_detector("punct")) == [pytest.approx(Take(0.8, 0.6)), pytest.approx(Take(5.0, 3.0))]


@pytest.mark.parametrize("text,cue", [("I'd like to return it and", "incomplete"), ("my number is 555", "digits"),
                                      ("It's 555-0123.", "digits"), ("so, um", "incomplete"), ("Thanks.", None),
                                      ("email me at olga@mail", "incomplete"), ("at olga@mail.com.", None),
                                      ("so,", "incomplete"), ("with my order,", None), ("", None),
                                      # digit groups as Whisper writes them
                                      ("The order number is 4.2", "digits"), ("is 4-5-2.", "digits"),
                                      ("version 2a", None),
                                      # a number is judged once it is as long as a phone number
                                      ("It's 780. 628. 3-0-6-1.", None), ("It's 780. 628.", "digits"),
                                      ("two three nine", "digits"), ("I'd like the blue one.", None),
                                      # an address announced but its domain not yet said
                                      ("My email is scott.", "incomplete"), ("The mail on file should be carol", "incomplete"),
                                      ("my email is olga at mail dot com.", None), ("email is olga at hotmail com", None), ("I got an email about my bill.", None),
                                      ("Can you email me the receipt?", None), ("olga underscore", "incomplete"),
                                      # a mark written apart from its word, and speech trailing off
                                      ("I called yesterday and .", "incomplete"), ("My callback number is ...", "incomplete"),
                                      # a particle or an elliptical ending is finished only when marked
                                      ("No, I can't log in.", "open"), ("Actually, hang on .", "open"),
                                      ("Yes, I do.", "open"), ("I can't log in", "incomplete"), ("I'd like to", "incomplete"),
                                      ("I called and.", "incomplete"), ("My email is.", "incomplete"),
                                      ("My order number is.", "incomplete"), ("Yes, it is", "incomplete"),
                                      # amounts and a date's year are whole numbers, not digit groups
                                      ("But I expected $4,302.", None), ("I expected 2,954", None),
                                      ("from February 24th? 2016,", None), ("May 5th, 2008.", None),
                                      ("My account number is 0254. 5395.", "digits")])
def test_tail_cues(text, cue):
    assert tail_cue(text) == cue


@pytest.mark.parametrize("text,answer", [("Nope,", True), ("Sounds good,", True), ("Yes, that's right.", True),
                                         ("Thank you.", True), ("Yes, I need to", False), ("", False)])
def test_a_turn_that_only_answers_is_told_apart(text, answer):
    assert is_answer(text) == answer


@pytest.mark.parametrize("words,digits", [(["is", "780", "628", "3-0-6-1"], 10), (["is", "4.2"], 2),
                                          (["two", "three", "9"], 3), (["the", "blue", "one"], 0), (["thanks"], 0)])
def test_number_digits_counts_the_groups_of_the_trailing_number(words, digits):
    assert number_digits(words) == digits


def test_adaptive_waits_by_how_finished_the_text_looks():
    det = dict(complete_ms=200, unknown_ms=800, incomplete_ms=2000, p_complete=0.5)
    start, end = Signal(0.1, "speech_start", (0.0,)), _speech_end(1.0)
    words = lambda text, at=1.2: Signal(at, "transcript", (text, ""))  # noqa: E731
    assert _at([start, end, words("I want to return the")], create_detector("adaptive", **det)) == pytest.approx([3.0])
    assert _at([start, end, words("I want a refund."), Signal(1.2, "sentence_end", (".", 0.98))],
                  create_detector("adaptive", **det)) == pytest.approx([1.2])
    assert _at([start, end, words("I want a refund")], create_detector("adaptive", **det)) == pytest.approx([1.8])
    # a marked particle ending may be finished or not: unknown, neither complete nor incomplete
    assert _at([start, end, words("I can't log in."), Signal(1.2, "sentence_end", (".", 0.98))],
               create_detector("adaptive", **det)) == pytest.approx([1.8])
    assert _at([start, end, words("I can't log in")], create_detector("adaptive", **det)) == pytest.approx([3.0])
    # the LLM's probability counts only once the recognizer has heard the pause (fresh_ms after it)
    stale = [start, end, words("I want a refund", 1.1), Signal(1.1, "end_prob", (0.9,))]
    fresh = [start, end, words("I want a refund", 1.3), Signal(1.3, "end_prob", (0.9,))]
    assert _at(stale, create_detector("adaptive", **det)) == pytest.approx([1.8])
    assert _at(fresh, create_detector("adaptive", **det)) == pytest.approx([1.3])


def test_adaptive_with_final_punct_reads_a_final_transcript_heard_in_the_pause_as_finished():
    det = dict(complete_ms=200, unknown_ms=800, incomplete_ms=2000, final_punct=True)
    start, end = Signal(0.1, "speech_start", (0.0,)), _speech_end(1.0)
    final = lambda text, at: Signal(at, "transcript", (text, ""))  # noqa: E731
    assert _at([start, end, final("Goodbye!", 1.5)], create_detector("adaptive", **det)) == pytest.approx([1.5])
    assert _at([start, end, final("Goodbye!", 1.5)],
               create_detector("adaptive", **{**det, "final_punct": False})) == pytest.approx([1.8])
    live = [start, end, Signal(1.5, "transcript", ("", "Goodbye."))]  # words that may still change
    assert _at(live, create_detector("adaptive", **det)) == pytest.approx([1.8])
    # a final heard before this pause describes earlier speech; a dangling word still holds the turn
    early = [start, final("Hello.", 0.6), end]
    assert _at(early, create_detector("adaptive", **det)) == pytest.approx([1.8])
    assert _at([start, end, final("My order number is.", 1.5)], create_detector("adaptive", **det)) \
        == pytest.approx([3.0])


def test_peer_policies():
    sigs = lambda p, name: [Signal(0.1, "speech_start", (0.0,)), _speech_end(1.0),  # noqa: E731
                            Signal(1.2, f"turn_score:{name}", (p, 1.0, 0.2))]
    st = dict(threshold=0.5, heard_ms=200, stop_ms=3000)
    assert _at(sigs(0.9, "smart_turn"), create_detector("smart_turn", **st)) == pytest.approx([1.2])
    assert _at(sigs(0.1, "smart_turn"), create_detector("smart_turn", **st)) == pytest.approx([4.0])
    lk = dict(threshold=0.36, heard_ms=200, min_delay_ms=500, max_delay_ms=2000)
    assert _at(sigs(0.5, "livekit"), create_detector("livekit", **lk)) == pytest.approx([1.5])
    assert _at(sigs(0.2, "livekit"), create_detector("livekit", **lk)) == pytest.approx([3.0])
    # a score for another silence or another offset is ignored
    assert _at(sigs(0.9, "smart_turn")[:2] + [Signal(1.4, "turn_score:smart_turn", (0.9, 1.0, 0.4))],
                  create_detector("smart_turn", **st)) == pytest.approx([4.0])


def test_live_peer_detector_asks_its_model_once_it_has_heard_enough_silence():
    heard = []
    det = create_detector("livekit", heard_ms=200, min_delay_ms=300, max_delay_ms=2000,
                          model=lambda audio: heard.append(len(audio)) or 0.9)
    det.on_speech_start(0.0)
    det.on_audio(np.zeros(16000, np.float32), 0.0)
    det.on_speech_end(0.9)
    assert det.turn_end_due_s() == pytest.approx(2.9) and not heard  # not enough silence heard yet
    det.on_audio(np.zeros(3200, np.float32), 1.0)
    assert det.turn_end_due_s() == pytest.approx(1.2) and heard == [int(1.1 * 16000)]


def test_replay_hands_each_turn_only_its_own_text():
    seen = []

    class Spy(type(create_detector("vad"))):
        def on_transcript(self, text, final, t_s):
            seen.append(text)

    sigs = [Signal(0.1, "speech_start", (0.0,)), Signal(0.5, "transcript", ("Hello there.", "")),
            _speech_end(1.0), Signal(3.0, "speech_start", (2.9,)), Signal(3.5, "transcript", ("Hello there. Bye", ""))]
    assert _at(sigs, Spy(end_silence_ms=300)) == pytest.approx([1.3])
    assert seen == ["Hello there.", "Bye"]


def _dialogue():
    w = lambda t, s, e: Word(word=t, start=s, end=e)  # noqa: E731
    return Dialogue(id="d", audio="x.flac", split="test", duration=10.0, caller_voice="a", bot_voice="b",
                    noise_snr_db=30, overlaps=[], turns=[Turn(speaker="caller", start=0, end=3, text="x", spoken="x")],
                    words=[w("one", 0.0, 1.0), w("two", 1.5, 3.0), w("three", 6.0, 7.0)],
                    silences=[Silence(start=1.0, end=1.5, label="hold", category="pause", turn=0, text_before="one"),
                              Silence(start=3.0, end=4.0, label="eot", category="statement", turn=0, text_before="two"),
                              Silence(start=7.0, end=8.0, label="eot", category="question", turn=1, text_before="x")])


def test_scores_count_cutoffs_latency_and_misses():
    s = Scores()
    # cuts the hold; 900 ms on the first eot, whose end it places right; misses the last (waits to 10 s)
    s.add(_dialogue(), [Take(1.2, 1.0), Take(3.9, 3.0)])
    out = s.summary()
    assert out["cutoff_rate"] == 1.0
    assert out["latency_ms"] == pytest.approx((900 + 3000) / 2)
    # F1 scores the placed ends (1.0 is no turn end, 3.0 is); F1 at take scores 1.2 and 3.9, neither within 0.5 s
    assert out["precision"] == pytest.approx(0.5) and out["recall"] == pytest.approx(0.5)
    assert out["f1"] == pytest.approx(0.5) and out["f1_at_take"] == 0.0


def test_scores_break_down_by_category_and_by_base_voice():
    s = Scores()
    s.add(_dialogue().model_copy(update={"caller_voice": "espeak:en-us+m7?rate=150"}), [Take(1.2, 1.0), Take(3.9, 3.0)])
    s.add(_dialogue().model_copy(update={"caller_voice": "festival:slt"}), [Take(3.4, 3.0), Take(7.5, 7.0)])
    out = s.summary()
    assert out["hold_cutoff_by_voice"] == {"espeak:en-us": 1.0, "festival:slt": 0.0}
    assert out["eot_latency_ms_by_voice"] == pytest.approx({"espeak:en-us": (900 + 3000) / 2, "festival:slt": 450})
    assert out["holds_by_voice"] == {"espeak:en-us": 1, "festival:slt": 1} and out["eots_by_voice"]["festival:slt"] == 2
    assert out["hold_cutoff_by_category"] == {"pause": 0.5}
    assert out["eot_latency_ms_by_category"] == pytest.approx({"statement": 650, "question": 1750})


def test_mark_timing_counts_marks_heard_before_speech_resumes():
    from turn_taking.eval.metrics import mark_timing

    mark = lambda at, t: Signal(at, "sentence_end", (".", t))  # noqa: E731
    sigs = [mark(1.6, 1.0),  # the hold's mark, heard only after the caller resumed at 1.5: not a false end
            mark(3.3, 3.1),  # the first end's, 300 ms after it
            mark(3.5, 3.0),  # a second mark for the same end: the first one heard counts
            mark(7.2, 6.0)]  # placed 1 s before the last end: not that end's
    out = mark_timing([(_dialogue(), sigs)])
    assert out["eots"] == 2 and out["eots_marked"] == 0.5 and out["arrival_p50_ms"] == pytest.approx(300)
    assert out["holds"] == 1 and out["holds_marked"] == 0.0
    out = mark_timing([(_dialogue(), [mark(1.4, 1.1)])])  # heard during the hold: a false end
    assert out["holds_marked"] == 1.0 and out["eots_marked"] == 0.0 and out["arrival_p50_ms"] is None


def _with_overlaps() -> Dialogue:
    """A caller turn, a backchannel during the bot's next turn, a barge-in that cuts that turn
    (labelled both a caller turn and an overlap, as the dialogue builder does), and a last turn."""
    from turn_taking.data.labels import Overlap

    return _dialogue().model_copy(update={
        "turns": [Turn(speaker="caller", start=0, end=3, text="One two.", spoken="One, two."),
                  Turn(speaker="bot", start=4, end=6.2, text="Sure thing.", spoken="Sure thing.", cut_at=6.2),
                  Turn(speaker="caller", start=6.0, end=6.8, text="Wait.", spoken="Wait.", category="interruption"),
                  Turn(speaker="caller", start=9.5, end=10, text="Bye.", spoken="Bye.")],
        "overlaps": [Overlap(start=5.0, end=5.4, text="Mhm.", label="backchannel", bot_turn=1),
                     Overlap(start=6.0, end=6.8, text="Wait.", label="interruption", bot_turn=1)],
        "words": [Word(word="One", start=0.2, end=0.6), Word(word="two", start=2.0, end=2.5),
                  Word(word="Mhm", start=5.0, end=5.4), Word(word="Wait", start=6.0, end=6.8),
                  Word(word="Bye", start=9.5, end=10.0)]})


def test_caller_wer_scores_the_last_transcript_against_everything_the_caller_said_once_in_order():
    from turn_taking.eval.metrics import caller_wer

    d = _with_overlaps()
    text = lambda at, c, p="": Signal(at, "transcript", (c, p))  # noqa: E731
    sigs = [text(1.0, "One"), text(3.2, "One, 2."), text(5.6, "One, 2. Mhm."), text(7.0, "One, 2. Mhm. Wait."),
            text(9.9, "One, 2. Mhm. Wait.", "by")]
    out = caller_wer([(d, sigs)])
    # the barge-in is one word said once, though labelled both a turn and an overlap
    assert out["words"] == 5 and out["substitutions"] == 1 and out["wer"] == pytest.approx(0.2)  # "by"
    assert caller_wer([(d, sigs[:2])])["deletions"] == 3  # what was never written counts as deleted


def test_the_reference_recognizer_writes_the_labels_words_as_the_pause_decode_would_hear_them():
    from turn_taking.trace import reference_events

    d = _with_overlaps()
    events = reference_events(d, 0.064)
    assert [(e.kind, e.text, e.at) for e in events if e.kind == "final"] == [
        ("final", "One,", pytest.approx(0.664)), ("final", "two.", pytest.approx(2.564)),
        ("final", "Mhm.", pytest.approx(5.464)), ("final", "Wait.", pytest.approx(6.864)),
        ("final", "Bye.", pytest.approx(10.064))]
    # a sentence end at each word its text ends a sentence with, stamped at the word's end; none at the comma
    assert [(e.text, e.time) for e in events if e.kind == "sentence_end"] == [
        (".", 2.5), (".", 5.4), (".", 6.8), (".", 10.0)]
    bare = reference_events(d, 0.0, marks=False)
    assert [e.text for e in bare] == ["One", "two", "Mhm", "Wait", "Bye"]
    # a word no text accounts for is given as timed, without punctuation
    odd = d.model_copy(update={"words": d.words + [Word(word="uh", start=11.0, end=11.2)]})
    assert [e.text for e in reference_events(odd, 0.0)][-1] == "uh"


def test_greedy_matching_equals_the_brute_force_maximum_on_sparse_events():
    rng = random.Random(0)
    for _ in range(200):
        pred = sorted(rng.uniform(0, 20) for _ in range(rng.randint(0, 5)))
        ref = sorted(rng.uniform(0, 20) for _ in range(rng.randint(0, 5)))
        short, long_ = sorted((pred, ref), key=len)
        best = max((sum(abs(short[i] - long_[j]) <= 0.5 for i, j in enumerate(perm))
                    for perm in itertools.permutations(range(len(long_)), len(short))), default=0)
        got = greedy_matches(pred, ref, 0.5)
        # closest-first greedy is what the protocol specifies; on events 0.5 s apart it rarely loses a match
        assert best - 1 <= got <= best


def test_frontier_and_operating_points():
    rows = [{"cutoff_rate": c, "latency_ms": l} for c, l in [(0.2, 300), (0.1, 500), (0.1, 400), (0.04, 900),
                                                             (0.3, 350), (0.01, 2000)]]
    assert [(r["cutoff_rate"], r["latency_ms"]) for r in frontier(rows)] == [(0.01, 2000), (0.04, 900), (0.1, 400),
                                                                             (0.2, 300)]
    assert latency_at(rows, 0.05)["latency_ms"] == 900 and latency_at(rows, 0.001) is None
    assert cutoff_at(rows, 400)["cutoff_rate"] == 0.1 and cutoff_at(rows, 100) is None


def test_signals_of_a_trace_arrive_in_order_with_the_turn_text():
    probs = [0.0] * 5 + [0.9] * 30 + [0.0] * 40
    trace = CallerTrace(id="d", duration=2.4, vad=probs, recognizer="r", compute_s=0.1,
                        events=[RecognizerEvent(at=1.5, kind="final", text="Hello."),
                                RecognizerEvent(at=1.5, kind="sentence_end", text=".", time=1.1),
                                RecognizerEvent(at=1.5, kind="end_prob", p=0.3)],
                        peers={"livekit": [PeerScore(onset=35 * WINDOW_S, offset=0.2, p=0.7)]})
    sigs = signals(trace)
    assert [s.at for s in sigs] == sorted(s.at for s in sigs)
    kinds = [s.kind for s in sigs]
    assert kinds[:2] == ["speech_start", "speech_end"] and "turn_score:livekit" in kinds
    assert next(s for s in sigs if s.kind == "transcript").args == ("Hello.", "")
    assert VAD_PARAMS["stop_ms"] < 200  # policies, not the VAD, set the delays


def test_hybrid_signals_show_the_streams_words_until_the_segment_final_replaces_them():
    """In the agent's hybrid the caller's text is the segment finals so far plus the stream's words
    of the stretch it has not closed; the stream's words at its close never show."""
    probs = [0.0] * 5 + [0.9] * 30 + [0.0] * 40
    events = [RecognizerEvent(at=0.8, kind="partial", text="Could"),
              RecognizerEvent(at=1.2, kind="final", text="Could my,"),
              RecognizerEvent(at=1.4, kind="final", text="bye.", closing=True),
              RecognizerEvent(at=1.4, kind="closed"),
              RecognizerEvent(at=1.6, kind="segment_final", text="Goodbye!", time=1.1),
              RecognizerEvent(at=3.0, kind="final", text="Mm"),  # over the bot: only its own words show
              RecognizerEvent(at=3.1, kind="closed")]
    hybrid = CallerTrace(id="d", duration=2.4, vad=probs, recognizer="r", final_recognizer="w", compute_s=0.1,
                         events=events, peers={})
    assert [s.args for s in signals(hybrid) if s.kind == "transcript"] == [
        ("", "Could"), ("", "Could my,"), ("Goodbye!", ""), ("Goodbye!", "Mm")]
    stream_only = hybrid.model_copy(update={"final_recognizer": None, "events": events[:4]})
    assert [s.args for s in signals(stream_only) if s.kind == "transcript"] == [
        ("", "Could"), ("Could my,", ""), ("Could my, bye.", "")]


def test_sweep_grids_hold_only_accepted_settings_and_reach_the_cautious_end():
    """Every detector's sweep runs from eager to cautious (its frontier can reach few cutoffs),
    skipping combinations the detector refuses."""
    from turn_taking.eval.sweep import GRIDS, settings

    for name in GRIDS:
        grid = settings(name)
        assert grid and all(create_detector(name, **p) for p in grid)
    assert all(p["complete_ms"] <= p["unknown_ms"] <= p["incomplete_ms"] for p in settings("adaptive"))
    assert any(p["complete_ms"] >= 1000 for p in settings("adaptive"))
    assert any(p["min_delay_ms"] >= 1000 for p in settings("livekit"))
    with pytest.raises(ValueError, match="min_delay_ms"):
        create_detector("livekit", min_delay_ms=1200, max_delay_ms=1000)


# the learned policy: its fit, its examples and its due time

def _weights(tmp_path, w, name="w.json"):
    path = tmp_path / name
    save(np.asarray(w, np.float64), path)
    return path


def _w(**rows):
    """W with the given feature rows (name → [1, τ, log τ] coefficients; a pair is "a*b"), zero elsewhere."""
    w = np.zeros((len(FEATURES), len(BASIS)))
    for name, row in rows.items():
        w[FEATURES.index(name.replace("__", "*"))] = row
    return w


def test_fit_recovers_the_hazard_it_was_drawn_from():
    rng = np.random.default_rng(0)
    n = 60_000
    e = np.zeros((n, len(EVIDENCE)))
    e[:, 0] = 1
    mark, incomplete, digits = (EVIDENCE.index(n) for n in ("mark", "incomplete", "digits"))
    e[:, mark] = rng.random(n) < 0.3
    e[:, incomplete] = (rng.random(n) < 0.2) & (e[:, mark] == 0)
    e[:, digits] = (rng.random(n) < 0.3) & (e[:, incomplete] == 0)
    tau = rng.uniform(0.05, 3.0, n)
    # a mark after a short number says little: the pair's own row takes most of the mark's back
    true = _w(bias=[-2.0, 1.0, 0.3], mark=[2.5, 0.5, 0.0], incomplete=[-1.5, -0.5, 0.0], digits=[-0.5, 0.0, 0.0],
              mark__digits=[-2.0, -0.5, 0.0])
    p = 1 / (1 + np.exp(-(design(e, tau) @ true.ravel())))
    y = (rng.random(n) < p).astype(float)
    w = fit(e, tau, y, l2=1e-6)
    grid = np.linspace(0.1, 2.9, 15)
    for on in ([], ["mark"], ["incomplete"], ["digits"], ["mark", "digits"]):
        ev = np.zeros((len(grid), len(EVIDENCE)))
        ev[:, [0] + [EVIDENCE.index(n) for n in on]] = 1
        fitted, truth = (1 / (1 + np.exp(-(design(ev, grid) @ m.ravel()))) for m in (w, true))
        assert np.abs(fitted - truth).max() < 0.04


def test_a_silence_weighs_the_same_however_many_moments_it_lasts():
    """With per-silence weights, repeating a silence's moments (a longer silence) changes nothing;
    repeating them as new silences does: the weighted fit is the brute-force one on the
    silence-level mixture."""
    rng = np.random.default_rng(1)
    n = 400
    e = np.zeros((n, len(EVIDENCE)))
    e[:, 0] = 1
    e[:, EVIDENCE.index("mark")] = rng.random(n) < 0.5
    tau, y, silence = rng.uniform(0.05, 2.0, n), (rng.random(n) < 0.6).astype(float), np.arange(n) // 4
    base = fit(e, tau, y, weights=per_silence(silence))
    twice = np.r_[np.arange(n), np.arange(n)[silence == 0]]  # silence 0 lasts twice as long
    same = fit(e[twice], tau[twice], y[twice], weights=per_silence(silence[twice]))
    np.testing.assert_allclose(same, base, atol=1e-4)
    more = np.r_[silence, silence[silence == 0] + silence.max() + 1]  # ... or comes round again
    other = fit(e[twice], tau[twice], y[twice], weights=per_silence(more))
    assert np.abs(other - base).max() > 1e-3


def _listen(detector, sigs):
    listener = Listener(detector)
    for s in sigs:
        listener.hear(s)


def test_due_is_the_first_moment_the_chance_reaches_the_threshold_never_before_the_evidence(tmp_path):
    w = _w(bias=[-3.0, 2.0, 0.0], mark=[2.0, 0.0, 0.0], incomplete=[-2.0, 0.0, 0.0])
    path = _weights(tmp_path, w)
    for text, mark, heard in (("I need a refund", True, 1.25), ("I called and", False, 1.1), ("hi", False, 1.1)):
        d = LearnedDetector(threshold=0.6, max_ms=2500, weights=path)
        sigs = [Signal(0.1, "speech_start", (0.0,)), Signal(0.9, "transcript", (text, "")),
                Signal(1.1, "speech_end", (1.0,))]
        if mark:
            sigs.append(Signal(heard, "sentence_end", (".", 1.0)))
        _listen(d, sigs)
        e = np.zeros(len(EVIDENCE))
        e[[EVIDENCE.index(n) for n in ("bias", "mark", "incomplete", "few_words", "stretch")]] = \
            [1, mark, text.endswith("and"), len(text.split()) <= 3, np.log1p(1.0)]
        taus = np.arange(0, 2.5, 0.001)
        p = 1 / (1 + np.exp(-(basis(taus) @ w.T @ features(e))))
        ok = taus[(p >= 0.6) & (taus >= heard - 1.0 - 1e-9)]
        expected = 1.0 + (ok[0] if len(ok) else 2.5)
        assert d.turn_end_due_s() == pytest.approx(expected, abs=STEP_S + 1e-9)
        assert d.turn_end_due_s() >= heard - 1e-9


def test_replay_takes_a_marked_end_sooner_than_an_unfinished_one(tmp_path):
    path = _weights(tmp_path, _w(bias=[-3.0, 2.0, 0.0], mark=[2.0, 0.0, 0.0], incomplete=[-3.0, 0.0, 0.0]))
    sigs = [Signal(0.1, "speech_start", (0.0,)), Signal(0.9, "transcript", ("so I called and", "")),
            Signal(1.1, "speech_end", (1.0,)), Signal(2.9, "speech_start", (2.8,)),
            Signal(3.5, "transcript", ("so I called and nobody came.", "")), Signal(4.1, "speech_end", (4.0,)),
            Signal(4.2, "sentence_end", (".", 4.0)), Signal(9.0, "speech_start", (8.9,))]
    takes = replay(sigs, create_detector("learned", threshold=0.5, weights=str(path)))
    assert [round(k.at, 2) for k in takes] == [4.5]  # mark: σ(-1 + 2τ) ≥ ½ at τ = 0.5; the hold is kept


def test_examples_are_labelled_by_silence_and_hold_only_evidence_already_heard():
    sigs = [Signal(0.1, "speech_start", (0.0,)), Signal(0.9, "transcript", ("I called and", "")),
            Signal(1.1, "speech_end", (1.0,)), Signal(1.6, "speech_start", (1.5,)),
            Signal(2.9, "transcript", ("I called and it's done", "")), Signal(3.1, "speech_end", (3.0,)),
            Signal(3.42, "sentence_end", (".", 3.0)), Signal(6.1, "speech_start", (6.0,)),
            Signal(6.9, "transcript", ("I called and it's done next", "")), Signal(7.1, "speech_end", (7.0,)),
            Signal(8.9, "speech_start", (8.8,))]
    ex = Examples()
    ex.add(_dialogue(), sigs)
    e, tau, y, silence, dialogue = ex.arrays()
    assert not dialogue.any()
    ev = {n: e[:, i] for i, n in enumerate(EVIDENCE)}
    assert len(y) == 8 + 18 + 18  # in the order heard: the hold, the first end, the second
    hold, first, second = slice(0, 8), slice(8, 26), slice(26, 44)
    assert [len(set(silence[s])) for s in (hold, first, second)] == [1, 1, 1] and len(set(silence)) == 3
    w = per_silence(silence)  # each silence weighs the same: the hold's 8 moments as much as an end's 18
    assert w[hold].sum() == pytest.approx(w[first].sum()) == pytest.approx(w[second].sum()) and w.mean() == pytest.approx(1)
    # the hold: from the VAD's stop (1.1 s) until the caller resumes (1.5 s), all "and"
    assert not y[hold].any() and np.allclose(1.0 + tau[hold], np.arange(1.1, 1.5 - 1e-9, 0.05))
    assert ev["incomplete"][hold].all()
    # the first end: 3.1 s to the bot's answer at 4.0 s; the mark only from when it was heard (3.42 s)
    t = 3.0 + tau[first]
    assert y[first].all() and t.min() == pytest.approx(3.1) and t.max() == pytest.approx(3.95)
    assert not ev["mark"][first][t < 3.42].any() and ev["mark"][first][t >= 3.42].all()
    # after the bot answered, the turn's text starts afresh: "next" alone is a turn of few words
    assert y[second].all() and ev["few_words"][second].all() and not ev["few_words"][first].any()
    assert np.allclose(7.0 + tau[second], np.arange(7.1, 8.0 - 1e-9, 0.05))
    ex.add(_dialogue(), sigs)  # a second call: its silences are new ones, its moments marked as its own
    both = ex.arrays()
    assert len(set(both.silence)) == 6 and np.array_equal(both.dialogue, np.repeat([0, 1], len(y)))


def test_a_bad_weights_file_says_how_to_make_one(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    with pytest.raises(ValueError, match="python -m turn_taking fit"):
        LearnedDetector(weights=bad)
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"evidence": ["bias"], "basis": list(BASIS), "weights": [[0, 0, 0]]}))
    with pytest.raises(ValueError, match="refit"):
        LearnedDetector(weights=other)
    with pytest.raises(ValueError, match="threshold"):
        LearnedDetector(threshold=1.0, weights=_weights(tmp_path, _w()))
    with pytest.raises(ValueError, match="python -m turn_taking fit"):
        LearnedDetector(weights=tmp_path / "missing.json")


def test_weights_refit_at_the_same_path_are_read_again(tmp_path):
    import os

    path = _weights(tmp_path, _w(bias=[1.0, 0.0, 0.0]))
    assert LearnedDetector(weights=path).weights[0, 0] == 1.0
    save(_w(bias=[2.0, 0.0, 0.0]), path)
    os.utime(path, ns=(os.stat(path).st_atime_ns, os.stat(path).st_mtime_ns + 1_000_000))
    assert LearnedDetector(weights=path).weights[0, 0] == 2.0


def test_the_shipped_policy_waits_longer_for_an_unfinished_sentence_than_for_a_marked_one():
    def heard(text, mark):  # the same voice at every pause: the words decide
        d = create_detector("learned")
        sigs = [Signal(0.1, "speech_start", (0.0,)), Signal(0.9, "transcript", (text, "")),
                Signal(1.1, "speech_end", (1.0,)), Signal(1.2, "turn_score:voice_end", (0.5, 1.0, 0.2))]
        sigs += [Signal(1.2, "sentence_end", (".", 1.0))] if mark else []
        _listen(d, sigs)
        return d

    cases = [heard("I'd like a refund.", True), heard("I'd like a refund", False),
             heard("My number is four five two", False), heard("I called yesterday and", False)]
    for tau in (0.3, 0.6, 1.0):  # a mark above no mark above either unfinished cue (their order is the data's)
        p = [float(d.probability(tau)) for d in cases]
        assert p[0] > p[1] > max(p[2:]), (tau, p)
    dues = [d.turn_end_due_s() - 1.0 for d in cases]
    assert dues == sorted(dues) and dues[0] < 1.0 and dues[-1] > 2.0  # a dangling "and": over two seconds


def test_a_dialogue_rebuilt_under_the_same_id_is_traced_again(tmp_path):
    """Traces are cached per dialogue id; a rebuild changes the audio, not the ids."""
    from turn_taking.data.labels import Dialogue
    from turn_taking.trace import audio_digest, read_traces, untraced

    def dialogue(name: str) -> Dialogue:
        return Dialogue(id=name, audio=str(tmp_path / f"{name}.flac"), split="test", duration=1.0, caller_voice="v",
                        bot_voice="b", noise_snr_db=30.0, turns=[], silences=[], overlaps=[], words=[])

    for name in ("a", "b", "c"):
        (tmp_path / f"{name}.flac").write_bytes(name.encode() * 100)
    dialogues = [dialogue(n) for n in ("a", "b", "c")]
    out = tmp_path / "traces.jsonl"
    assert untraced(dialogues, out) == dialogues  # nothing traced yet
    out.write_text("".join(CallerTrace(id=d.id, duration=1.0, vad=[], recognizer="trade", events=[], compute_s=0.0,
                                       peers={}, audio_sha1=audio_digest(d.audio)).model_dump_json() + "\n"
                           for d in dialogues[:2]))
    assert [d.id for d in untraced(dialogues, out)] == ["c"]
    (tmp_path / "b.flac").write_bytes(b"rebuilt" * 100)
    assert [d.id for d in untraced(dialogues, out)] == ["b", "c"]
    assert list(read_traces(out)) == ["a"]  # the stale trace of b is gone from the cache
    with out.open("a") as f:  # a run killed while writing c's trace
        f.write('{"version": 10, "id": "c", "dur')
    assert [d.id for d in untraced(dialogues, out)] == ["b", "c"]
    assert list(read_traces(out)) == ["a"] and out.read_text().endswith("\n")


def test_a_trace_file_is_filled_by_one_process_at_a_time(tmp_path):
    from turn_taking.trace import build_traces, tracing_lock

    out = tmp_path / "test-trade.jsonl"
    with tracing_lock(out):
        with pytest.raises(RuntimeError, match="another process"):
            build_traces([], out)
    assert build_traces([], out) == out  # free again once the first run is done


def _marked_calls(voice: str, ends_marked: bool, calls: int = 4) -> list[tuple[Dialogue, list[Signal]]]:
    """Calls in ``voice`` whose pauses alternate hold and end, the recognizer marking the ends
    (``ends_marked``) or, in a voice it hears the other way round, the holds."""
    out = []
    for c in range(calls):
        sigs, words, silences, t = [], [], [], 0.0
        for i in range(6):
            end = i % 2 == 1
            gap = 2.5 if end else 0.8
            sigs += [Signal(t + 0.1, "speech_start", (t,)), Signal(t + 0.9, "transcript", (f"word {i}", "")),
                     Signal(t + 1.1, "speech_end", (t + 1.0,))]
            if end == ends_marked:
                sigs.append(Signal(t + 1.15, "sentence_end", (".", t + 1.0)))
            words.append(Word(word=f"w{i}", start=t, end=t + 1.0))
            silences.append(Silence(start=t + 1.0, end=t + 1.0 + (1.5 if end else gap), label="eot" if end else "hold",
                                    category="statement" if end else "pause", turn=i // 2, text_before=f"w{i}"))
            t += 1.0 + gap
        out.append((Dialogue(id=f"{voice}-{c}", audio="x.flac", split="train", duration=t, caller_voice=voice,
                             bot_voice="b", noise_snr_db=30, overlaps=[], turns=[], words=words, silences=silences),
                    sigs))
    return out


def test_each_voice_is_scored_by_a_policy_fit_without_it():
    """Two voices the recognizer marks alike: either one left out is heard as the other taught,
    and the turn is taken at the mark. A voice marked the other way round: left out, its holds are
    cut and its ends waited on, as a policy meets a caller unlike every voice it was fit on."""
    alike = cross_voice_sweep(_marked_calls("espeak:en-b", True) + _marked_calls("festival:c", True), [1e-2])[1e-2]
    assert alike["at_5"]["cutoff_rate"] == 0.0 and alike["at_5"]["latency_ms"] < 500
    unlike = cross_voice_sweep(_marked_calls("espeak:en-b", True) + _marked_calls("piper:a", False), [1e-2])[1e-2]
    assert unlike["at_5"] is None  # no threshold keeps the cutoffs to 5 % (fit on both voices, 0 % would do)
    with pytest.raises(ValueError, match="two voices"):
        cross_voice_sweep(_marked_calls("espeak:en-b", True), [1e-2])
