"""Streaming recognition: the stream interface, the live-clock harness, LocalAgreement-2 on the
real bundled Whisper, ``python -m asr transcribe`` and the flat-memory benchmark."""

import json
import time

import numpy as np
import pytest
import soundfile as sf

from asr.audio import SAMPLE_RATE, AudioError
from asr.data.manifest import WordTiming
from asr.eval.harness import decode_live, word_latencies
from asr.events import Final, Partial, SentenceEnd, Word
from asr.recognizer import RecognizerStream, StreamingRecognizer


def test_word_latency_counts_matched_words_only():
    ref = [WordTiming(word=w, start=s, end=e) for w, s, e in [("call", 0, .4), ("me", .4, .6), ("at", .6, .8),
                                                                 ("nine", .8, 1.2)]]
    hyp = [Word("Call", 0, .4, 1.0), Word("me", .4, .7, 1.0), Word("on", .6, .8, 1.5), Word("9.", .8, 1.3, 2.0)]
    # "at" ≠ "on" is skipped; "9." normalises to "9" like "nine"
    latencies, frame_delays = word_latencies(ref, hyp)
    assert latencies == pytest.approx([0.6, 0.4, 0.8])
    assert frame_delays == pytest.approx([0.0, 0.1, 0.1])


def test_sentence_end_counts_both_when_it_arrived_and_where_the_model_placed_it():
    """Latency is the mark's arrival on the live clock; its stamp is the audio time the model
    gave it (TRADE's EOU latency). Both count from the last reference word's end."""
    from asr.data.manifest import Utterance
    from asr.eval.harness import Decoded, EvalResult

    words = [WordTiming(word="yes", start=0.2, end=0.6), WordTiming(word="please", start=0.6, end=1.0)]
    utt = Utterance(id="u", audio="u.flac", text="Yes, please.", spoken="Yes, please.", normalized="yes please",
                    duration=1.5, voice="piper:joe", domain="test", source="test", split="test", words=words)
    result = EvalResult("oracle", "m.jsonl", 640)
    result.add(utt, Decoded([Word("Yes,", 0.2, 0.6, 1.4), Word("please", 0.6, 1.0, 1.4)],
                            [SentenceEnd(".", 1.12, 1.85)], 0.1, silences_heard_s=[0.7, 1.16, 1.3]))
    summary = result.summary()
    assert (summary["sentence_end_p50_ms"], summary["sentence_end_stamp_p50_ms"]) == (850, 120)
    assert summary["vad_heard_end_p50_ms"] == 160  # the first pause or stop known after the end, not the comma's
    row = result.per_utterance[0]  # the same, per utterance, for `asr eval --compare`
    assert (row["sentence_end_ms"], row["sentence_end_stamp_ms"], row["vad_heard_ms"]) == (850, 120, [160, 300])


def test_a_runs_sentence_end_percentiles_are_those_of_its_rows():
    """results.md and ``--compare`` read the same per-utterance milliseconds, so they agree."""
    from asr.data.manifest import Utterance
    from asr.eval.harness import Decoded, EvalResult

    words = [WordTiming(word="yes", start=0.2, end=1.0)]
    result = EvalResult("oracle", "m.jsonl", 640)
    for k, arrival in enumerate((1.2004, 1.3008)):  # rows 200 and 301 ms
        utt = Utterance(id=f"u{k}", audio="u.flac", text="Yes.", spoken="Yes.", normalized="yes", duration=1.5,
                        voice="piper:joe", domain="test", source="test", split="test", words=words)
        result.add(utt, Decoded([Word("Yes.", 0.2, 1.0, arrival)], [SentenceEnd(".", 1.0, arrival)], 0.1))
    assert [r["sentence_end_ms"] for r in result.per_utterance] == [200, 301]
    assert result.summary()["sentence_end_p50_ms"] == round(250.5)  # of the rows; the exact values give 251


def test_eval_compare_pairs_the_same_utterances_and_counts_marks_after_the_stop(tmp_path, capsys):
    from asr.cli import main

    def rows(arrivals):
        return [{"id": f"u{k}", **({"sentence_end_ms": ms, "vad_heard_ms": [150, 214, 278]} if ms else {})}
                for k, ms in enumerate(arrivals)]

    before, after = tmp_path / "before.utterances.jsonl", tmp_path / "after.utterances.jsonl"
    before.write_text("".join(json.dumps(r) + "\n" for r in rows([200, 300, 250, None, 400])))
    after.write_text("".join(json.dumps(r) + "\n" for r in reversed(rows([210, 240, 250, 260, None]))))
    assert main(["eval", "--compare", str(before), str(after)]) == 0
    out = capsys.readouterr().out
    assert "| utterances with a mark | 4 of 5 | 4 of 5 |" in out
    assert "| marks that came after the VAD's stop | 2 of 4 | 0 of 4 |" in out  # 300 and 400 ms, at or past 278
    assert "Paired, 3 utterances marked in both" in out and "p10 / p50 / p90 -48 / 0 / 8 ms" in out
    assert "sooner by over 20 ms in 1, later by over 20 ms in 0" in out
    assert "Marked only in the first run: 1; only in the second: 1." in out
    after.write_text(json.dumps({"id": "other"}) + "\n")
    assert main(["eval", "--compare", str(before), str(after)]) == 2
    assert "same manifest" in capsys.readouterr().err


