"""Candidates: the programs ``scoring.score`` ranks, built one way for miner and validator.

A candidate (``scoring.Candidate``) is one hotkey's program as the scoring rules see it:
who (hotkey and uid), which program up to equivalence (its fingerprint, or none and the
reason the probe gave), since when (its priority block) and how well (its paired
improvements over the baseline, one per cell and seed of one epoch, and whether its
training broke on any of them).

The validator builds candidates to pay miners; a miner builds them to decide whether one
of its round's finalists would rank first, and publishes only then. The miner's decision is worth
something only if it is the validator's: improvements converted another way, or a broken
flag read from one run on one side and from all of them on the other, would make a miner
publish programs no validator pays, or hold back ones that would lead. So both neurons
evaluate with ``evaluate`` and build with ``candidate``; only the inputs differ: which
programs, on which seeds, and which block each is dated by.
"""

import dataclasses

from hivejax._src.evaluation.fingerprint import Fingerprint
from hivejax._src.evaluation.protocols import Protocol, population_improvements
from hivejax._src.program.program import Program, ProgramSpec
from hivejax._src.subnet.scoring import Candidate


@dataclasses.dataclass(frozen=True)
class Evaluation:
    """One program's results under a protocol on the seeds that derive from ``seeds``.

    Attributes:
      improvements: paired improvements over the baseline, cell by cell and seed by seed
        (``protocols.population_improvements``), as Python floats: they are stored as JSON
        by the validator, and a stored evaluation must score as a fresh one does.
      broken: whether training went non-finite on any seed; one broken run is enough to
        earn nothing, so the scoring rules need no more than this flag.
      seeds: what the seeds derive from (``protocols.seed_values``): a block hash on the
        subnet, an epoch number elsewhere.
    """

    improvements: tuple[float, ...]
    broken: bool
    seeds: int | str


def evaluate(
    protocol: Protocol,
    programs: Program,
    seeds: int | str,
    *,
    spec: ProgramSpec,
    data_dir: str | None = None,
) -> list[Evaluation]:
    """The ``Evaluation`` of every program of the stacked population ``programs`` (leaves
    ``[P, ...]``) on the seeds that derive from ``seeds``: one vmapped batch per cell, so a
    neuron pays for one compilation however many programs it scores."""
    gains, broken = population_improvements(protocol, programs, seeds, spec=spec, data_dir=data_dir)
    return [
        Evaluation(tuple(g.tolist()), bool(b.any()), seeds)
        for g, b in zip(gains, broken, strict=True)
    ]


def candidate(
    hotkey: str,
    uid: int,
    fingerprint: Fingerprint,
    priority_block: int,
    evaluation: Evaluation | None,
) -> Candidate:
    """``hotkey``'s program as ``scoring.score`` takes it.

    ``evaluation`` is ``None`` for a program that was not evaluated: one without a
    fingerprint earns nothing whatever it scores, so a validator does not spend a training
    run on it; its candidate has no improvements and is not broken, and the fingerprint's
    reason is why it earns nothing.

    Example:
      >>> c = candidate("alice", 1, Fingerprint("f1"), 100, Evaluation((0.03, 0.05), False, "0x5e"))
      >>> c.fingerprint, c.improvements, c.broken
      ('f1', (0.03, 0.05), False)
      >>> candidate("bob", 2, Fingerprint(None, "constant"), 120, None).reason
      'constant'
    """
    if evaluation is None:
        return Candidate(
            hotkey, uid, fingerprint.fingerprint, priority_block, (), reason=fingerprint.reason
        )
    return Candidate(
        hotkey,
        uid,
        fingerprint.fingerprint,
        priority_block,
        evaluation.improvements,
        evaluation.broken,
        fingerprint.reason,
    )
