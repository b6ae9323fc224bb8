"""Fails unless every library's own sources reach the coverage floor (Pants checks only the total)."""

from __future__ import annotations

import json
import re
import sys
from collections import defaultdict


def main(report_path: str, floor: float) -> int:
    files = json.load(open(report_path))["files"]
    covered: dict[str, int] = defaultdict(int)
    statements: dict[str, int] = defaultdict(int)
    for path, data in files.items():
        match = re.search(r"libs/(\w+)/src/", path)
        if match:
            covered[match[1]] += data["summary"]["covered_lines"]
            statements[match[1]] += data["summary"]["num_statements"]
    if not statements:
        print(f"no library sources in {report_path}", file=sys.stderr)
        return 1
    status = 0
    for lib in sorted(statements):
        percent = 100.0 * covered[lib] / statements[lib] if statements[lib] else 100.0
        ok = percent >= floor
        status |= not ok
        print(f"coverage {lib:<8} {percent:6.2f}%  {'ok' if ok else f'BELOW {floor:.0f}%'}")
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], float(sys.argv[2])))
