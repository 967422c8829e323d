"""The rich progress bar of ``hivejax evolve``: generation, best and mean accuracy, the
cascade's rejections, cache hits and programs judged per second."""

import contextlib

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn


@contextlib.contextmanager
def progress_printer(generations: int, enabled: bool = True):
    """Yield a callback that advances a progress bar by one generation's metrics line."""
    if not enabled:
        yield lambda line: None
        return
    columns = (
        TextColumn("generation"),
        MofNCompleteColumn(),
        BarColumn(),
        TextColumn(
            "best {task.fields[best]}  mean {task.fields[mean]}  rejected "
            "{task.fields[rejected]}  cached {task.fields[cached]}  {task.fields[rate]}"
        ),
        TimeElapsedColumn(),
    )
    with Progress(*columns, transient=False) as progress:
        task = progress.add_task(
            "evolve",
            total=generations,
            best="-",
            mean="-",
            rejected="-",
            cached="-",
            rate="compiling",
        )

        def on_generation(line):
            progress.update(
                task,
                advance=1,
                best="-" if line["best_so_far"] is None else f"{line['best_so_far']:.4f}",
                mean=f"{line['mean_accuracy']:.4f}",
                rejected=_rejected(line),
                cached=line["cache_hits"],
                rate=f"{line['evals_per_second']:.1f} evals/s",
            )

        yield on_generation


def _rejected(line: dict) -> str:
    """The cascade's rejections of one generation: the total and the commonest reason."""
    counts = line.get("rejections")
    if not counts:
        return "-" if counts is None else "0"
    top = max(counts, key=counts.get)
    return f"{line['rejected']} ({top} {counts[top]})"
