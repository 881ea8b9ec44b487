"""Whisper's log-mel features, offline and as a bounded-state stream that produces the same frames.

Whisper: 25 ms Hann windows every 10 ms (n_fft 400, hop 160) centred on each hop with reflect
padding, power spectrum, 80 Slaney mel bands, log10, a floor 8 (i.e. 80 dB) below the maximum,
then (x + 4) / 4. Offline the maximum is the clip's; a stream cannot know the future, so it
uses the running maximum, which equals the clip's once the loudest frame has passed (the
floor only touches bins 80 dB below it anyway).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch
from torch import Tensor

from asr.audio import SAMPLE_RATE

N_FFT = 400
HOP_LENGTH = 160
N_MELS = 80
FRAMES_PER_SECOND = SAMPLE_RATE // HOP_LENGTH  # 100 mel frames a second; encoder frames: 50
LOG_FLOOR = 1e-10


@lru_cache(maxsize=4)
def mel_filters(n_mels: int = N_MELS, sr: int = SAMPLE_RATE, n_fft: int = N_FFT) -> Tensor:
    """Slaney-style mel filterbank (librosa's default), (n_mels, n_fft // 2 + 1)."""
    f_sp, min_log_hz = 200.0 / 3, 1000.0
    min_log_mel, logstep = min_log_hz / f_sp, np.log(6.4) / 27.0

    def hz_to_mel(f):
        return f / f_sp if f < min_log_hz else min_log_mel + np.log(f / min_log_hz) / logstep

    mels = np.linspace(0.0, hz_to_mel(sr / 2), n_mels + 2)
    freqs = np.where(mels < min_log_mel, f_sp * mels, min_log_hz * np.exp(logstep * (mels - min_log_mel)))
    fft_freqs = np.fft.rfftfreq(n_fft, 1.0 / sr)
    ramps = freqs[:, None] - fft_freqs[None, :]
    lower = -ramps[:-2] / np.diff(freqs)[:-1, None]
    upper = ramps[2:] / np.diff(freqs)[1:, None]
    weights = np.maximum(0, np.minimum(lower, upper)) * (2.0 / (freqs[2:] - freqs[:-2]))[:, None]
    return torch.from_numpy(weights.astype(np.float32))


def _log_mel_frames(frames: Tensor) -> Tensor:
    """frames (n, N_FFT) of raw samples → log10 mel power (N_MELS, n), before normalisation."""
    window = torch.hann_window(N_FFT, periodic=True)
    power = torch.fft.rfft(frames * window, dim=-1).abs() ** 2  # (n, 201)
    return torch.log10(torch.clamp(mel_filters() @ power.T, min=LOG_FLOOR))  # (80, n)


def _normalise(log_mel: Tensor, max_value: Tensor | float) -> Tensor:
    return (torch.maximum(log_mel, torch.as_tensor(max_value) - 8.0) + 4.0) / 4.0


def log_mel_spectrogram(audio: np.ndarray | Tensor, padding: int = 0) -> Tensor:
    """Offline features of a 16 kHz clip (+ ``padding`` zero samples): (80, n_samples // 160)."""
    x = torch.as_tensor(audio, dtype=torch.float32)
    if padding:
        x = torch.nn.functional.pad(x, (0, padding))
    x = torch.nn.functional.pad(x[None, None], (N_FFT // 2, N_FFT // 2), mode="reflect")[0, 0]
    frames = x.unfold(0, N_FFT, HOP_LENGTH)[:-1]  # Whisper drops the last frame
    log_mel = _log_mel_frames(frames)
    return _normalise(log_mel, log_mel.max())


class StreamingLogMel:
    """``push(pcm)`` → the mel frames that became computable (80, n). State: < 400 samples + a max."""

    def __init__(self):
        self._buf = torch.zeros(0)  # samples from index _buf_start on
        self._buf_start = -(N_FFT // 2)  # sample index of _buf[0] (negative: the reflect pad)
        self._received = 0
        self._next = 0  # next frame index to emit
        self._max = torch.tensor(-float("inf"))
        self._started = False  # the start's reflect pad needs the first N_FFT//2 + 1 samples

    def push(self, pcm: np.ndarray | Tensor, final: bool = False) -> Tensor:
        x = torch.as_tensor(pcm, dtype=torch.float32).reshape(-1)
        self._received += len(x)
        self._buf = torch.cat([self._buf, x])
        if not self._started:
            if len(self._buf) <= N_FFT // 2 and not final:
                return torch.zeros(N_MELS, 0)
            self._started = True
            reflect = self._buf[1:N_FFT // 2 + 1].flip(0)
            self._buf = torch.cat([torch.nn.functional.pad(reflect, (N_FFT // 2 - len(reflect), 0)), self._buf])
        n_total = self._received // HOP_LENGTH  # frames the whole clip would have so far
        if final:
            tail = self._buf[-(N_FFT // 2 + 1):-1].flip(0)  # reflect pad at the end
            buf = torch.cat([self._buf, tail])
            last = n_total
        else:
            buf = self._buf
            last = min(n_total, (self._buf_start + len(buf) - N_FFT // 2) // HOP_LENGTH)  # frames fully inside
        n = last - self._next
        if n <= 0:
            return torch.zeros(N_MELS, 0)
        first_sample = self._next * HOP_LENGTH - N_FFT // 2 - self._buf_start
        frames = buf[first_sample:first_sample + (n - 1) * HOP_LENGTH + N_FFT].unfold(0, N_FFT, HOP_LENGTH)
        log_mel = _log_mel_frames(frames)
        self._max = torch.maximum(self._max, log_mel.max())
        self._next = last
        drop = self._next * HOP_LENGTH - N_FFT // 2 - self._buf_start  # samples no future frame needs
        self._buf, self._buf_start = self._buf[drop:], self._buf_start + drop
        return _normalise(log_mel, self._max)
