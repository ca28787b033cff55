"""Timing and peak memory of a benchmark child, with no framework imported (the official code's
child must not carry TensorFlow's memory)."""

import resource
import statistics
import time


def time_calls(fns, warmup, repeats, finish=lambda result: None):
    """Seconds per call of each function; with several, calls alternate so drift hits all alike.

    `finish(result)` waits for a call's values (a framework may return before its work is done).
    """
    for fn in fns:
        for _ in range(warmup):
            finish(fn())
    times = [[] for _ in fns]
    for _ in range(repeats):
        for fn, record in zip(fns, times):
            start = time.perf_counter()
            finish(fn())
            record.append(time.perf_counter() - start)
    return times


def peak_rss_bytes():
    """This process's peak resident memory (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def summary(times):
    return {"median": statistics.median(times), "min": min(times), "max": max(times)}
