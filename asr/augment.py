"""Acoustic augmentation for 16 kHz mono float32 speech: speed, noise, rooms, telephone band.

Every transform is a pure function of the audio and explicit parameters, so an augmentation is
fully described by the ``Augmentation`` record stored in the manifest and can be replayed.
Only ``speed`` moves time; it rescales word timings by ``1 / factor``. The room keeps the direct
path at t = 0, so word timings stay valid under reverberation.
"""

from __future__ import annotations

import random
from typing import Literal

import numpy as np
from pydantic import BaseModel, Field
from scipy import signal

from asr.audio import SAMPLE_RATE, resample

NoiseKind = Literal["white", "pink", "brown", "hum", "babble"]


class Augmentation(BaseModel):
    """One replayable chain: speed → room → noise → telephone (each optional)."""

    speed: float = Field(1.0, ge=0.8, le=1.2)
    rt60_s: float | None = Field(None, ge=0.1, le=1.5)
    noise: NoiseKind | None = None
    snr_db: float | None = Field(None, ge=-5, le=40)
    telephone: bool = False
    seed: int = 0


def speed(audio: np.ndarray, factor: float) -> np.ndarray:
    """Play ``factor`` × faster (tempo and pitch, as Kaldi's speed perturbation)."""
    if factor == 1.0:
        return audio
    return resample(audio, int(round(SAMPLE_RATE * factor)), SAMPLE_RATE)


def room_impulse(rt60_s: float, rng: np.random.Generator) -> np.ndarray:
    """A synthetic room: direct path, then exponentially decaying diffuse noise (−60 dB at rt60)."""
    n = int(rt60_s * SAMPLE_RATE)
    t = np.arange(n) / SAMPLE_RATE
    tail = rng.standard_normal(n) * np.exp(-6.9 * t / rt60_s)  # ln(1000) ≈ 6.9
    tail[: int(0.002 * SAMPLE_RATE)] = 0.0  # the first reflection arrives after ~2 ms
    rir = 0.3 * tail / (np.abs(tail).max() + 1e-9)
    rir[0] = 1.0
    return rir.astype(np.float32)


def reverberate(audio: np.ndarray, rt60_s: float, rng: np.random.Generator) -> np.ndarray:
    wet = signal.fftconvolve(audio, room_impulse(rt60_s, rng))[: len(audio)]
    return _match_peak(wet, audio)


def noise(kind: NoiseKind, n: int, rng: np.random.Generator, babble: list[np.ndarray] = ()) -> np.ndarray:
    """``n`` samples of noise; ``babble`` is other speakers' audio, mixed and looped."""
    if kind == "white":
        return rng.standard_normal(n).astype(np.float32)
    if kind in ("pink", "brown"):
        spectrum = np.fft.rfft(rng.standard_normal(n))
        f = np.maximum(np.fft.rfftfreq(n), 1.0 / n)
        spectrum /= np.sqrt(f) if kind == "pink" else f
        return np.fft.irfft(spectrum, n).astype(np.float32)
    if kind == "hum":
        t = np.arange(n) / SAMPLE_RATE
        base = rng.choice([50.0, 60.0])
        hum = sum(np.sin(2 * np.pi * base * h * t + rng.uniform(0, 6.28)) / h for h in (1, 2, 3, 5))
        return (hum + 0.05 * rng.standard_normal(n)).astype(np.float32)
    if kind == "babble":
        if not babble:
            raise ValueError("babble noise needs other speakers' audio")
        mix = np.zeros(n, np.float32)
        for voice in babble:
            start = int(rng.integers(0, max(1, len(voice))))
            mix += np.resize(np.roll(voice, -start), n)
        return mix
    raise ValueError(f"unknown noise {kind!r}")


def add_noise(audio: np.ndarray, noise_audio: np.ndarray, snr_db: float) -> np.ndarray:
    """Mix at ``snr_db`` relative to the speech's active power (samples above −40 dB of peak)."""
    active = audio[np.abs(audio) > np.abs(audio).max() * 0.01] if audio.any() else audio
    p_speech = float(np.mean(active ** 2)) if len(active) else 0.0
    p_noise = float(np.mean(noise_audio ** 2)) + 1e-12
    mixed = audio + noise_audio * np.sqrt(p_speech / (p_noise * 10 ** (snr_db / 10)))
    return _match_peak(mixed, audio)


def telephone(audio: np.ndarray) -> np.ndarray:
    """Narrowband call: 300–3400 Hz, 8 kHz, 8-bit μ-law round trip, back to 16 kHz."""
    sos = signal.butter(4, [300, 3400], btype="bandpass", fs=SAMPLE_RATE, output="sos")
    narrow = resample(signal.sosfilt(sos, audio).astype(np.float32), SAMPLE_RATE, 8000)
    mu = 255.0
    x = np.clip(narrow, -1.0, 1.0)
    coded = np.round((np.sign(x) * np.log1p(mu * np.abs(x)) / np.log1p(mu) + 1) / 2 * mu)
    y = 2 * coded / mu - 1
    decoded = np.sign(y) * ((1 + mu) ** np.abs(y) - 1) / mu
    return resample(decoded.astype(np.float32), 8000, SAMPLE_RATE)


def apply(audio: np.ndarray, aug: Augmentation, babble: list[np.ndarray] = ()) -> np.ndarray:
    rng = np.random.default_rng(aug.seed)
    out = speed(audio, aug.speed)
    if aug.rt60_s:
        out = reverberate(out, aug.rt60_s, rng)
    if aug.noise:
        out = add_noise(out, noise(aug.noise, len(out), rng, babble), aug.snr_db)
    if aug.telephone:
        out = telephone(out)
    return out.astype(np.float32)


def random_augmentation(rng: random.Random, *, noisy: bool = True, telephone_p: float = 0.2,
                        room_p: float = 0.4) -> Augmentation:
    """A random chain: speed 0.9–1.1, a room 40% of the time, noise at 0–20 dB SNR, phone 20%."""
    return Augmentation(
        speed=round(rng.uniform(0.9, 1.1), 3),
        rt60_s=round(rng.uniform(0.2, 0.8), 2) if rng.random() < room_p else None,
        noise=rng.choice(["white", "pink", "brown", "hum", "babble"]) if noisy else None,
        snr_db=round(rng.uniform(0, 20), 1) if noisy else None,
        telephone=rng.random() < telephone_p,
        seed=rng.randrange(2 ** 31),
    )


def _match_peak(x: np.ndarray, reference: np.ndarray) -> np.ndarray:
    peak = np.abs(x).max() if len(x) else 0.0
    target = min(0.95, float(np.abs(reference).max()) if len(reference) else 0.0)
    return x * (target / peak) if peak > 0 else x
