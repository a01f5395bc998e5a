"""Entry point of `make bench`: python bench/run.py [--quick] [--help]."""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script (bench/ is sys.path[0]): make the repository root importable for `bench.*`.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.main import main

if __name__ == "__main__":
    sys.exit(main())
