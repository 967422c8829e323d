"""Evaluation protocols as versioned data: what a score means, written down and hashed.

A ``Protocol`` fixes everything that decides a program's score: the task (which component
the program is), the cells (``(dataset, model)`` pairs it is trained on), how many seeds,
and every number of the inner training run. ``run_protocol`` trains, on every cell and
seed, one model with the program as its component and one with the hand-designed baseline
under the same key, and reports the paired improvement (program minus baseline). The
baseline's runs are trained once per cell and seeds in a process and reused
(``baselines.py``): a validator that scores a second program on seeds it has scored
before trains only the program, and the scores are those of training it afresh.

Versioning: a protocol's ``version`` is the first 12 hex digits of the SHA-256 of its
canonical JSON (``Protocol.content``: the task, the cells and every number, keys sorted,
floats written with ``repr``, so exactly). Change any number and the version changes;
rename the protocol or edit its description and it does not. A score is only comparable
with scores of the same version. The version covers the protocol, not the code or the
contents of dataset files (``npz:PATH`` is hashed as its path).

Seeds: without an epoch a protocol evaluates on the seeds ``0 .. seeds-1``. With an epoch
(a round number) the seeds are derived from ``(version, epoch)`` by SHA-256, so they are
reproducible by anyone who knows the epoch and change every epoch. The subnet's
validators pass a block hash instead (``0x`` and hex digits, in place of the number): then
the seeds are fixed only once that block exists, so no program committed before it can be
tuned to them. A seed ``s`` is the key ``jax.random.key(s)``: it decides the
model's initialisation and the order of the training batches.

The summary treats the ``len(cells) * seeds`` paired improvements as one sample and
summarises it with ``evaluation.summarize`` (mean, standard deviation with ``ddof=1``, a
one-sided Student-t lower confidence bound on the mean). A program whose training broke
(NaN accuracy) scores accuracy 0 in its improvement and is counted as broken
(``evaluation.improvement``).

Example:
  >>> p = get_protocol("miner-loss")
  >>> p.cells, p.seeds
  ((('mnist1d', 'mlp'),), 2)
  >>> seed_values(p)
  [0, 1]
  >>> seed_values(p, epoch=7) == seed_values(p, epoch=7) != seed_values(p, epoch=8)
  True
  >>> seed_values(p, epoch="0x1f") != seed_values(p, epoch="0x20")
  True
"""

import dataclasses
import hashlib
import json
import re

import numpy as np

from hivejax._src.evaluation import baselines
from hivejax._src.evaluation.scores import improvement, program_accuracies, summarize
from hivejax._src.program.program import Program, ProgramSpec, pad_population, stack_programs
from hivejax._src.tasks.base import seed_keys
from hivejax._src.tasks.data import check_dataset_name, load_dataset
from hivejax._src.tasks.registry import TASKS, make_task
from hivejax._src.tasks.training import TrainConfig

# The fields that decide a score and so make the version; ``name`` and ``description`` do not.
_TRAIN_CONTENT = ("steps", "batch_size", "learning_rate", "hidden", "depth", "validation")
_CONTENT = ("task", "cells", "seeds", *_TRAIN_CONTENT, "confidence")


