"""``python -m serving.release``."""

import sys

from serving.release.cli import main

sys.exit(main())
