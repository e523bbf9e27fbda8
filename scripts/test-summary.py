#!/usr/bin/python3
"""Count every test case the suites ran and print 'N passed, N failed'.

Unit programs speak TAP (one line per GTest case); pytest writes JUnit XML;
the style check is one case.  A program that died before reporting counts
as one failure.  Exit status 1 when anything failed.
"""

import json
import os
import re
import sys
import xml.etree.ElementTree as ET


def unit(path):
    passed = failed = 0
    with open(path) as f:
        for line in f:
            entry = json.loads(line)
            out = entry.get("stdout") or ""
            ok = len(re.findall(r"^ok \d+", out, re.M))
            bad = len(re.findall(r"^not ok \d+", out, re.M))
            if entry.get("result") not in ("OK", "EXPECTEDFAIL", "SKIP") \
                    and bad == 0:
                bad = 1
            passed += ok
            failed += bad
    return passed, failed


def system(path):
    root = ET.parse(path).getroot()
    suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
    passed = failed = 0
    for s in suites:
        total = int(s.get("tests", 0))
        bad = int(s.get("failures", 0)) + int(s.get("errors", 0))
        skipped = int(s.get("skipped", 0))
        failed += bad
        passed += total - bad - skipped
    return passed, failed


def main(results):
    passed = failed = 0
    style = os.path.join(results, "style.result")
    if os.path.exists(style):
        ok = open(style).read().strip() == "pass"
        passed += ok
        failed += not ok
    for name, report, count in (("unit", "unit.json", unit),
                                ("system", "system.xml", system)):
        path = os.path.join(results, report)
        if os.path.exists(path):
            p, f = count(path)
            passed += p
            failed += f
        elif os.path.exists(os.path.join(results, name + ".expected")):
            # the suite died before it could report
            failed += 1
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
