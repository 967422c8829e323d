"""The validator: from the chain's commitments to weights, one interval at a time.

Each interval (``Validator.step``):

1. **Read** every hotkey's latest commitment and pass it to ``reveal.observe``: a salted
   hash is remembered in the ledger with its block, a reveal is accepted only if its
   hotkey committed the hash earlier (that block is the program's priority), anything else
   is refused with a reason code. Reading also runs on its own thread every ``poll``
   seconds (``run``), so a hash is seen even while an evaluation takes minutes.
2. **Decode** each accepted payload strictly (``commitment.decode_for``: the task, the
   protocol version and the spec must be the validator's), then **fingerprint** all of
   them in one vmapped call (``fingerprint.fingerprints``). The ledger records the first
   block each hotkey held each fingerprint; the earliest sighting owns it.
3. **Evaluate** under the validator's protocol, paired against the baseline, with seeds
   derived from an epoch (``protocols.seed_values``); ``epoch_blocks`` blocks make an
   epoch (one tempo by default). A fingerprint is first evaluated on the seeds of the
   epoch of its priority block, so every validator that saw the same chain history
   evaluates it on the same seeds, whenever it started. Then the current top ``top``
   are re-evaluated on this epoch's seeds and scored with them, so no program can be tuned
   to seeds it knows in advance and stay on top. Each of the two is one vmapped batch of
   every program that needs it (``candidates.evaluate``, as a miner's decision); results
   are stored in the ledger per (fingerprint, epoch, protocol version), so a restarted
   validator repeats no evaluation, and an evaluation killed half-way stored nothing.
4. **Score** the candidates (``candidates.candidate``, the builder miners decide with) with
   ``scoring.score``: copies, broken, constant and non-finite programs earn nothing, only
   a lower bound above zero earns, a later program needs a margin, weights decay with rank.
5. **Set weights** when the rate limit allows, retrying with exponential backoff when the
   chain fails (``ErrorCode.NETWORK``); a refusal by rule (rate limited, no permit) is
   logged and waits for the next interval. When nobody earns, the validator sets nothing:
   all-zero weights cannot be sent, and no one is paid for not beating the baseline.

``status.json`` in the validator's directory (written atomically) shows the latest
interval: every hotkey's state, the ranking and the weights.
"""

import dataclasses
import hashlib
import logging
import os
import pathlib
import sqlite3
import threading
import time
from collections.abc import Callable

from hivejax._src.evaluation.fingerprint import Fingerprint, fingerprints
from hivejax._src.evaluation.protocols import Protocol, validator_protocol
from hivejax._src.evaluation.scores import summarize
from hivejax._src.program.files import write_json_atomic
from hivejax._src.program.program import stack_programs
from hivejax._src.subnet import rules
from hivejax._src.subnet.candidates import Evaluation, candidate, evaluate
from hivejax._src.subnet.chain import Chain
from hivejax._src.subnet.commitment import Decoded, Rejected, decode_for
from hivejax._src.subnet.ledger import Ledger
from hivejax._src.subnet.reveal import Accepted, HashCommit, observe
from hivejax._src.subnet.rules import ChainError, ErrorCode
from hivejax._src.subnet.scoring import Candidate, Scores, score
from hivejax._src.tasks.registry import task_type

log = logging.getLogger("hivejax.validator")


