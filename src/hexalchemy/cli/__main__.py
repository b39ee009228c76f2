"""``python -m hexalchemy.cli``: the ``hexalchemy`` command."""

import sys

from hexalchemy.cli import main

sys.exit(main())
