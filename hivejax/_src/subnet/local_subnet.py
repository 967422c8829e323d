"""A whole subnet on one machine: one SQLite chain, miner and validator processes, a leaderboard.

``run_local_subnet`` creates (or reopens) ``<directory>/chain.sqlite``, registers the
hotkeys ``local/owner`` (the subnet owner's: uid 0 on a new chain, where validators send
the weight when no miner earns), ``local/miner-<i>`` and ``local/validator-<i>``
(validators with a permit and stake 1) and ``local/copier-<i>``, and starts every miner and
validator as its own process
(``python -m hivejax subnet miner`` or ``validator``, the commands behind ``neurons/*.py``),
each logging to ``<directory>/logs/<name>.log`` and working in ``<directory>/<name>``.
While they run it reports a leaderboard from the chain and the validators' ``status.json`` every
``refresh`` seconds, and steps the copiers (``copier``: adversaries that republish the
leader's program, disguised) as often; at the end it stops them all and returns the final
weights and emissions, also written to ``<directory>/result.json``.

Stopping: at the end of the budget, on Ctrl-C, or when a neuron dies, every process gets
SIGINT (miners checkpoint the round in progress), then SIGKILL after ``STOP_SECONDS``. The
processes run in their own sessions, so a terminal's Ctrl-C reaches only this one, which
stops them in order. Everything lives in ``directory``: running again on it resumes the
chain, the miners' rounds and the validators' ledgers.
"""

import dataclasses
import json
import logging
import math
import os
import pathlib
import signal
import subprocess
import sys
import time
from collections.abc import Callable

from hivejax._src.evaluation.protocols import get_protocol
from hivejax._src.program.files import write_json_atomic
from hivejax._src.program.formula import formula
from hivejax._src.subnet import rules
from hivejax._src.subnet.commitment import Decoded, decode
from hivejax._src.subnet.connect import LOCAL, VALIDATOR_STAKE, local_hotkey
from hivejax._src.subnet.copier import Copier
from hivejax._src.subnet.local_chain import LocalChain
from hivejax._src.subnet.reveal import HashCommit, Reveal, parse
from hivejax._src.subnet.rules import ChainError
from hivejax._src.tasks.registry import task_type

log = logging.getLogger("hivejax.local_subnet")

WALLET = "local"
OWNER = "owner"
"""The subnet owner's hotkey name: it runs no process, and takes the burnt weight."""
CHAIN = "chain.sqlite"
"""The chain file of a local subnet directory."""
STOP_SECONDS = 30.0
"""How long a neuron may take to stop after SIGINT before it is killed."""


