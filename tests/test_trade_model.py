"""TRADE's maths on tiny random models: LoRA, targets, LDAA masks, and the identity training
relies on — the hidden state the joint reads in a streaming training step equals the one the
search computes by re-prefilling the LLM on that chunk's window."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from asr.data.manifest import WordTiming
from asr.events import Final
from asr.models.lora import LoRALinear, add_lora, merge_lora
from asr.models.trade.lm import WhisperDecoderLM
from asr.models.trade.model import Trade, TradeConfig, collate, window_mask
from asr.models.trade.search import Hyp, Search, SearchConfig
from asr.models.trade.targets import make_targets, written_spans, written_word_ends
from asr.models.whisper.model import AudioEncoder, ModelDimensions, TextDecoder
from asr.vocab import CompactVocab

DIMS = ModelDimensions(n_mels=80, n_audio_ctx=300, n_audio_state=32, n_audio_head=2, n_audio_layer=2,
                       n_vocab=60, n_text_ctx=64, n_text_state=32, n_text_head=2, n_text_layer=2)
TEXTS = [" Call me at 9564, please.", " Is it open? Yes.", " Cancel the order."]


class CharTokenizer:
    """A tiny tokenizer over the characters of TEXTS plus a few merges (ids < DIMS.n_vocab)."""

    def __init__(self):
        pieces = sorted({ch for t in TEXTS for ch in t}) + [" me", " at", " it", " the", " order", "ancel", " C", " Is",
                                                              " Yes", " please", " open", "95", "64", " 95"]
        self.pieces = pieces

    def get_vocab_size(self):
        return len(self.pieces)

    def decode(self, ids):
        return "".join(self.pieces[i] for i in ids)

    def encode(self, text, add_special_tokens=False):
        ids, pos = [], 0
        while pos < len(text):
            best = max((i for i, p in enumerate(self.pieces) if text.startswith(p, pos)),
                       key=lambda i: len(self.pieces[i]))
            ids.append(best)
            pos += len(self.pieces[best])
        return ids


def tiny_trade(seed: int = 0, left_context_s: float = 0.64) -> Trade:
    torch.manual_seed(seed)
    vocab = CompactVocab.build(TEXTS, CharTokenizer(), k=40)
    encoder, decoder = AudioEncoder(DIMS), TextDecoder(DIMS)
    torch.nn.init.normal_(decoder.positional_embedding, std=0.02)
    lm = WhisperDecoderLM(decoder, lora_rank=4, lora_alpha=8)
    lm.prompt, lm.eos = [0], 1
    for p in lm.parameters():  # LoRA's B starts at zero; make the adapted model differ from the base
        torch.nn.init.normal_(p, std=0.05) if p.requires_grad else None
    cfg = TradeConfig(joint_dim=16, frame_stack=2, encoder_trainable_layers=1, left_context_s=left_context_s)
    return Trade(cfg, encoder, lm, vocab).eval()


def test_lora_starts_as_the_base_layer_and_trains_only_its_factors():
    torch.manual_seed(0)
    base = torch.nn.Linear(8, 6)
    x = torch.randn(3, 8)
    expected = base(x)
    layer = torch.nn.Sequential(base)
    assert add_lora(layer, ("0",), rank=2, alpha=4) == 1
    lora = layer[0]
    assert isinstance(lora, LoRALinear)
    assert torch.allclose(lora(x), expected)
    assert [n for n, p in lora.named_parameters() if p.requires_grad] == ["lora_a", "lora_b"]
    torch.nn.init.normal_(lora.lora_b)
    assert torch.allclose(lora(x), x @ lora.weight.T + lora.bias, atol=1e-6)


def test_merged_lora_gives_the_adapted_outputs():
    """Decoding folds the adapters into the base weights: the LLM's hidden states do not change."""
    model = tiny_trade()
    window = torch.randn(1, 12, DIMS.n_audio_state)
    tokens = torch.tensor([model.lm.prompt + model.vocab.encode(" Cancel the order")])
    adapted, _ = model.lm.start(window, tokens)
    assert merge_lora(model.lm) == 4 * DIMS.n_text_layer * 2  # q, k, v, out of self- and cross-attention
    assert not any(isinstance(m, LoRALinear) for m in model.lm.modules())
    merged, _ = model.lm.start(window, tokens)
    assert torch.allclose(merged, adapted, atol=1e-5)


