"""The validator: from the chain's commitments to weights, one interval at a time.

Each interval (``Validator.step``):

1. **Read** every hotkey's latest commitment and pass it to ``reveal.observe``: a salted
   hash is remembered in the ledger with its block, a reveal is accepted only if its hotkey
   committed the hash earlier (that block is the program's priority; a hash the ledger never
   saw is looked up in the chain's history, so a validator that started late reaches the
   same priorities), anything else is refused with a reason code. Reading also runs on its
   own thread every ``poll`` seconds (``run``), so a hash is seen even while an evaluation
   takes minutes. While a hotkey's latest commitment is a hash that can still be revealed
   (``REVEAL_WINDOW``), its last accepted reveal stays scored: a leader that refreshes its
   commitment keeps its place.
2. **Decode** each accepted payload strictly (``commitment.decode_for``: the task, the
   protocol version and the spec must be the validator's), then **fingerprint** all of
   them in one vmapped call (``fingerprint.fingerprints``). The ledger records the first
   block each hotkey held each fingerprint; the earliest sighting owns it, and any other
   hotkey's program of that fingerprint is a copy and earns nothing.
3. **Evaluate every program itself.** A program is evaluated under its own canonical hash
   (``canonical.canonical_hash``), never under its fingerprint: a payload that shares an
   owner's fingerprint (an "evil twin" that probes like the owner's program and trains
   otherwise) is trained on its own, earns nothing as a copy, and never stands in for the
   owner's evaluation. Evaluations run under the validator's protocol, paired against the
   baseline, on **seeds no committed program can know**: they derive from the hash of a
   block after the program's hash commitment (``Chain.block_hash``,
   ``protocols.seed_values``). A program is first evaluated on the seeds of the block just
   after its hash (the earliest of the hotkeys that hold the same program), so every
   validator that reads the same chain evaluates it on the same seeds, whenever it
   started.
4. **Score** the candidates (``candidates.candidate``, the builder miners decide with) with
   ``scoring.score``: copies, broken, constant and non-finite programs earn nothing, only
   a lower bound above zero earns, and a later program earns only if it beats every
   earlier earner by the margin. Scoring runs twice: on the first evaluations, to find the
   ``top`` newest record holders, and then on those alone, all re-evaluated on one set of
   **paid seeds**: the hash of the epoch's first block (``epoch_blocks`` blocks make an
   epoch, one tempo by default), or of the block after the newest of them entered, if
   that is later. So the paid ranking compares every program on the same seeds, drawn
   after each of them was committed, and changes its seeds every epoch: no program can be
   tuned to seeds it knew. A record holder past the ``top`` newest earns nothing
   (``"outside_top"``): with weights halving per record, the fourth would take under 7%.
   Each evaluation is one vmapped batch of every program that needs it on the same seeds
   (``candidates.evaluate``, as a miner's decision); results are stored in the ledger per
   (program hash, seeds, protocol version), so a restarted validator repeats no
   evaluation, and an evaluation killed half-way stored nothing. The cost of an interval
   is therefore bounded: one training run per new distinct program (at most one per
   registered hotkey per reveal, each paying the chain's quota), plus the ``top``
   programs again when an epoch starts or a newer program enters the top.
5. **Set weights** when the rate limit allows, retrying with exponential backoff when the
   chain fails (``ErrorCode.NETWORK``); a refusal by rule (rate limited, no permit) is
   logged and waits for the next interval. When nobody earns, the validator sets all its
   weight on ``burn_uid`` (uid 0, the subnet owner's, by default), as live subnets do:
   weights are set every interval the rate limit allows, so a validator's old weights
   never keep paying a miner who no longer earns.

**A validator that never stops.** One hotkey's commitment that cannot be read or decoded,
or a program whose fingerprint or evaluation raises, is logged with the hotkey and becomes
an ``"error"`` entry; the other hotkeys are scored as usual. Any other failure of an
interval is logged, and the next interval starts afresh.

``status.json`` in the validator's directory (written atomically) shows the latest
interval: every hotkey's state, the ranking and the weights.
"""

import dataclasses
import functools
import hashlib
import logging
import os
import pathlib
import threading
import time
from collections.abc import Callable

