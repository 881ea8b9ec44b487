"""The shipped TRADE checkpoint as a recognizer: streaming events, offline mode, bounded state,
and the CLI. Behaviour on real speech, not numbers (those are in asr/RESULTS.md)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf

from asr.audio import SAMPLE_RATE, AudioError
from asr.events import Final, Partial, SentenceEnd
from asr.recognizer import create_recognizer, feed
from asr.eval.wer import word_errors
from asr.voices import load_voice

pytestmark = pytest.mark.models


def _run(stream, audio, chunk_ms=640):
    return [(arrived, e) for arrived, events in feed(stream, audio, chunk_ms) for e in events]


def test_streaming_transcript_events_are_causal(trade, speech):

    clips, lines = speech
    gap = np.zeros(SAMPLE_RATE // 2, np.float32)
    audio = np.concatenate([clips[0], gap, clips[1], gap])
    events = _run(trade.stream(), audio)
    words = [w for _, e in events if isinstance(e, Final) for w in e.words]
    assert word_errors(" ".join(lines[:2]), " ".join(w.text for w in words)).wer < 0.2
    for arrived, e in events:  # nothing is reported before the audio behind it has arrived
        if isinstance(e, Final):
            assert all(w.end_s <= w.emitted_s <= arrived + 1e-9 for w in e.words)
        elif isinstance(e, SentenceEnd):
            assert e.time_s <= e.emitted_s <= arrived + 1e-9
    assert [w.emitted_s for w in words] == sorted(w.emitted_s for w in words)


def test_commit_releases_partial_words_and_keeps_the_token_sequence(trade, speech):
    clips, _ = speech
    audio = np.concatenate([np.concatenate([c, np.zeros(SAMPLE_RATE // 4, np.float32)]) for c in clips * 2])
    trade = create_recognizer("trade", chunk_ms=320, model=trade.model)  # more steps, more partials
    stream, events = trade.stream(), []
    for i in range(0, len(audio), 320):
        events += stream.push(audio[i:i + 320])
        pending = events[-1].text if isinstance(events[-1:] and events[-1], Partial) else None
        committed = stream.commit()  # at every step, as if VAD had stopped there
        assert not any(isinstance(e, Partial) for e in committed), committed
        if pending:  # the partial words come out now
            assert "".join(w.text for w in committed[0].words).startswith(pending.replace(" ", ""))
        else:
            assert not committed, committed
        events += committed
    events += stream.finish()
    tokens = lambda events: "".join(w.text for e in events if isinstance(e, Final) for w in e.words)  # noqa: E731
    # greedy: the same text, only grouped into words at the commits
    assert tokens(events) == tokens([e for _, e in _run(trade.stream(), audio, chunk_ms=20)])
    assert stream.commit() == []  # nothing after the end


def test_a_pause_announces_each_sentence_end_sooner_and_once(trade, speech):
    """A VAD pause 100 ms into the silence after each sentence: its mark arrives then, not after
    the next chunk, and the stream's own output is the same as without pauses."""
    clips, _ = speech
    gap = np.zeros(SAMPLE_RATE, np.float32)
    audio = np.concatenate([clips[0], gap, clips[1], gap])
    ends = [len(clips[0]) / SAMPLE_RATE, (len(clips[0]) + len(gap) + len(clips[1])) / SAMPLE_RATE]

    def run(pauses):
        stream, out = trade.stream(), []
        for arrived, events in feed(stream, audio, 20):
            out += [(arrived, e) for e in events]
            if any(abs(arrived - t) < 0.01 for t in pauses):
                out += [(arrived, e) for e in stream.pause()]
        return [w.text for _, e in out if isinstance(e, Final) for w in e.words], \
            [(arrived, e) for arrived, e in out if isinstance(e, SentenceEnd)]

    words, marks = run([])
    paused_words, paused_marks = run([t + d for t in ends for d in (0.1, 0.3)])  # twice in each silence
    assert paused_words == words
    assert [e.mark for _, e in paused_marks] == [e.mark for _, e in marks] == [".", "?"]
    for (arrived, e), (late, _), end in zip(paused_marks, marks, ends):
        assert arrived == pytest.approx(end + 0.1, abs=0.02) and late > arrived + 0.3
        assert abs(e.time_s - end) < 0.3 and e.emitted_s <= arrived + 1e-9


