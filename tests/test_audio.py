"""Audio conversion at the edges: any common format in, mono float32 16 kHz out, clear errors."""

import numpy as np
import pytest
import soundfile as sf

from asr.audio import AudioError, load_audio, resample, to_mono_float32, trim_silence


def test_integer_formats_scale_to_unit_range():
    assert to_mono_float32(np.array([32767, -32768], np.int16)).tolist() == pytest.approx([1.0, -1.0], abs=1e-4)
    assert to_mono_float32(np.array([255, 128, 0], np.uint8)).tolist() == pytest.approx([0.992, 0.0, -1.0], abs=1e-3)
    assert to_mono_float32(np.array([2**31 - 1], np.int32))[0] == pytest.approx(1.0, abs=1e-6)


def test_channels_are_averaged():
    stereo = np.stack([np.full(10, 0.5), np.full(10, -0.1)], axis=1).astype(np.float32)
    assert to_mono_float32(stereo) == pytest.approx(np.full(10, 0.2))
    assert to_mono_float32(stereo.T, channels_last=False) == pytest.approx(np.full(10, 0.2))


@pytest.mark.parametrize("bad,msg", [(np.array([0.1, np.nan]), "NaN"), (np.zeros((2, 2, 2)), "1-D or 2-D"),
                                     (np.array(["a"]), "sample format"), (np.zeros((10, 20)), "channels")])
def test_bad_audio_is_rejected_with_a_reason(bad, msg):
    with pytest.raises(AudioError, match=msg):
        to_mono_float32(bad)


@pytest.mark.parametrize("sr", [8000, 22050, 44100, 48000])
def test_resample_keeps_duration_and_pitch(sr):
    t = np.arange(sr) / sr
    tone = np.sin(2 * np.pi * 440 * t).astype(np.float32)
    out = resample(tone, sr, 16000)
    assert len(out) == 16000
    spectrum = np.abs(np.fft.rfft(out))
    assert abs(np.argmax(spectrum) - 440) <= 1


def test_load_audio_converts_any_file(tmp_path):
    sr = 44100
    stereo = (np.random.default_rng(0).uniform(-0.5, 0.5, (sr, 2)) * 32767).astype(np.int16)
    sf.write(tmp_path / "x.wav", stereo, sr, subtype="PCM_16")
    audio = load_audio(tmp_path / "x.wav")
    assert audio.dtype == np.float32 and audio.ndim == 1 and len(audio) == 16000


def test_load_audio_errors_name_the_problem(tmp_path):
    with pytest.raises(AudioError, match="not found"):
        load_audio(tmp_path / "missing.wav")
    (tmp_path / "corrupt.wav").write_bytes(b"RIFF\x00\x00not really a wave file")
    with pytest.raises(AudioError, match="cannot read"):
        load_audio(tmp_path / "corrupt.wav")


def test_trim_silence_finds_the_loud_part():
    audio = np.zeros(16000 * 3, np.float32)
    audio[16000:32000] = 0.3 * np.sin(np.arange(16000) / 5)
    trimmed = trim_silence(audio, pad_ms=0)
    assert abs(len(trimmed) - 16000) <= 160
