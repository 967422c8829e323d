"""Figures of a run directory, and ``plot_run``, which draws what a directory has data for.

- ``progress.png``: the best and mean accuracy of each generation and the best so far,
  with the baseline's and the best program's test accuracy as lines (once ``summary.json``
  exists); below, where the run has them, the programs the cascade rejected (by reason),
  served by the cache and trained, per generation;
- ``operators.png``: per variation operator over the whole run (``operator_totals``), the
  share of its children that passed the cascade and the share of its scored children
  that improved on their parents, with the counts;
- ``front.png``: the final population's Pareto front of accuracy against live length
  (``summary.json``'s ``front``);
- ``function.png``: the best program's function shape (``functions.plot_program``), for
  loss, activation and optimizer runs.

A run still in progress has only ``metrics.jsonl``, and gets only ``progress.png``. A
local subnet directory (its chain file, ``local_subnet.CHAIN``) gets ``subnet.py``'s
figures.
"""

import math
import os
import pathlib

from hivejax._src.io.program_io import load_program
from hivejax._src.plotting import figures, functions, subnet
from hivejax._src.run.run_dir import BEST, METRICS, SUMMARY, RunDir
from hivejax._src.subnet.local_subnet import CHAIN
from hivejax._src.tasks.registry import task_of_spec

NOTHING_SCORED = "no program scored in these generations: every one was rejected or broke"
PLOTS = "plots"
"""Where ``plot_run`` writes by default: this folder of the directory it plots."""


def plot_run(
    directory: str | os.PathLike, out: str | os.PathLike | None = None
) -> list[pathlib.Path]:
    """Draw every figure ``directory`` has data for, as PNG files in ``out`` (default
    ``directory/plots``), and return their paths.

    ``directory`` is a run of ``evolve`` (it holds ``metrics.jsonl``: ``progress.png``,
    ``front.png``, ``function.png``) or a local subnet (it holds ``chain.sqlite``:
    ``weights.png``, ``emissions.png``). Raises ``FileNotFoundError`` for a missing
    directory, ``ValueError`` for one that is neither, and ``RuntimeError`` when matplotlib
    (the ``[plots]`` extra) is not installed.
    """
    directory = pathlib.Path(directory)
    if not directory.is_dir():
        what = "is not a directory" if directory.exists() else "no such directory"
        raise FileNotFoundError(f"{directory}: {what}")
    is_run, is_subnet = (directory / METRICS).is_file(), (directory / CHAIN).is_file()
    if not (is_run or is_subnet):
        raise ValueError(
            f"{directory} is neither a run directory (no {METRICS}) nor a local subnet "
            f"directory (no {CHAIN})"
        )
    figures.require()  # before anything is written
    out = directory / PLOTS if out is None else pathlib.Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = _run_figures(directory, out) if is_run else []
    if is_subnet:
        written += subnet.plot_subnet(directory / CHAIN, out)
    return written


def _run_figures(directory: pathlib.Path, out: pathlib.Path) -> list[pathlib.Path]:
    run = RunDir(directory, writer=False)
    lines, summary = run.read_metrics(), run.read_json(SUMMARY)
    written = [out / "progress.png"]
    progress(lines, summary or {}, written[0])
    totals = operator_totals(lines)
    if totals:
        written.append(out / "operators.png")
        operators(totals, summary or {}, written[-1])
    if summary and summary.get("front"):
        written.append(out / "front.png")
        front(summary["front"], summary, written[-1])
    if (directory / BEST).is_file():
        spec, program = load_program(directory / BEST)
        if task_of_spec(spec).name in functions.SHAPED:
            written.append(out / "function.png")
            functions.plot_program(spec, program, written[-1])
    return written


def _title(summary: dict) -> str:
    config = summary.get("config", {})
    task = config.get("problem") or config.get("task", "")
    return f"{task} on {config.get('dataset', '')}".strip() if task else ""


def _metric(summary: dict) -> str:
    """What the curves measure: the search's score, on validation or test data."""
    config = summary.get("config", {})
    if config.get("task") == "regression":
        return "score 1 / (2 - R²)"
    split = config.get("train", {}).get("validation")
    return "accuracy" if split is None else f"accuracy ({'validation' if split else 'test'})"


def _value(x) -> float:
    return math.nan if x is None else float(x)


def progress(lines: list[dict], summary: dict, path: str | os.PathLike) -> None:
    """Draw ``progress.png`` (module docstring) from the metrics lines and the summary
    (``{}`` while the run goes on)."""
    counts = any(m.get("rejections") or m.get("cache_hits") for m in lines)
    fig, axes = figures.figure(2 if counts else 1, 1, height=3.4, sharex=True)
    top = axes[0] if counts else axes
    g = [m["generation"] for m in lines]
    counted = [m["best_accuracy"] is not None for m in lines]  # else nothing was scored
    top.plot(g, [_value(m["best_accuracy"]) for m in lines], "o-", label="best of generation")
    mean = [m["mean_accuracy"] if c else math.nan for m, c in zip(lines, counted, strict=True)]
    top.plot(g, mean, "s-", ms=4, label="mean of generation")
    so_far = [_value(m["best_so_far"]) for m in lines]
    top.plot(g, so_far, drawstyle="steps-post", lw=2, label="best so far")
    if summary.get("baseline_accuracy") is not None:
        top.axhline(
            summary["baseline_accuracy"],
            ls="--",
            color="gray",
            label=f"baseline {summary['baseline']} (test)",
        )
        top.axhline(
            summary["final"]["program"]["mean"], ls=":", color="black", label="best program (test)"
        )
    if not any(counted):
        top.text(0.5, 0.5, NOTHING_SCORED, ha="center", va="center", transform=top.transAxes)
    top.set(ylabel=_metric(summary), title=_title(summary) or None)
    top.grid(alpha=0.3)
    _legend_right(top)
    bottom = axes[1] if counts else top
    if counts:
        _counts(bottom, lines)
    bottom.set_xlabel("generation")
    bottom.xaxis.set_major_locator(figures.require().ticker.MaxNLocator(integer=True))
    figures.save(fig, path)


