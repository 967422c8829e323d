# %% [markdown]
# # 03 · A local subnet
#
# A whole subnet on one machine: a chain in a SQLite file (`chain.sqlite`, with the
# subnet's block clock, commitments, weights and Yuma consensus), miners that search and
# publish their best program (a hash first, the program a few blocks later, so that
# nobody can copy it before it is bound), and validators that re-train what the miners
# revealed and set weights. Each neuron is its own process, as on the real network, where
# the same neurons run against bittensor (`hivejax subnet miner --network finney`).
#
# Here two miners search optimizer update rules, one from Lion and one from SGD with
# momentum, and one validator judges them. Blocks come every half second, where the real
# chain takes 12 s, so a tempo passes in a minute. `hivejax subnet local` runs the same.
# The test suite sets `HIVEJAX_NOTEBOOK_TOY=1`, which runs the subnet for 15 s, to check
# the notebook runs.

# %%
import os
import pathlib
import tempfile

from IPython.display import Image, Markdown, display

import hivejax as hj
import hivejax.subnet as hs

MINUTES = 0.25 if os.environ.get("HIVEJAX_NOTEBOOK_TOY") else 2.5
directory = pathlib.Path(tempfile.mkdtemp()) / "subnet"
config = hs.LocalSubnetConfig(
    miners=2,
    validators=1,
    minutes=MINUTES,
    blocks_per_second=2.0,
    task="optimizer",
    protocol="local-optimizer",
    miner_programs=("builtin:lion", "builtin:sgd_momentum"),
    population=8,
    generations=2,
    interval=3.0,
)

# %% [markdown]
# ## Watch the leaderboard
# `run_local_subnet` starts the neurons, calls `show` with the leaderboard every few
# seconds until `minutes` have passed, stops every process, and returns the final state.
# Run the cell again with the same `directory` and the subnet resumes where it stopped.


# %%
def table(board: dict) -> Markdown:
    head = f"block {board['block']}, tempo {board['tempo']}\n\n"
    head += (
        "| miner | commitment | formula | score | rank | emission |\n|---|---|---|---|---|---|\n"
    )
    rows = []
    for r in board["rows"]:
        score = "" if r["mean"] is None else f"{r['mean']:.3f}"
        formula = r["formula"][:60] + ("…" if len(r["formula"]) > 60 else "")
        rows.append(
            f"| {r['hotkey']} | {r['commitment']} | `{formula}` | {score} "
            f"| {r['rank'] or ''} | {r['emission']:.3f} |"
        )
    return Markdown(head + "\n".join(rows))


board = display(Markdown("starting…"), display_id=True)
result = hs.run_local_subnet(directory, config, display=lambda b: board.update(table(b)))
board.update(
    table({"block": result["block"], "tempo": result["tempo"], "rows": result["leaderboard"]})
)

# %% [markdown]
# ## What the validator set, and what it paid
# Weights are the validator's normalised scores per miner; the emission is each hotkey's
# share of the tempo's reward after Yuma consensus.

# %%
for validator, weights in result["weights"].items():
    print(validator, {miner: round(w, 3) for miner, w in weights.items()})
print("emissions", {hotkey: round(e, 3) for hotkey, e in result["emissions"].items()})

# %% [markdown]
# ## Weights and emissions over time
# `hj.plot_run` on a subnet directory (the `hivejax plot` command) reads the chain file
# and draws each validator's weights and each miner's emission share per block.

# %%
for path in hj.plot_run(directory):
    display(Image(filename=path))
