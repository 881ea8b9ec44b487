"""PyTorch Whisper: streaming encoder == masked full forward (tiny random model), bounded state,
and the bundled tiny.en reproducing CTranslate2 exactly (encoder output, greedy tokens)."""

import numpy as np
import pytest
import torch

from asr.models.whisper.model import AudioEncoder, ModelDimensions, StreamingEncoder, chunk_attention_mask

TINY = ModelDimensions(n_mels=8, n_audio_ctx=24, n_audio_state=16, n_audio_head=2, n_audio_layer=3,
                       n_vocab=40, n_text_ctx=16, n_text_state=16, n_text_head=2, n_text_layer=2)


@pytest.fixture(scope="module")
def tiny_encoder():
    torch.manual_seed(0)
    enc = AudioEncoder(TINY).eval()
    with torch.no_grad():
        for p in enc.parameters():
            p.normal_(0, 0.3)
    return enc


def stream(enc, mel, C, N_l, lookahead, rng):
    s = StreamingEncoder(enc, C, N_l, lookahead)
    outs, i = [], 0
    while i < mel.shape[1]:
        n = int(rng.integers(1, 14))
        outs.append(s.push(mel[:, i:i + n]))
        i += n
    outs.append(s.push(mel[:, :0], final=True))
    return torch.cat(outs, 1), s


@pytest.mark.parametrize("C", [3, 5])
@pytest.mark.parametrize("N_l", [0, 1, 4])
@pytest.mark.parametrize("lookahead", [0, 2, 5])  # frames; capped at C (5 is a whole chunk at C=3)
@pytest.mark.parametrize("n_mel", [74, 75])  # ends mid-chunk; odd length exercises conv padding
def test_streaming_equals_masked_full_forward(tiny_encoder, C, N_l, lookahead, n_mel):
    rng = np.random.default_rng(C * 100 + N_l)
    mel = torch.randn(TINY.n_mels, n_mel)  # 37-38 frames: past n_audio_ctx=24, so positions extend
    with torch.no_grad():
        full = tiny_encoder(mel[None], chunk_frames=C, left_chunks=N_l, lookahead=lookahead)
    streamed, _ = stream(tiny_encoder, mel, C, N_l, lookahead, rng)
    assert streamed.shape == full.shape
    torch.testing.assert_close(streamed, full, atol=2e-5, rtol=1e-4)


@pytest.mark.parametrize("L", [1, 4])
def test_lookahead_does_not_compound_with_depth(tiny_encoder, L):
    """Chunk 0's outputs may depend on the first L frames of chunk 1 (its look-ahead), never on
    anything later, however deep the encoder."""
    C = 4
    mel = torch.randn(TINY.n_mels, 2 * 5 * C)
    changed = mel.clone()
    changed[:, 2 * (C + L) + 1:] += 5.0  # every frame past the look-ahead (beyond the convs' 20 ms reach)
    with torch.no_grad():
        a = tiny_encoder(mel[None], chunk_frames=C, left_chunks=-1, lookahead=L)
        b = tiny_encoder(changed[None], chunk_frames=C, left_chunks=-1, lookahead=L)
    torch.testing.assert_close(a[:, :C], b[:, :C])
    assert not torch.allclose(a[:, C:2 * C], b[:, C:2 * C])  # chunk 1 does see what follows


def test_mask_shapes_and_left_context():
    m = chunk_attention_mask(6, 2, left_chunks=1, lookahead=0)
    assert m.tolist()[5] == [False, False, True, True, True, True]
    assert m.tolist()[0] == [True, True, False, False, False, False]
    la = chunk_attention_mask(6, 2, left_chunks=0, lookahead=2)
    assert la.shape == (10, 10)
    assert la[0].tolist() == [True, True, False, False, False, False, True, True, False, False]
    part = chunk_attention_mask(6, 2, left_chunks=0, lookahead=1)  # copies of frames 2 and 4
    assert part.shape == (8, 8)
    assert part[1].tolist() == [True, True, False, False, False, False, True, False]
    assert part[6].tolist() == [True, True, False, False, False, False, True, False]  # the copy serves chunk 0
    # an utterance shorter than one chunk ("Mhm.") has nothing to look ahead to
    short = chunk_attention_mask(3, 4, left_chunks=1, lookahead=2)
    assert short.shape == (3, 3) and short.all()


def test_streaming_state_stays_bounded(tiny_encoder):
    s = StreamingEncoder(tiny_encoder, chunk_frames=4, left_chunks=2)
    for _ in range(300):
        s.push(torch.randn(TINY.n_mels, 8))
    assert all(k.shape[1] <= 8 and v.shape[1] <= 8 for k, v in s.cache)
    assert s.mel.shape[1] <= 2 * (2 * 4) + 8 + 3
    assert s.done > 1000  # 36 s of frames: well past the 24-frame position table


# ---------------------------------------------------------------- the real bundled model


@pytest.fixture(scope="module")
def real():
    import ctranslate2
    from faster_whisper.feature_extractor import FeatureExtractor

    from asr.models.whisper.load import load_whisper
    from asr.models.whisper import bundled_whisper_dir

    return (load_whisper(), ctranslate2.models.Whisper(bundled_whisper_dir(), device="cpu", compute_type="float32"),
            FeatureExtractor())


CLIPS = [("piper:joe", "Hello, I need help with my order."),
         ("piper:joe", "My phone number is five five five, one two three four."),
         ("espeak:en-us+f2?rate=150", "Can you send it to my new address instead?"),
         ("espeak:en-gb-x-rp", "I would like a refund for the blue jacket, please.")]


def _features(fe, voice, text):
    from asr.voices import load_voice

    audio = load_voice(voice).synthesize(text).audio
    return np.ascontiguousarray(fe(audio, padding=480000)[:, :3000])


@pytest.mark.models
@pytest.mark.parametrize("voice,text", CLIPS)
def test_greedy_tokens_identical_to_ctranslate2(real, voice, text):
    import ctranslate2

    from asr.models.whisper.decoding import greedy_decode
    from asr.models.whisper.load import NO_TIMESTAMPS, SOT, suppress_ids

    model, ct, fe = real
    feats = _features(fe, voice, text)
    with torch.no_grad():
        enc = model.encoder(torch.from_numpy(feats)[None])
    sup, begin = suppress_ids()
    ours = greedy_decode(model, enc, suppress=sup, suppress_begin=begin)
    ref = ct.generate(ctranslate2.StorageView.from_array(feats[None]), [[SOT, NO_TIMESTAMPS]], beam_size=1,
                      suppress_blank=True, suppress_tokens=[-1])[0].sequences_ids[0]
    assert ours == ref


@pytest.mark.models
def test_full_context_encoder_matches_ctranslate2(real):
    import ctranslate2

    model, ct, fe = real
    feats = _features(fe, *CLIPS[0])
    with torch.no_grad():
        ours = model.encoder(torch.from_numpy(feats)[None])
    ref = torch.from_numpy(np.array(ct.encode(ctranslate2.StorageView.from_array(feats[None]))))
    assert (ours - ref).abs().max() < 2e-3
