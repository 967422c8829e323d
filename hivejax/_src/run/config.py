"""What defines a run: ``EvolveConfig`` and its parts, as data that round-trips through JSON.

A run's config is written into ``summary.json`` and every checkpoint, and ``resume``
reads it back (``config_from_dict``). Besides the settings of the whole run, it holds one
part per stage, each handed to the stage that reads it:

- ``search`` (``SearchConfig``, ``search/strategy.py``): the strategy, seed programs,
  restarts;
- ``screening`` (``ScreeningConfig``, ``search/generation.py``): the rejection cascade,
  the equivalence cache, the places trained per generation and the hurdle;
- ``finish`` (``FinishConfig``, here, read by ``run/finish.py``): the fresh-key funnel
  and constant tuning;
- ``scale`` (``ScaleConfig``, here, read by ``run/setup.py``): islands, the mesh's data
  axis, the interpreter and chunks.

Every field name is unique across the parts, so a flat mapping of field names nests into
them one way (``nest``): that is how the flat configs written before the parts existed
are read, and why the command line's flags need no prefixes (``--survivors``, not
``--screening.survivors``).
"""

import dataclasses
import json
import pathlib

from hivejax._src.evaluation.protocols import SEARCH_TRAIN
from hivejax._src.interpret import dispatch
from hivejax._src.run.run_dir import RunDir
from hivejax._src.search import tuning
from hivejax._src.search.generation import ScreeningConfig
from hivejax._src.search.islands import Migration
from hivejax._src.search.strategy import SearchConfig
from hivejax._src.tasks.base import Task
from hivejax._src.tasks.data import check_dataset_name
from hivejax._src.tasks.registry import searchable_task
from hivejax._src.tasks.training import TrainConfig


@dataclasses.dataclass(frozen=True)
class ScaleConfig:
    """How a run spreads over devices and memory. The number of devices is not part of a
    run: its results do not depend on it.

    Attributes:
      migration: the islands: sub-populations that evolve apart and pass their best on in
        a ring (one island by default).
      data_parallel: devices that split each training batch (the mesh's data axis); must
        divide the batch size.
      interpreter: which interpreter scores the programs (auto: the measured best for the
        backend); results do not change.
      chunk_size: programs scored at once per device, to bound memory (auto: as many as
        fit half the free memory); results do not change.
    """

    migration: Migration = Migration()
    data_parallel: int = 1
    interpreter: str = "auto"
    chunk_size: int | str = "auto"

    def __post_init__(self):
        if self.data_parallel < 1:
            raise ValueError(f"data_parallel must be at least 1, got {self.data_parallel}")
        dispatch.check(self.interpreter)
        if self.chunk_size != "auto" and not (
            isinstance(self.chunk_size, int) and self.chunk_size >= 1
        ):
            raise ValueError(f"chunk_size must be 'auto' or at least 1, got {self.chunk_size!r}")


