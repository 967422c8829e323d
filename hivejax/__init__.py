"""hivejax: evolve neural-network components as batches of register programs in JAX.

Everything public is re-exported here; the implementation lives in ``hivejax._src``.

Example:
  >>> import hivejax as hj
  >>> spec, program = hj.load_program("builtin:cross_entropy")
  >>> hj.formula(spec, program)
  '-sum_c(y * (x - lse_c(x)))'
"""

from hivejax._src.builtins import BUILTINS
from hivejax._src.canonical import canonical_hash, canonicalize
from hivejax._src.cascade import REASONS as CASCADE_REASONS
from hivejax._src.cascade import reasons as cascade_reasons
from hivejax._src.compilation_cache import enable as enable_compilation_cache
from hivejax._src.compilation_cache import release_executables
from hivejax._src.const_tuning import TUNERS, tune_constants
from hivejax._src.data import DATASETS, Dataset, DatasetError, check_dataset_name, load_dataset
from hivejax._src.deap_files import write_gene
from hivejax._src.deap_format import from_deap, to_deap
from hivejax._src.engine import META_GRADIENT, REGRESSION, EvolveConfig, evolve, resume_config
from hivejax._src.evaluation import (
    fitness_from_accuracy,
    paired_accuracies,
    paired_scores,
    summarize,
)
from hivejax._src.export import TARGETS as EXPORT_TARGETS
from hivejax._src.export import export_program
from hivejax._src.formats import DecodeError, from_bytes, from_json, to_bytes, to_json
from hivejax._src.formula import formula
from hivejax._src.fused import compact, run
from hivejax._src.interpreter import run as run_reference
from hivejax._src.interpreters import CHOICES as INTERPRETER_CHOICES
from hivejax._src.interpreters import NAMES as INTERPRETERS
from hivejax._src.interpreters import resolve as resolve_interpreter
from hivejax._src.liveness import live_mask
from hivejax._src.meta_gradient import refine_constants
from hivejax._src.models import CNN1D, CNN2D, MLP, MODELS, Linear, compatible, make_model
from hivejax._src.ops import NAMED_CONSTANTS, OP_INDEX, OPS, Op
from hivejax._src.parallel.distributed import initialize as initialize_distributed
from hivejax._src.parallel.islands import Migration
from hivejax._src.parallel.mesh import make_mesh, sharded_accuracy
from hivejax._src.plotting.functions import plot_program
from hivejax._src.plotting.runs import plot_run
from hivejax._src.program import (
    Program,
    ProgramSpec,
    is_valid,
    make_program,
    random_population,
    random_program,
)
from hivejax._src.program_io import load_program, save_program
from hivejax._src.protocols import (
    PROTOCOLS,
    SEARCH_TRAIN,
    VALIDATOR_TRAIN,
    Protocol,
    get_protocol,
    run_protocol,
    seed_keys,
    seed_values,
)
from hivejax._src.strategy import STRATEGIES, Params, RegularizedEvolution, State
from hivejax._src.tasks.activation import ActivationTask
from hivejax._src.tasks.base import ProgramTask
from hivejax._src.tasks.loss import LossTask
from hivejax._src.tasks.optimizer import OptimizerTask, program_optimizer
from hivejax._src.tasks.registry import TASKS, builtin, builtin_names, make_task, task_of_spec
from hivejax._src.tasks.regression import PROBLEMS as REGRESSION_PROBLEMS
from hivejax._src.tasks.regression import RegressionTask, r2_of_score
from hivejax._src.tasks.training import TrainConfig, baseline_accuracy, train_population
from hivejax._src.variation import (
    MutationParams,
    argument_mutation,
    constant_mutation,
    crossover,
    delete_instruction,
    insert_instruction,
    mutate,
    point_mutation,
)

__version__ = "0.1.0"

__all__ = [
    "ActivationTask",
    "BUILTINS",
    "CASCADE_REASONS",
    "CNN1D",
    "CNN2D",
    "DATASETS",
    "Dataset",
    "DatasetError",
    "DecodeError",
    "EvolveConfig",
    "Linear",
    "LossTask",
    "MLP",
    "MODELS",
    "Migration",
    "MutationParams",
    "NAMED_CONSTANTS",
    "OPS",
    "OP_INDEX",
    "Op",
    "OptimizerTask",
    "META_GRADIENT",
    "PROTOCOLS",
    "SEARCH_TRAIN",
    "VALIDATOR_TRAIN",
    "Params",
    "Program",
    "ProgramSpec",
    "ProgramTask",
    "REGRESSION",
    "REGRESSION_PROBLEMS",
    "RegressionTask",
    "Protocol",
    "RegularizedEvolution",
    "STRATEGIES",
    "State",
    "TASKS",
    "TUNERS",
    "TrainConfig",
    "argument_mutation",
    "baseline_accuracy",
    "builtin",
    "builtin_names",
    "canonical_hash",
    "canonicalize",
    "cascade_reasons",
    "check_dataset_name",
    "compact",
    "compatible",
    "constant_mutation",
    "crossover",
    "delete_instruction",
    "enable_compilation_cache",
    "evolve",
    "EXPORT_TARGETS",
    "export_program",
    "fitness_from_accuracy",
    "formula",
    "from_deap",
    "from_bytes",
    "from_json",
    "get_protocol",
    "initialize_distributed",
    "insert_instruction",
    "is_valid",
    "live_mask",
    "load_dataset",
    "load_program",
    "make_mesh",
    "make_model",
    "make_program",
    "make_task",
    "mutate",
    "paired_accuracies",
    "paired_scores",
    "plot_program",
    "plot_run",
    "point_mutation",
    "program_optimizer",
    "random_population",
    "random_program",
    "resume_config",
    "run",
    "r2_of_score",
    "refine_constants",
    "release_executables",
    "run_protocol",
    "run_reference",
    "resolve_interpreter",
    "INTERPRETERS",
    "INTERPRETER_CHOICES",
    "save_program",
    "seed_keys",
    "seed_values",
    "sharded_accuracy",
    "summarize",
    "task_of_spec",
    "to_bytes",
    "to_deap",
    "to_json",
    "train_population",
    "tune_constants",
    "write_gene",
]
