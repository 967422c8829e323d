"""Copiers: adversaries a local subnet runs beside its miners, to show they earn nothing.

A copier (``Copier.step``) watches the leader (the first validator's ranking) and
republishes its program, disguised: ``near_copy`` adds ``epsilon * r0 * r0`` to the
program's output, a change too small to train differently (a loss ``L + eps L^2``, an
activation ``f + eps f^2``, an update ``u + eps u^2``) that may still pass the fingerprint
as a new program. Each copier uses its own ``epsilon``, so K copiers are K Sybils. It
commits as an honest miner does, hash first and the reveal two blocks later, so the only
thing it lacks is priority: the validators pay a later program only if it beats every
earlier earner by the margin, and a near-copy is a tie. ``hivejax subnet local --copiers
K`` runs them; the leaderboard shows what they earn.
"""

import dataclasses
import logging

from hivejax._src.program.formats import to_json
from hivejax._src.program.program import Program, ProgramSpec, make_program
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

log = logging.getLogger("hivejax.copier")

REVEAL_AFTER = 2
"""Blocks between a copier's hash and its reveal."""


def near_copy(spec: ProgramSpec, program: Program, epsilon: float) -> Program | None:
    """``program`` with ``epsilon * r0 * r0`` added to its output ``r0`` (or, with no
    register to spare, ``r0`` scaled by ``1 + epsilon``), or ``None`` where the spec leaves
    no room (a free constant slot and the instructions)."""
    doc = to_json(spec, program)
    rows, consts = [tuple(r) for r in doc["instructions"]], list(doc["consts"])
    used = {name for row in rows for name in row}
    free = [f"r{i}" for i in range(1, spec.num_registers) if f"r{i}" not in used]
    slots = [k for k in range(spec.num_consts) if f"c{k}" not in used]
    if not slots:
        return None
    c = f"c{slots[0]}"
    if free and len(rows) + 3 <= spec.max_length:
        consts[slots[0]] = epsilon
        rows += [(free[-1], "mul", "r0", "r0"), (free[-1], "mul", free[-1], c)]
        rows += [("r0", "add", "r0", free[-1])]
    elif len(rows) < spec.max_length:  # no register to spare: scale by 1 + epsilon
        consts[slots[0]] = 1.0 + epsilon
        rows += [("r0", "mul", "r0", c)]
    else:
        return None
    return make_program(spec, rows, consts)


@dataclasses.dataclass
class Copier:
    """Copier ``hotkey`` on ``chain``, publishing near-copies with ``epsilon`` for the
    task, protocol version and spec the validators score."""

    chain: Chain
    hotkey: str
    epsilon: float
    task: str
    version: str
    spec: ProgramSpec
    copied: str | None = None  # the leader's payload (hex) it copied last
    pending: tuple[bytes, bytes, int] | None = None  # (payload, salt, hash block)

    def step(self, leader: str | None) -> None:
        """Reveal what is due, then copy ``leader``'s revealed program if it is new."""
        block = self.chain.block()
        if self.pending is not None:
            payload, salt, hash_block = self.pending
            if block >= hash_block + REVEAL_AFTER:
                self.chain.commit(self.hotkey, make_reveal(payload, salt, hash_block))
                self.pending = None
            return
        commitment = self.chain.commitments().get(leader) if leader else None
        revealed = parse(commitment.payload) if commitment else None
        if not isinstance(revealed, Reveal) or revealed.payload.hex() == self.copied:
            return
        self.copied = revealed.payload.hex()
        decoded = decode_for(revealed.payload, self.task, self.version, self.spec)
        copy = (
            near_copy(self.spec, decoded.program, self.epsilon)
            if isinstance(decoded, Decoded)
            else None
        )
        payload = None if copy is None else encode(self.task, self.version, self.spec, copy)
        if payload is None or len(payload) > MAX_REVEALED:
            log.info("%s: no room to disguise %s's program", self.hotkey, leader)
            return
        salt = new_salt()
        hash_block = self.chain.commit(
            self.hotkey, make_hash_commitment(payload, salt, self.hotkey)
        )
        self.pending = (payload, salt, hash_block)
        log.info("%s: copying %s's program at block %d", self.hotkey, leader, hash_block)