def test_wer_by_voice_counts_base_voices_and_espeak_variants():
    from asr.eval.harness import breakdown_by_voice, voice_groups

    assert voice_groups("espeak:en-us+m7?rate=150") == ["espeak:en-us", "espeak +m7"]
    assert voice_groups("festival:slt") == ["festival:slt"]
    row = {"substitutions": 1, "deletions": 0, "insertions": 0, "reference_words": 4}
    table = breakdown_by_voice([{**row, "voice": "espeak:en-us+m7"}, {**row, "voice": "espeak:en-us+f5?pitch=40"},
                                {**row, "voice": "festival:slt", "substitutions": 0}])
    assert "| espeak:en-us | 2 | 8 | 25.0 |" in table and "| festival:slt | 1 | 4 | 0.0 |" in table
    assert "| espeak +m7 | 1 | 4 | 25.0 |" in table


class Oracle(StreamingRecognizer):
    """Commits each scripted word once its end has arrived, spending ``cost_s`` per push.
    A test double for the harness's live clock, not a recognizer."""

    name = "oracle"

    def __init__(self, words, chunk_ms, cost_s):
        self.words, self.chunk_ms, self.cost_s = words, chunk_ms, cost_s

    def stream(self):
        rec = self

        class S(RecognizerStream):
            received, done = 0, 0

            def _push(self, pcm):
                time.sleep(rec.cost_s)
                self.received += len(pcm)
                return self._commit(self.received / SAMPLE_RATE)

            def _commit(self, now):
                new = [w for w in rec.words[self.done:] if w.end_s <= now]
                self.done += len(new)
                return [Final([Word(w.text, w.start_s, w.end_s, now) for w in new])] if new else []

            def finish(self):
                return self._commit(float("inf"))

        return S()


def test_live_clock_adds_compute_and_falls_behind_when_slow():
    words = [Word("one", 0.1, 0.5), Word("two", 0.6, 1.1), Word("three", 1.2, 1.9)]
    audio = np.zeros(2 * SAMPLE_RATE, np.float32)
    fast = decode_live(Oracle(words, 500, 0.0), audio, push_ms=500, tail_s=0)
    assert [w.emitted_s for w in fast.words] == pytest.approx([0.5, 1.5, 2.0], abs=0.01)
    # 0.3 s per 0.5 s chunk keeps up: each word is late by one push
    ok = decode_live(Oracle(words, 500, 0.3), audio, push_ms=500, tail_s=0)
    assert [w.emitted_s for w in ok.words] == pytest.approx([0.8, 1.8, 2.3], abs=0.05)
    # 0.8 s per 0.5 s chunk falls further behind with every push
    slow = decode_live(Oracle(words, 500, 0.8), audio, push_ms=500, tail_s=0)
    assert [w.emitted_s for w in slow.words] == pytest.approx([1.3, 2.9, 3.7], abs=0.1)
    assert slow.compute_s == pytest.approx(4 * 0.8, abs=0.1)


def test_live_streams_hear_silence_after_the_clip_before_the_end_of_stream_flush():
    """A word the recognizer is still holding when the clip ends counts from when the live
    stream gives it out, not from the flush at the end of the stream."""
    late = [Word("one", 0.1, 0.5), Word("two", 1.2, 2.4)]  # "two" is only certain 0.4 s after the clip
    audio = np.zeros(2 * SAMPLE_RATE, np.float32)
    flushed = decode_live(Oracle(late, 500, 0.0), audio, push_ms=500, tail_s=0)
    heard = decode_live(Oracle(late, 500, 0.0), audio, push_ms=500, tail_s=1.0)
    assert [w.emitted_s for w in flushed.words] == pytest.approx([0.5, 2.0], abs=0.01)
    assert [w.emitted_s for w in heard.words] == pytest.approx([0.5, 2.5], abs=0.01)


def test_stream_push_rejects_unusable_audio():
    s = Oracle([], 500, 0.0).stream()
    with pytest.raises(AudioError, match="float32"):
        s.push(np.zeros(320, np.int16))
    with pytest.raises(AudioError, match="float32"):
        s.push(np.zeros((320, 2), np.float32))
    with pytest.raises(AudioError, match="NaN"):
        s.push(np.full(320, np.nan, np.float32))
    assert s.push(np.zeros(0, np.float32)) == []


# ---------------------------------------------------------------- the real bundled Whisper


@pytest.fixture(scope="module")
def local_agreement():
    from asr.recognizer import create_recognizer

    return create_recognizer("whisper-local-agreement", chunk_ms=640)


