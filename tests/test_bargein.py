"""Barge-in: the classifier's decisions in media time, and the evaluation's scoring of them."""

import pytest

from turn_taking.bargein import Action, BargeInClassifier, BargeInPolicy
from turn_taking.data.labels import Dialogue, Overlap, Turn
from turn_taking.eval.bargein import BargeInScores, bot_intervals, choose, replay_bargein
from turn_taking.replay import Signal


def _speaking(policy=BargeInPolicy()):
    clf = BargeInClassifier(policy)
    clf.bot_started()
    return clf


def test_speech_over_the_bot_pauses_it_when_known_and_long_speech_interrupts():
    clf = _speaking(BargeInPolicy(max_backchannel_s=0.8))
    assert clf.on_speech_start(1.0, now=1.07) == [Action("pause", 1.07)]
    assert clf.next_due() == (1.8, "interrupt")
    assert clf.advance(1.79) == []
    assert clf.advance(2.5) == [Action("interrupt", 1.8)]  # stamped when it was due, not when polled
    assert clf.on_speech_start(3.0, now=3.07) == []  # one decision per bot turn once it is cut


def test_a_short_overlap_resumes_after_the_silence_and_a_late_keyword_still_interrupts():
    clf = _speaking(BargeInPolicy(max_backchannel_s=0.8, resume_after_s=0.4))
    clf.on_speech_start(1.0, now=1.07)
    assert clf.on_speech_end(1.4, now=1.5) == []
    assert clf.on_transcript("yeah", now=1.6) == []
    assert clf.advance(2.0) == [Action("resume", pytest.approx(1.8))]
    assert not clf.deciding
    assert clf.on_transcript("yeah no", now=2.1) == [Action("interrupt", 2.1)]


def test_interruption_words_interrupt_at_once_backchannel_words_do_not():
    clf = _speaking(BargeInPolicy(max_backchannel_s=5.0))
    clf.on_speech_start(1.0, now=1.07)
    assert clf.on_transcript("Okay, I see", now=1.4) == []
    assert clf.on_transcript("Okay, I see. Wait", now=1.7) == [Action("interrupt", 1.7)]
    assert clf.advance(10.0) == []


def test_nothing_happens_while_the_bot_is_silent_and_the_no_pause_variant_never_pauses():
    clf = BargeInClassifier()
    assert clf.on_speech_start(1.0, now=1.07) == [] and clf.next_due() is None
    clf = _speaking(BargeInPolicy(pause_on_speech=False, max_backchannel_s=0.5, resume_after_s=0.1))
    assert clf.on_speech_start(1.0, now=1.07) == []
    clf.on_speech_end(1.2, now=1.3)
    assert clf.advance(5.0) == []  # a backchannel: no pause to undo
    clf.on_speech_start(6.0, now=6.07)
    assert clf.advance(6.6) == [Action("interrupt", 6.5)]


def test_cut_at_onset_interrupts_when_the_onset_is_known():
    clf = _speaking(BargeInPolicy(pause_on_speech=False, max_backchannel_s=0.0, keywords=False))
    clf.on_speech_start(1.0, now=1.07)
    assert clf.advance(1.07) == [Action("interrupt", 1.07)]


def _dialogue(overlaps):
    turns = [Turn(speaker="bot", start=0.0, end=5.0, text="a", spoken="a"),
             Turn(speaker="caller", start=5.5, end=6.0, text="b", spoken="b", category="affirmation"),
             Turn(speaker="bot", start=7.0, end=8.3, text="c", spoken="c", cut_at=8.3),
             Turn(speaker="caller", start=8.0, end=9.0, text="Wait.", spoken="Wait.", category="interruption")]
    return Dialogue(id="d", audio="", split="test", duration=12.0, caller_voice="v", bot_voice="joe",
                    noise_snr_db=30.0, turns=turns, silences=[], overlaps=overlaps, words=[])


def test_scores_count_false_interruptions_pauses_and_stop_latency():
    d = _dialogue([Overlap(start=2.0, end=2.4, text="Mhm.", label="backchannel", bot_turn=0),
                   Overlap(start=8.0, end=9.0, text="Wait.", label="interruption", bot_turn=2)])
    assert bot_intervals(d) == [(0.0, 5.0), (7.0, 11.0)]  # the cut bot turn runs on 2 s past the overlap
    sigs = [Signal(2.07, "speech_start", (2.0,)), Signal(2.5, "speech_end", (2.4,)),
            Signal(2.9, "transcript", ("Mhm.", "")),
            Signal(8.07, "speech_start", (8.0,)), Signal(8.6, "transcript", ("Mhm. Wait", ""))]
    policy = BargeInPolicy(max_backchannel_s=2.0, resume_after_s=0.4)
    bots = bot_intervals(d)
    actions = replay_bargein(sigs, bots, policy)
    assert actions == [Action("pause", 2.07), Action("resume", pytest.approx(2.8)), Action("pause", 8.07),
                       Action("interrupt", 8.6)]
    scores = BargeInScores()
    scores.add(d, bots, actions)
    s = scores.summary()
    assert s["false_interruption_rate"] == 0 and s["pause_rate"] == 1 and s["pause_p50_ms"] == pytest.approx(730)
    assert s["missed_rate"] == 0 and s["stop_p50_ms"] == pytest.approx(70) and s["confirm_p50_ms"] == pytest.approx(600)
    # with a pause the stop is the onset's; cutting at every onset is as fast but cuts the backchannel too
    cut = BargeInScores()
    cut.add(d, bots, replay_bargein(sigs, bots, BargeInPolicy(pause_on_speech=False, max_backchannel_s=0,
                                                                      keywords=False)))
    assert cut.summary()["false_interruption_rate"] == 1 and cut.summary()["stop_p50_ms"] == pytest.approx(70)


def test_dev_choice_misses_fewest_within_the_false_bar_and_breaks_ties_towards_longer_backchannels():
    def row(max_s, false, missed, confirm=600.0):
        return {"params": {"max_backchannel_s": max_s}, "false_interruption_rate": false, "missed_rate": missed,
                "stop_p50_ms": 90.0, "confirm_p50_ms": confirm, "pause_p50_ms": 480.0}

    rows = [row(0.6, 0.20, 0.0), row(0.8, 0.04, 0.02), row(1.0, 0.0, 0.0), row(1.2, 0.0, 0.0), row(1.4, 0.0, 0.1)]
    assert choose(rows)["params"]["max_backchannel_s"] == 1.2  # 1.0 and 1.2 tie on dev: keep the margin
    assert choose(rows[:2])["params"]["max_backchannel_s"] == 0.8  # within the bar beats fewer misses over it
    assert choose([row(0.6, 0.2, 0.0), row(0.8, 0.1, 0.0)])["params"]["max_backchannel_s"] == 0.8  # none within
