"""``python -m ktx_host``: the host's command line (``ktx_host.cli``)."""

import sys

from .cli import main

sys.exit(main())
