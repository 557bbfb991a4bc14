"""Timing and peak-memory helpers shared by the benchmark scripts."""

from __future__ import annotations

import time
import tracemalloc

import numpy as np

__all__ = ["median_times", "rss_growth_mib", "tracemalloc_peak_mib"]


def median_times(calls, repeats: int, pause: float = 1.0) -> list[float]:
    """Median seconds of each call, timed in blocks: one library's calls, then the other's.

    Alternating call by call penalises whichever library runs second: torch's
    OpenMP threads and OpenBLAS's threads both spin-wait for a while after a
    parallel region, so on two cores they steal the next call's CPU (a whole
    U-Net: convlab 1.9 s alternating against 1.5 s in a block, torch alike).
    A pause between blocks lets the spinning threads park.
    """
    medians = []
    for call in calls:
        call()  # warm-up: first-touch allocations, BLAS thread start
        spent = []
        for _ in range(repeats):
            start = time.perf_counter()
            call()
            spent.append(time.perf_counter() - start)
        medians.append(float(np.median(spent)))
        time.sleep(pause)
    return medians


def _status_kib(field: str) -> int | None:
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(field):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def rss_growth_mib(call) -> float | None:
    """Growth of the peak resident set during ``call``, in MiB.

    Sees every allocator (torch's too, which tracemalloc does not). Linux:
    VmHWM is reset through /proc/self/clear_refs before the call; elsewhere
    ``resource.getrusage``'s ru_maxrss, which only grows, so a call that stays
    below an earlier peak reads 0 there. None where neither is available.
    """
    try:
        with open("/proc/self/clear_refs", "w") as refs:
            refs.write("5")  # reset VmHWM to the current RSS
        before = _status_kib("VmRSS:")
        call()
        peak = _status_kib("VmHWM:")
        return None if before is None or peak is None else (peak - before) / 1024
    except OSError:
        try:
            import resource
        except ImportError:
            return None
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        call()
        return (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024


def tracemalloc_peak_mib(call) -> float:
    """Peak of live NumPy allocations during ``call`` (NumPy reports them to tracemalloc)."""
    tracemalloc.start()
    call()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak / 2**20
