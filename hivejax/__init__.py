"""hivejax: evolve neural-network components as batches of register programs in JAX.

Everything public is re-exported here; the implementation lives in ``hivejax._src``.

Example:
  >>> import hivejax as hj
  >>> spec, program = hj.load_program("builtin:cross_entropy")
  >>> hj.formula(spec, program)
  '-sum_c(y * (x - lse_c(x)))'
"""

from hivejax._src.evaluation.cascade import REASONS as CASCADE_REASONS
from hivejax._src.evaluation.cascade import reasons as cascade_reasons
from hivejax._src.evaluation.mesh import make_mesh, sharded_score
from hivejax._src.evaluation.protocols import (
    PROTOCOLS,
    SEARCH_TRAIN,
    VALIDATOR_TRAIN,
    Protocol,
    get_protocol,
    run_protocol,
    seed_values,
)
from hivejax._src.evaluation.scores import (
    fitness_from_accuracy,
    paired_accuracies,
    paired_scores,
    summarize,
)
from hivejax._src.interpret.compilation_cache import enable as enable_compilation_cache
from hivejax._src.interpret.compilation_cache import release_executables
from hivejax._src.interpret.dispatch import CHOICES as INTERPRETER_CHOICES
from hivejax._src.interpret.dispatch import NAMES as INTERPRETERS
from hivejax._src.interpret.dispatch import resolve as resolve_interpreter
from hivejax._src.interpret.fused import compact, run
from hivejax._src.interpret.reference import run as run_reference
from hivejax._src.io.deap_files import write_gene
from hivejax._src.io.deap_format import from_deap, to_deap
from hivejax._src.io.export import TARGETS as EXPORT_TARGETS
from hivejax._src.io.export import export_program
from hivejax._src.io.program_io import load_program, save_program
from hivejax._src.plotting.functions import plot_program
from hivejax._src.plotting.runs import plot_run
from hivejax._src.program.canonical import canonical_hash, canonicalize
from hivejax._src.program.formats import DecodeError, from_bytes, from_json, to_bytes, to_json
from hivejax._src.program.formula import formula
from hivejax._src.program.liveness import live_mask
from hivejax._src.program.ops import NAMED_CONSTANTS, OP_INDEX, OPS, Op
from hivejax._src.program.program import (
    Program,
    ProgramSpec,
    is_valid,
    make_program,
    random_population,
    random_program,
)
from hivejax._src.run.config import (
    EvolveConfig,
    FinishConfig,
    ScaleConfig,
    config_from_dict,
    resume_config,
)
from hivejax._src.run.distributed import initialize as initialize_distributed
from hivejax._src.run.loop import evolve
from hivejax._src.search.const_tuning import TUNERS, tune_constants
from hivejax._src.search.generation import ScreeningConfig
from hivejax._src.search.islands import Migration
from hivejax._src.search.meta_gradient import refine_constants
from hivejax._src.search.strategy import (
    STRATEGIES,
    Params,
    RandomSearch,
    RegularizedEvolution,
    SearchConfig,
    State,
)
from hivejax._src.search.tuning import META_GRADIENT
from hivejax._src.search.variation import (
    MutationParams,
    argument_mutation,
    constant_mutation,
    crossover,
    delete_instruction,
    insert_instruction,
    mutate,
    point_mutation,
)
from hivejax._src.tasks.activation import ActivationTask
from hivejax._src.tasks.base import ProgramTask, Task, seed_keys
from hivejax._src.tasks.builtins import BUILTINS
from hivejax._src.tasks.data import (
    DATASETS,
    Dataset,
    DatasetError,
    check_dataset_name,
    load_dataset,
)
from hivejax._src.tasks.loss import LossTask
from hivejax._src.tasks.models import CNN1D, CNN2D, MLP, MODELS, Linear, compatible, make_model
from hivejax._src.tasks.optimizer import OptimizerTask, program_optimizer
from hivejax._src.tasks.registry import (
    SEARCHABLE,
    TASKS,
    builtin,
    builtin_names,
    make_task,
    task_of_spec,
)
from hivejax._src.tasks.regression import PROBLEMS as REGRESSION_PROBLEMS
from hivejax._src.tasks.regression import RegressionTask, r2_of_score
from hivejax._src.tasks.training import TrainConfig, baseline_accuracy, train_population

REGRESSION = RegressionTask.name
"""The task name of a symbolic-regression search (``evolve --task regression``)."""

__version__ = "0.1.0"

__all__ = [
    "ActivationTask",
    "argument_mutation",
    "baseline_accuracy",
    "builtin",
    "builtin_names",
    "BUILTINS",
    "canonical_hash",
    "canonicalize",
    "CASCADE_REASONS",
    "cascade_reasons",
    "check_dataset_name",
    "CNN1D",
    "CNN2D",
    "compact",
    "compatible",
    "config_from_dict",
    "constant_mutation",
    "crossover",
    "Dataset",
    "DatasetError",
    "DATASETS",
    "DecodeError",
    "delete_instruction",
    "enable_compilation_cache",
    "evolve",
    "EvolveConfig",
    "export_program",
    "EXPORT_TARGETS",
    "FinishConfig",
    "fitness_from_accuracy",
    "formula",
    "from_bytes",
    "from_deap",
    "from_json",
    "get_protocol",
    "initialize_distributed",
    "insert_instruction",
    "INTERPRETER_CHOICES",
    "INTERPRETERS",
    "is_valid",
    "Linear",
    "live_mask",
    "load_dataset",
    "load_program",
    "LossTask",
    "make_mesh",
    "make_model",
    "make_program",
    "make_task",
    "META_GRADIENT",
    "Migration",
    "MLP",
    "MODELS",
    "mutate",
    "MutationParams",
    "NAMED_CONSTANTS",
    "Op",
    "OP_INDEX",
    "OPS",
    "OptimizerTask",
    "paired_accuracies",
    "paired_scores",
    "Params",
    "plot_program",
    "plot_run",
    "point_mutation",
    "Program",
    "program_optimizer",
    "ProgramSpec",
    "ProgramTask",
    "Protocol",
    "PROTOCOLS",
    "r2_of_score",
    "random_population",
    "random_program",
    "RandomSearch",
    "refine_constants",
    "REGRESSION",
    "REGRESSION_PROBLEMS",
    "RegressionTask",
    "RegularizedEvolution",
    "release_executables",
    "resolve_interpreter",
    "resume_config",
    "run",
    "run_protocol",
    "run_reference",
    "save_program",
    "ScaleConfig",
    "ScreeningConfig",
    "SEARCH_TRAIN",
    "SEARCHABLE",
    "SearchConfig",
    "seed_keys",
    "seed_values",
    "sharded_score",
    "State",
    "STRATEGIES",
    "summarize",
    "Task",
    "task_of_spec",
    "TASKS",
    "to_bytes",
    "to_deap",
    "to_json",
    "train_population",
    "TrainConfig",
    "tune_constants",
    "TUNERS",
    "VALIDATOR_TRAIN",
    "write_gene",
]
