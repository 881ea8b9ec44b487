"""How the caller's voice ended before a pause: pitch and loudness at the last words.

Text cannot tell "My number is five five five, [pause]" from a turn that ends there, but the
voice often can: at the end of a turn the pitch falls to the speaker's floor and the last
syllable fades, while before a hold it stays up or rises. ``PitchTrack`` follows the caller's
pitch (normalised autocorrelation over 40 ms windows every 10 ms) and ``pause_prosody`` reads,
for the silence that began at ``onset_s``, how the last half second of voice ended relative to
the caller's own range over the last minute. The features are what ``turn_taking.detectors.learned`` weighs.
"""

from __future__ import annotations

import numpy as np

from asr.audio import SAMPLE_RATE

HOP = SAMPLE_RATE // 100  # 10 ms
WINDOW = 4 * HOP  # 40 ms: two periods of the lowest pitch followed
F0_RANGE_HZ = (70.0, 400.0)
OCTAVE_PEAK = 0.9  # a shorter lag's peak this close to the best one is the period
VOICED = 0.6  # normalised autocorrelation at the best lag above which a window is voiced
LOOKBACK_S = 0.5  # the voice before a pause that the features read
MIN_VOICED = 5  # voiced windows (50 ms) needed to say anything about the pitch
LOUD = 0.03  # windows quieter than this share of the loudest are not read as voice
HISTORY_S = 60.0  # the caller's range is read from the last minute
HISTORY, KEEP = int(HISTORY_S * 100), int(HISTORY_S * 100) + 300  # windows read; kept (a late onset)
PROSODY = ("voiced", "pitch_end", "pitch_slope", "loudness_end")


def frame_pitch(frames: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(f0 Hz, voicing strength, rms) for each row of ``frames`` (n, WINDOW)."""
    x = frames.astype(np.float64)
    x -= x.mean(axis=1, keepdims=True)
    n = 2 * WINDOW
    spec = np.fft.rfft(x, n)
    ac = np.fft.irfft(spec * np.conj(spec), n)[:, :WINDOW]
    energy = ac[:, 0]
    lo, hi = int(SAMPLE_RATE / F0_RANGE_HZ[1]), int(SAMPLE_RATE / F0_RANGE_HZ[0])
    # normalise each lag by the energy of the overlapping parts (unbiased for long lags)
    cum = np.cumsum(x ** 2, axis=1)
    tail = cum[:, -1:] - np.concatenate([np.zeros((len(x), 1)), cum[:, :-1]], axis=1)  # energy of x[k:]
    head = cum[:, ::-1]  # energy of x[:W-k]
    lags = np.arange(lo, hi + 1)
    norm = np.sqrt(tail[:, lags] * head[:, lags]) + 1e-12
    r = ac[:, lags] / norm
    # the first peak nearly as high as the highest: twice the period correlates as well as the period
    peak = (r[:, 1:-1] > r[:, :-2]) & (r[:, 1:-1] >= r[:, 2:]) & (r[:, 1:-1] >= OCTAVE_PEAK * r.max(axis=1, keepdims=True))
    best = np.where(peak.any(axis=1), peak.argmax(axis=1) + 1, r.argmax(axis=1))
    strength = r[np.arange(len(r)), best]
    f0 = SAMPLE_RATE / lags[best]
    rms = np.sqrt(np.maximum(energy, 0) / WINDOW)
    return f0, np.where(energy > 0, strength, 0.0), rms


class PitchTrack:
    """The caller's pitch, voicing and loudness every 10 ms, fed audio as it arrives in blocks of
    any size (the same windows as one pass over the whole recording); the last HISTORY_S kept."""

    def __init__(self):
        self._pending = np.zeros(0, np.float32)
        self._next = 0  # sample index of _pending[0]
        self._first = 0  # window index of the first window kept
        self._rows, self._n = np.zeros((2 * KEEP, 3)), 0  # (f0 Hz, voicing strength, rms) per window

    @property
    def frames(self) -> np.ndarray:
        """(f0 Hz, voicing strength, rms) of each window kept, oldest first."""
        return self._rows[:self._n]

    def push(self, pcm: np.ndarray, at_s: float | None = None):
        """Append caller audio; ``at_s``, its media time, fills a gap with silence."""
        pcm = np.asarray(pcm, np.float32).reshape(-1)
        if at_s is not None:
            at, end = int(round(at_s * SAMPLE_RATE)), self._next + len(self._pending)
            pcm = np.concatenate([np.zeros(at - end, np.float32), pcm]) if at > end else pcm[end - at:]
        buf = np.concatenate([self._pending, pcm])
        n = max(0, (len(buf) - WINDOW) // HOP + 1)
        if n:
            idx = np.arange(n)[:, None] * HOP + np.arange(WINDOW)[None, :]
            new = np.stack(frame_pitch(buf[idx]), axis=1)
            if self._n + len(new) > len(self._rows):  # full: keep the newest KEEP windows
                old = max(0, KEEP - len(new))  # of those already kept
                self._rows[:old] = self._rows[self._n - old:self._n]
                self._first += self._n - old + max(0, len(new) - KEEP)
                self._n, new = old, new[-KEEP:]
            self._rows[self._n:self._n + len(new)] = new
            self._n += len(new)
        self._pending = buf[n * HOP:]
        self._next += n * HOP

    def features(self, onset_s: float) -> np.ndarray | None:
        """``pause_prosody`` for the silence that began at ``onset_s``, from the HISTORY_S before
        it; None until the audio up to the onset has been pushed."""
        end = int((onset_s * SAMPLE_RATE - WINDOW) // HOP) + 1 - self._first  # windows ending by the onset
        if end <= 0 or end > len(self.frames):
            return None
        f0, strength, rms = self.frames[max(0, end - HISTORY):end].T
        return pause_prosody(f0, strength, rms)


def pause_prosody(f0: np.ndarray, strength: np.ndarray, rms: np.ndarray) -> np.ndarray:
    """PROSODY for a pause after these windows (those before the onset):

    * ``voiced``: 1 when the last LOOKBACK_S had enough voice to read a pitch, else 0 (the rest 0);
    * ``pitch_end``: the last 50 ms of voice, in octaves above the caller's median;
    * ``pitch_slope``: octaves per second over the voice of the last LOOKBACK_S;
    * ``loudness_end``: the last 50 ms of voice against the loudest voice, in log10.
    """
    voiced = (strength > VOICED) & (rms > LOUD * rms.max())
    look = int(LOOKBACK_S * 100)
    recent = np.flatnonzero(voiced[-look:]) + max(0, len(f0) - look)
    if len(recent) < MIN_VOICED:
        return np.zeros(len(PROSODY))
    # clipped: a creaky or breathy last syllable can read an octave off
    octaves = np.clip(np.log2(f0[recent] / np.median(f0[voiced])), -1, 1)
    t = recent / 100.0
    slope = float(np.polyfit(t - t.mean(), octaves, 1)[0]) if np.ptp(t) > 0 else 0.0
    loud = float(np.log10(rms[recent[-MIN_VOICED:]].mean() / rms[voiced].max()))
    return np.array([1.0, float(np.median(octaves[-MIN_VOICED:])), float(np.clip(slope, -4, 4)), loud])
