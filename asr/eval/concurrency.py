"""How many live streams one process keeps up with on this machine.

N streams of the same audio run in N threads, each pushing ``chunk_ms`` as its chunk
"arrives" on the wall clock (starts staggered by chunk/N, as real calls are not aligned).
A chunk's lag is the time from its arrival to the end of its push. N streams keep up when
the 95th-percentile lag is at most one chunk, i.e. work does not pile up. The search tries
1, 2, 3, 4, 6, 8, 12, 16 and stops at the first N that falls behind.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from asr.recognizer import StreamingRecognizer, feed, live_pace

CANDIDATES = (1, 2, 3, 4, 6, 8, 12, 16)


def _paced(rec: StreamingRecognizer, audio: np.ndarray, chunk_ms: int, t0: float) -> list[float]:
    """Chunk lags (s) of one live stream whose audio starts arriving at ``t0``."""
    lags = []
    for arrived, _ in feed(rec.stream(), audio, chunk_ms, live_pace(t0)):
        lags.append(time.perf_counter() - (t0 + arrived))
    return lags


def lag_p95(rec: StreamingRecognizer, audio: np.ndarray, chunk_ms: int, n: int) -> float:
    """95th-percentile chunk lag (s) with ``n`` concurrent live streams."""
    t0 = time.perf_counter() + 0.05
    with ThreadPoolExecutor(n) as pool:
        runs = [pool.submit(_paced, rec, audio, chunk_ms, t0 + k * chunk_ms / 1000 / n) for k in range(n)]
        lags = [lag for r in runs for lag in r.result()]
    return float(np.percentile(lags, 95))


def realtime_streams(rec: StreamingRecognizer, audio: np.ndarray, chunk_ms: int,
                     candidates: tuple[int, ...] = CANDIDATES) -> dict:
    """{"streams": the most that keep up (0 if even one does not), "lag_p95_ms": {n: lag}}."""
    lags, best = {}, 0
    for n in candidates:
        lags[n] = round(lag_p95(rec, audio, chunk_ms, n) * 1000)
        if lags[n] > chunk_ms:
            break
        best = n
    return {"streams": best, "lag_p95_ms": lags}