@dataclasses.dataclass(frozen=True)
class FinishConfig:
    """How a run chooses and reports its best program (``run/finish.py``).

    Attributes:
      funnel: finalists re-scored on fresh keys before one becomes the run's best.
      final_seeds: fresh keys on which the finalists, then the best program and the
        baseline, are re-scored.
      tune_constants: after the search, tune the elites' constants with this evosax
        strategy, or refine them by meta-gradient through their training (none by
        default; ``search/tuning.py``).
      tune_elites: how many of the best programs are tuned (at most the population).
      tune_generations: ES generations, or meta-gradient steps.
    """

    funnel: int = 8
    final_seeds: int = 3
    tune_constants: str | None = None
    tune_elites: int = 4
    tune_generations: int = 8

    def __post_init__(self):
        tuning.check(self.tune_constants)
        for name in ("funnel", "final_seeds", "tune_elites", "tune_generations"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")


@dataclasses.dataclass(frozen=True)
class EvolveConfig:
    """Everything that defines a run; written into ``summary.json`` and every checkpoint.

    Attributes:
      task: what programs define: a training task's component (loss, activation,
        optimizer) or, for regression, a formula.
      problem: with task regression: the benchmark whose formula to find.
      dataset: mnist1d and digits are built in; mnist, fashion_mnist, cifar10 and
        npz:PATH load from a data directory. A regression search reads none.
      population: programs per generation, over all islands.
      generations: generations to run.
      seed: the run's seed: every key of the run derives from it.
      train: the search protocol's inner training (default ``SEARCH_TRAIN``, whose
        validation fraction is what selection sees); a regression search trains nothing.
      derived_inputs: loss programs also read softmax(x) as p and log_softmax(x) as ls
        (other tasks ignore it; ``tasks/loss.py``).
      checkpoint_every: generations between checkpoints (0: none besides SIGINT/SIGTERM).
      keep_checkpoints: checkpoints kept, the newest.
      search: the strategy, seed programs and restarts (``SearchConfig``).
      screening: what saves training in a generation (``ScreeningConfig``); a regression
        search takes ``ScreeningConfig.off()``.
      finish: the fresh-key funnel and constant tuning (``FinishConfig``).
      scale: islands, the data axis, the interpreter and chunks (``ScaleConfig``).
    """

    task: str = "loss"
    problem: str | None = None
    dataset: str = "mnist1d"
    population: int = 256
    generations: int = 30
    seed: int = 0
    train: TrainConfig = SEARCH_TRAIN
    derived_inputs: bool = True
    checkpoint_every: int = 0
    keep_checkpoints: int = 3
    search: SearchConfig = SearchConfig()
    screening: ScreeningConfig = ScreeningConfig()
    finish: FinishConfig = FinishConfig()
    scale: ScaleConfig = ScaleConfig()

    def __post_init__(self):
        task = self.task_class()
        task.for_run(train=self.train, problem=self.problem)  # refuses what it cannot take
        check_dataset_name(self.dataset)
        if self.population < 2:
            raise ValueError(f"population must be at least 2, got {self.population}")
        if self.generations < 1:
            raise ValueError(f"generations must be at least 1, got {self.generations}")
        if self.train.batch_size % self.scale.data_parallel:
            raise ValueError(
                f"data_parallel ({self.scale.data_parallel}) must divide the batch size "
                f"({self.train.batch_size})"
            )
        if self.checkpoint_every < 0 or self.keep_checkpoints < 1:
            raise ValueError(
                f"need checkpoint_every >= 0 (got {self.checkpoint_every}) and "
                f"keep_checkpoints >= 1 (got {self.keep_checkpoints})"
            )
        if not task.trains:
            lacking = list(self.screening.training_settings())
            if self.finish.tune_constants == tuning.META_GRADIENT:
                lacking.append("tune_constants other than meta_gradient")
            if lacking:
                raise ValueError(
                    f"task {self.task!r} trains nothing, so it has no rejection cascade, "
                    f"fingerprint cache, hurdle or meta-gradient: set {', '.join(lacking)}"
                )

    def task_class(self) -> type[Task]:
        """The class of ``task`` (``ValueError`` naming the choices for an unknown one)."""
        return searchable_task(self.task)


PARTS = {
    "search": SearchConfig,
    "screening": ScreeningConfig,
    "finish": FinishConfig,
    "scale": ScaleConfig,
}
"""The parts of an ``EvolveConfig`` by field name."""


def nest(flat: dict) -> dict:
    """A mapping of ``EvolveConfig`` fields with the parts' fields at the top level, as its
    nested form: each part's fields under the part's name. Nested entries stay as given.

    Example:
      >>> nest({"population": 8, "survivors": 4, "scale": {"interpreter": "fused"}})
      {'population': 8, 'screening': {'survivors': 4}, 'scale': {'interpreter': 'fused'}}
    """
    owner = {f.name: part for part, cls in PARTS.items() for f in dataclasses.fields(cls)}
    out: dict = {}
    for key, value in flat.items():
        if key in owner:
            out.setdefault(owner[key], {})[key] = value
        elif key in PARTS:
            out.setdefault(key, {}).update(value)
        else:
            out[key] = value
    return out


def config_dict(config: EvolveConfig) -> dict:
    """``config`` as JSON data, as ``summary.json`` and checkpoints hold it."""
    return json.loads(json.dumps(dataclasses.asdict(config)))


def config_from_dict(d: dict) -> EvolveConfig:
    """The inverse of ``config_dict``; flat configs (written before the parts) are nested
    first. ``TypeError`` for a field no config has, ``ValueError`` for a value it refuses."""
    return _build(EvolveConfig, nest(d))


def _build(cls, d: dict):
    """``cls(**d)`` with nested dataclasses and tuples rebuilt from their JSON form."""
    kwargs = {}
    for name, value in d.items():
        field = cls.__dataclass_fields__.get(name)
        if field is None:
            raise TypeError(f"{cls.__name__} has no field {name!r}")
        default = field.default
        if dataclasses.is_dataclass(default):
            value = _build(type(default), value)
        elif isinstance(default, tuple):
            value = tuple(value)
        kwargs[name] = value
    return cls(**kwargs)


def resume_config(out: pathlib.Path) -> EvolveConfig:
    """The config of the run whose checkpoints are in ``out`` (``ValueError`` if none)."""
    _, record = RunDir(out).latest_checkpoint()
    try:
        return config_from_dict(record["config"])
    except (KeyError, TypeError, AttributeError) as e:
        raise ValueError(f"{out}: checkpoint holds no valid run config ({e})") from None
