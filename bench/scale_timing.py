"""Where the dispatch latency goes, for ``bench/scale.py --timing``: the steps the workers
recorded (``bench/dispatch_timing.py``) between the benchmark's send and the site's arrival, as
consecutive gaps with their p50 / p99, and what the slowest 1 % of jobs spent their time on."""

from __future__ import annotations

import itertools
import json
import statistics
from collections import defaultdict
from pathlib import Path


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def chains(
    paths: list[Path], sent: dict[str, float], arrived: dict[str, float]
) -> dict[str, list[tuple[str, float]]]:
    """Each timed job's steps in time order, from ``sent`` to ``agent``."""
    found: dict[str, list[tuple[str, float]]] = {}
    for path in paths:
        if not path.exists():
            continue
        for line in path.read_text(encoding="utf-8").splitlines():
            record = json.loads(line)
            job = record["job"]
            if job not in sent or job not in arrived:
                continue
            steps = [(s, t) for s, t in record["events"] if s != "http_out"]
            steps = [("sent", sent[job]), *steps, ("agent", arrived[job])]
            found[job] = sorted(steps, key=lambda step: step[1])
    return found


def breakdown(paths: list[Path], sent: dict[str, float], arrived: dict[str, float]) -> list[str]:
    """Lines of the report: each gap's count, p50, p99 and mean in ms, in path order."""
    found = chains(paths, sent, arrived)
    if not found:
        return ["no timed jobs"]
    gaps: dict[str, list[float]] = defaultdict(list)
    order: dict[str, int] = {}
    per_job: dict[str, dict[str, float]] = {}
    for job, steps in found.items():
        mine: dict[str, float] = defaultdict(float)
        for position, ((a, ta), (b, tb)) in enumerate(itertools.pairwise(steps)):
            label = f"{a} -> {b}"
            gaps[label].append((tb - ta) * 1000)
            mine[label] += (tb - ta) * 1000
            order.setdefault(label, position)
        per_job[job] = mine
    totals = {job: (steps[-1][1] - steps[0][1]) * 1000 for job, steps in found.items()}
    slow = sorted(totals, key=totals.__getitem__)[-max(1, len(totals) // 100) :]
    lines = [
        f"{len(found)} jobs timed; total p50 {statistics.median(totals.values()):.1f} ms"
        f"  p99 {_percentile(list(totals.values()), 0.99):.1f} ms",
        f"{'step':36} {'n':>5} {'p50':>7} {'p99':>7} {'mean':>7} {'slow1%':>7}",
    ]
    for label in sorted(gaps, key=lambda g: (order[g], g)):
        values = gaps[label]
        if len(values) < max(3, len(found) // 50):
            continue  # a step of a few requests only (the half-hourly Basic login row)
        in_slow = statistics.mean(per_job[j].get(label, 0.0) for j in slow)
        lines.append(
            f"{label:36} {len(values):5d} {statistics.median(values):7.2f}"
            f" {_percentile(values, 0.99):7.2f} {statistics.mean(values):7.2f} {in_slow:7.2f}"
        )
    return lines
