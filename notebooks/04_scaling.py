# %% [markdown]
# # 04 · Scaling out: devices, islands and chunks
#
# A population is one batch of fixed-shape arrays, so scaling it is a question of where
# its rows live. This notebook runs on eight **simulated CPU devices**, which behave as
# eight accelerators do for sharding: the same code runs unchanged on the chips of a TPU VM
# or a GPU host (and across hosts, after `hj.initialize_distributed()`). The device count
# must be set before JAX starts, so restart the kernel before running this notebook; on
# real hardware leave the first line out. The test suite sets `HIVEJAX_NOTEBOOK_TOY=1`,
# which shrinks the population and the training, to check the notebook runs.

# %%
import jax

jax.config.update("jax_num_cpu_devices", 8)

import os  # noqa: E402  (after the device count is set)
import pathlib  # noqa: E402
import tempfile  # noqa: E402

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from jax.sharding import NamedSharding  # noqa: E402
from jax.sharding import PartitionSpec as P  # noqa: E402

import hivejax as hj  # noqa: E402

print(jax.devices())
work = pathlib.Path(tempfile.mkdtemp())
PROGRAMS, STEPS = 64, 20
if os.environ.get("HIVEJAX_NOTEBOOK_TOY"):  # the test suite's size: does it run at all?
    PROGRAMS, STEPS = 16, 5

# %% [markdown]
# ## The mesh
# `hj.make_mesh` lays the devices out on two axes: `pop` splits the population, `data`
# splits each program's training batch. By default every device goes to `pop`: training a
# program is the unit of work, and programs are independent.

# %%
mesh = hj.make_mesh()
print("all on pop:", dict(mesh.shape))
print("with data=2:", dict(hj.make_mesh(data=2).shape))

# %% [markdown]
# ## What the sharding looks like
# A population of 64 programs, mutants of the builtin losses: each field is an array with
# one row per program. Placed with `PartitionSpec("pop")`, each device holds 8 rows of the
# op codes.

# %%
spec = hj.LossTask().spec
builtins = [hj.builtin(name) for name in hj.builtin_names("loss")]
parents = jax.tree.map(
    lambda *a: jnp.stack(a), *[builtins[i % len(builtins)] for i in range(PROGRAMS)]
)
keys = jax.random.split(jax.random.key(0), PROGRAMS)
population = jax.vmap(lambda k, p: hj.mutate(k, spec, p, hj.MutationParams()))(keys, parents)
placed = jax.device_put(population, NamedSharding(mesh, P("pop")))
print("op codes", placed.op.shape, placed.op.dtype)
jax.debug.visualize_array_sharding(placed.op)

# %% [markdown]
# ## Sharded fitness
# `hj.sharded_score` trains each device's slice of the programs in one vmapped run
# (`shard_map` over `pop`). Each program trains on the same keys wherever it lives, so the
# accuracies match the single-device run, up to float rounding: XLA compiles each
# device's share on its own, and a program whose training is chaotic can end a few test
# images apart.

# %%
data = hj.load_dataset("digits")
task = hj.LossTask(train=hj.TrainConfig(steps=STEPS))
key = jax.random.key(1)
sharded = np.asarray(jax.jit(hj.sharded_score(task, mesh))(placed, data, key))
single = np.asarray(jax.jit(task.score)(population, data, key))
print("programs that train past chance:", int((single > 0.2).sum()), "of", PROGRAMS)
apart = np.nanmax(np.abs(sharded - single)) * len(data.y_test)
print("largest difference:", round(float(apart)), "test images")


def identical(a, b) -> int:
    return int(((a == b) | (np.isnan(a) & np.isnan(b))).sum())


print("identical accuracies:", identical(sharded, single), "of", PROGRAMS)

# %% [markdown]
# ## Chunked populations
# A population larger than device memory trains in chunks: `chunk_size` programs at a time
# per device, with the same accuracies (one compiled program, run chunk after chunk).
# XLA's own memory analysis of the compiled step shows what chunks buy: the scratch memory
# follows the chunk, not the population.

# %%
chunked = hj.LossTask(train=hj.TrainConfig(steps=STEPS), chunk_size=8)
for name, t in [("one batch", task), ("chunks of 8", chunked)]:
    compiled = jax.jit(t.score).lower(population, data, key).compile()
    scratch = compiled.memory_analysis().temp_size_in_bytes
    print(f"{name:>12}: {scratch / 2**20:7.1f} MiB scratch")
in_chunks = np.asarray(jax.jit(chunked.score)(population, data, key))
print("identical accuracies:", identical(in_chunks, single), "of", PROGRAMS)

# %% [markdown]
# ## Islands
# A run can split its population into islands that evolve apart and pass their best
# programs around a ring every `interval` generations: diversity lasts longer. `evolve`
# shards the whole population over the mesh whatever the islands; the result does not
# depend on the number of devices.

# %%
config = hj.EvolveConfig(
    dataset="digits",
    population=32,
    generations=2,
    train=hj.TrainConfig(steps=STEPS),
    search=hj.SearchConfig(seed_programs=("builtin:mse",)),
    finish=hj.FinishConfig(final_seeds=2),
    scale=hj.ScaleConfig(migration=hj.Migration(islands=4, interval=1), chunk_size=4),
)
summary = hj.evolve(config, work / "islands")
print("devices:", len(summary["devices"]), " migration:", summary["config"]["scale"]["migration"])
spec_best, best = hj.load_program(str(work / "islands" / "best.json"))
print("best:", hj.formula(spec_best, best))
print(f"test accuracy {summary['final']['program']['mean']:.3f}", end=" ")
print(f"against cross-entropy {summary['final']['baseline']['mean']:.3f}")