def test_written_words_take_the_end_of_their_spoken_words():
    spoken = [WordTiming(word=w, start=i, end=i + 0.5) for i, w in
              enumerate(["call", "me", "at", "nine", "five", "six", "four", "please"])]
    ends = written_word_ends(" Call me at 9564, please.", spoken)
    assert ends == [0.5, 1.5, 2.5, 6.5, 7.5]  # "9564," ends with "four"


def test_targets_put_punctuation_with_its_word_and_out_of_the_lattice():
    vocab = CompactVocab.build(TEXTS, CharTokenizer(), k=40)
    spoken = [WordTiming(word=w, start=i, end=i + 0.5) for i, w in enumerate(["is", "it", "open", "yes"])]
    t = make_targets("Is it open? Yes.", spoken, vocab)
    texts = [vocab.token_text[i] for i in t.ids]
    assert "".join(texts) == " Is it open? Yes."
    assert t.end_s[texts.index("?")] == t.end_s[texts.index(" open")] == 2.5
    assert all(vocab.token_text[t.ids[k]].strip() not in ("?", ".") for k in t.verbal)
    assert len(t.classes) == len(t.verbal) and min(t.classes) >= 1


def test_end_labels_ask_at_every_word_end_whether_a_sentence_ends():
    vocab = CompactVocab.build(TEXTS, CharTokenizer(), k=40)
    spoken = [WordTiming(word=w, start=i, end=i + 0.5) for i, w in
              enumerate(["call", "me", "at", "nine", "five", "six", "four", "please"])]
    t = make_targets("Call me at 9564, please.", spoken, vocab)
    asked = {vocab.decode(t.ids[:k]): label for k, label in enumerate(t.end_labels) if label >= 0}
    # after each word: is the next token a sentence end? Not inside "9564", not after the comma
    assert asked == {" C" + "all": 0, " Call me": 0, " Call me at": 0, " Call me at 9564": 0,
                     " Call me at 9564, please": 1}
    assert len(t.end_labels) == len(t.ids) + 1 and t.end_labels[-1] == -1  # the text ends with its mark


def test_a_piece_the_caller_goes_on_after_ends_neither_the_text_nor_the_sentence():
    """A turn cut at a pause ("call me at 9564" | "please"): the first piece stops without ending,
    so its end is labelled "no sentence end" and the LLM is not taught end-of-text there."""
    model = tiny_trade()
    said = ["call", "me", "at", "nine", "five", "six", "four"]
    timing = [WordTiming(word=w, start=i * 0.2, end=(i + 1) * 0.2) for i, w in enumerate(said)]
    ends, goes_on = (make_targets("Call me at 9564", timing, model.vocab, continues=c) for c in (False, True))
    unasked = make_targets("Call me at 9564", timing, model.vocab, continues=True, continued_end=-1)
    assert ends.end_labels[-1] == 1 and goes_on.end_labels[-1] == 0 and unasked.end_labels[-1] == -1
    assert ends.end_labels[:-1] == goes_on.end_labels[:-1] == unasked.end_labels[:-1]
    batch = collate([np.zeros(16000, np.float32)] * 2, [ends, goes_on], model.lm)
    P, n = len(model.lm.prompt), len(ends.ids)
    assert batch.ce_targets[0, P - 1 + n] == model.lm.eos and batch.ce_targets[1, P - 1 + n] == -100
    assert torch.equal(batch.ce_targets[0, :P - 1 + n], batch.ce_targets[1, :P - 1 + n])