@dataclasses.dataclass(frozen=True)
class LocalSubnetConfig:
    """A local subnet.

    Attributes:
      miners, validators: how many of each.
      copiers: adversaries that republish the leader's program as near-copies
        (``copier``), to show they earn nothing.
      minutes: how long to run.
      blocks_per_second: the clock of a new chain (default one block per 12 s, as on
        finney); an existing chain keeps its own, and another value is an error.
      task: what the miners evolve.
      protocol: the shipped protocol name the neurons score under (default
        ``local-<task>``: one cell, eight seeds, quick on a laptop).
      miner_programs: miner ``i`` starts its search from program ``i`` (path or
        ``builtin:NAME``); miners beyond the list start from random programs only.
      population, generations: each miner's round.
      interval: seconds between a validator's intervals.
      data_dir: where file-based data sets are (default: ``$HIVEJAX_DATA``).
    """

    miners: int = 3
    validators: int = 2
    copiers: int = 0
    minutes: float = 10.0
    blocks_per_second: float | None = None
    task: str = "loss"
    protocol: str | None = None
    miner_programs: tuple[str, ...] = ()
    population: int = 32
    generations: int = 5
    interval: float = 10.0
    data_dir: str | None = None

    def __post_init__(self):
        for name in ("miners", "validators", "population", "generations"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if isinstance(self.copiers, bool) or not isinstance(self.copiers, int) or self.copiers < 0:
            raise ValueError(f"copiers must be an integer >= 0, got {self.copiers!r}")
        for name in ("minutes", "interval", "blocks_per_second"):
            value = getattr(self, name)
            if value is not None and not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a positive number, got {value!r}")
        if len(self.miner_programs) > self.miners:
            raise ValueError(f"{len(self.miner_programs)} miner programs for {self.miners} miners")
        if self.protocol_of().task != task_type(self.task).name:
            raise ValueError(
                f"protocol {self.protocol_of().name} scores {self.protocol_of().task} "
                f"programs, not {self.task}"
            )

    def protocol_of(self):
        """The ``Protocol`` the neurons score under."""
        return get_protocol(self.protocol or f"local-{self.task}")


@dataclasses.dataclass
class _Neuron:
    name: str
    role: str
    process: subprocess.Popen
    log: pathlib.Path


def _names(config: LocalSubnetConfig) -> list[tuple[str, str]]:
    return [(f"miner-{i}", "miner") for i in range(config.miners)] + [
        (f"validator-{i}", "validator") for i in range(config.validators)
    ]


def _copiers(chain: LocalChain, config: LocalSubnetConfig) -> list[Copier]:
    """The copiers, registered; copier ``i`` disguises with ``epsilon = 1e-3 * (i + 1)``."""
    protocol = config.protocol_of()
    spec = task_type(config.task).default_spec
    out = []
    for i in range(config.copiers):
        hotkey = local_hotkey(WALLET, f"copier-{i}")
        chain.register(hotkey)
        out.append(Copier(chain, hotkey, 1e-3 * (i + 1), protocol.task, protocol.version, spec))
    return out


def _step_copiers(copiers: list[Copier], directory: pathlib.Path, config) -> None:
    ranking = (_status(directory, config) or {}).get("ranking", [])
    leader = next((h for h in ranking if "/miner-" in h), None)
    for copier in copiers:
        try:
            copier.step(leader)
        except ChainError as e:
            log.info("%s: commit refused: %s", copier.hotkey, e)


def _command(
    directory, config: LocalSubnetConfig, name: str, role: str, i: int, poll: float, burn: int
):
    chain = directory / CHAIN
    cmd = [sys.executable, "-m", "hivejax", "subnet", role, "--subtensor.network", LOCAL]
    cmd += ["--chain.path", str(chain), "--wallet.name", WALLET, "--wallet.hotkey", name]
    cmd += ["--task", config.task, "--protocol", config.protocol_of().name]
    cmd += ["--out", str(directory / name)]
    if config.data_dir:
        cmd += ["--data-dir", str(config.data_dir)]
    if role == "miner":
        cmd += ["--population", str(config.population), "--generations", str(config.generations)]
        cmd += ["--seed", str(i)]
        if i < len(config.miner_programs):
            cmd += ["--seed-programs", config.miner_programs[i]]
    else:
        cmd += ["--interval", str(config.interval), "--poll", str(poll), "--burn-uid", str(burn)]
    return cmd


def _poll_seconds(chain: LocalChain) -> float:
    """Validators read commitments twice a block, at most every 5 s and at least every 0.2 s."""
    if chain.blocks_per_second <= 0:
        return 1.0
    return min(5.0, max(0.2, 0.5 / chain.blocks_per_second))


def run_local_subnet(
    directory: str | os.PathLike,
    config: LocalSubnetConfig,
    display: Callable[[dict], None] | None = None,
    refresh: float = 2.0,
) -> dict:
    """Run the subnet of ``config`` in ``directory`` and return the final ``result``.

    ``display`` receives the leaderboard (``leaderboard``) every ``refresh`` seconds.
    Raises ``KeyboardInterrupt`` after stopping every process when interrupted, and
    ``RuntimeError`` naming its log when a neuron exits on its own.
    """
    directory = pathlib.Path(directory)
    (directory / "logs").mkdir(parents=True, exist_ok=True)
    chain = LocalChain(directory / CHAIN, blocks_per_second=config.blocks_per_second)
    names = _names(config)
    burn = chain.register(local_hotkey(WALLET, OWNER))
    for name, role in names:
        validator = role == "validator"
        chain.register(local_hotkey(WALLET, name), VALIDATOR_STAKE if validator else 0.0, validator)
    copiers = _copiers(chain, config)
    neurons = []
    try:
        counts = {"miner": 0, "validator": 0}
        for name, role in names:
            log = directory / "logs" / f"{name}.log"
            with open(log, "ab") as out:
                process = subprocess.Popen(
                    _command(
                        directory, config, name, role, counts[role], _poll_seconds(chain), burn
                    ),
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            counts[role] += 1
            neurons.append(_Neuron(name, role, process, log))
        write_json_atomic(directory / "processes.json", {n.name: n.process.pid for n in neurons})
        deadline = time.monotonic() + config.minutes * 60
        while time.monotonic() < deadline:
            for n in neurons:
                if n.process.poll() is not None:
                    raise RuntimeError(
                        f"{n.name} exited with status {n.process.returncode}; see {n.log}"
                    )
            _step_copiers(copiers, directory, config)
            if display is not None:
                display(leaderboard(chain, directory, config))
            time.sleep(min(refresh, max(0.0, deadline - time.monotonic())))
    finally:
        _stop(neurons)
    result = final_result(chain, directory, config)
    write_json_atomic(directory / "result.json", result)
    return result


def _stop(neurons: list[_Neuron]) -> None:
    for n in neurons:
        if n.process.poll() is None:
            n.process.send_signal(signal.SIGINT)
    deadline = time.monotonic() + STOP_SECONDS
    for n in neurons:
        try:
            n.process.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            n.process.kill()
            n.process.wait()


def _status(directory: pathlib.Path, config: LocalSubnetConfig) -> dict | None:
    """The first validator's latest ``status.json`` that reads (None before its first)."""
    for i in range(config.validators):
        try:
            return json.loads((directory / f"validator-{i}" / "status.json").read_text())
        except (OSError, ValueError):
            continue
    return None


def _commitment_cell(payload: bytes) -> tuple[str, str]:
    parsed = parse(payload)
    if isinstance(parsed, HashCommit):
        return "hash", ""
    if isinstance(parsed, Reveal):
        decoded = decode(parsed.payload)
        if isinstance(decoded, Decoded):
            return "revealed", formula(decoded.spec, decoded.program)
        return f"revealed ({decoded.reason})", ""
    return parsed.reason, ""


def leaderboard(chain: LocalChain, directory: pathlib.Path, config: LocalSubnetConfig) -> dict:
    """The chain's block and tempo, and one row per miner: its commitment, formula, the
    first validator's score, and its share of this tempo's emission (so far)."""
    block = chain.block()
    tempo = rules.tempo_index(block)
    commitments = chain.commitments()
    shares = chain.emissions(tempo)
    status = _status(directory, config) or {}
    entries = status.get("entries", {})
    ranking = status.get("ranking", [])
    rows = []
    names = [name for name, role in _names(config) if role == "miner"]
    for name in names + [f"copier-{i}" for i in range(config.copiers)]:
        hotkey = local_hotkey(WALLET, name)
        c = commitments.get(hotkey)
        state, text = _commitment_cell(c.payload) if c else ("", "")
        e = entries.get(hotkey, {})
        rows.append(
            {
                "hotkey": hotkey,
                "uid": chain.uid(hotkey),
                "commitment": state,
                "formula": text,
                "mean": e.get("mean"),
                "lower_bound": e.get("lower_bound"),
                "rank": ranking.index(hotkey) + 1 if hotkey in ranking else None,
                "reason": e.get("reason")
                or (e.get("state") if e.get("state") != "scored" else None),
                "emission": shares.get(hotkey, 0.0),
            }
        )
    return {"block": block, "tempo": tempo, "rows": rows}


def final_result(chain: LocalChain, directory: pathlib.Path, config: LocalSubnetConfig) -> dict:
    """The leaderboard at the end, each validator's weights by miner hotkey (u16 scaled to
    sum 1) and every hotkey's share of this tempo's emission."""
    graph = chain.metagraph()
    hotkey_of = {n.uid: n.hotkey for n in graph.neurons}
    weights = {}
    for validator, row in chain.weights().items():
        total = sum(row.values())
        weights[hotkey_of[validator]] = {hotkey_of[m]: w / total for m, w in sorted(row.items())}
    tempo = rules.tempo_index(graph.block)
    return {
        "block": graph.block,
        "tempo": tempo,
        "weights": weights,
        "emissions": chain.emissions(tempo),
        "leaderboard": leaderboard(chain, directory, config)["rows"],
    }
