"""Checkpoints of a run with orbax-checkpoint, so a stopped run continues exactly.

A checkpoint holds the whole evolving state (every island's population, fitness, ages,
best program and counters, which together are the strategy state) and a small JSON
record: the run's config, the number of finished generations, the number of lines of
``metrics.jsonl`` at that point and the evaluation time so far. Keys are not stored:
the run key, the evaluation key and every generation's key derive from the config's
seed (``jax.random.split(k_run, generations)`` indexed by generation), so a resumed run
draws the same keys.

Saving goes through ``orbax.checkpoint.CheckpointManager``: each save is written to a
temporary directory and renamed into place when complete, so a save cut short (a crash,
``kill -9``) leaves the previous checkpoint intact, and only the last ``keep`` are kept.
Only process 0 saves (the state is replicated, every process holds the same copy);
resuming a multi-host run needs the run directory on a filesystem all hosts share.
"""

import pathlib

import jax
import numpy as np
import orbax.checkpoint as ocp

FORMAT = "hivejax.checkpoint"
VERSION = 1
SUBDIR = "checkpoints"


def _manager(run_dir: pathlib.Path, keep: int | None, create: bool) -> ocp.CheckpointManager:
    me = jax.process_index()
    directory = pathlib.Path(run_dir).absolute() / SUBDIR
    if create:  # orbax refuses to create it itself when only some processes take part
        directory.mkdir(parents=True, exist_ok=True)
    options = ocp.CheckpointManagerOptions(
        max_to_keep=keep,
        create=False,
        enable_async_checkpointing=False,
        multiprocessing_options=ocp.options.MultiprocessingOptions(
            primary_host=me, active_processes={me}
        ),
    )
    return ocp.CheckpointManager(directory, options=options)


class Checkpointer:
    """Saves checkpoints of one run into ``run_dir/checkpoints``; a no-op off process 0."""

    def __init__(self, run_dir: pathlib.Path, keep: int):
        self._run_dir = pathlib.Path(run_dir)
        self._keep = keep
        self._manager = None
        self.enabled = jax.process_index() == 0

    def save(self, step: int, state, record: dict) -> None:
        """Write ``state`` (a PyTree, fetched to host) and ``record`` as checkpoint ``step``."""
        if not self.enabled:
            return
        if self._manager is None:
            self._manager = _manager(self._run_dir, self._keep, create=True)
        leaves = {str(i): np.asarray(x) for i, x in enumerate(jax.tree.leaves(state))}
        record = {"format": FORMAT, "version": VERSION, **record}
        self._manager.save(
            step,
            args=ocp.args.Composite(
                state=ocp.args.StandardSave(leaves), record=ocp.args.JsonSave(record)
            ),
            force=True,
        )
        self._manager.wait_until_finished()

    def close(self) -> None:
        if self._manager is not None:
            self._manager.close()


def read_record(run_dir: pathlib.Path) -> tuple[int, dict]:
    """The latest checkpoint's step and JSON record; ``ValueError`` if there is none."""
    directory = pathlib.Path(run_dir) / SUBDIR
    if not directory.is_dir():
        raise ValueError(f"{run_dir} holds no hivejax checkpoints ({directory} is missing)")
    manager = _manager(run_dir, None, create=False)
    try:
        step = manager.latest_step()
        if step is None:
            raise ValueError(f"{directory} holds no complete checkpoint")
        try:
            restored = manager.restore(step, args=ocp.args.Composite(record=ocp.args.JsonRestore()))
            record = restored["record"]
        except Exception as e:  # orbax raises many types for damaged files
            raise ValueError(f"checkpoint {step} in {directory} is unreadable: {e}") from None
    finally:
        manager.close()
    if not isinstance(record, dict) or record.get("format") != FORMAT:
        raise ValueError(f"{directory} does not hold hivejax checkpoints")
    if record.get("version") != VERSION:
        raise ValueError(
            f"checkpoint version {record.get('version')} in {directory} is not {VERSION}"
        )
    return step, record


def restore_state(run_dir: pathlib.Path, step: int, like):
    """Checkpoint ``step``'s state, as host arrays with the structure and shapes of ``like``."""
    directory = pathlib.Path(run_dir) / SUBDIR
    leaves, treedef = jax.tree.flatten(like)
    target = {str(i): np.zeros(np.shape(x), np.asarray(x).dtype) for i, x in enumerate(leaves)}
    manager = _manager(run_dir, None, create=False)
    try:
        restored = manager.restore(
            step, args=ocp.args.Composite(state=ocp.args.StandardRestore(target))
        )["state"]
    except Exception as e:
        raise ValueError(f"checkpoint {step} in {directory} is unreadable: {e}") from None
    finally:
        manager.close()
    arrays = [np.asarray(restored[str(i)]) for i in range(len(leaves))]
    for got, want in zip(arrays, target.values(), strict=True):
        if got.shape != want.shape or got.dtype != want.dtype:
            raise ValueError(f"checkpoint {step} in {directory} does not match this run's shapes")
    return jax.tree.unflatten(treedef, arrays)