from hivejax._src.evaluation.fingerprint import Fingerprint, fingerprints
from hivejax._src.evaluation.protocols import Protocol, validator_protocol
from hivejax._src.evaluation.scores import summarize
from hivejax._src.program.canonical import canonical_hash
from hivejax._src.program.files import write_json_atomic
from hivejax._src.program.program import stack_programs
from hivejax._src.subnet import rules
from hivejax._src.subnet.candidates import Evaluation, candidate, evaluate
from hivejax._src.subnet.chain import Chain
from hivejax._src.subnet.commitment import Decoded, Rejected, decode_for
from hivejax._src.subnet.ledger import Ledger
from hivejax._src.subnet.reveal import REVEAL_WINDOW, Accepted, HashCommit, observe
from hivejax._src.subnet.rules import ChainError, ErrorCode
from hivejax._src.subnet.scoring import Candidate, Scores, score
from hivejax._src.tasks.registry import task_type

log = logging.getLogger("hivejax.validator")


@dataclasses.dataclass(frozen=True)
class ValidatorConfig:
    """How a validator scores.

    Attributes:
      protocol: the protocol every program is evaluated under (its task is the subnet's).
      top: record holders re-evaluated on each epoch's paid seeds and paid (the newest).
      epoch_blocks: blocks per epoch: the paid seeds change, and the top are re-evaluated,
        each epoch.
      burn_uid: the uid that takes all the weight when nobody earns.
      data_dir: where file-based data sets are (default: ``$HIVEJAX_DATA``).
    """

    protocol: Protocol = dataclasses.field(default_factory=lambda: validator_protocol("loss"))
    top: int = 3
    epoch_blocks: int = rules.TEMPO
    burn_uid: int = 0
    data_dir: str | None = None

    def __post_init__(self):
        if not isinstance(self.protocol, Protocol):
            raise ValueError(f"protocol must be a Protocol, got {self.protocol!r}")
        for name, low in (("top", 1), ("epoch_blocks", 1), ("burn_uid", 0)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")

    @property
    def spec(self):
        """The spec of every program this validator evaluates: its task's default."""
        return task_type(self.protocol.task).default_spec


@dataclasses.dataclass(frozen=True)
class Entry:
    """What the validator made of one hotkey's commitment in one interval.

    ``state`` is ``"hash"`` (a hash waiting for its reveal), ``"scored"`` (a program that
    was scored, earning or not), ``"error"`` (reading it raised; ``detail`` says what) or a
    rejection reason (``reveal.REASONS``, ``commitment.REASONS``). ``reason`` says why a
    scored program earns nothing. ``program`` is the program's canonical hash, the key of
    its evaluations.
    """

    hotkey: str
    uid: int
    block: int
    state: str
    detail: str = ""
    fingerprint: str | None = None
    program: str | None = None
    priority_block: int | None = None
    seed_block: int | None = None
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
        # The chain's past never changes: each block's hash and each (hotkey, block)
        # commitment is read once, not every interval or poll (on bittensor, an RPC each).
        self._block_hash = functools.lru_cache(maxsize=65536)(chain.block_hash)
        self._commitment_at = functools.lru_cache(maxsize=65536)(chain.commitment_at)

    @property
    def protocol(self) -> Protocol:
        return self.config.protocol

    # --- reading the chain ---

    def watch(self) -> dict[str, tuple[int, int, HashCommit | Accepted | Rejected]]:
        """Read every commitment and record the hashes: ``hotkey -> (uid, block, what)``.
        A commitment whose reading raises is logged and becomes ``Rejected("error", ...)``."""
        out = {}
        for hotkey, c in sorted(self.chain.commitments().items()):
            try:
                what = observe(self.ledger, hotkey, c.block, c.payload, self._commitment_at)
                if isinstance(what, Accepted):
                    self.ledger.record_reveal(hotkey, what.payload, what.priority_block, c.block)
            except Exception as e:  # one entry never stops the validator
                log.warning("reading %s's commitment failed: %s", hotkey, _describe(e))
                what = Rejected("error", _describe(e))
            out[hotkey] = (c.uid, c.block, what)
        return out

    def _entries(
        self, observed, now: int
    ) -> tuple[dict[str, Entry], dict[str, tuple[Decoded, str, int]]]:
        """Entries for every hotkey at block ``now``, and ``(decoded, payload hash, hash
        block)`` of those that revealed a program."""
        entries, programs = {}, {}
        for hotkey, (uid, block, what) in observed.items():
            pending = isinstance(what, HashCommit) and now - block <= REVEAL_WINDOW
            if pending and (last := self.ledger.last_reveal(hotkey)) is not None:
                what = Accepted(*last)  # scored on its last reveal while the hash waits
            if isinstance(what, Accepted):
                what_decoded = decode_for(
                    what.payload, self.protocol.task, self.protocol.version, self.config.spec
                )
                if isinstance(what_decoded, Decoded):
                    programs[hotkey] = (
                        what_decoded,
                        hashlib.sha256(what.payload).hexdigest(),
                        what.priority_block,
                    )
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
        entries, programs = self._entries(self.watch(), block)
        hotkeys = sorted(programs)
        task, spec = self.protocol.task, self.config.spec
        prints = _each(
            "fingerprinting",
            lambda batch: fingerprints(task, spec, stack_programs(batch)),
            [programs[h][0].program for h in hotkeys],
            hotkeys,
        )
        by_program = {}  # canonical hash -> the program
        first_seeds = {}  # canonical hash -> the block after its earliest hash commitment
        for hotkey, fp in zip(hotkeys, prints, strict=True):
            e = entries[hotkey]
            if fp is None:
                entries[hotkey] = dataclasses.replace(e, state="error", detail="fingerprint failed")
                continue
            if fp.fingerprint is None:
                entries[hotkey] = dataclasses.replace(e, reason=fp.reason)
                continue
            decoded, payload_hash, hash_block = programs[hotkey]
            key = canonical_hash(spec, decoded.program)
            first_seeds[key] = min(first_seeds.get(key, hash_block + 1), hash_block + 1)
            self.ledger.record(hotkey, fp.fingerprint, e.priority_block, payload_hash)
            entries[hotkey] = dataclasses.replace(
                e,
                fingerprint=fp.fingerprint,
                program=key,
                priority_block=self.ledger.first_block(fp.fingerprint, hotkey),
            )
            by_program.setdefault(key, decoded.program)
        scores = self._score(entries, by_program, first_seeds, epoch * self.config.epoch_blocks)
        weights_set = self._set_weights(block, scores)
        report = Report(block, epoch, entries, scores, weights_set)
        self._write_status(report)
        return report

    def _evaluations(
        self, wanted: dict[str, int], by_program: dict, holders: dict[str, str]
    ) -> dict[str, Evaluation | None]:
        """The stored or new evaluation of each ``program hash -> seed block`` in
        ``wanted`` (None where evaluating it raised; ``holders`` names its hotkeys in the
        log); the missing ones of each seed block are evaluated as one batch and stored."""
        version = self.protocol.version
        hashes = {b: self._block_hash(b) for b in set(wanted.values())}
        found = {
            key: _from_ledger(self.ledger.get_evaluation(key, hashes[b], version))
            for key, b in wanted.items()
        }
        missing = sorted(key for key, ev in found.items() if ev is None)
        for block in sorted({wanted[key] for key in missing}):
            batch = [key for key in missing if wanted[key] == block]
            log.info("evaluating %d program(s) on the seeds of block %d", len(batch), block)
            evaluations = _each(
                "evaluating",
                lambda programs, seeds=hashes[block]: evaluate(
                    self.protocol,
                    stack_programs(programs),
                    seeds,
                    spec=self.config.spec,
                    data_dir=self.config.data_dir,
                ),
                [by_program[key] for key in batch],
                [holders[key] for key in batch],
            )
            for key, ev in zip(batch, evaluations, strict=True):
                if ev is not None:
                    self.ledger.put_evaluation(key, hashes[block], version, _to_ledger(ev))
                found[key] = ev
        return found

    def _candidates(self, entries, evaluations) -> list[Candidate]:
        """A candidate of every entry; one without a fingerprint was not evaluated."""
        return [
            candidate(
                e.hotkey,
                e.uid,
                Fingerprint(e.fingerprint, e.reason),
                e.priority_block,
                None if e.program is None else evaluations[e.program],
            )
            for e in entries
        ]

    def _score(
        self, entries: dict[str, Entry], by_program: dict, first: dict, epoch_start: int
    ) -> Scores:
        """Evaluate what is missing (each program on its first seeds, then the top records
        on the paid seeds), score, and fill each scored entry of ``entries`` (in place)
        with its seed block, mean, bound and reason; an entry whose evaluation raised
        becomes an ``"error"``. ``first`` gives each fingerprinted program's first seed
        block: the block after its earliest hash."""
        scored = {h: e for h, e in entries.items() if e.state == "scored"}
        holders = {}
        for e in scored.values():
            if e.program is not None:
                holders[e.program] = ", ".join(filter(None, (holders.get(e.program), e.hotkey)))
        owners = {
            e.fingerprint: self.ledger.owner(e.fingerprint)
            for e in scored.values()
            if e.fingerprint
        }
        evaluations = self._evaluations(first, by_program, holders)
        self._fail(entries, scored, evaluations)
        shortlist = score(self._candidates(scored.values(), evaluations), owners)
        top = shortlist.ranking[: self.config.top]
        paid_block = max([epoch_start] + [first[scored[h].program] for h in top])
        current = self._evaluations(
            {scored[h].program: paid_block for h in top}, by_program, holders
        )
        self._fail(entries, scored, current)
        top = [h for h in top if h in scored]
        final = score(self._candidates([scored[h] for h in top], current), owners)
        reasons = {h: r for h, r in shortlist.reasons.items() if h in scored}
        reasons |= {h: "outside_top" for h in shortlist.ranking[self.config.top :]}
        reasons |= final.reasons
        for hotkey, e in scored.items():
            paid = hotkey in top
            ev = current[e.program] if paid else evaluations.get(e.program)
            if ev is not None:
                stats = summarize(ev.improvements, self.protocol.confidence)
                e = dataclasses.replace(
                    e,
                    seed_block=paid_block if paid else first[e.program],
                    mean=stats["mean"],
                    lower_bound=stats["lower_bound"],
                )
            entries[hotkey] = dataclasses.replace(e, reason=reasons.get(hotkey))
        weights = {e.uid: 0.0 for e in scored.values()} | final.weights
        return Scores(dict(sorted(weights.items())), final.ranking, reasons)

    @staticmethod
    def _fail(entries: dict[str, Entry], scored: dict[str, Entry], evaluations: dict) -> None:
        """Entries whose program's evaluation raised become errors, and leave ``scored``."""
        for hotkey, e in list(scored.items()):
            if e.program is not None and evaluations.get(e.program, True) is None:
                entries[hotkey] = dataclasses.replace(e, state="error", detail="evaluation failed")
                del scored[hotkey]

    # --- weights ---

    def _set_weights(self, block: int, scores: Scores, attempts: int = 4) -> bool:
        weights = scores.weights
        if not any(weights.values()):
            weights = {self.config.burn_uid: 1.0}
            log.info(
                "block %d: nobody earns; the weight goes to uid %d", block, self.config.burn_uid
            )
        last = next(
            (n.last_update for n in self.chain.metagraph().neurons if n.hotkey == self.hotkey),
            None,
        )
        if last is not None and block - last < rules.WEIGHTS_RATE_LIMIT:
            return False
        for attempt in range(attempts):
            try:
                self.chain.set_weights(self.hotkey, weights)
            except ChainError as e:
                if e.code is not ErrorCode.NETWORK or attempt == attempts - 1:
                    log.warning("block %d: weights not set (%s): %s", block, e.code.value, e)
                    return False
                delay = 2.0**attempt
                log.warning("setting weights failed (%s); retrying in %.0f s", e, delay)
                self._sleep(delay)
            else:
                log.info("block %d: set weights %s", block, _rounded(weights))
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
                except Exception as e:  # the validator never stops on one interval
                    log.warning("interval failed, trying again next interval: %s", _describe(e))
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
            except Exception as e:
                log.warning("reading commitments failed: %s", _describe(e))


def _to_ledger(evaluation: Evaluation) -> dict:
    """An evaluation as the ledger stores it: JSON."""
    return {
        "improvements": list(evaluation.improvements),
        "broken": evaluation.broken,
        "seeds": evaluation.seeds,
    }


def _from_ledger(stored: dict | None) -> Evaluation | None:
    """A stored evaluation, which scores as it did when it was new (``None``: none stored)."""
    if stored is None:
        return None
    return Evaluation(tuple(stored["improvements"]), stored["broken"], stored["seeds"])


def _each(what: str, fn: Callable[[list], list], items: list, names: list[str]) -> list:
    """``fn(items)``, one result per item, as one batch; if the batch raises, each item
    alone, where one that raises gives None and is logged with its ``names`` entry."""
    if not items:
        return []
    try:
        return fn(items)
    except Exception as e:
        log.warning("%s %d program(s) at once failed (%s); one at a time", what, len(items), e)
    out = []
    for item, name in zip(items, names, strict=True):
        try:
            out.append(fn([item])[0])
        except Exception as e:
            log.warning("%s the program of %s failed: %s", what, name, _describe(e))
            out.append(None)
    return out


def _describe(e: Exception) -> str:
    return f"{type(e).__name__}: {e}"


def _rounded(weights: dict[int, float]) -> dict[int, float]:
    return {u: round(w, 4) for u, w in weights.items() if w}
