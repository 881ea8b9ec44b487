"""The caller's pitch at a pause: the tracker's maths on synthetic voices, streaming == offline,
and the detectors reading it live as the evaluation's traces do."""

import numpy as np
import pytest

from asr.audio import SAMPLE_RATE
from turn_taking.detectors.learned import EVIDENCE, evidence
from turn_taking.detectors.adaptive import PauseEvidence
from turn_taking.prosody import KEEP, PROSODY, PitchTrack, pause_prosody


def voice(f0_hz: np.ndarray, seed: int = 0) -> np.ndarray:
    """A buzzy vowel whose pitch follows ``f0_hz`` (one value per sample): five harmonics."""
    phase = 2 * np.pi * np.cumsum(f0_hz) / SAMPLE_RATE
    x = sum(np.sin(k * phase) / k for k in range(1, 6))
    return (0.3 * x / np.abs(x).max() + 0.002 * np.random.default_rng(seed).standard_normal(len(x))).astype(np.float32)


def seconds(s: float) -> int:
    return int(s * SAMPLE_RATE)


def glide(start_hz: float, end_hz: float, s: float) -> np.ndarray:
    return np.geomspace(start_hz, end_hz, seconds(s))


def test_the_pitch_of_a_steady_voice_is_read():
    track = PitchTrack()
    track.push(voice(np.full(seconds(1.0), 150.0)))
    f0 = track.frames[:, 0][track.frames[:, 1] > 0.6]
    assert len(f0) > 90 and np.all(np.abs(f0 / 150 - 1) < 0.03)  # no window an octave off


@pytest.mark.parametrize("end_hz, falls", [(95.0, True), (230.0, False)])
def test_a_falling_end_reads_low_and_a_rising_one_high(end_hz, falls):
    """A second at the caller's usual pitch, then half a second gliding down (a turn's end) or up."""
    audio = np.concatenate([voice(np.full(seconds(1.0), 150.0)), voice(glide(150, end_hz, 0.5), seed=1),
                            np.zeros(seconds(0.3), np.float32)])
    track = PitchTrack()
    track.push(audio)
    voiced, pitch_end, slope, loudness = track.features(1.5)
    assert voiced == 1.0 and -1.0 < loudness <= 0.0
    if falls:
        assert pitch_end < -0.4 and slope < -0.5
    else:
        assert pitch_end > 0.4 and slope > 0.5


def test_silence_or_noise_before_a_pause_says_nothing():
    noise = (0.05 * np.random.default_rng(0).standard_normal(seconds(1.0))).astype(np.float32)
    for audio in (np.zeros(seconds(1.0), np.float32), noise):
        track = PitchTrack()
        track.push(audio)
        assert np.array_equal(track.features(0.9), np.zeros(len(PROSODY)))


def test_pushing_in_blocks_reads_exactly_what_one_pass_reads():
    audio = np.concatenate([voice(glide(120, 200, 1.3)), np.zeros(seconds(0.2), np.float32),
                            voice(glide(180, 110, 0.9), seed=2)])
    whole = PitchTrack()
    whole.push(audio)
    blocks, rng, at = PitchTrack(), np.random.default_rng(0), 0
    while at < len(audio):
        n = int(rng.integers(1, 900))
        blocks.push(audio[at:at + n], at / SAMPLE_RATE)
        at += n
    np.testing.assert_allclose(blocks.frames, whole.frames, rtol=1e-6, atol=1e-9)
    for onset in (0.6, 1.3, 2.4):
        np.testing.assert_allclose(blocks.features(onset), whole.features(onset), rtol=1e-6, atol=1e-9)


def test_a_gap_in_the_audio_is_heard_as_silence():
    tone = voice(np.full(seconds(0.5), 150.0))
    gapped, filled = PitchTrack(), PitchTrack()
    gapped.push(tone, 0.0)
    gapped.push(tone, 0.8)
    filled.push(np.concatenate([tone, np.zeros(seconds(0.3), np.float32), tone]))
    np.testing.assert_allclose(gapped.frames, filled.frames, rtol=1e-6, atol=1e-9)


def test_an_endless_call_keeps_a_bounded_history():
    track, tone = PitchTrack(), voice(np.full(seconds(10.0), 150.0))
    for k in range(16):
        track.push(tone, 10.0 * k)
        assert len(track.frames) <= 2 * KEEP
    assert track.features(159.9)[0] == 1.0
    assert track.features(1.0) is None  # long forgotten


def test_the_features_wait_for_the_audio_before_the_onset():
    track = PitchTrack()
    track.push(voice(np.full(seconds(0.5), 150.0)))
    assert track.features(0.8) is None
    assert track.features(0.45) is not None


def test_a_detector_reads_live_what_a_trace_hands_it():
    """Live, the VAD's stop can arrive before the audio it describes; the detector reads the
    prosody once the audio reaches the onset, the same as the trace's ``on_prosody``."""
    audio = np.concatenate([voice(np.full(seconds(1.0), 150.0)), voice(glide(150, 100, 0.4), seed=3),
                            np.zeros(seconds(0.5), np.float32)])
    live, replayed = PauseEvidence(), PauseEvidence()
    for d in (live, replayed):
        d.on_speech_start(0.0)
    live.on_audio(audio[:seconds(1.2)], 0.0)
    live.on_speech_end(1.4)
    assert live.prosody() is None  # not heard up to the onset yet
    live.on_audio(audio[seconds(1.2):], 1.2)
    track = PitchTrack()
    track.push(audio)
    replayed.on_speech_end(1.4)
    replayed.on_prosody(track.features(1.4), 1.4, 1.5)
    np.testing.assert_allclose(live.prosody(), replayed.prosody())
    assert live.prosody()[1] < -0.3
    e = evidence(live)
    assert len(e) == len(EVIDENCE) and np.allclose(e[-len(PROSODY):], live.prosody())
    live.on_speech_start(1.9)
    live.on_speech_end(2.1)
    assert live.prosody() is None or not np.allclose(live.prosody(), replayed.prosody())  # a new pause, new prosody


def test_prosody_of_an_old_pause_is_not_read_at_a_new_one():
    d = PauseEvidence()
    d.on_speech_end(1.0)
    d.on_prosody([1.0, -0.5, -1.0, -0.3], 1.0, 1.1)
    d.on_speech_start(1.5)
    d.on_speech_end(2.0)
    assert d.prosody() is None
    assert np.array_equal(evidence(d)[-len(PROSODY):], np.zeros(len(PROSODY)))


def test_pause_prosody_needs_enough_voice():
    f0, strength, rms = np.full(40, 150.0), np.full(40, 0.9), np.full(40, 0.1)
    strength[:-4] = 0.0  # only 40 ms voiced
    assert np.array_equal(pause_prosody(f0, strength, rms), np.zeros(len(PROSODY)))
