"""``python -m novel_engine``: the ``novel-engine`` command."""

import sys

from novel_engine.cli import main

sys.exit(main())
