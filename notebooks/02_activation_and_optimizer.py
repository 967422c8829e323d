# %% [markdown]
# # 02 · Activation functions and optimizer update rules
#
# The loss search of notebook 01 has two siblings. An **activation** program maps one
# pre-activation `x` to one value, and the MLP applies it between layers. An **optimizer**
# program maps the gradient `g`, the parameter `p`, two slots `s1`, `s2` and the step
# count `t` to an update and the slots' new values, as Adam does. This notebook searches
# for both, then sets what it found beside the hand-designed builtins: their curves, and
# their accuracy under the same keys. Sizes are toys, to run in minutes on a laptop CPU
# (the test suite sets `HIVEJAX_NOTEBOOK_TOY=1`, which shrinks them further, to check the
# notebook runs).

# %%
import os
import pathlib
import tempfile

import jax.numpy as jnp
import matplotlib.pyplot as plt
from IPython.display import Image, display

import hivejax as hj

POPULATION, GENERATIONS, STEPS, FINAL_SEEDS, DATASET = 16, 2, 30, 2, "digits"
if os.environ.get("HIVEJAX_NOTEBOOK_TOY"):  # the test suite's size: does it run at all?
    POPULATION, GENERATIONS, STEPS, FINAL_SEEDS = 8, 2, 5, 1
work = pathlib.Path(tempfile.mkdtemp())


def search(task: str, seed_programs: tuple[str, ...]) -> tuple[hj.ProgramSpec, hj.Program]:
    """A short search for ``task``; returns the run's best program."""
    config = hj.EvolveConfig(
        task=task,
        dataset=DATASET,
        population=POPULATION,
        generations=GENERATIONS,
        train=hj.TrainConfig(steps=STEPS),
        search=hj.SearchConfig(seed_programs=seed_programs),
        finish=hj.FinishConfig(final_seeds=FINAL_SEEDS),
    )
    summary = hj.evolve(config, work / task)
    final = summary["final"]
    print(f"{task}: {final['program']['mean']:.3f} against {final['baseline']['mean']:.3f}")
    return hj.load_program(str(work / task / "best.json"))


# %% [markdown]
# ## Search activations
# Seeded with Swish, so the search starts from a smooth curve. `hj.plot_program` (what
# `hivejax plot` draws as `function.png`) shows the winner and its slope beside ReLU, the
# task's baseline.

# %%
act_spec, act = search("activation", ("builtin:swish",))
print(hj.formula(act_spec, act))
hj.plot_program(act_spec, act, work / "activation.png")
display(Image(filename=work / "activation.png"))

# %% [markdown]
# ## The found activation among the builtins
# Every activation program runs on any array through the reference interpreter.

# %%
xs = jnp.linspace(-4.0, 4.0, 401)
fig, ax = plt.subplots(figsize=(7, 4))
for name in hj.builtin_names("activation"):
    spec, program = hj.load_program(f"builtin:{name}")
    ax.plot(xs, hj.run_reference(spec, program, (xs,)), "--", lw=1, label=name)
ax.plot(xs, hj.run_reference(act_spec, act, (xs,)), "k", lw=2.5, label="found")
ax.set(xlabel="x", ylabel="f(x)", ylim=(-2, 4))
ax.legend(loc="upper left")
ax.grid(alpha=0.3)
plt.show()

# %% [markdown]
# ## Search update rules
# Seeded with SGD with momentum. The figure shows the update against the gradient for
# three slot states, beside Adam's.

# %%
opt_spec, opt = search("optimizer", ("builtin:sgd_momentum",))
print(hj.formula(opt_spec, opt))
hj.plot_program(opt_spec, opt, work / "optimizer.png")
display(Image(filename=work / "optimizer.png"))

# %% [markdown]
# ## Scores under the same keys
# `hj.paired_scores` trains each program and the task's baseline on the same keys, so
# their difference is paired. The bars are the mean test accuracy over two seeds.

# %%
data = hj.load_dataset(DATASET)
fig, axes = plt.subplots(1, 2, figsize=(11, 4))
for ax, (task, found) in zip(axes, [("activation", act), ("optimizer", opt)], strict=True):
    scorer = hj.make_task(task, hj.TrainConfig(steps=STEPS))
    names = list(hj.builtin_names(task))
    programs = [hj.builtin(name) for name in names] + [found]
    means = [hj.paired_scores(scorer, p, data, seeds=[0, 1])["program"]["mean"] for p in programs]
    ax.barh([*names, "found"], means, color=["C7"] * len(names) + ["C0"])
    ax.set(title=task, xlabel="test accuracy")
    for name, mean in zip([*names, "found"], means, strict=True):
        print(f"{task:>10} {name:>14}: {mean:.3f}")
plt.tight_layout()
plt.show()