@dataclasses.dataclass(frozen=True)
class Protocol:
    """An evaluation protocol; its ``version`` is derived from its content (module docstring).

    Attributes:
      name: how the protocol is looked up in ``PROTOCOLS`` (not part of the version).
      task: one of ``tasks.registry.TASKS``; decides the shape of the programs it scores.
      cells: ``(dataset, model)`` pairs; every one is trained on with every seed.
      seeds: keys per cell.
      train: the inner training run of every cell (steps, batch size, learning rate, MLP
        width and depth); each cell trains its own model, so ``train.model`` is not used.
      confidence: level of the one-sided lower bound on the mean improvement.
      description: one line for listings (not part of the version).
    """

    name: str
    task: str
    cells: tuple[tuple[str, str], ...]
    seeds: int
    train: TrainConfig
    confidence: float = 0.95
    description: str = ""

    def __post_init__(self):
        object.__setattr__(self, "cells", tuple(tuple(c) for c in self.cells))
        if not self.cells or any(len(c) != 2 for c in self.cells):
            raise ValueError(f"cells must be (dataset, model) pairs, got {self.cells!r}")
        if not isinstance(self.seeds, int) or isinstance(self.seeds, bool) or self.seeds < 1:
            raise ValueError(f"Protocol.seeds must be a positive integer, got {self.seeds!r}")
        if len(self.cells) * self.seeds < 2:
            raise ValueError("a protocol needs at least 2 evaluations (cells x seeds) for a bound")
        if not 0.5 <= self.confidence < 1:
            raise ValueError(f"Protocol.confidence must be in [0.5, 1), got {self.confidence!r}")
        if not isinstance(self.train, TrainConfig):
            raise ValueError(f"Protocol.train must be a TrainConfig, got {self.train!r}")
        # The task, every cell's data set and model are checked by their own owners.
        for dataset, model in self.cells:
            check_dataset_name(dataset)
            make_task(self.task, self.train_config(model))

    def content(self) -> dict:
        """The JSON-able content the version hashes: the task, the cells and every number."""
        d = {"task": self.task, "seeds": self.seeds, "confidence": float(self.confidence)}
        d |= {k: getattr(self.train, k) for k in _TRAIN_CONTENT}
        d["cells"] = [list(c) for c in self.cells]
        d["learning_rate"] = float(self.train.learning_rate)
        d["validation"] = float(self.train.validation)
        if self.train.conv != "xla":  # added later: published versions stay as they were
            d["conv"] = self.train.conv
        return d

    @property
    def version(self) -> str:
        """The first 12 hex digits of the SHA-256 of the canonical JSON of ``content()``."""
        text = json.dumps(self.content(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:12]

    def train_config(self, model: str) -> TrainConfig:
        """The ``TrainConfig`` of one cell's training runs."""
        return dataclasses.replace(self.train, model=model)


def seed_values(protocol: Protocol, epoch: int | str | None = None) -> list[int]:
    """The integer seeds of an evaluation: ``0..seeds-1``, or derived from (version, epoch).

    Each epoch seed is the first 31 bits of ``SHA-256("<version>:<epoch>:<i>")``; ``epoch``
    is a number, or a block hash (``0x`` and lowercase hex digits).
    """
    if epoch is None:
        return list(range(protocol.seeds))
    if isinstance(epoch, str):
        if not re.fullmatch(r"0x[0-9a-f]+", epoch):
            raise ValueError(f"a block hash is 0x and lowercase hex digits, got {epoch!r}")
    elif not isinstance(epoch, int) or isinstance(epoch, bool) or epoch < 0:
        raise ValueError(f"epoch must be a non-negative integer or a block hash, got {epoch!r}")
    out = []
    for i in range(protocol.seeds):
        digest = hashlib.sha256(f"{protocol.version}:{epoch}:{i}".encode()).digest()
        out.append(int.from_bytes(digest[:4], "big") >> 1)
    return out


def run_protocol(
    protocol: Protocol,
    program: Program,
    epoch: int | str | None = None,
    *,
    spec: ProgramSpec | None = None,
    interpreter: str = "auto",
    data_dir=None,
) -> dict:
    """Score ``program`` under ``protocol``: paired with the baseline on every cell and seed.

    Args:
      protocol: the protocol.
      program: one program of the protocol task's shape.
      epoch: None for the seeds ``0..seeds-1``; else the epoch (a number or a block hash)
        the seeds derive from (``seed_values``).
      spec: the program's spec (default: the task's); its inputs, outputs and op set must be
        the task's, or ``ValueError``.
      interpreter: one of ``dispatch.CHOICES`` (see ``ProgramTask``).
      data_dir: where file-based data sets are (``data.load_dataset``).

    Returns:
      A JSON-serialisable dict: ``protocol``, ``version``, ``task``, ``epoch``, ``seeds``,
      ``cells`` (per cell: ``program`` and ``baseline`` accuracies per seed, the program's
      None where it broke; ``improvement`` per seed; ``broken`` flags; their means),
      ``improvement`` (``summarize`` over all cells and seeds) and ``broken`` (a count).
    """
    cells, all_improvements, broken_total = [], [], 0
    for dataset, model, prog, base in _cell_accuracies(
        protocol, stack_programs([program]), epoch, spec, interpreter, data_dir
    ):
        prog = prog[:, 0]
        gains, broken = improvement(prog, base)
        broken_total += int(broken.sum())
        all_improvements.extend(gains.tolist())
        cells.append(
            {
                "dataset": dataset,
                "model": model,
                "program": [None if b else float(p) for p, b in zip(prog, broken, strict=True)],
                "baseline": base.tolist(),
                "improvement": gains.tolist(),
                "broken": broken.tolist(),
                "program_mean": float(np.where(broken, 0.0, prog).mean()),
                "baseline_mean": float(base.mean()),
                "improvement_mean": float(gains.mean()),
            }
        )
    return {
        "protocol": protocol.name,
        "version": protocol.version,
        "task": protocol.task,
        "epoch": epoch,
        "seeds": seed_values(protocol, epoch),
        "cells": cells,
        "improvement": summarize(all_improvements, protocol.confidence),
        "broken": broken_total,
    }


def population_improvements(
    protocol: Protocol,
    programs: Program,
    epoch: int | str | None = None,
    *,
    spec: ProgramSpec | None = None,
    interpreter: str = "auto",
    data_dir=None,
) -> tuple[np.ndarray, np.ndarray]:
    """Paired improvements and broken flags ``[P, cells * seeds]`` of a whole population.

    The same numbers as ``run_protocol``'s (cell by cell, seeds within each), for every
    program of ``programs`` (leaves ``[P, ...]``) at once: one vmapped batch per cell, the
    baseline trained once per cell and seeds in the process (``baselines.py``). The
    population is padded to a power of two (``program.pad_population``), so callers whose
    population size varies, such as a validator, compile once per size bucket; one program
    is a bucket of its own, as a validator trains each new program on the seeds after its
    own hash, and padding it would train copies of it.
    """
    padded, size = pad_population(programs, minimum=1)
    gains, broken = [], []
    for *_, prog, base in _cell_accuracies(protocol, padded, epoch, spec, interpreter, data_dir):
        g, b = improvement(prog[:, :size].T, base[None, :])
        gains.append(g)
        broken.append(b)
    return np.concatenate(gains, axis=1), np.concatenate(broken, axis=1)


def _cell_accuracies(protocol, programs, epoch, spec, interpreter, data_dir):
    """Per cell ``(dataset, model, programs' accuracies [S, P], baseline's [S])``, float64.

    The baseline comes from ``baselines.baseline``: trained once per cell and seeds."""
    seeds = seed_values(protocol, epoch)
    keys = seed_keys(seeds)
    extra = {"spec": spec} if spec is not None else {}
    datasets = {}
    for dataset, model in protocol.cells:
        task = make_task(
            protocol.task, protocol.train_config(model), interpreter=interpreter, **extra
        )
        if dataset not in datasets:
            datasets[dataset] = load_dataset(dataset, data_dir)
        try:  # training checks the model against the data's shape; say which cell failed
            prog = program_accuracies(task, programs, datasets[dataset], keys)
            base = baselines.baseline(task, datasets[dataset], seeds)
        except ValueError as e:
            raise ValueError(f"protocol {protocol.name}, cell {dataset}/{model}: {e}") from None
        yield dataset, model, np.asarray(prog, np.float64), base


SEARCH_TRAIN = TrainConfig(steps=400, batch_size=100, learning_rate=3e-3, validation=0.25)
"""The inner training a search selects on (``search-<task>``): the baseline reaches 0.54
validation accuracy on MNIST-1D's MLP, where hand-designed losses rank as the literature
knows, at 12.5 times the examples of the 100 x 32 runs a miner checks with."""

VALIDATOR_TRAIN = TrainConfig(steps=1000, batch_size=100, learning_rate=1e-2)
"""The validators' training, run to convergence: the baseline reaches 0.58 on MNIST-1D's
MLP and 0.91 on its CNN, so a score is the program's, not how fast it starts."""


def _shipped() -> dict[str, Protocol]:
    out = {}
    for task in TASKS:
        out[f"search-{task}"] = Protocol(
            name=f"search-{task}",
            task=task,
            cells=(("mnist1d", "mlp"),),
            seeds=3,
            train=SEARCH_TRAIN,
            description="what evolve selects on: a validation quarter of the training set",
        )
        out[f"miner-{task}"] = Protocol(
            name=f"miner-{task}",
            task=task,
            cells=(("mnist1d", "mlp"),),
            seeds=2,
            train=TrainConfig(steps=200, batch_size=32, learning_rate=1e-3),
            description="cheap local check for miners: one cell, two seeds",
        )
        out[f"validator-{task}"] = Protocol(
            name=f"validator-{task}",
            task=task,
            cells=(("mnist1d", "mlp"), ("mnist1d", "cnn1d"), ("digits", "mlp")),
            seeds=4,
            train=VALIDATOR_TRAIN,
            description="converged score: two datasets, dense and convolutional models, four seeds",
        )
        out[f"local-{task}"] = Protocol(
            name=f"local-{task}",
            task=task,
            cells=(("mnist1d", "mlp"),),
            seeds=8,
            train=TrainConfig(steps=100, batch_size=32, learning_rate=1e-3),
            description="quick score for a local subnet on a laptop: one cell, eight seeds",
        )
    out["paper-mnist1d"] = Protocol(
        name="paper-mnist1d",
        task="loss",
        cells=(("mnist1d", "linear"), ("mnist1d", "mlp"), ("mnist1d", "cnn1d")),
        seeds=3,
        train=TrainConfig(steps=6000, batch_size=100, learning_rate=1e-2, hidden=100, depth=2),
        description="the MNIST-1D paper's training (Adam 1e-2, batch 100, 6000 steps)",
    )
    return out


PROTOCOLS: dict[str, Protocol] = _shipped()


def get_protocol(name: str) -> Protocol:
    """The shipped protocol ``name`` (one of ``PROTOCOLS``); ``ValueError`` lists the choices."""
    if name not in PROTOCOLS:
        raise ValueError(f"unknown protocol {name!r}; choose one of {', '.join(PROTOCOLS)}")
    return PROTOCOLS[name]


def validator_protocol(task: str) -> Protocol:
    """The protocol a subnet's validators score ``task`` under by default: ``validator-<task>``."""
    return get_protocol(f"validator-{task}")
