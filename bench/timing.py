"""The timing loop of policy_eval.py, shared with agt_eval.py, which runs in AGT's own venv:
no imports beyond the standard library, so both engines are timed by the very same code."""

import time


def timed(fn, inputs: list, iterations: int) -> list[float]:
    """µs per call, cycling through inputs; a short warm-up first."""
    n = len(inputs)
    for i in range(min(iterations, 2000)):
        fn(inputs[i % n])
    samples = [0.0] * iterations
    clock = time.perf_counter_ns
    for i in range(iterations):
        x = inputs[i % n]
        t0 = clock()
        fn(x)
        samples[i] = (clock() - t0) / 1000
    return samples
