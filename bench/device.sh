#!/usr/bin/env bash
# The device check: one call on a GPU or TPU host prints one JSON document (the card, evals/s
# of each interpreter and the ceiling at populations 256, 4096 and 16384, peak device memory,
# GP operations per second on symbolic regression): `hivejax bench device`, whose --help
# lists the flags. Extra arguments pass through, e.g.
# `bench/device.sh --populations 256 --repeats 1`.
set -euo pipefail
cd "$(dirname "$0")/.."
exec "${PYTHON:-python3}" -m hivejax bench device --max-seconds 20 "$@"
