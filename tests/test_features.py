"""Log-mel features: offline equals faster-whisper's extractor; the stream equals offline."""

import numpy as np
import pytest
import torch

from asr.features import StreamingLogMel, log_mel_spectrogram, mel_filters


@pytest.fixture(scope="module")
def speech():
    from asr.voices import load_voice

    return load_voice("piper:joe").synthesize("Hello there, this is a test of the streaming features.").audio


def test_offline_matches_faster_whisper(speech):
    from faster_whisper.feature_extractor import FeatureExtractor

    fe = FeatureExtractor()
    assert np.abs(fe.mel_filters - mel_filters().numpy()).max() < 1e-7
    n = len(speech) // 160
    ref = fe(speech, padding=480000)[:, :n]
    ours = log_mel_spectrogram(speech, padding=480000)[:, :n].numpy()
    assert np.abs(ref - ours).max() < 1e-4


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_stream_equals_offline_after_the_loudest_frame(speech, seed):
    audio = np.concatenate([speech, np.random.default_rng(seed).normal(0, 0.01, 1234).astype(np.float32)])
    offline = log_mel_spectrogram(audio)
    s, rng, outs, i = StreamingLogMel(), np.random.default_rng(seed), [], 0
    while i < len(audio):
        n = int(rng.integers(1, 2500))
        outs.append(s.push(audio[i:i + n]))
        i += n
    outs.append(s.push(audio[:0], final=True))
    streamed = torch.cat(outs, 1)
    assert streamed.shape == offline.shape
    loudest = int(offline.max(0).values.argmax())  # the running max equals the clip max from here on
    assert (streamed[:, loudest:] - offline[:, loudest:]).abs().max() < 1e-5
    assert (streamed - offline).abs().max() <= 8.0 / 4  # before it, only the 80 dB floor can differ


def test_stream_state_is_bounded():
    s = StreamingLogMel()
    for _ in range(500):
        s.push(np.random.default_rng(0).normal(0, 0.1, 1600).astype(np.float32))
    assert len(s._buf) < 400 + 1600