def test_a_pause_decodes_once_per_silence_once_it_has_ended_the_sentence(trade):
    """Once a pause has written the sentence's mark, more of that silence is not decoded; the
    next silence is, though the stream decoded no chunk in between. The pause used to skip it
    then, so the next sentence's mark waited for the stop."""
    from asr.utterances import UtteranceStreams

    voice = load_voice("piper:joe?noise_scale=0&noise_w_scale=0")
    yes, no = (voice.synthesize(text).audio for text in ("Yes.", "No."))
    gap = np.zeros(SAMPLE_RATE // 10, np.float32)
    # 1280 ms: both answers and their pauses fit before the first whole chunk and its look-ahead
    streams = UtteranceStreams(create_recognizer("trade", chunk_ms=1280, model=trade.model))
    streams.speech_started(0.0)
    streams.push(np.concatenate([yes, gap]))
    first = streams.speech_paused(len(yes) / SAMPLE_RATE)
    assert [e.mark for e in first if isinstance(e, SentenceEnd)] == ["."]
    assert streams.speech_paused(len(yes) / SAMPLE_RATE) == []  # not even a partial: nothing decoded
    streams.push(np.concatenate([no, gap]))
    assert streams.decoded_s() == 0.0  # no whole chunk yet: only pause decodes have run
    second = streams.speech_paused(streams.now_s - len(gap) / SAMPLE_RATE)
    assert any(isinstance(e, Partial) and "no" in e.text.lower() for e in second), second


def test_a_run_of_marks_ends_one_sentence_and_a_mark_inside_a_word_ends_none(trade):
    """"a.m..!" is one sentence end (the first mark of the run), not three; the "." of "a.m." and
    of "example.com" is inside a word. Announcing the others told turn-taking a sentence had
    ended where it had not, or twice."""
    from asr.models.trade.search import Hyp
    from asr.recognizers.trade import PauseMarks

    ids = {t: i for i, t in trade.model.vocab.token_text.items()}
    text = [" Mail", " me", " at", " 5", " a", ".", "m", "..", "!", " at", " example", ".", "com", ".?"]
    hyp = Hyp([ids[t] for t in text], [0.1 * k for k in range(len(text))])
    stream = trade.stream()
    stream.received = 2 * SAMPLE_RATE  # a mark is never stamped after the audio heard
    marks = stream._new_marks(hyp, len(text), PauseMarks())
    assert [(e.mark, e.time_s) for e in marks] == [("..", pytest.approx(0.7)), (".?", pytest.approx(1.3))]


def test_utterance_streams_commit_at_pauses_and_keep_call_time(trade, speech):
    from asr.utterances import UtteranceStreams

    clips, _ = speech
    pause = np.zeros(SAMPLE_RATE * 3 // 2, np.float32)
    audio = np.concatenate([clips[0], pause, clips[2], pause])
    starts = [0.0, (len(clips[0]) + len(pause)) / SAMPLE_RATE]
    ends = [len(clips[0]) / SAMPLE_RATE, starts[1] + len(clips[2]) / SAMPLE_RATE]
    streams, events, committed_at, in_pause, resumed = UtteranceStreams(trade), [], [], [], False
    for i in range(0, len(audio), 320):
        t = i / SAMPLE_RATE
        before = streams.streams_started
        if any(abs(t - (e + 0.2)) < 0.01 for e in ends):  # a VAD stop 200 ms into the silence
            stopped = streams.speech_stopped(t - 0.2)
            assert streams.streams_started == before + 1  # closed at the stop itself, not a push later
            events += stopped
        if any(abs(t - (s + 0.3)) < 0.01 for s in starts):  # a VAD start 300 ms into the speech
            streams.speech_started(t - 0.3)
            resumed = len(committed_at) == 1
        pushed = streams.push(audio[i:i + 320])
        if len(committed_at) == 1 and not resumed:
            in_pause.append((pushed, streams.decoded_s() == streams.now_s))
        events += pushed
        if streams.streams_started > before:  # committed: a fresh stream began
            committed_at.append(t)
    words = [w for e in events if isinstance(e, Final) for w in e.words]
    second = [w for w in words if w.start_s > ends[0]]
    assert len(committed_at) == 2 and all(e < c < e + 1.5 for e, c in zip(ends, committed_at)), committed_at
    assert in_pause and all(p == ([], True) for p in in_pause), [p for p in in_pause if p != ([], True)]  # silence is not decoded, and counts as done
    assert len(second) >= 4, [w.text for w in words]  # the second sentence, pre-roll and all, on call time
    assert second[0].start_s < starts[1] + 0.6
    assert all(w.end_s <= w.emitted_s for w in words) and [w.start_s for w in words] == sorted(w.start_s for w in words)
    last = {type(e): k for k, e in enumerate(events)}
    assert last.get(Partial, -1) < last[Final]  # nothing left pending after the last pause
    assert streams.finish() == []  # the call ends in a pause: nothing is left to flush


def test_vad_driven_streams_close_at_each_pause_and_the_next_hears_its_first_words(trade, speech):
    """Two sentences a short pause apart, through Silero VAD as in a call: each gets its own
    stream, closed at the VAD's stop (not kept open across the pause while its last chunk
    waits for audio), and the second stream starts before its first word."""
    from asr.utterances import VADUtterances

    clips, lines = speech
    gap = np.zeros(SAMPLE_RATE // 4, np.float32)  # with Piper's own trailing quiet, about 0.6 s
    audio = np.concatenate([clips[0], gap, clips[2], gap, gap])
    stream = VADUtterances(trade).stream()
    events = _run(stream, audio, chunk_ms=20)  # then finished
    words = [(arrived, w) for arrived, e in events if isinstance(e, Final) for w in e.words]
    assert stream.utterances.streams_started == 3  # two streams, both closed
    second_start = (len(clips[0]) + len(gap)) / SAMPLE_RATE
    # the second stream's first chunk needs 0.8 s of its audio, which starts 0.3 s before the onset
    first = [w for arrived, w in words if arrived < second_start + 0.3]
    second = [w for arrived, w in words if arrived >= second_start + 0.3]
    assert word_errors(lines[0], " ".join(w.text for w in first)).wer < 0.3, first  # "I'd" for "I would"
    assert word_errors(lines[2], " ".join(w.text for w in second)).wer < 0.2, second
    assert second[0].text == "My"  # heard by the second stream, not the first
    assert max(w.emitted_s for w in first) < second_start  # out at the pause
    assert min(w.start_s for w in second) > max(w.end_s for w in first)
    for arrived, w in words:  # call time, and never before the audio behind it arrived
        assert w.start_s <= w.end_s <= w.emitted_s <= arrived + 1e-9
    quiet = VADUtterances(trade, pause_decode=False).stream()  # the pause decode changes no word
    quiet_events = [e for _, e in _run(quiet, audio, chunk_ms=20)]
    assert [w for e in quiet_events if isinstance(e, Final) for w in e.words] == [w for _, w in words]


def test_utterance_streams_finish_releases_the_words_of_a_call_that_ends_mid_speech(trade, speech):
    from asr.utterances import UtteranceStreams

    clips, _ = speech
    cut = clips[0][:int(len(clips[0]) * 0.6)]  # the call drops mid-sentence
    streams, events = UtteranceStreams(trade), []
    streams.speech_started(0.0)
    for i in range(0, len(cut), 320):
        events += streams.push(cut[i:i + 320])
    pending = next(e for e in reversed(events) if isinstance(e, (Final, Partial)))
    said = [w for e in events if isinstance(e, Final) for w in e.words]
    flushed = [w for e in streams.finish() if isinstance(e, Final) for w in e.words]
    assert any(c.isalnum() for w in flushed for c in w.text), "the audio not yet decoded or committed was lost"
    starts = [w.start_s for w in said + flushed]
    assert starts == sorted(starts) and starts[-1] <= len(cut) / SAMPLE_RATE
    if isinstance(pending, Partial):  # a partial is released as it was
        assert pending.text.split()[0].strip(".,?!") in flushed[0].text
    assert streams.finish() == []  # once


def test_utterance_streams_hear_nothing_before_speech_and_from_just_before_its_onset(trade, speech):
    """A minute of silence before the caller speaks is not decoded; the stream starts
    ``LEAD_S`` before the onset the VAD reports."""
    from asr.utterances import LEAD_S, UtteranceStreams

    clips, lines = speech
    silence_s = 60.0
    audio = np.concatenate([np.zeros(int(silence_s * SAMPLE_RATE), np.float32), clips[2],
                            np.zeros(SAMPLE_RATE, np.float32)])
    streams, events = UtteranceStreams(trade), []
    for i in range(0, len(audio), 320):
        t = i / SAMPLE_RATE
        if abs(t - (silence_s + 0.25)) < 0.01:
            streams.speech_started(silence_s)  # the VAD: speech began at 60.0 s, said 250 ms later
        if abs(t - (silence_s + len(clips[2]) / SAMPLE_RATE + 0.2)) < 0.01:
            streams.speech_stopped(t - 0.2)
        events += streams.push(audio[i:i + 320])
        if t < silence_s:
            assert streams.decoded_s() == pytest.approx(streams.now_s)  # nothing waits to be decoded
    words = [w for e in events if isinstance(e, Final) for w in e.words]
    assert word_errors(lines[2], " ".join(w.text for w in words)).wer < 0.3, words
    assert silence_s - LEAD_S <= words[0].start_s < silence_s + 0.5  # on call time


def test_a_short_answer_gets_its_sentence_end_from_the_stop_itself(trade):
    """No pause decodes: the VAD's stop closes the stream at once, and the close (its padded
    decode and flush) gives the answer its words and its mark then, not an audio frame later."""
    from asr.utterances import UtteranceStreams

    voice = load_voice("piper:joe?noise_scale=0&noise_w_scale=0")
    for text in ["Yes.", "No."]:
        clip = voice.synthesize(text).audio
        end_s = len(clip) / SAMPLE_RATE
        streams = UtteranceStreams(trade, pause_decode=False)
        streams.speech_started(0.0)
        for i in range(0, len(clip) + SAMPLE_RATE // 5, 320):  # up to the stop, 200 ms into the silence
            streams.push(np.concatenate([clip, np.zeros(SAMPLE_RATE, np.float32)])[i:i + 320])
        at_stop = streams.speech_stopped(end_s)
        assert not streams.listening
        assert [w.text for e in at_stop if isinstance(e, Final) for w in e.words] == [text]
        assert [e.mark for e in at_stop if isinstance(e, SentenceEnd)] == ["."]


def test_question_mark_is_emitted_where_the_question_ends(trade):
    # Piper's noise off: its noise cannot be seeded, and the mark sits near a tie on some draws
    clip = load_voice("piper:joe?noise_scale=0&noise_w_scale=0").synthesize("Can you send it to my office instead?").audio
    events = _run(trade.stream(), np.concatenate([clip, np.zeros(SAMPLE_RATE // 2, np.float32)]))
    ends = [e for _, e in events if isinstance(e, SentenceEnd)]
    assert [e.mark for e in ends] == ["?"]
    # stamped where the sentence ends: Piper's clip runs on ≈ 0.3–0.5 s after the last word
    assert len(clip) / SAMPLE_RATE - 0.8 < ends[0].time_s < len(clip) / SAMPLE_RATE + 0.5


def test_offline_mode_of_the_same_checkpoint(trade, speech):

    clips, lines = speech
    offline = create_recognizer("trade-offline", model=trade.model)
    texts = [offline.transcribe(c).text for c in clips]
    assert word_errors(" ".join(lines), " ".join(texts)).wer < 0.3
    assert sum(t.rstrip()[-1:] in ".?" for t in texts) >= 3  # sentence-end punctuation from the LLM


def test_state_stays_bounded_on_a_long_stream(trade, speech):
    clips, _ = speech
    audio = np.concatenate([c for _ in range(3) for c in clips])  # ≈ 30 s
    stream, widest = trade.stream(), 0
    for i in range(0, len(audio), SAMPLE_RATE * 640 // 1000):
        stream.push(audio[i:i + SAMPLE_RATE * 640 // 1000])
        widest = max(widest, stream.window.shape[1])
    assert widest <= stream.window_frames
    assert all(len(c[0][0]) <= stream.C * stream.encoder.N_l for c in stream.encoder.cache if c is not None)


@pytest.mark.xfail(strict=True, reason="known limitation of the shipped checkpoint: trained on inputs of at "
                   "most 14 s, it loses its place in longer streams (asr/RESULTS.md, long streams)")
def test_long_stream_keeps_transcribing_after_a_sentence_end(trade, speech):
    clips, _ = speech
    gap = np.zeros(SAMPLE_RATE // 2, np.float32)
    audio = np.concatenate([x for _ in range(3) for c in clips for x in (c, gap)])  # ≈ 30 s, 12 sentences
    words = [w for _, e in _run(trade.stream(), audio) if isinstance(e, Final) for w in e.words]
    assert len(words) > 60


def test_the_same_long_stream_through_vad_keeps_transcribing(trade, speech):
    """What the product does about the limitation above: one recognizer stream per stretch of
    speech (``asr.utterances``), so 12 sentences hold up as well as one."""
    from asr.utterances import VADUtterances

    clips, lines = speech
    gap = np.zeros(SAMPLE_RATE // 2, np.float32)
    audio = np.concatenate([x for _ in range(3) for c in clips for x in (c, gap)])
    stream = VADUtterances(trade).stream()
    events = [e for _, e in _run(stream, audio, chunk_ms=20)]
    words = [w.text for e in events if isinstance(e, Final) for w in e.words]
    assert word_errors(" ".join(lines * 3), " ".join(words)).wer < 0.15, words


def test_bad_audio_and_settings_are_refused(trade):
    with pytest.raises(AudioError):
        trade.stream().push(np.zeros(100, np.int16))
    with pytest.raises(ValueError, match="multiple of 40"):
        create_recognizer("trade", chunk_ms=650, model=trade.model)


def test_transcribe_cli_with_options(speech, tmp_path, capsys):
    from asr.cli import main

    clips, _ = speech
    wav = tmp_path / "order.wav"
    sf.write(wav, clips[2], SAMPLE_RATE)
    assert main(["transcribe", str(wav), "--recognizer", "trade", "--chunk-ms", "960", "--option", "beam=2",
                 "--json", "--quiet"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert "4567" in out["text"].replace(" ", "").replace(",", "")
    assert out["sentence_ends"] and out["sentence_ends"][-1]["mark"] == "."
    assert main(["transcribe", str(wav), "--recognizer", "trade", "--option", "beams=2"]) == 2


def test_vad_driven_streams_hear_each_stretch_of_speech_in_its_own_stream(trade, speech):
    from asr.utterances import VADUtterances

    clips, lines = speech
    pad = lambda s: np.zeros(int(16000 * s), np.float32)  # noqa: E731
    audio = np.concatenate([pad(0.8), clips[0], pad(1.5), clips[2], pad(1.5)])
    rec = VADUtterances(trade, stop_ms=96)
    stream = rec.stream()
    timed = [(arrived, e) for arrived, events in feed(stream, audio, 20) for e in events]
    events = [e for _, e in timed]
    words = [w for e in events if isinstance(e, Final) for w in e.words]
    first_end = 0.8 + len(clips[0]) / 16000
    second_end = first_end + 1.5 + len(clips[2]) / 16000
    marks = [(arrived, e) for arrived, e in timed if isinstance(e, SentenceEnd)]
    # each sentence end is heard at the VAD's pause or stop (64 or 96 ms and a 32 ms window after
    # the clip, whose speech ends before it does), in call time
    assert [e.mark for _, e in marks] == [".", "."], marks
    for (arrived, e), end in zip(marks, (first_end, second_end)):
        assert end - 0.8 < e.time_s <= e.emitted_s <= arrived + 1e-9 < end + 0.2
    heard = [" ".join(w.text for w in words if (w.end_s < first_end + 0.75) == first) for first in (True, False)]
    for text, line in zip(heard, [lines[0], lines[2]]):
        assert word_errors(line, text).wer < 0.4, (line, text)
    assert stream.utterances.streams_started == 3  # one per stretch of speech, and a fresh one waiting
    assert rec.name == "trade+vad+pause64" and rec.chunk_ms == trade.chunk_ms  # the agent's pauses, by default
