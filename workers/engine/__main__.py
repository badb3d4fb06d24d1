"""Entry point for `python -m workers.engine`."""
import sys

from .cli import main

sys.exit(main())
