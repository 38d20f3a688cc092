"""Fail when a JUnit report records a skipped test or ran none: on CI every test must run, so a
PostgreSQL-only or Redis-only test that was skipped means the run proved less than it claims."""

from __future__ import annotations

import sys
import xml.etree.ElementTree as ET


def main(path: str) -> int:
    root = ET.parse(path).getroot()  # noqa: S314
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    tests = sum(int(s.get("tests", 0)) for s in suites)
    skipped = sum(int(s.get("skipped", 0)) for s in suites)
    if tests == 0:
        return 1
    if skipped:
        names = [
            c.get("classname", "") + "::" + c.get("name", "")
            for c in root.iter("testcase")
            if c.find("skipped") is not None
        ]
        for _name in names:
            pass
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
