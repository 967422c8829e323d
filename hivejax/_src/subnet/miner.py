"""The miner: evolve programs round after round, and publish one only when it would lead.

Each round (``Miner.step``):

1. **Seed** a new evolution with the programs on chain (every revealed program of the
   miner's task, protocol and spec: other miners' and its own) and the user's seed
   programs, so the search starts from the best known, not from scratch.
2. **Evolve** (``run/loop.evolve``) for ``generations`` generations on the protocol's first
   cell (its data set, model and training), checkpointed every generation in
   ``rounds/<round>``: a miner killed mid-round resumes that round where it stopped.
3. **Decide** as a validator would: the round's best and every program on chain (read
   again: it may have changed while the round evolved) are evaluated together under the
   protocol on the seeds of the current epoch's first block hash
   (``candidates.evaluate``; validators pay on seeds drawn after a program's hash, so a
   miner decides on a sample of the same kind, not on the seeds it will be paid on),
   fingerprinted, made into candidates by the validator's own builder
   (``candidates.candidate``) and scored with ``scoring.score``, the best as the latest
   comer. The miner publishes only if its best ranks first, that is beats the current
   leader by the validator's margin with a lower bound above zero, and is not a copy of a
   program already on chain (its own included). Every decision is logged.
4. **Publish** with commit-reveal (``reveal``): the salted hash first, the reveal
   ``reveal_after`` blocks later, naming the hash's block (a validator that missed the
   hash reads it from the chain's history). The pending publication, salt included, is
   saved before each chain write, so a kill at any point resumes it. A refused commit (the
   per-tempo quota) is retried at the next round. Every ``refresh_blocks`` the miner
   repeats the hash and reveal of its current program, for validators whose node keeps no
   history that old (a light node keeps some 256 blocks); a validator that saw the first
   keeps that earlier priority.

``miner.json`` in the miner's directory holds the round counter and the publication, and is
replaced atomically.
"""

import dataclasses
import json
import logging
import os
import pathlib
import shutil
import threading
import time
from collections.abc import Callable

import numpy as np

from hivejax._src.evaluation.fingerprint import fingerprints
from hivejax._src.evaluation.protocols import Protocol, validator_protocol
from hivejax._src.interpret.compilation_cache import release_executables
from hivejax._src.io.program_io import load_program, save_program
from hivejax._src.program.files import write_json_atomic
from hivejax._src.program.formats import to_json
from hivejax._src.program.formula import formula
from hivejax._src.program.program import Program, stack_programs
from hivejax._src.run.config import EvolveConfig, FinishConfig, resume_config
from hivejax._src.run.loop import evolve
from hivejax._src.search.strategy import SearchConfig
from hivejax._src.subnet import rules
from hivejax._src.subnet.candidates import candidate, evaluate
from hivejax._src.subnet.chain import Chain
from hivejax._src.subnet.commitment import Decoded, decode_for, encode
from hivejax._src.subnet.reveal import (
    MAX_REVEALED,
    Reveal,
    make_hash_commitment,
    make_reveal,
    new_salt,
    parse,
)
from hivejax._src.subnet.rules import ChainError
from hivejax._src.subnet.scoring import score
from hivejax._src.tasks.registry import task_type

log = logging.getLogger("hivejax.miner")

STATE = "miner.json"
STATE_VERSION = 1
NEW = "(this round's best)"
"""The hotkey the round's best stands under in the miner's own scoring."""


