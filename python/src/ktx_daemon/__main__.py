"""``python -m ktx_daemon <op>``: the same command line as the ktx-daemon console script."""

import sys

from .cli import main

sys.exit(main())