def _counts(ax, lines: list[dict]) -> None:
    g = [m["generation"] for m in lines]
    reasons = sorted({r for m in lines for r in m.get("rejections", {})})
    stacked = [0] * len(lines)
    for i, reason in enumerate(reasons):
        n = [m.get("rejections", {}).get(reason, 0) for m in lines]
        ax.bar(g, n, bottom=stacked, width=0.8, color=f"C{i}", alpha=0.6, label=reason)
        stacked = [a + b for a, b in zip(stacked, n, strict=True)]
    ax.plot(g, [m.get("cache_hits", 0) for m in lines], "k.-", label="cache hits")
    ax.plot(g, [m.get("trained", 0) for m in lines], "x--", color="C9", label="trained")
    ax.set(
        ylabel="programs",
        title="programs rejected by the cascade (bars, by reason), cached, trained",
    )
    ax.grid(alpha=0.3)
    _legend_right(ax)


def operator_totals(lines: list[dict]) -> dict[str, dict[str, int]]:
    """Each operator's counts (``bred``, ``passed``, ``scored``, ``improved``: the metrics
    lines' ``operators``) summed over the generations of ``lines``; empty for runs written
    before operators were counted."""
    totals: dict[str, dict[str, int]] = {}
    for m in lines:
        for name, row in m.get("operators", {}).items():
            total = totals.setdefault(name, dict.fromkeys(row, 0))
            for k, v in row.items():
                total[k] += v
    return totals


def operators(totals: dict[str, dict[str, int]], summary: dict, path) -> None:
    """Draw ``operators.png`` (module docstring) from ``operator_totals``."""
    fig, ax = figures.figure(height=3.6)
    names = list(totals)
    x = range(len(names))
    passed = [t["passed"] / max(t["bred"], 1) for t in totals.values()]
    improved = [t["improved"] / max(t["scored"], 1) for t in totals.values()]
    ax.bar([i - 0.2 for i in x], passed, 0.4, label="passed the cascade (of bred)")
    ax.bar([i + 0.2 for i in x], improved, 0.4, label="improved on its parents (of scored)")
    for i, t in zip(x, totals.values(), strict=True):
        ax.annotate(
            f"{t['passed']}/{t['bred']}\n{t['improved']}/{t['scored']}",
            (i, max(passed[i], improved[i])),
            xytext=(0, 3),
            textcoords="offset points",
            ha="center",
            fontsize=7,
        )
    title = _title(summary)
    ax.set(
        xticks=list(x),
        xticklabels=names,
        ylabel="share of children",
        ylim=(0, 1.15),
        title=f"what each operator's children did{': ' + title if title else ''}",
    )
    ax.grid(alpha=0.3, axis="y")
    _legend_right(ax)
    figures.save(fig, path)


def _legend_right(ax) -> None:
    ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0))


def front(entries: list[dict], summary: dict, path: str | os.PathLike) -> None:
    """Draw ``front.png``: accuracy against live length, the points numbered and their
    formulas listed below (``entries``: ``summary.json``'s ``front``, shortest first)."""
    fig, ax = figures.figure(height=4.0 + 0.22 * len(entries))
    lengths = [e["live_length"] for e in entries]
    accuracies = [e["accuracy"] for e in entries]
    ax.plot(lengths, accuracies, drawstyle="steps-post", color="gray", alpha=0.5)
    for i, e in enumerate(entries, 1):
        x, y = e["live_length"], e["accuracy"]
        label = f"{i}. {y:.4f}, {x} live: {figures.wrap(e['formula'], 120, 1)}"
        ax.plot([x], [y], "o", color=f"C{(i - 1) % 10}", label=label)
        ax.annotate(str(i), (x, y), xytext=(5, -12), textcoords="offset points", fontsize=8)
    title = _title(summary)
    ax.set(
        xlabel="live instructions",
        ylabel=_metric(summary),
        title=f"Pareto front of the final population{': ' + title if title else ''}",
    )
    ax.xaxis.set_major_locator(figures.require().ticker.MaxNLocator(integer=True))
    ax.set_xlim(min(lengths) - 1, max(lengths) + 1)  # integer ticks even for one point
    ax.margins(y=0.15)
    ax.grid(alpha=0.3)
    fig.legend(loc="outside lower left", fontsize="small", frameon=False)
    figures.save(fig, path)
