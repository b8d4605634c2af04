"""``python -m ptychopinn``: the same as the ``ptychopinn`` command."""

import sys

from .cli import main

sys.exit(main())