def test_window_mask_matches_its_definition():
    C, left, S = 4, 2, 22
    frames = torch.tensor([22, 9])
    chunk = torch.tensor([[0, 3, 5], [1, 2, 5]])
    mask = window_mask(chunk, C, left, frames, S)
    for b in range(2):
        last = (int(frames[b]) - 1) // C
        for n in range(3):
            k = min(int(chunk[b, n]), last)
            expected = [max(0, (k - left) * C) <= s < min((k + 1) * C, int(frames[b])) for s in range(S)]
            assert mask[b, n].tolist() == expected


def _batch(model: Trade, seconds=(2.0, 1.4)):
    torch.manual_seed(1)
    texts = ["Call me at 9564, please.", "Is it open? Yes."]
    spoken = [["call", "me", "at", "nine", "five", "six", "four", "please"], ["is", "it", "open", "yes"]]
    targets = []
    for text, words, sec in zip(texts, spoken, seconds):
        step = sec / len(words)
        timing = [WordTiming(word=w, start=i * step, end=(i + 1) * step) for i, w in enumerate(words)]
        targets.append(make_targets(text, timing, model.vocab))
    audios = [torch.randn(int(16000 * s)).numpy() * 0.1 for s in seconds]
    return collate(audios, targets, model.lm)


@pytest.mark.parametrize("chunk_frames", [None, 8, 16])
def test_losses_are_finite_and_reach_every_trained_part(chunk_frames):
    model = tiny_trade().train()
    losses = model(_batch(model), chunk_frames)
    losses["loss"].backward()
    assert all(torch.isfinite(v) for v in losses.values())
    grads = {n: p.grad for n, p in model.named_parameters() if p.requires_grad}
    assert grads["joiner.out.weight"].abs().sum() > 0
    assert grads["joiner.pred_proj.weight"].abs().sum() > 0
    assert any(g is not None and g.abs().sum() > 0 for n, g in grads.items() if "lora" in n)
    assert any(g is not None and g.abs().sum() > 0 for n, g in grads.items() if n.startswith("encoder."))


