"""The baseline's accuracies, trained once per (training, data, seeds) and reused.

Every paired score trains the baseline beside the programs under the same keys. That run
depends on the training (``TrainConfig``), the data and the keys, never on a program, and
every training task's baseline is the same run (cross-entropy, ReLU and Adam:
``training.baseline_accuracy``), so one entry serves the loss, activation and optimizer
protocols alike. A process that scores program after program on the same seeds trains it
once: a validator re-scoring its leaders on the paid seeds (the seeds of the newest
leader's first evaluation, which trained the baseline already), a miner deciding round
after round on its epoch's seeds, a ranking scored in batches. Under the validator
protocols the baseline trains as long as a program does, so a hit halves the training.

The numbers are those of training the baseline afresh (``scores.baseline_accuracies``,
a computation of its own): the memo changes what is trained, never a score.

The key holds the data's content (SHA-256 of its arrays), not its name, so a file edited
between two calls is a different data set. Entries are a few floats each; the memo keeps
the ``MAX_ENTRIES`` most recently used.
"""

import collections
import hashlib
import threading

import numpy as np

from hivejax._src.evaluation.scores import baseline_accuracies
from hivejax._src.tasks.base import ProgramTask, seed_keys
from hivejax._src.tasks.data import Dataset

MAX_ENTRIES = 256

_memo: collections.OrderedDict = collections.OrderedDict()
_lock = threading.Lock()  # neurons of a local subnet score from threads of one process


def data_digest(data: Dataset) -> str:
    """SHA-256 over a data set's arrays, shapes and class count."""
    h = hashlib.sha256(f"{data.num_classes}:{data.shape}".encode())
    for a in (data.x_train, data.y_train, data.x_test, data.y_test):
        a = np.ascontiguousarray(a)
        h.update(f"{a.dtype}{a.shape}".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def baseline(task: ProgramTask, data: Dataset, seeds) -> np.ndarray:
    """The baseline's accuracies ``[S]`` (float64) under the keys of integer ``seeds``,
    trained only if no earlier call had them."""
    key = (task.train, data_digest(data), tuple(int(s) for s in seeds))
    with _lock:
        if key in _memo:
            _memo.move_to_end(key)
            return _memo[key]
    found = np.asarray(baseline_accuracies(task, data, seed_keys(key[2])), np.float64)
    found.flags.writeable = False
    with _lock:
        _memo[key] = found
        while len(_memo) > MAX_ENTRIES:
            _memo.popitem(last=False)
    return found


def clear() -> None:
    """Forget every baseline (the next call of each trains it again)."""
    with _lock:
        _memo.clear()
