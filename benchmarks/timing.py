"""Timing helpers shared by benchmark.py, benchmarks/ and research/ (never by src/: the
product package does not time itself).

    median_seconds(call, warmup, runs)            one implementation
    alternating_medians({"a": fa, "b": fb}, rounds) A/B in one process
    cpu_name()                                    for every benchmark header
"""
import platform
import statistics
import time


def cpu_name():
    """The CPU model and its widest x86 vector ISA, e.g. "AMD EPYC (avx2)": the
    figures differ between AVX2 and AVX-512 machines, so every benchmark header says."""
    name, flags = platform.processor() or "unknown CPU", set()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    name = line.split(":", 1)[1].strip()
                elif line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    break
    except OSError:
        pass
    isa = next((f for f in ("avx512f", "avx2", "avx") if f in flags), None)
    return f"{name} ({isa})" if isa else name


def median_seconds(call, warmup, runs):
    """Median wall time of ``call()`` over ``runs`` calls after ``warmup`` calls."""
    for _ in range(warmup):
        call()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def alternating_medians(calls, rounds, warmup=2):
    """{name: median seconds} of the ``calls`` ({name: callable}) timed in alternation,
    A B, B A, ... over ``warmup`` untimed then ``rounds`` timed rounds. For A/B figures:
    on these machines timings taken in separate processes differ by 10-15% from process to
    process, more than many effects being measured."""
    names = list(calls)
    times = {name: [] for name in names}
    for i in range(warmup + rounds):
        for name in (names if i % 2 == 0 else names[::-1]):
            start = time.perf_counter()
            calls[name]()
            if i >= warmup:
                times[name].append(time.perf_counter() - start)
    return {name: statistics.median(times[name]) for name in names}
