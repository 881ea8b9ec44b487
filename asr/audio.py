"""Audio constants, loading and conversion: everything becomes mono float32 at 16 kHz.

Callers hand us whatever they have (int16/int32/uint8/float PCM, any rate, 1–8 channels);
``to_mono_float32`` and ``resample`` convert it, and ``AudioError`` says what was wrong
when it cannot be used (NaNs, empty, unreadable files).
"""

from __future__ import annotations

from math import gcd
from pathlib import Path

import numpy as np
from scipy.signal import resample_poly

SAMPLE_RATE = 16000  # Hz: Whisper, Silero and every recognizer here
FRAME_MS = 20  # transport frame: 320 samples at 16 kHz
FRAME_SAMPLES = SAMPLE_RATE * FRAME_MS // 1000


class AudioError(ValueError):
    """Audio that cannot be used as given; the message says how to fix it."""


def to_mono_float32(audio: np.ndarray, *, channels_last: bool = True) -> np.ndarray:
    """PCM of any common sample format and channel count → mono float32 in [-1, 1].

    Integer formats are scaled by their full range (uint8 is offset-binary, as in WAV);
    multi-channel audio is averaged. 2-D input is (samples, channels) unless
    ``channels_last`` is False.
    """
    a = np.asarray(audio)
    if a.ndim == 2:
        a = a if channels_last else a.T
        if a.shape[1] > 8:
            raise AudioError(f"audio has shape {a.shape}: expected (samples, channels) with ≤ 8 channels")
    elif a.ndim != 1:
        raise AudioError(f"audio must be 1-D or 2-D (samples, channels), got {a.ndim}-D")
    if a.dtype == np.uint8:
        a = (a.astype(np.float32) - 128.0) / 128.0
    elif np.issubdtype(a.dtype, np.integer):
        a = a.astype(np.float32) / float(np.iinfo(a.dtype).max + 1)
    elif np.issubdtype(a.dtype, np.floating):
        a = a.astype(np.float32)
    else:
        raise AudioError(f"unsupported sample format {a.dtype}: use int16, int32, uint8 or float PCM")
    if a.ndim == 2:
        a = a.mean(axis=1)
    if not np.all(np.isfinite(a)):
        raise AudioError("audio contains NaN or infinite samples")
    return np.clip(a, -1.0, 1.0)


def from_pcm16(data: bytes, channels: int = 1) -> np.ndarray:
    """Interleaved 16-bit PCM bytes (what pipecat and LiveKit frames carry) → mono float32."""
    if channels < 1 or len(data) % (2 * channels):
        raise AudioError(f"{len(data)} bytes is not whole 16-bit frames of {channels} channel(s)")
    return to_mono_float32(np.frombuffer(data, np.int16).reshape(-1, channels))


def resample(audio: np.ndarray, sr_in: int, sr_out: int = SAMPLE_RATE) -> np.ndarray:
    """Polyphase resampling with the exact rational ratio (22050→16000 is 320/441)."""
    if sr_in <= 0 or sr_out <= 0:
        raise AudioError(f"sample rates must be positive, got {sr_in} → {sr_out}")
    if sr_in == sr_out or len(audio) == 0:
        return audio.astype(np.float32, copy=False)
    g = gcd(sr_in, sr_out)
    return resample_poly(audio, sr_out // g, sr_in // g).astype(np.float32)


def load_audio(path: str | Path, sr: int = SAMPLE_RATE) -> np.ndarray:
    """Read any file libsndfile knows (WAV, FLAC, OGG, …) → mono float32 at ``sr``."""
    import soundfile as sf

    path = Path(path)
    if not path.is_file():
        raise AudioError(f"audio file not found: {path}")
    try:
        data, file_sr = sf.read(str(path), dtype="float32", always_2d=True)
    except Exception as e:  # libsndfile's own message names the problem
        raise AudioError(f"cannot read audio file {path}: {e}") from None
    if data.shape[0] == 0:
        raise AudioError(f"audio file {path} is empty")
    return resample(to_mono_float32(data), file_sr, sr)


def trim_silence(audio: np.ndarray, sr: int = SAMPLE_RATE, threshold_db: float = -45.0,
                 pad_ms: float = 10.0) -> np.ndarray:
    """Drop leading/trailing samples quieter than ``threshold_db`` below full scale (10 ms frames)."""
    hop = max(1, sr // 100)
    n = len(audio) // hop
    if n == 0:
        return audio
    rms = np.sqrt(np.mean(audio[: n * hop].reshape(n, hop) ** 2, axis=1) + 1e-12)
    loud = np.flatnonzero(20 * np.log10(rms) > threshold_db)
    if len(loud) == 0:
        return audio[:0]
    pad = int(pad_ms * sr / 1000)
    return audio[max(0, loud[0] * hop - pad): min(len(audio), (loud[-1] + 1) * hop + pad)]