@dataclasses.dataclass(frozen=True)
class MinerConfig:
    """How a miner searches and publishes.

    Attributes:
      protocol: the validators' protocol: the miner searches on its first cell and decides
        under all of it.
      population, generations: the size of each round's evolution.
      seed: the first round's search seed (round ``k`` uses ``seed + k``).
      seed_programs: programs (paths or ``builtin:NAME``) every round starts from, with
        those on chain.
      reveal_after: blocks between committing a program's hash and revealing it.
      refresh_blocks: blocks after which the current program's hash and reveal repeat.
      epoch_blocks: blocks per epoch, as the validators count them (decides the seeds).
      data_dir: where file-based data sets are (default: ``$HIVEJAX_DATA``).
    """

    protocol: Protocol = dataclasses.field(default_factory=lambda: validator_protocol("loss"))
    population: int = 64
    generations: int = 10
    seed: int = 0
    seed_programs: tuple[str, ...] = ()
    reveal_after: int = 3
    refresh_blocks: int = rules.TEMPO
    epoch_blocks: int = rules.TEMPO
    data_dir: str | None = None

    def __post_init__(self):
        if not isinstance(self.protocol, Protocol):
            raise ValueError(f"protocol must be a Protocol, got {self.protocol!r}")
        for name in ("reveal_after", "refresh_blocks", "epoch_blocks"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        self.evolve_config(0, ())  # the engine checks population, generations and the rest
        for source in self.seed_programs:
            load_program(source, self.spec)

    @property
    def spec(self):
        """The spec of every program this miner evolves: its task's default."""
        return task_type(self.protocol.task).default_spec

    def evolve_config(self, round_index: int, seed_programs: tuple[str, ...]) -> EvolveConfig:
        """The engine's config of round ``round_index``."""
        dataset, model = self.protocol.cells[0]
        return EvolveConfig(
            task=self.protocol.task,
            dataset=dataset,
            population=self.population,
            generations=self.generations,
            seed=self.seed + round_index,
            train=self.protocol.train_config(model),
            derived_inputs=False,  # the subnet's programs have the task's default spec
            checkpoint_every=1,
            keep_checkpoints=1,
            search=SearchConfig(seed_programs=seed_programs),
            finish=FinishConfig(final_seeds=1),
        )


@dataclasses.dataclass(frozen=True)
class OnChain:
    """A revealed program on chain: its hotkey, uid, the block of the write and the program."""

    hotkey: str
    uid: int
    block: int
    program: Program


class Miner:
    """A miner acting as ``hotkey`` on ``chain``, working in ``directory``.

    ``sleep`` is how it waits for the reveal block (tests on a frozen chain pass one that
    advances the chain).
    """

    def __init__(
        self,
        chain: Chain,
        hotkey: str,
        directory: str | os.PathLike,
        config: MinerConfig | None = None,
        *,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.chain = chain
        self.hotkey = hotkey
        self.config = config or MinerConfig()
        self.directory = pathlib.Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self._sleep = sleep
        self.state = self._load_state()

    @property
    def protocol(self) -> Protocol:
        return self.config.protocol

    # --- state ---

    def _load_state(self) -> dict:
        path = self.directory / STATE
        if not path.exists():
            return {"version": STATE_VERSION, "hotkey": self.hotkey, "round": 0, "publish": None}
        try:
            state = json.loads(path.read_text())
        except (OSError, ValueError) as e:
            raise ValueError(f"{path} is not a miner state file: {e}") from None
        if not isinstance(state, dict) or state.get("version") != STATE_VERSION:
            raise ValueError(f"{path} is not a miner state file of version {STATE_VERSION}")
        if state.get("hotkey") != self.hotkey:
            raise ValueError(
                f"{path} belongs to hotkey {state.get('hotkey')!r}, not {self.hotkey!r}; "
                "give each hotkey its own --out"
            )
        return state

    def _save_state(self) -> None:
        write_json_atomic(self.directory / STATE, self.state)

    # --- the chain ---

    def on_chain(self) -> list[OnChain]:
        """Every revealed program of this miner's task, protocol and spec, by hotkey."""
        out = []
        for hotkey, c in sorted(self.chain.commitments().items()):
            reveal = parse(c.payload)
            if not isinstance(reveal, Reveal):
                continue
            decoded = decode_for(
                reveal.payload, self.protocol.task, self.protocol.version, self.config.spec
            )
            if isinstance(decoded, Decoded):
                out.append(OnChain(hotkey, c.uid, c.block, decoded.program))
        return out

    def publish(self) -> None:
        """Move the pending publication on: the hash, then (``reveal_after`` blocks later)
        the reveal; and repeat both once ``refresh_blocks`` have passed since the hash."""
        pub = self.state["publish"]
        if pub is None:
            return
        if pub["reveal_block"] is not None:
            if self.chain.block() - pub["hash_block"] < self.config.refresh_blocks:
                return
            log.info("repeating the hash and reveal of the current program")
            pub.update(salt=new_salt().hex(), hash_block=None, reveal_block=None)
            self._save_state()
        payload, salt = bytes.fromhex(pub["payload"]), bytes.fromhex(pub["salt"])
        try:
            if pub["hash_block"] is None:
                pub["hash_block"] = self.chain.commit(
                    self.hotkey, make_hash_commitment(payload, salt, self.hotkey)
                )
                self._save_state()
                log.info("committed the hash of %s at block %d", pub["formula"], pub["hash_block"])
            target = pub["hash_block"] + self.config.reveal_after
            while (block := self.chain.block()) < target:
                self._sleep(min(1.0, (target - block) * 0.5))
            pub["reveal_block"] = self.chain.commit(
                self.hotkey, make_reveal(payload, salt, pub["hash_block"])
            )
            self._save_state()
            log.info("revealed %s at block %d", pub["formula"], pub["reveal_block"])
        except ChainError as e:
            log.warning("commit refused (%s): %s; trying again next round", e.code.value, e)

    # --- one round ---

    def step(self) -> dict:
        """One round: publish what is pending, evolve, decide, publish. Returns the decision
        (``committed``, ``reason``, the best's ``formula`` and ``mean`` improvement)."""
        self.publish()
        k = self.state["round"]
        best = self._evolve(k, self.on_chain())
        # The chain as it is now, not as the round found it: a program revealed while the
        # round evolved may be the round's best, and then publishing it would be a copy.
        decision = self._decide(k, best, self.on_chain())
        release_executables()  # the round's own: a miner runs for days (see its docstring)
        self.state["round"] = k + 1
        self._save_state()
        self.publish()
        return decision

    def _evolve(self, k: int, chain_programs: list[OnChain]) -> Program:
        out = self.directory / "rounds" / f"{k:05d}"
        if (out / "summary.json").exists():
            return load_program(out / "best.json", self.config.spec)[1]
        try:
            config = resume_config(out)
            resume = True
            log.info("round %d: resuming from its checkpoint", k)
        except ValueError:  # no checkpoint: start the round afresh
            shutil.rmtree(out, ignore_errors=True)
            config, resume = (
                self.config.evolve_config(k, self._seed_files(out, chain_programs)),
                False,
            )
            log.info(
                "round %d: evolving %d programs for %d generations from %d seed(s)",
                k,
                config.population,
                config.generations,
                len(config.search.seed_programs),
            )
        evolve(config, out, resume=resume, data_dir=self.config.data_dir)
        return load_program(out / "best.json", self.config.spec)[1]

    def _seed_files(self, out: pathlib.Path, chain_programs: list[OnChain]) -> tuple[str, ...]:
        """The round's seed programs: the user's, then those on chain, as files of the round."""
        seeds = out.parent / f"{out.name}.seeds"
        shutil.rmtree(seeds, ignore_errors=True)
        seeds.mkdir(parents=True)
        paths = list(self.config.seed_programs)
        for i, c in enumerate(chain_programs):
            path = seeds / f"{i:03d}.json"
            save_program(path, self.config.spec, c.program)
            paths.append(str(path))
        return tuple(paths[: self.config.population])

    def _priority(self, c: OnChain) -> int:
        """The block a validator dates ``c`` by, as far as this miner can tell: its own
        program's hash block once it has one, else the block of the latest write (the
        chain shows no earlier one: a reveal replaces its hash)."""
        pub = self.state["publish"]
        if c.hotkey == self.hotkey and pub and pub["hash_block"] is not None:
            return pub["hash_block"]
        return c.block

    def _decide(self, k: int, best: Program, chain_programs: list[OnChain]) -> dict:
        spec, block = self.config.spec, self.chain.block()
        epoch_start = block // self.config.epoch_blocks * self.config.epoch_blocks
        population = stack_programs([best] + [c.program for c in chain_programs])
        evaluations = evaluate(
            self.protocol,
            population,
            self.chain.block_hash(epoch_start),
            spec=spec,
            data_dir=self.config.data_dir,
        )
        prints = fingerprints(self.protocol.task, spec, population)
        pub = self.state["publish"]
        entrants = [(NEW, -1, block + 1)] + [
            (c.hotkey, c.uid, self._priority(c)) for c in chain_programs
        ]
        candidates = [
            candidate(hotkey, uid, fp, priority, ev)
            for (hotkey, uid, priority), fp, ev in zip(entrants, prints, evaluations, strict=True)
        ]
        scores = score(candidates)
        text = formula(spec, best)
        mean = float(np.mean(evaluations[0].improvements))
        leader = next((h for h in scores.ranking if h != NEW), None)
        data = encode(self.protocol.task, self.protocol.version, spec, best)
        if scores.ranking[:1] == (NEW,) and len(data) > MAX_REVEALED:
            reason = f"its commitment takes {len(data)} bytes, a reveal holds {MAX_REVEALED}"
            log.info("round %d: not publishing %s: %s", k, text, reason)
            return {"committed": False, "reason": reason, "formula": text, "mean": mean}
        if scores.ranking[:1] == (NEW,):
            reason = "leads" if leader is None else f"beats {leader} by the margin"
            self.state["publish"] = {
                "payload": data.hex(),
                "salt": new_salt().hex(),
                "hash_block": None,
                "reveal_block": None,
                "formula": text,
                "fingerprint": prints[0].fingerprint,
                "program": to_json(spec, best),
            }
            log.info("round %d: publishing %s (mean improvement %+.4f): %s", k, text, mean, reason)
            return {"committed": True, "reason": reason, "formula": text, "mean": mean}
        reason = scores.reasons.get(NEW, "no_new_gain")
        if reason == "no_new_gain":
            reason = f"does not beat {leader} by the margin"
        if pub is not None and prints[0].fingerprint == pub["fingerprint"]:
            reason = "already published"
        log.info("round %d: not publishing %s (mean improvement %+.4f): %s", k, text, mean, reason)
        return {"committed": False, "reason": reason, "formula": text, "mean": mean}

    # --- running ---

    def run(self, steps: int | None = None, stop: threading.Event | None = None) -> None:
        """Run rounds (``steps`` of them, or until ``stop`` is set). A chain failure in one
        round is logged and the next round tries again; SIGINT or SIGTERM during a round's
        evolution checkpoints it and raises ``KeyboardInterrupt`` (``run/loop.evolve``)."""
        stop = stop or threading.Event()
        done = 0
        while not stop.is_set() and (steps is None or done < steps):
            try:
                self.step()
            except ChainError as e:
                log.warning("round failed on the chain, trying again: %s", e)
                stop.wait(5.0)
            done += 1