@dataclasses.dataclass(frozen=True)
class ValidatorConfig:
    """How a validator scores.

    Attributes:
      protocol: the protocol every program is evaluated under (its task is the subnet's).
      top: programs re-evaluated on each epoch's seeds.
      epoch_blocks: blocks per epoch: seeds change, and the top are re-evaluated, each epoch.
      data_dir: where file-based data sets are (default: ``$HIVEJAX_DATA``).
    """

    protocol: Protocol = dataclasses.field(default_factory=lambda: validator_protocol("loss"))
    top: int = 3
    epoch_blocks: int = rules.TEMPO
    data_dir: str | None = None

    def __post_init__(self):
        if not isinstance(self.protocol, Protocol):
            raise ValueError(f"protocol must be a Protocol, got {self.protocol!r}")
        for name in ("top", "epoch_blocks"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")

    @property
    def spec(self):
        """The spec of every program this validator evaluates: its task's default."""
        return task_type(self.protocol.task).default_spec


@dataclasses.dataclass(frozen=True)
class Entry:
    """What the validator made of one hotkey's commitment in one interval.

    ``state`` is ``"hash"`` (a hash waiting for its reveal), ``"scored"`` (a program that
    was scored, earning or not) or a rejection reason (``reveal.REASONS``,
    ``commitment.REASONS``). ``reason`` says why a scored program earns nothing.
    """

    hotkey: str
    uid: int
    block: int
    state: str
    detail: str = ""
    fingerprint: str | None = None
    priority_block: int | None = None
    epoch: int | None = None
    mean: float | None = None
    lower_bound: float | None = None
    reason: str | None = None


@dataclasses.dataclass(frozen=True)
class Report:
    """One interval: the block, the epoch, every hotkey's ``Entry``, the scores, and
    whether weights were set."""

    block: int
    epoch: int
    entries: dict[str, Entry]
    scores: Scores
    weights_set: bool


class Validator:
    """A validator acting as ``hotkey`` on ``chain``, keeping its ledger in ``directory``.

    Args:
      chain: the chain to read and set weights on.
      hotkey: this validator's hotkey (registered, with a validator permit).
      directory: where ``ledger.sqlite`` and ``status.json`` live; a restart on the same
        directory continues where the last run stopped.
      config: how to score.
      sleep: how to wait between weight-setting retries (tests pass a recorder).
    """

    def __init__(
        self,
        chain: Chain,
        hotkey: str,
        directory: str | os.PathLike,
        config: ValidatorConfig | None = None,
        *,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.chain = chain
        self.hotkey = hotkey
        self.config = config or ValidatorConfig()
        self.directory = pathlib.Path(directory)
        self.ledger = Ledger(self.directory / "ledger.sqlite")
        self._sleep = sleep

    @property
    def protocol(self) -> Protocol:
        return self.config.protocol

    # --- reading the chain ---

    def watch(self) -> dict[str, tuple[int, int, HashCommit | Accepted | Rejected]]:
        """Read every commitment and record the hashes: ``hotkey -> (uid, block, what)``."""
        out = {}
        for hotkey, c in sorted(self.chain.commitments().items()):
            out[hotkey] = (c.uid, c.block, observe(self.ledger, hotkey, c.block, c.payload))
        return out

    def _entries(self, observed) -> tuple[dict[str, Entry], dict[str, tuple[Decoded, str]]]:
        """Entries for every hotkey, and ``(decoded, payload hash)`` of those that revealed
        a program."""
        entries, programs = {}, {}
        for hotkey, (uid, block, what) in observed.items():
            if isinstance(what, Accepted):
                what_decoded = decode_for(
                    what.payload, self.protocol.task, self.protocol.version, self.config.spec
                )
                if isinstance(what_decoded, Decoded):
                    programs[hotkey] = (what_decoded, hashlib.sha256(what.payload).hexdigest())
                    entries[hotkey] = Entry(
                        hotkey, uid, block, "scored", priority_block=what.priority_block
                    )
                    continue
                what = what_decoded
            if isinstance(what, HashCommit):
                entries[hotkey] = Entry(hotkey, uid, block, "hash")
            else:
                entries[hotkey] = Entry(hotkey, uid, block, what.reason, what.detail)
        return entries, programs

    # --- one interval ---

    def step(self) -> Report:
        """One interval: read, decode, fingerprint, evaluate, score and set weights."""
        block = self.chain.block()
        epoch = block // self.config.epoch_blocks
        entries, programs = self._entries(self.watch())
        hotkeys = sorted(programs)
        prints = (
            fingerprints(
                self.protocol.task,
                self.config.spec,
                stack_programs([programs[h][0].program for h in hotkeys]),
            )
            if hotkeys
            else []
        )
        by_print = {}  # fingerprint -> one program that has it
        for hotkey, fp in zip(hotkeys, prints, strict=True):
            e = entries[hotkey]
            if fp.fingerprint is None:
                entries[hotkey] = dataclasses.replace(e, reason=fp.reason)
                continue
            decoded, payload_hash = programs[hotkey]
            self.ledger.record(hotkey, fp.fingerprint, e.priority_block, payload_hash)
            entries[hotkey] = dataclasses.replace(
                e,
                fingerprint=fp.fingerprint,
                priority_block=self.ledger.first_block(fp.fingerprint, hotkey),
            )
            by_print.setdefault(fp.fingerprint, decoded.program)
        scores = self._score(entries, by_print, epoch)
        weights_set = self._set_weights(block, scores)
        report = Report(block, epoch, entries, scores, weights_set)
        self._write_status(report)
        return report

    def _first_epoch(self, fingerprint: str, epoch: int) -> int:
        _, first_block = self.ledger.priority(fingerprint)
        return min(first_block // self.config.epoch_blocks, epoch)

    def _evaluations(self, wanted: dict[str, int], by_print: dict) -> dict[str, Evaluation]:
        """The stored or new evaluation of each ``fingerprint -> epoch`` in ``wanted``;
        the missing ones of each epoch are evaluated as one batch and stored."""
        version = self.protocol.version
        found = {
            fp: _from_ledger(self.ledger.get_evaluation(fp, e, version)) for fp, e in wanted.items()
        }
        missing = sorted(fp for fp, ev in found.items() if ev is None)
        for epoch in sorted({wanted[fp] for fp in missing}):
            batch = [fp for fp in missing if wanted[fp] == epoch]
            log.info("evaluating %d program(s) on the seeds of epoch %d", len(batch), epoch)
            evaluations = evaluate(
                self.protocol,
                stack_programs([by_print[fp] for fp in batch]),
                epoch,
                spec=self.config.spec,
                data_dir=self.config.data_dir,
            )
            for fp, ev in zip(batch, evaluations, strict=True):
                self.ledger.put_evaluation(fp, epoch, version, _to_ledger(ev))
                found[fp] = ev
        return found

    def _candidates(self, entries, evaluations) -> list[Candidate]:
        """A candidate of every scored entry; one without a fingerprint was not evaluated."""
        return [
            candidate(
                e.hotkey,
                e.uid,
                Fingerprint(e.fingerprint, e.reason),
                e.priority_block,
                None if e.fingerprint is None else evaluations[e.fingerprint],
            )
            for e in entries.values()
            if e.state == "scored"
        ]

    def _score(self, entries: dict[str, Entry], by_print: dict, epoch: int) -> Scores:
        """Evaluate what is missing (first epochs, then this epoch's top), score, and fill
        each scored entry of ``entries`` (in place) with its epoch, mean, bound and reason."""
        owners = {fp: self.ledger.owner(fp) for fp in by_print}
        first = {fp: self._first_epoch(fp, epoch) for fp in by_print}
        evaluations = self._evaluations(first, by_print)
        ranking = score(self._candidates(entries, evaluations), owners).ranking
        top = {entries[h].fingerprint for h in ranking[: self.config.top]}
        evaluations |= self._evaluations({fp: epoch for fp in sorted(top)}, by_print)
        scores = score(self._candidates(entries, evaluations), owners)
        for hotkey, e in entries.items():
            if e.state == "scored" and e.fingerprint is not None:
                ev = evaluations[e.fingerprint]
                stats = summarize(ev.improvements, self.protocol.confidence)
                entries[hotkey] = dataclasses.replace(
                    e,
                    epoch=ev.epoch,
                    mean=stats["mean"],
                    lower_bound=stats["lower_bound"],
                    reason=scores.reasons.get(hotkey),
                )
            elif e.state == "scored":
                entries[hotkey] = dataclasses.replace(e, reason=scores.reasons.get(hotkey))
        return scores

    # --- weights ---

    def _set_weights(self, block: int, scores: Scores, attempts: int = 4) -> bool:
        if not any(scores.weights.values()):
            log.info("block %d: nobody beats the baseline; no weights set", block)
            return False
        last = next(
            (n.last_update for n in self.chain.metagraph().neurons if n.hotkey == self.hotkey),
            None,
        )
        if last is not None and block - last < rules.WEIGHTS_RATE_LIMIT:
            return False
        for attempt in range(attempts):
            try:
                self.chain.set_weights(self.hotkey, scores.weights)
            except ChainError as e:
                if e.code is not ErrorCode.NETWORK or attempt == attempts - 1:
                    log.warning("block %d: weights not set (%s): %s", block, e.code.value, e)
                    return False
                delay = 2.0**attempt
                log.warning("setting weights failed (%s); retrying in %.0f s", e, delay)
                self._sleep(delay)
            else:
                log.info("block %d: set weights %s", block, _rounded(scores.weights))
                return True
        return False

    def _write_status(self, report: Report) -> None:
        write_json_atomic(
            self.directory / "status.json",
            {
                "hotkey": self.hotkey,
                "block": report.block,
                "epoch": report.epoch,
                "protocol": self.protocol.name,
                "version": self.protocol.version,
                "ranking": list(report.scores.ranking),
                "weights": {str(u): w for u, w in report.scores.weights.items()},
                "weights_set": report.weights_set,
                "entries": {h: dataclasses.asdict(e) for h, e in report.entries.items()},
                "time": time.time(),
            },
        )

    # --- running ---

    def run(
        self,
        interval: float,
        poll: float,
        steps: int | None = None,
        stop: threading.Event | None = None,
    ) -> None:
        """Step every ``interval`` seconds (``steps`` times, or until ``stop`` is set),
        reading commitments every ``poll`` seconds on a thread of its own. A chain or
        ledger failure in one interval is logged, and the next interval tries again."""
        stop = stop or threading.Event()
        watcher = threading.Thread(target=self._watch_loop, args=(poll, stop), daemon=True)
        watcher.start()
        done = 0
        try:
            while not stop.is_set() and (steps is None or done < steps):
                try:
                    report = self.step()
                    log.info(
                        "block %d epoch %d: ranking %s",
                        report.block,
                        report.epoch,
                        ", ".join(report.scores.ranking) or "(nobody earns)",
                    )
                except (ChainError, OSError, sqlite3.Error) as e:
                    log.warning("interval failed, trying again next interval: %s", e)
                done += 1
                if steps is None or done < steps:
                    stop.wait(interval)
        finally:
            stop.set()
            watcher.join()

    def _watch_loop(self, poll: float, stop: threading.Event) -> None:
        while not stop.wait(poll):
            try:
                self.watch()
            except (ChainError, OSError, sqlite3.Error) as e:
                log.warning("reading commitments failed: %s", e)


def _to_ledger(evaluation: Evaluation) -> dict:
    """An evaluation as the ledger stores it: JSON, in the layout of its first version."""
    return {
        "improvements": list(evaluation.improvements),
        "broken": evaluation.broken,
        "epoch": evaluation.epoch,
    }


def _from_ledger(stored: dict | None) -> Evaluation | None:
    """A stored evaluation, which scores as it did when it was new (``None``: none stored)."""
    if stored is None:
        return None
    return Evaluation(tuple(stored["improvements"]), stored["broken"], stored["epoch"])


def _rounded(weights: dict[int, float]) -> dict[int, float]:
    return {u: round(w, 4) for u, w in weights.items() if w}
