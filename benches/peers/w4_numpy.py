"""W4 peer: mean NDCG@10 over users x candidates scores with one target per user, vectorized
numpy, ties counted against the target (as prefopt-eval does).

Usage: python3 w4_numpy.py USERS CANDIDATES REPEATS -> one JSON line with the median seconds.
The scores are generated here (seeded); only the metric is timed.
"""
import json
import sys
import time

import numpy as np


def mean_ndcg_at_k(scores, targets, k):
    own = scores[np.arange(len(targets)), targets][:, None]
    above = ((scores >= own) | np.isnan(scores)).sum(axis=1) - 1  # the target itself counts once
    gains = np.where(above < k, 1.0 / np.log2(above + 2.0), 0.0)
    gains[np.isnan(own[:, 0])] = 0.0
    return float(gains.mean())


def main():
    users = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    candidates = int(sys.argv[2]) if len(sys.argv) > 2 else 100
    repeats = int(sys.argv[3]) if len(sys.argv) > 3 else 10
    rng = np.random.default_rng(0)
    scores = rng.random((users, candidates), dtype=np.float32)
    targets = rng.integers(0, candidates, users)
    value = mean_ndcg_at_k(scores, targets, 10)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        mean_ndcg_at_k(scores, targets, 10)
        times.append(time.perf_counter() - start)
    times.sort()
    print(json.dumps({"median_s": times[len(times) // 2], "ndcg@10": value,
                      "users": users, "candidates": candidates}))


if __name__ == "__main__":
    main()
