#!/usr/bin/python3
"""Report if/else/for/while bodies without braces.

clang-format (14) cannot add braces, so this checks what it cannot: after
the condition of a control statement (which may span lines) the next
non-space character must be '{'; an 'else' must be followed by '{' or 'if'.
"""

import re
import sys

KEYWORD = re.compile(r"\b(if|for|while|else)\b")


def strip(text):
    """Blank out comments, strings and character literals, keeping lines."""
    out = []
    i = 0
    n = len(text)
    while i < n:
        c = text[i]
        if text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        elif text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i))
            i = j
        elif c in "\"'":
            j = i + 1
            while j < n and text[j] != c:
                j += 2 if text[j] == "\\" else 1
            out.append(c + re.sub(r"[^\n]", " ", text[i + 1:j]) + c)
            i = j + 1
        elif c == "#" and (i == 0 or text[i - 1] == "\n"):
            # preprocessor line, with continuations
            j = i
            while True:
                k = text.find("\n", j)
                if k < 0:
                    k = n
                    break
                if text[k - 1] != "\\":
                    break
                j = k + 1
            out.append(re.sub(r"[^\n]", " ", text[i:k]))
            i = k
        else:
            out.append(c)
            i += 1
    return "".join(out)


def check(path):
    text = strip(open(path, errors="replace").read())
    problems = []
    for m in KEYWORD.finditer(text):
        word = m.group(1)
        pos = m.end()
        if word == "while":
            # the tail of do { } while (x); needs nothing
            before = text[:m.start()].rstrip()
            if before.endswith("}"):
                k = pos
                depth = 0
                while k < len(text):
                    if text[k] == "(":
                        depth += 1
                    elif text[k] == ")":
                        depth -= 1
                        if depth == 0:
                            break
                    k += 1
                if text[k + 1:].lstrip().startswith(";"):
                    continue
        if word == "else":
            rest = text[pos:].lstrip()
            if rest.startswith("{") or rest.startswith("if"):
                continue
            line = text.count("\n", 0, m.start()) + 1
            problems.append((line, "else without braces"))
            continue
        rest = text[pos:]
        stripped = rest.lstrip()
        if not stripped.startswith("("):
            continue
        k = pos + (len(rest) - len(stripped))
        depth = 0
        while k < len(text):
            if text[k] == "(":
                depth += 1
            elif text[k] == ")":
                depth -= 1
                if depth == 0:
                    break
            k += 1
        after = text[k + 1:].lstrip()
        if not after.startswith("{"):
            line = text.count("\n", 0, m.start()) + 1
            problems.append((line, "%s body without braces" % word))
    for line, what in problems:
        print("%s:%d: %s" % (path, line, what))
    return not problems


def main(paths):
    ok = True
    for p in paths:
        ok = check(p) and ok
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