def test_end_loss_reads_each_word_end_under_the_window_its_word_ends_in():
    """Brute force: each scored position's LDAA window is the chunk its input word ends in (what
    the search has at the next blank), built here frame by frame; the loss is the mean binary
    cross-entropy of the LLM's sentence-end mass there. As in the CE pass, earlier positions keep
    their own windows; the first word end of each item has no earlier word and equals the
    search's prefill exactly."""
    model = tiny_trade()
    batch = _batch(model)
    C = 8
    enc = model.encode(batch.mel, batch.frames, C)
    left = model.cfg.left_chunks(C)
    B, N = batch.tokens.shape
    mask = torch.zeros(B, N, enc.shape[1], dtype=torch.bool)
    for b in range(B):
        frames = int(batch.frames[b])
        for n in range(N):
            k = min(int(batch.decision_frame[b, n]) // C, (frames - 1) // C)
            mask[b, n, max(0, (k - left) * C):min((k + 1) * C, frames)] = True
    with torch.no_grad():
        loss = model.end_loss(enc, batch, C)
        hidden = model.lm.hidden(enc, mask, batch.tokens)
    terms = []
    for b, n in zip(*torch.nonzero(batch.end_labels >= 0, as_tuple=True)):
        p_end = model.lm.logits(hidden[b, n]).double().softmax(-1)[model.end_ids].sum()
        terms.append(-torch.log(p_end if batch.end_labels[b, n] == 1 else 1 - p_end))
    assert len(terms) >= 6 and torch.allclose(loss.double(), torch.stack(terms).mean(), rtol=1e-4)
    for b in range(B):
        n = int(torch.nonzero(batch.end_labels[b] >= 0)[0])
        window = enc[b:b + 1, mask[b, n]]
        with torch.no_grad():
            prefilled, _ = model.lm.start(window, batch.tokens[b:b + 1, :n + 1])
        assert torch.allclose(prefilled[0], hidden[b, n], atol=1e-5)
    assert set(model(batch, C, end_weight=0.5)) == {"loss", "ce", "rnnt", "end"}
    assert "end" not in model(batch, None, end_weight=0.5)  # full-context steps have no decision to make


def test_streaming_step_predictions_equal_reprefilled_search_states():
    """For each chunk k, the joint's row-u input in a streaming training step is the LLM's hidden
    state on chunk k's window; the search gets it by prefilling the window and the tokens so far."""
    model = tiny_trade()
    batch = _batch(model)
    C = 8
    enc = model.encode(batch.mel, batch.frames, C)
    row_index = batch.rows[..., None].expand(-1, -1, model.lm.dim)
    with torch.no_grad():
        pred = model._chunk_predictions(enc, batch, C, row_index)  # (B, K, U+1, dj)
    left = model.cfg.left_chunks(C)
    for b in range(2):
        frames = int(batch.frames[b])
        for k in range((frames + C - 1) // C):
            window = enc[b:b + 1, max(0, (k - left) * C):min((k + 1) * C, frames)]
            for u in range(int(batch.n_classes[b]) + 1):
                p = int(batch.rows[b, u])
                hidden, _ = model.lm.start(window, batch.tokens[b:b + 1, :p + 1])
                assert torch.allclose(model.joiner.pred_proj(hidden)[0], pred[b, k, u], atol=1e-5), (b, k, u)


def test_search_steps_equal_a_fresh_prefill():
    """Advancing the LLM token by token from a prefill gives the prefill of the longer prefix."""
    model = tiny_trade()
    search = Search(model, SearchConfig(context_tokens=50))
    window = torch.randn(1, 12, DIMS.n_audio_state)
    tokens = model.vocab.encode(" Cancel the order")
    hyp = search._prefill(Hyp(), window)
    for t in tokens:
        hyp = search._advance(hyp, t, 0.0, 0.0)
    fresh = search._prefill(Hyp(tokens=tokens, times=[0.0] * len(tokens)), window)
    assert torch.allclose(hyp.pred, fresh.pred, atol=1e-5)
    assert torch.allclose(hyp.class_logp, fresh.class_logp, atol=1e-4)


def test_search_scores_the_compact_vocabulary_as_the_whole_one_would():
    """The search normalises the LLM over the compact vocabulary only: every class score moves by
    one constant (which the fusion's renormalisation cancels), the top token is the same, and the
    end probability still counts the whole vocabulary."""
    model = tiny_trade()
    search = Search(model)
    hyp = search._prefill(Hyp(tokens=model.vocab.encode(" Cancel the order")), torch.randn(1, 12, DIMS.n_audio_state))
    with torch.no_grad():
        full = model.lm.logits(hyp.hidden)[0].log_softmax(-1)
    class_p = torch.zeros(model.vocab.size).index_add_(0, model.fusion_class, full[model.fusion_ids].exp())
    scored = class_p > 0
    shift = hyp.class_logp[scored] - class_p[scored].log()
    assert torch.allclose(shift, shift[0].expand_as(shift), atol=1e-5)
    active = torch.tensor(sorted(model.vocab.token_text))
    assert search.top_token(hyp) == int(active[full[active].argmax()])
    assert search.end_probability(hyp) == pytest.approx(float(full[model.end_ids].exp().sum()), rel=1e-5)
    assert hyp.end_p == search.end_probability(hyp)  # computed once: callers read it after every push


def test_repetition_guard():
    search = Search(tiny_trade())
    assert search._repeats([5, 5, 5, 5], 5) and not search._repeats([5, 5, 5], 5)
    assert search._repeats([1, 2, 1, 2, 1, 2, 1], 2) and not search._repeats([1, 2, 1, 2, 1], 2)


@pytest.mark.parametrize("beam", [1, 3])
def test_search_hypotheses_are_distinct_sorted_and_timed_in_order(beam):
    model = tiny_trade()
    search = Search(model, SearchConfig(beam=beam, blank_penalty=3.0))  # a penalty makes the random model talk
    enc = torch.randn(1, 24, DIMS.n_audio_state)
    hyps = search.initial()
    for a in range(0, 24, 8):
        hyps = search.chunk(hyps, enc[:, a:a + 8], enc[:, max(0, a - 8):a + 8], a)
    assert 1 <= len(hyps) <= beam
    assert len({tuple(h.tokens) for h in hyps}) == len(hyps)
    assert [h.score for h in hyps] == sorted((h.score for h in hyps), reverse=True)
    best = hyps[0]
    assert best.tokens, "with a large blank penalty the search must emit"
    assert best.times == sorted(best.times) and 0 < best.times[0] and best.times[-1] <= 24 * 0.02 + 1e-9
    assert all(t in model.vocab.token_text for t in best.tokens)


@pytest.mark.parametrize("beam", [1, 3])
def test_the_last_frame_of_the_audio_emits_what_the_transducer_still_owes(beam):
    """One symbol per frame, except where the audio ends: there a hypothesis goes on emitting,
    up to ``final_symbols`` more, until a blank wins (RNN-T training puts what is owed there)."""
    model = tiny_trade()
    enc = torch.randn(1, 8, DIMS.n_audio_state)
    end_s = 8 * 0.02

    def at_last_frame(blank_penalty: float, last: bool) -> int:
        search = Search(model, SearchConfig(beam=beam, blank_penalty=blank_penalty, fusion_weight=1.0,
                                            final_symbols=3))
        best = search.chunk(search.initial(), enc, enc, 0, last=last)[0]
        verbal = [t for tok, t in zip(best.tokens, best.times) if tok not in search.nonverbal]
        assert len(verbal) >= 4 or blank_penalty < 0  # one per frame before the last
        return sum(abs(t - end_s) < 1e-9 for t in verbal)

    assert at_last_frame(30.0, last=False) == 1  # blank never wins: one symbol a frame
    assert at_last_frame(30.0, last=True) == 4  # and three more where the audio ends
    assert at_last_frame(-30.0, last=True) == 0  # blank always wins: nothing more


@pytest.mark.parametrize("blank_penalty", [-1.5, -1.0, -0.5])  # blank and symbols both win somewhere
def test_a_hypothesis_the_last_frame_ends_keeps_the_score_it_ended_with(blank_penalty):
    """Where the audio ends, a blank ends a hypothesis: in the last frame's later passes it
    competes as it is, not charged the blank again, while the others go on emitting."""
    model = tiny_trade()
    enc = torch.randn(1, 8, DIMS.n_audio_state)
    search = Search(model, SearchConfig(beam=4, blank_penalty=blank_penalty, fusion_weight=1.0, final_symbols=3))
    passes, one_pass = [], search._frame

    def recording(hyps, enc_f, end_s, ended=()):
        survivors = one_pass(hyps, enc_f, end_s, ended)
        passes.append((end_s, {tuple(h.tokens): (h.score, emitted) for h, emitted in survivors}))
        return survivors

    search._frame = recording
    search.chunk(search.initial(), enc, enc, 0, last=True)
    last = [survivors for end_s, survivors in passes if end_s == passes[-1][0]]
    kept = 0
    for before, after in zip(last, last[1:]):
        for tokens, (score, emitted) in before.items():
            if not emitted and tokens in after:
                assert after[tokens][0] >= score - 1e-9  # unchanged, or merged with another path
                assert not after[tokens][1]
                kept += 1
    assert kept  # the case arose


def test_search_rejects_bad_settings():
    with pytest.raises(ValueError):
        SearchConfig(beam=0)
    with pytest.raises(ValueError):
        SearchConfig(fusion_weight=1.5)
    with pytest.raises(ValueError):
        SearchConfig(final_symbols=-1)
    with pytest.raises(ValueError):
        TradeConfig(family="gpt")


def test_stream_forgets_committed_tokens_without_changing_its_output():
    """A long stream keeps a bounded token tail, and dropping the rest changes no event."""
    from asr.recognizers.trade import TradeStream

    model = tiny_trade()
    # transducer scores alone and a blank penalty make the random model talk
    search = Search(model, SearchConfig(blank_penalty=3.0, fusion_weight=1.0, context_tokens=4))
    audio = np.random.default_rng(0).standard_normal(16000 * 12).astype(np.float32) * 0.1

    def run(forget: bool):
        stream, events, kept = TradeStream(model, search, chunk_frames=16), [], 0
        if not forget:
            stream._forget_committed = lambda: None
        for i in range(0, len(audio), 5120):
            events += stream.push(audio[i:i + 5120])
            kept = max(kept, stream.state_size()["hypothesis_tokens"])
        return events + stream.finish(), kept

    (forgetting, kept), (remembering, grown) = run(True), run(False)
    assert forgetting == remembering
    assert sum(len(e.words) for e in forgetting if isinstance(e, Final)) > 30
    assert kept <= 20 + 16 // 2 + 2 < grown  # the kept tail, at most a chunk's symbols and punctuation


def test_pause_decodes_what_the_end_would_and_leaves_the_stream_unchanged():
    """``pause`` searches the pending audio on copies: its hypothesis is the flushed stream's
    before the flush's forced punctuation, and the stream's own events do not change."""
    from asr.events import SentenceEnd
    from asr.recognizers.trade import TradeStream

    model = tiny_trade()
    search = Search(model, SearchConfig(blank_penalty=3.0, fusion_weight=1.0))
    audio = np.random.default_rng(1).standard_normal(16000 * 4).astype(np.float32) * 0.1
    nonverbal = set(model.vocab.nonverbal_ids)

    def stream():  # keeping every token, so that two streams' hypotheses compare whole
        s = TradeStream(model, search, chunk_frames=16)
        s._forget_committed = lambda: None
        return s

    def run(pause: bool):
        live, events, paused = stream(), [], 0
        for i in range(0, len(audio), 1600):  # 100 ms pushes: pauses fall mid-chunk
            events += live.push(audio[i:i + 1600])
            if pause:
                ended = stream()
                for j in range(0, i + 1600, 1600):  # the same pushes: the log-mel's running max depends on them
                    ended.push(audio[j:j + 1600])
                ended.finish()
                live.pause()
                flushed, spoken = ended.hyps[0].tokens, live.paused.tokens
                assert flushed[:len(spoken)] == spoken and set(flushed[len(spoken):]) <= nonverbal
                paused += len(spoken) > len(live.hyps[0].tokens)  # it heard what the stream has not yet
        return [e for e in events + live.finish() if not isinstance(e, SentenceEnd)], paused

    (plain, _), (with_pauses, paused) = run(False), run(True)
    assert with_pauses == plain and paused > 10
    assert sum(len(e.words) for e in plain if isinstance(e, Final)) > 5


def test_utterance_streams_are_plain_streams_cut_at_the_vad_and_moved_to_call_time():
    """``UtteranceStreams`` spelt out on plain streams: the first stretch's stream hears the call
    up to the VAD stop, then silence until it has decoded past the speech end, and is committed
    and finished; the next one starts ``LEAD_S`` before the next onset. Its words are theirs,
    moved to call time and never later than the audio received."""
    from asr.recognizers.trade import TradeRecognizer
    from asr.utterances import LEAD_S, PAD_S, UtteranceStreams

    rec = TradeRecognizer(chunk_ms=320, model=tiny_trade(), fusion_weight=1.0)
    rng = np.random.default_rng(3)
    sr, push, t0 = 16000, 320, 7.0
    noise = lambda s: (rng.standard_normal(int(sr * s)) * 0.1).astype(np.float32)  # noqa: E731
    audio = np.concatenate([noise(2.0), np.zeros(int(1.5 * sr), np.float32), noise(1.5), np.zeros(sr, np.float32)])
    stop_at, start_at, onset = 2.2, 3.7, 3.5  # the VAD reports speech end 2.0 at 2.2 s and the onset at 3.7 s
    streams, got = UtteranceStreams(rec, start_s=t0), []
    streams.speech_started(t0)
    for i in range(0, len(audio), push):
        if i == round(stop_at * sr):
            got += streams.speech_stopped(t0 + 2.0)
        if i == round(start_at * sr):
            streams.speech_started(t0 + onset)
        got += streams.push(audio[i:i + push])
    got += streams.finish()

    def plain(pieces, pad_past_s=None):
        s, out = rec.stream(), []
        for p in pieces:
            out += s.push(p)
        while pad_past_s is not None and s.decoded_s() < pad_past_s:
            out += s.push(np.zeros(round(PAD_S * sr), np.float32))
        return out + s.commit() + s.finish()

    def words(events, shift_s=0.0, now_s=float("inf")):
        return [(w.text, round(min(w.start_s + shift_s, now_s), 6), round(min(w.end_s + shift_s, now_s), 6))
                for e in events if isinstance(e, Final) for w in e.words]

    cut, restart = round(stop_at * sr), round((onset - LEAD_S) * sr)
    first = plain([audio[j:j + push] for j in range(0, cut, push)], pad_past_s=2.0)
    second = plain([audio[restart:round(start_at * sr) + push]]
                   + [audio[j:j + push] for j in range(round(start_at * sr) + push, len(audio), push)])
    expected = words(first, t0, t0 + stop_at) + words(second, t0 + onset - LEAD_S)  # closed at the stop
    assert words(got) == expected and len(words(first)) > 2 and len(words(second)) > 2
    assert all(w.emitted_s <= t0 + len(audio) / sr for e in got if isinstance(e, Final) for w in e.words)


def test_written_spans_give_each_digit_group_its_own_digits_and_share_what_they_cannot_split():
    said = "sure it's five four four one four nine seven zero three nine eight seven".split()
    spoken = [WordTiming(word=w, start=i, end=i + 0.5) for i, w in enumerate(said)]
    assert written_spans("Sure, it's 5441 4970 3987.", spoken) == [(0, 0), (1, 1), (2, 5), (6, 9), (10, 13)]
    said = "mail j o h n dot s at x dot com".split()
    spoken = [WordTiming(word=w, start=i, end=i + 0.5) for i, w in enumerate(said)]
    assert written_spans("Mail john.s@x.com.", spoken) == [(0, 0), (1, 10)]  # an address is one piece
    said = "it is twelve thirty".split()  # digits not read one by one: the run is shared
    spoken = [WordTiming(word=w, start=i, end=i + 0.5) for i, w in enumerate(said)]
    assert written_spans("It is 12 30.", spoken) == [(0, 0), (1, 1), (2, 3), (2, 3)]


def test_a_sentence_end_a_pause_announced_is_announced_once_however_the_stream_spells_it():
    """A pause decoded "… kill an adald." up to 2.08 s; the stream, decoding on with more audio,
    writes "… kill an adaldled." (its word ending later) and must not announce that mark again.
    A mark after words the pause never heard is new."""
    from asr.recognizers.trade import PauseMarks

    marks = PauseMarks(tolerance_s=0.2)
    marks.announce(heard_s=2.08)  # the pause's mark, after "adald" ending at 1.52
    assert marks.copy().take(1.52) and len(marks) == 1  # a second pause hears it again: still the stream's to write
    assert marks.take(1.80) and len(marks) == 0  # the stream's own mark after "adaldled": the same end
    assert not marks.take(1.80)  # a second mark there is the stream's own
    marks.announce(heard_s=3.0)
    assert not marks.take(3.5) and len(marks) == 1  # after a word the caller said past the pause: new
    marks.decoded_to(3.1)  # settled words within the tolerance: the pause's mark may still come
    assert len(marks) == 1
    marks.decoded_to(3.5)  # settled past it without writing it: it is not coming
    assert len(marks) == 0 and not marks.take(2.9)
    marks.announce(4.0), marks.announce(4.0)  # two sentences heard by one pause: each taken once
    assert marks.take(3.6) and marks.take(3.9) and not marks.take(3.95)