@pytest.mark.models
def test_local_agreement_commits_in_order_with_sentence_ends(local_agreement, speech):
    from asr.eval.wer import word_errors

    clips, lines = speech
    gap = np.zeros(SAMPLE_RATE // 2, np.float32)
    audio = np.concatenate([clips[0], gap, clips[1], gap])
    stream, step, events = local_agreement.stream(), SAMPLE_RATE * 640 // 1000, []
    for i in range(0, len(audio), step):
        events += stream.push(audio[i:i + step])
    events += stream.finish()
    words = [w for e in events if isinstance(e, Final) for w in e.words]
    assert word_errors(" ".join(lines[:2]), " ".join(w.text for w in words)).wer < 0.15
    emitted = [w.emitted_s for w in words]
    assert emitted == sorted(emitted)
    assert all(w.start_s < w.emitted_s for w in words)  # nothing is committed before it is heard
    assert any(isinstance(e, Partial) for e in events)
    ends = [e for e in events if isinstance(e, SentenceEnd)]
    assert [e.mark for e in ends] == [".", "?"]
    first_end = len(clips[0]) / SAMPLE_RATE
    assert abs(ends[0].time_s - first_end) < 0.5 and ends[0].emitted_s >= ends[0].time_s


@pytest.mark.models
def test_local_agreement_buffer_stays_bounded_on_a_long_stream(local_agreement, speech):
    clips, _ = speech
    audio = np.concatenate([c for _ in range(3) for c in clips])  # ≈ 30 s
    stream, step, longest, words = local_agreement.stream(), SAMPLE_RATE * 960 // 1000, 0, 0
    for i in range(0, len(audio), step):
        words += sum(len(e.words) for e in stream.push(audio[i:i + step]) if isinstance(e, Final))
        longest = max(longest, len(stream.buffer))
    assert longest / SAMPLE_RATE <= local_agreement.trim_s + 1.0
    assert words > 45  # it kept committing after the buffer was cut


@pytest.mark.models
def test_transcribe_cli_prints_json(speech, tmp_path, capsys):
    from asr.cli import main

    clips, lines = speech
    wav = tmp_path / "call.wav"
    sf.write(wav, (clips[2] * 32767).astype(np.int16), SAMPLE_RATE)  # int16 WAV: converted on load
    assert main(["transcribe", str(wav), "--chunk-ms", "960", "--json", "--quiet"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["recognizer"] == "whisper-local-agreement" and out["chunk_ms"] == 960
    assert "4567" in out["text"].replace(" ", "").replace(",", "")
    assert all({"text", "start_s", "end_s", "emitted_s"} <= set(w) for w in out["words"])
    assert out["sentence_ends"] and out["sentence_ends"][-1]["mark"] == "."
    assert main(["transcribe", str(wav), "--recognizer", "faster-whisper", "--chunk-ms", "640"]) == 2
    assert main(["transcribe", str(tmp_path / "missing.wav")]) == 2
    assert "not found" in capsys.readouterr().err


@pytest.mark.parametrize("args,msg", [
    (["--vad", "64"], "got 64"),  # the agent's 64 ms pause is not under a 64 ms stop
    (["--vad-pause", "96"], "needs --vad"),
    (["--vad", "--vad-pause", "200"], "shorter than the VAD's stop"),
])
def test_eval_vad_pause_errors_say_what_to_give(tmp_path, capsys, args, msg):
    from asr.cli import main

    base = ["eval", "--recognizer", "trade", "--manifest", str(tmp_path / "m.jsonl"), "--chunk-ms", "640",
            "--out", str(tmp_path / "out")]
    assert main(base + args) == 2
    assert msg in capsys.readouterr().err and not (tmp_path / "out").exists()


def test_memory_benchmark_cache_stops_growing():
    import torch

    from asr.eval.memory import EncoderStream, memory_over_stream
    from asr.models.whisper.model import AudioEncoder, ModelDimensions

    torch.manual_seed(0)
    dims = ModelDimensions(n_audio_ctx=100, n_audio_state=32, n_audio_head=2, n_audio_layer=2)
    clip = np.random.default_rng(0).standard_normal(3 * SAMPLE_RATE).astype(np.float32) * 0.1
    stream = EncoderStream(AudioEncoder(dims).eval(), chunk_ms=320, left_chunks=2)
    r = memory_over_stream([clip], minutes=3, chunk_ms=320, stream=stream, name="tiny encoder")
    bound = 2 * dims.n_audio_layer * 2 * 16 * dims.n_audio_state  # k and v, 2 left chunks of 16 frames
    assert [s["kv_cache_floats"] for s in r["samples"]] == [bound] * 3
    assert r["state_last"]["encoder_frames"] >= 3 * 60 * 50 - 2 * 16 * 2  # all but the unflushed look-ahead tail
    assert max(s["mel_buffer_frames"] for s in r["samples"]) < 2 * 3 * 16 + 4
