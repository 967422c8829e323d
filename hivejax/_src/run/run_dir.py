"""The files of one run directory, and who may write them.

::

    metrics.jsonl   one JSON line per generation, flushed as each generation ends
    best.json       the best program, canonical, with its hash, formula and fitness
    summary.json    the run's config and results
    checkpoints/    orbax checkpoints (``run/checkpoint.py``)

Only process 0 writes (every process of a multi-process run holds the same replicated
state). A new run refuses a directory that already holds ``metrics.jsonl``, so a run never
overwrites an earlier one. ``best.json`` and ``summary.json`` are written atomically; on
resume, ``metrics.jsonl`` is cut back to the line count recorded in the checkpoint, so the
resumed run's lines follow on with no gap and no duplicate.
"""

import contextlib
import json
import pathlib

import jax

from hivejax._src.program.files import write_json_atomic
from hivejax._src.run.checkpoint import Checkpointer, read_record, restore_state

METRICS = "metrics.jsonl"
BEST = "best.json"
SUMMARY = "summary.json"


class RunDir:
    """One run's directory. ``writer`` defaults to being process 0."""

    def __init__(self, path, keep_checkpoints: int = 3, writer: bool | None = None):
        self.path = pathlib.Path(path)
        self.writer = jax.process_index() == 0 if writer is None else writer
        self._keep = keep_checkpoints
        self._log = None

    def create(self) -> None:
        """Claim the directory for a new run; ``FileExistsError`` if it holds one."""
        if (self.path / METRICS).exists():
            raise FileExistsError(
                f"{self.path} already holds a run ({METRICS}); choose another --out"
            )
        if self.writer:
            self.path.mkdir(parents=True, exist_ok=True)

    def latest_checkpoint(self) -> tuple[int, dict]:
        """The latest checkpoint's step and record; ``ValueError`` if there is none."""
        return read_record(self.path)

    def restore(self, step: int, like):
        """Checkpoint ``step``'s state as host arrays shaped like ``like``."""
        return restore_state(self.path, step, like)

    def truncate_metrics(self, lines: int) -> None:
        """Keep the first ``lines`` lines of ``metrics.jsonl``: drop what a stopped run
        wrote after its last checkpoint."""
        if not self.writer:
            return
        path = self.path / METRICS
        kept = path.read_text().splitlines(keepends=True)[:lines] if path.exists() else []
        if len(kept) < lines:
            raise ValueError(f"{path} has fewer lines than the checkpoint records ({lines})")
        with open(path, "w") as f:
            f.writelines(kept)

    @contextlib.contextmanager
    def recording(self):
        """Open ``metrics.jsonl`` for appending and a checkpointer, for a run's loop."""
        checkpointer = Checkpointer(self.path, self._keep)
        log = open(self.path / METRICS, "a") if self.writer else None  # noqa: SIM115
        self._log, self._checkpointer = log, checkpointer
        try:
            yield self
        finally:
            self._log = self._checkpointer = None
            if log is not None:
                log.close()
            checkpointer.close()

    def append_metrics(self, line: dict) -> None:
        """One generation's line, flushed at once (inside ``recording``)."""
        if self._log is not None:
            self._log.write(json.dumps(line) + "\n")
            self._log.flush()

    def save_checkpoint(self, step: int, state, record: dict) -> None:
        """Checkpoint ``step``: the state (fetched to host) and its JSON record."""
        self._checkpointer.save(step, jax.device_get(state), record)

    def read_metrics(self) -> list[dict]:
        """The metrics lines written so far; a last line still being written is left out."""
        path = self.path / METRICS
        text = path.read_text()
        lines = text.splitlines()
        if text and not text.endswith("\n"):
            lines = lines[:-1]
        try:
            return [json.loads(line) for line in lines if line.strip()]
        except ValueError as e:
            raise ValueError(f"{path} is not one JSON object per line: {e}") from None

    def read_json(self, name: str) -> dict | None:
        """The JSON file ``name`` of the directory, ``None`` if it is not there (yet)."""
        path = self.path / name
        if not path.exists():
            return None
        try:
            return json.loads(path.read_text())
        except ValueError as e:
            raise ValueError(f"{path} is not valid JSON: {e}") from None

    def write_json(self, name: str, obj) -> None:
        """Write ``name`` in the directory atomically (process 0 only)."""
        if self.writer:
            write_json_atomic(self.path / name, obj)
