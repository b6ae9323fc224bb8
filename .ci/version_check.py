#!/usr/bin/env python3
"""A library whose sources changed since a git ref must have a new version and a CHANGELOG entry.

Usage (from anywhere in the repository):
    .ci/version_check.py --since origin/main --index http://127.0.0.1:8080/simple/
    .ci/version_check.py --published --index http://127.0.0.1:8080/simple/

Exit 0: every changed library is bumped past what the index holds and has its entry; 1: a library fails
(its line says why); 2: the check could not run. The logic and its tests live in tests/ci/ (Pants does
not see this hidden folder).
"""

from __future__ import annotations

import sys
from pathlib import Path

root = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(root / "tests"))
from ci.version_check import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(root=root))
