# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 01 · A loss-function search, end to end
#
# This notebook runs a small loss-function search, reads what the run wrote, and scores the
# best program against the hand-designed losses under the same keys. Sizes are toys so it
# runs in a minute on a laptop CPU; raise `POPULATION`, `GENERATIONS` and `STEPS` for a
# real search (the command line does the same: `hivejax evolve --help`). The test suite
# sets `HIVEJAX_NOTEBOOK_TOY=1`, which shrinks them further, to check the notebook runs.

# %%
import json
import os
import pathlib
import tempfile

from IPython.display import Image, display

import hivejax as hj

POPULATION, GENERATIONS, STEPS, FINAL_SEEDS, DATASET = 16, 3, 30, 2, "digits"
if os.environ.get("HIVEJAX_NOTEBOOK_TOY"):  # the test suite's size: does it run at all?
    POPULATION, GENERATIONS, STEPS, FINAL_SEEDS = 8, 2, 5, 1
run_dir = pathlib.Path(tempfile.mkdtemp()) / "run"

# %% [markdown]
# ## Evolve
# A generation breeds, rejects programs that cannot train, trains one small MLP per
# program in a single vmapped run, and selects. The run writes `metrics.jsonl`,
# `best.json` and `summary.json`.

# %%
config = hj.EvolveConfig(
    dataset=DATASET,
    population=POPULATION,
    generations=GENERATIONS,
    seed=0,
    train=hj.TrainConfig(steps=STEPS),
    search=hj.SearchConfig(seed_programs=("builtin:mse",)),
    finish=hj.FinishConfig(final_seeds=FINAL_SEEDS),
)
summary = hj.evolve(config, run_dir)
for line in (run_dir / "metrics.jsonl").read_text().splitlines():
    m = json.loads(line)  # best_so_far is None until a program passes the cascade
    best = "-" if m["best_so_far"] is None else f"{m['best_so_far']:.3f}"
    print(f"gen {m['generation']}: best so far {best}, rejected {m['rejected']}")

# %% [markdown]
# ## Plots
# `hj.plot_run` (the `hivejax plot` command) draws what the run wrote: fitness per
# generation against the cross-entropy baseline with the cascade's rejections, the
# Pareto front of accuracy against length, and the best loss's value and slope against
# the true-class margin beside cross-entropy.

# %%
for path in hj.plot_run(run_dir):
    display(Image(filename=path))

# %% [markdown]
# ## The best program
# Programs are stored canonically: dead code removed, registers renamed, so equal
# programs have equal hashes.

# %%
spec, best = hj.load_program(str(run_dir / "best.json"))
print(hj.formula(spec, best))
print("hash", hj.canonical_hash(spec, best)[:16])
print(
    "re-scored",
    summary["final"]["program"]["mean"],
    "vs cross-entropy",
    summary["baseline_accuracy"],
)

# %% [markdown]
# ## Hand-designed losses under the same keys

# %%
task = hj.LossTask(train=hj.TrainConfig(steps=STEPS))
data = hj.load_dataset(DATASET)
for name in ("cross_entropy", "mse", "hinge", "focal"):
    _, program = hj.load_program(f"builtin:{name}")
    scores = hj.paired_scores(task, program, data, seeds=[0, 1])
    print(f"{name:>14}: {scores['program']['mean']:.3f}  {hj.formula(spec, program)}")
