"""``python -m greedybench ...`` is the ``greedybench`` command (:mod:`greedybench.cli`)."""

import sys

from .cli import main

sys.exit(main())
