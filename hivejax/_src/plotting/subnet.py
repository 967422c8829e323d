"""Figures of a local subnet, read from its chain file: ``weights.png`` and ``emissions.png``.

- ``weights.png``: one panel per validator, the weight it gave each miner (its u16 weights
  scaled to sum 1) at each ``set_weights``, held until its next, up to the current block;
- ``emissions.png``: each miner's share of the emission as consensus stood after each
  weight set (``RuledChain.shares``), up to the current block, with the tempo boundaries
  dotted: a tempo's emission is the share at its last block.

Weights and the emission they yield are the chain's (``local_chain``'s ``weight_sets`` and
``weights`` tables); the validators' ledgers hold sightings and evaluations, not weights.
"""

import os
import pathlib

from hivejax._src.plotting import figures
from hivejax._src.subnet import rules
from hivejax._src.subnet.local_chain import LocalChain

NO_WEIGHTS = "no validator has set weights yet"


def plot_subnet(chain_path: str | os.PathLike, out: str | os.PathLike) -> list[pathlib.Path]:
    """Draw ``weights.png`` and ``emissions.png`` of the chain file ``chain_path`` in the
    directory ``out``, and return their paths."""
    chain = LocalChain(chain_path)
    graph = chain.metagraph()
    history = chain.weight_history()
    miners = {n.uid: n.hotkey for n in graph.neurons if not n.validator_permit}
    hotkeys = {n.uid: n.hotkey for n in graph.neurons}
    paths = [pathlib.Path(out) / "weights.png", pathlib.Path(out) / "emissions.png"]
    weights(history, hotkeys, graph.block, paths[0])
    shares = {b: chain.shares(b) for b in sorted({b for b, _, _ in history})}
    emissions(shares, miners, graph.block, paths[1])
    return paths


def _steps(ax, x: list[int], y: list[float], end: int, uid: int, label: str) -> None:
    """A value set at blocks ``x`` and held until the next, and the last until ``end``;
    lines of lower uids are thicker, so that equal values stay visible."""
    ax.plot(
        [*x, max(end, x[-1])],
        [*y, y[-1]],
        drawstyle="steps-post",
        marker="o",
        ms=4,
        markevery=list(range(len(x))),
        lw=max(1.0, 3.0 - 0.6 * (uid % 4)),
        color=f"C{uid % 10}",
        label=label,
    )


def _legend_right(ax) -> None:
    ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0))


def weights(history, hotkeys: dict[int, str], block: int, path: str | os.PathLike) -> None:
    """Draw ``weights.png`` from ``RuledChain.weight_history``, up to ``block``."""
    validators = sorted({v for _, v, _ in history})
    fig, axes = figures.figure(max(1, len(validators)), 1, height=3.0, sharex=True, squeeze=False)
    for ax, v in zip(axes[:, 0], validators, strict=False):
        sets = [(b, row) for b, u, row in history if u == v]
        x = [b for b, _ in sets]
        for m in sorted({m for _, row in sets for m in row}):
            y = [row.get(m, 0) / (sum(row.values()) or 1) for _, row in sets]
            _steps(ax, x, y, block, m, hotkeys[m])
        ax.set(ylabel="weight (sum 1)", title=f"weights set by {hotkeys[v]}", ylim=(-0.05, 1.05))
        ax.grid(alpha=0.3)
        _legend_right(ax)
    if not validators:
        _empty(axes[0, 0], "weights")
    axes[-1, 0].set_xlabel("block")
    figures.save(fig, path)


def emissions(
    shares: dict[int, dict[str, float]], miners: dict[int, str], block: int, path
) -> None:
    """Draw ``emissions.png`` from ``RuledChain.shares`` at each block where weights were
    set (where shares may change), held up to ``block``, for ``miners`` (hotkeys by uid)."""
    fig, ax = figures.figure(height=4.0)
    x = sorted(shares)
    if not any(any(s.values()) for s in shares.values()):
        _empty(ax, "emission share")
    else:
        for m, hotkey in miners.items():
            _steps(ax, x, [shares[b].get(hotkey, 0.0) for b in x], block, m, hotkey)
        for t in range(rules.tempo_index(x[0]) + 1, rules.tempo_index(max(block, x[-1])) + 1):
            ax.axvline(t * rules.TEMPO, ls=":", color="gray")
        ax.set(ylim=(-0.05, 1.05))
        _legend_right(ax)
    ax.set(
        xlabel="block (dotted: tempo boundaries)",
        ylabel="emission share",
        title="each miner's share of the emission, as consensus stands after each weight set",
    )
    ax.grid(alpha=0.3)
    figures.save(fig, path)


def _empty(ax, ylabel: str) -> None:
    ax.text(0.5, 0.5, NO_WEIGHTS, ha="center", va="center", transform=ax.transAxes)
    ax.set(ylabel=ylabel, xticks=[], yticks=[])
