"""The rich progress bar of ``hivejax evolve``: generation, best and mean accuracy, evals/s."""

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
        TextColumn("best {task.fields[best]}  mean {task.fields[mean]}  {task.fields[rate]}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, transient=False) as progress:
        task = progress.add_task("evolve", total=generations, best="-", mean="-", rate="compiling")

        def on_generation(line):
            progress.update(
                task,
                advance=1,
                best=f"{line['best_so_far']:.4f}",
                mean=f"{line['mean_accuracy']:.4f}",
                rate=f"{line['evals_per_second']:.1f} evals/s",
            )

        yield on_generation
