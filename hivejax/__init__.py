"""hivejax: evolve neural-network components as batches of register programs in JAX.

Everything public is re-exported here; the implementation lives in ``hivejax._src``.

Example:
  >>> import hivejax as hj
  >>> spec, program = hj.load_program("builtin:cross_entropy")
  >>> hj.formula(spec, program)
  '-sum_c(y * (x - lse_c(x)))'
"""

from hivejax._src.builtins import BUILTINS, builtin
from hivejax._src.canonical import canonical_hash, canonicalize, live_mask
from hivejax._src.const_tuning import tune_constants
from hivejax._src.data import DATASETS, Dataset, DatasetError, load_dataset
from hivejax._src.engine import EvolveConfig, evolve, paired_scores, resume_config
from hivejax._src.formats import (
    DecodeError,
    from_bytes,
    from_json,
    load_program,
    save_program,
    to_bytes,
    to_json,
)
from hivejax._src.formula import formula
from hivejax._src.fused import compact
from hivejax._src.fused import run as run_fused
from hivejax._src.interpreter import run
from hivejax._src.models import CNN1D, CNN2D, MLP, MODELS, Linear, compatible, make_model
from hivejax._src.ops import NAMED_CONSTANTS, OP_INDEX, OPS, Op
from hivejax._src.parallel.islands import Migration
from hivejax._src.parallel.mesh import make_mesh, sharded_accuracy
from hivejax._src.program import (
    Program,
    ProgramSpec,
    make_program,
    random_population,
    random_program,
)
from hivejax._src.protocols import (
    PROTOCOLS,
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
from hivejax._src.tasks.registry import TASKS, make_task
from hivejax._src.tasks.training import TrainConfig, baseline_accuracy, train_population
from hivejax._src.variation import (
    MutationParams,
    argument_mutation,
    constant_mutation,
    crossover,
    delete_instruction,
    insert_instruction,
    is_valid,
    mutate,
    point_mutation,
)

__version__ = "0.1.0"

__all__ = [
    "CNN1D",
    "CNN2D",
    "DatasetError",
    "Linear",
    "MODELS",
    "compatible",
    "make_model",
    "ActivationTask",
    "OptimizerTask",
    "ProgramTask",
    "TASKS",
    "baseline_accuracy",
    "make_task",
    "program_optimizer",
    "BUILTINS",
    "DATASETS",
    "MLP",
    "NAMED_CONSTANTS",
    "OPS",
    "OP_INDEX",
    "PROTOCOLS",
    "STRATEGIES",
    "Dataset",
    "DecodeError",
    "EvolveConfig",
    "LossTask",
    "Migration",
    "MutationParams",
    "Op",
    "Params",
    "Program",
    "ProgramSpec",
    "Protocol",
    "RegularizedEvolution",
    "State",
    "TrainConfig",
    "argument_mutation",
    "builtin",
    "canonical_hash",
    "canonicalize",
    "compact",
    "constant_mutation",
    "crossover",
    "delete_instruction",
    "evolve",
    "formula",
    "from_bytes",
    "from_json",
    "get_protocol",
    "insert_instruction",
    "is_valid",
    "live_mask",
    "load_dataset",
    "load_program",
    "make_mesh",
    "make_program",
    "mutate",
    "paired_scores",
    "point_mutation",
    "random_population",
    "random_program",
    "resume_config",
    "run",
    "run_fused",
    "run_protocol",
    "save_program",
    "seed_keys",
    "seed_values",
    "sharded_accuracy",
    "to_bytes",
    "to_json",
    "train_population",
    "tune_constants",
]
