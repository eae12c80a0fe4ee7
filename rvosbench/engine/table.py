"""The comparison table ``rvosbench run`` prints at the end: variants × (benchmark, metric).

Each value is the mean over seeds (± the sample standard deviation when there are several seeds),
×100 as RVOS papers print them, with the difference to the baseline variant in parentheses. Trivial
baselines (:mod:`rvosbench.engine.baselines`) follow under a rule so the learned margin is visible.
The reports package renders the full tables (CIs, significance, other formats) from the same store.
"""
from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any


def aggregate(summaries: Sequence[Mapping[str, Any]]) -> dict[tuple[str, str], dict[str, tuple[float, float, int]]]:
    """``{(variant, benchmark): {metric: (mean, std, n_seeds)}}`` from cell summaries."""
    values: dict[tuple[str, str], dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for summary in summaries:
        bench = f"{summary['benchmark']}/{summary['split']}"
        for metric, value in summary.get("metrics", {}).items():
            if isinstance(value, (int, float)):
                values[(summary["variant"], bench)][metric].append(float(value))
    return {key: {m: (statistics.fmean(v), statistics.stdev(v) if len(v) > 1 else 0.0, len(v))
                  for m, v in metrics.items()} for key, metrics in values.items()}


def _cell(stat: tuple[float, float, int] | None, base: tuple[float, float, int] | None, show_delta: bool) -> str:
    if stat is None:
        return "–"
    mean, std, n = stat
    text = f"{100 * mean:.1f}"
    if n > 1:
        text += f"±{100 * std:.1f}"
    if show_delta and base is not None:
        text += f" ({100 * (mean - base[0]):+.1f})"
    return text


def format_table(summaries: Sequence[Mapping[str, Any]], variants: Sequence[str], baseline: str,
                 metrics: Mapping[str, Sequence[str]], baselines: Sequence[Mapping[str, Any]] = (),
                 title: str = "") -> str:
    """Render the table as aligned text.

    ``metrics`` maps each benchmark display name (``synth/test``) to the metric columns to show;
    ``baselines`` are summaries of trivial baselines (their ``variant`` is the baseline's name).
    """
    stats = aggregate(summaries)
    extra = aggregate(baselines)
    columns = [(bench, metric) for bench, names in metrics.items() for metric in names]
    header = ["variant", "seeds", *[f"{b} {m}" if len(metrics) > 1 else m for b, m in columns]]
    rows = []
    for variant in variants:
        seeds = max((stats.get((variant, b), {}).get(m, (0, 0, 0))[2] for b, m in columns), default=0)
        label = f"{variant} (baseline)" if variant == baseline else variant
        rows.append([label, str(seeds) if seeds else "–", *[
            _cell(stats.get((variant, b), {}).get(m), stats.get((baseline, b), {}).get(m), variant != baseline)
            for b, m in columns]])
    names = sorted({v for v, _ in extra})
    trivial = [[f"{name} (trivial)", "–", *[_cell(extra.get((name, b), {}).get(m), None, False)
                                           for b, m in columns]] for name in names]
    widths = [max(len(r[i]) for r in [header, *rows, *trivial]) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths))).rstrip()

    rule = "-" * len(line(header))
    out = [title] if title else []
    out += [line(header), rule, *map(line, rows)]
    if trivial:
        out += [rule, *map(line, trivial)]
    out.append("values ×100, mean±std over seeds, (Δ vs baseline)")
    return "\n".join(out)
