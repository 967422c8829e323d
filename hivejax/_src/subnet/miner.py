"""The miner: evolve programs round after round, and publish one only when it would lead.

Each round (``Miner.step``):

1. **Seed** a new evolution with the programs on chain (every revealed program of the
   miner's task, protocol and spec: other miners' and its own) and the user's seed
   programs, so the search starts from the best known, not from scratch.
2. **Evolve** (``run/loop.evolve``) for ``generations`` generations on the protocol's first
   cell (its data set, model and training), checkpointed every generation in
   ``rounds/<round>``: a miner killed mid-round resumes that round where it stopped.
3. **Decide** as a validator would, over the round's **finalists**: its best and the
   funnel's other candidates (``run/finish.finalists``, at most ``finalists`` of them).
   They and every program on chain (read again: it may have changed while the round
   evolved) are evaluated together under the protocol on the seeds of the current epoch's
   first block hash, in one vmapped batch (``candidates.evaluate``; validators pay on seeds
   drawn after a program's hash, so a miner decides on a sample of the same kind, not on
   the seeds it will be paid on), fingerprinted, made into candidates by the validator's
   own builder (``candidates.candidate``) and scored with ``scoring.score``. Each finalist
   is scored alone against the chain, as the latest comer (finalists never compete with
   one another for priority; copies of one another count once). A finalist clears the
   validators' rule if it ranks first, that is beats the current leader by the
   validator's margin with a lower bound above zero, is not a copy of a program already
   on chain (the miner's own included), and fits a reveal; the miner publishes the one
   with the highest mean improvement among those, or nothing. A finalist other than the
   run's best can so be published when the best does not clear the rule: the funnel
   chose the best on the search's data, the validators pay on theirs. The cost is one
   evaluation under the protocol per round, of the programs not yet trained on the
   epoch's seeds (the miner keeps what it trained on them: the programs on chain train
   once an epoch), logged with every decision.
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
from hivejax._src.program.canonical import canonical_hash
from hivejax._src.program.files import write_json_atomic
from hivejax._src.program.formats import to_json
from hivejax._src.program.formula import formula
from hivejax._src.program.program import Program, stack_programs
from hivejax._src.run.config import EvolveConfig, FinishConfig, resume_config
from hivejax._src.run.finish import finalists
from hivejax._src.run.loop import evolve
from hivejax._src.search.strategy import SearchConfig
from hivejax._src.subnet import rules
from hivejax._src.subnet.candidates import Evaluation, candidate, evaluate
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
from hivejax._src.subnet.scoring import Candidate, Scores, score
from hivejax._src.tasks.registry import task_type

log = logging.getLogger("hivejax.miner")

STATE = "miner.json"
STATE_VERSION = 1
NEW = "(this round's finalist)"
"""The hotkey each of the round's finalists stands under in the miner's own scoring."""


@dataclasses.dataclass(frozen=True)
class MinerConfig:
    """How a miner searches and publishes.

    Attributes:
      protocol: the validators' protocol: the miner searches on its first cell and decides
        under all of it.
      population, generations: the size of each round's evolution.
      finalists: how many of each round's best programs (the fresh-key funnel's
        candidates, its winner first) are scored under the protocol to decide what to
        publish.
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
    finalists: int = 4
    seed: int = 0
    seed_programs: tuple[str, ...] = ()
    reveal_after: int = 3
    refresh_blocks: int = rules.TEMPO
    epoch_blocks: int = rules.TEMPO
    data_dir: str | None = None

    def __post_init__(self):
        if not isinstance(self.protocol, Protocol):
            raise ValueError(f"protocol must be a Protocol, got {self.protocol!r}")
        for name in ("finalists", "reveal_after", "refresh_blocks", "epoch_blocks"):
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
            # the funnel's candidates are the round's finalists: at least as many as asked
            finish=FinishConfig(final_seeds=1, funnel=max(FinishConfig.funnel, self.finalists)),
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
        self._evaluated: dict[str, Evaluation] = {}  # by canonical hash, on _evaluated_on
        self._evaluated_on: str | None = None

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
        """One round: publish what is pending, evolve, decide, publish. Returns the decision:
        ``committed``, ``reason``, the ``formula`` and ``mean`` improvement of the finalist
        published (else of the round's best), how many ``finalists`` were scored and the
        ``seconds`` their evaluation with the programs on chain took."""
        self.publish()
        k = self.state["round"]
        programs = self._evolve(k, self.on_chain())
        # The chain as it is now, not as the round found it: a program revealed while the
        # round evolved may be a finalist, and then publishing it would be a copy.
        decision = self._decide(k, programs, self.on_chain())
        release_executables()  # the round's own: a miner runs for days (see its docstring)
        self.state["round"] = k + 1
        self._save_state()
        self.publish()
        return decision

    def _evolve(self, k: int, chain_programs: list[OnChain]) -> list[Program]:
        """Round ``k``'s finalists, its best first, evolving (or resuming) it if need be."""
        out = self.directory / "rounds" / f"{k:05d}"
        if (out / "summary.json").exists():
            return finalists(out, self.config.spec)[: self.config.finalists]
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
        return finalists(out, self.config.spec)[: self.config.finalists]

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

    def _evaluate(self, programs: list[Program], seeds: str) -> tuple[list[Evaluation], int]:
        """Every program's evaluation on ``seeds``, and how many programs were trained: one
        evaluated on these seeds in an earlier round of this process comes from memory, as
        the programs on chain do round after round of an epoch (every round of an epoch
        decides on its first block's seeds)."""
        if self._evaluated_on != seeds:
            self._evaluated, self._evaluated_on = {}, seeds
        hashes = [canonical_hash(self.config.spec, p) for p in programs]
        new = {h: p for h, p in zip(hashes, programs, strict=True) if h not in self._evaluated}
        if new:
            found = evaluate(
                self.protocol,
                stack_programs(list(new.values())),
                seeds,
                spec=self.config.spec,
                data_dir=self.config.data_dir,
            )
            self._evaluated.update(zip(new, found, strict=True))
        return [self._evaluated[h] for h in hashes], len(new)

    def _decide(self, k: int, programs: list[Program], chain_programs: list[OnChain]) -> dict:
        """Score the finalists ``programs`` (the round's best first) with the programs on
        chain as a validator would, and make the best one that would lead the publication."""
        spec, block, n = self.config.spec, self.chain.block(), len(programs)
        epoch_start = block // self.config.epoch_blocks * self.config.epoch_blocks
        everyone = programs + [c.program for c in chain_programs]
        t = time.perf_counter()
        evaluations, trained = self._evaluate(everyone, self.chain.block_hash(epoch_start))
        seconds = time.perf_counter() - t
        prints = fingerprints(self.protocol.task, spec, stack_programs(everyone))
        log.info(
            "round %d: %d finalist(s) and %d program(s) on chain under %s, %d of them "
            "trained (the others this epoch already), in %.1f s",
            k,
            n,
            len(chain_programs),
            self.protocol.name,
            trained,
            seconds,
        )
        chain = [
            candidate(c.hotkey, c.uid, fp, self._priority(c), ev)
            for c, fp, ev in zip(chain_programs, prints[n:], evaluations[n:], strict=True)
        ]
        scored, seen = [], set()
        for i in range(n):  # each alone against the chain, as the latest comer
            if prints[i].fingerprint is not None and prints[i].fingerprint in seen:
                continue  # a copy of an earlier finalist
            seen.add(prints[i].fingerprint)
            new = candidate(NEW, -1, prints[i], block + 1, evaluations[i])
            scored.append(self._finalist(programs[i], new, score([new, *chain])))
        cleared = [f for f in scored if f["leads"] and len(f["data"]) <= MAX_REVEALED]
        chosen = max(cleared, key=lambda f: f["mean"]) if cleared else scored[0]
        decision = {
            "committed": bool(cleared),
            "reason": self._reason(chosen),
            "formula": chosen["formula"],
            "mean": chosen["mean"],
            "finalists": len(scored),
            "seconds": seconds,
        }
        log.info(
            "round %d: %s %s (mean improvement %+.4f, %d finalist(s) scored): %s",
            k,
            "publishing" if cleared else "not publishing",
            chosen["formula"],
            chosen["mean"],
            len(scored),
            decision["reason"],
        )
        if cleared:
            self.state["publish"] = {
                "payload": chosen["data"].hex(),
                "salt": new_salt().hex(),
                "hash_block": None,
                "reveal_block": None,
                "formula": chosen["formula"],
                "fingerprint": chosen["fingerprint"],
                "program": to_json(spec, chosen["program"]),
            }
        return decision

    def _finalist(self, program: Program, new: Candidate, scores: Scores) -> dict:
        """One finalist as the decision weighs it: candidate ``new``, scored alone against
        the chain (``scores``)."""
        spec = self.config.spec
        mean = float(np.mean(new.improvements))
        finalist = {
            "program": program,
            "fingerprint": new.fingerprint,
            "formula": formula(spec, program),
            "mean": mean,
            "data": encode(self.protocol.task, self.protocol.version, spec, program),
            "leads": scores.ranking[:1] == (NEW,),
            "leader": next((h for h in scores.ranking if h != NEW), None),
            "reason": scores.reasons.get(NEW, "no_new_gain"),
        }
        verdict = "ranks first" if finalist["leads"] else finalist["reason"]
        log.debug("finalist %s (mean improvement %+.4f): %s", finalist["formula"], mean, verdict)
        return finalist

    def _reason(self, f: dict) -> str:
        """Why finalist ``f`` is published, or (the round's best, when none is) why not."""
        leader, pub = f["leader"], self.state["publish"]
        if f["leads"] and len(f["data"]) > MAX_REVEALED:
            return f"its commitment takes {len(f['data'])} bytes, a reveal holds {MAX_REVEALED}"
        if f["leads"]:
            return "leads" if leader is None else f"beats {leader} by the margin"
        if pub is not None and f["fingerprint"] == pub["fingerprint"]:
            return "already published"
        if f["reason"] == "no_new_gain":
            return f"does not beat {leader} by the margin"
        return f["reason"]

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
