"""``python -m hivejax``: the ``hivejax`` command, for when the script is not on the PATH
(the local subnet starts its neurons this way, with the same interpreter)."""

import sys

from hivejax.cli.main import main

if __name__ == "__main__":
    sys.exit(main())
