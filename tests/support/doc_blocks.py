#!/usr/bin/env python3
"""Extracts the command blocks of markdown files for tests/integration/doc_commands.sh.

A command block is a fenced block opened with ```sh (or ```bash); synopses and outputs use
```text or a bare fence and are not run. An HTML comment on the line(s) just before a fence
directs the test:
  <!-- doc-test: skip (REASON) -->   not run (needs a cluster, a GPU, hours, ...); counted
  <!-- doc-test: file PATH -->       any block: its text is written to PATH (in the test's
                                     directory) before the blocks after it run
Usage: doc_blocks.py [--max-n N] OUTDIR FILE.md...   Writes OUTDIR/NNN.sh (or NNN.txt for
files) and OUTDIR/manifest.tsv: NNN <tab> run|skip|file <tab> FILE:LINE <tab> reason or path.
--max-n N: every `-n COUNT` option above N in a command block becomes `-n N` (small data for
simulate, generate and the tools' sample counts; mpirun's -n is far below it).
"""
import os
import re
import sys

FENCE = re.compile(r"^```\s*([A-Za-z0-9_+-]*)\s*$")
COUNT = re.compile(r"(?<!\S)-n\s+(\d+)")
DIRECTIVE = re.compile(r"^\s*<!--\s*doc-test:\s*(skip|file)\b\s*(.*?)\s*-->\s*$")


def blocks(path):
    """(line, language, directive, argument, text) of every fenced block of path."""
    lines = open(path, encoding="utf-8").read().split("\n")
    i = 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        start, lang = i, m.group(1).lower()
        j = i + 1
        while j < len(lines) and not lines[j].startswith("```"):
            j += 1
        if j == len(lines):
            sys.exit("%s:%d: unterminated ``` block" % (path, start + 1))
        k = start - 1
        while k >= 0 and not lines[k].strip():
            k -= 1
        d = DIRECTIVE.match(lines[k]) if k >= 0 else None
        yield (start + 1, lang, d.group(1) if d else None, d.group(2) if d else "",
               "\n".join(lines[start + 1:j]) + "\n")
        i = j + 1


def main():
    args = sys.argv[1:]
    max_n = None
    if args[:1] == ["--max-n"] and len(args) > 1:
        max_n, args = int(args[1]), args[2:]
    if len(args) < 2:
        sys.exit(__doc__)
    out = args[0]
    os.makedirs(out, exist_ok=True)
    rows, n = [], 0
    for path in args[1:]:
        for line, lang, directive, arg, text in blocks(path):
            where = "%s:%d" % (path, line)
            if directive == "file":
                if not arg or arg.startswith("/") or ".." in arg.split("/"):
                    sys.exit("%s: doc-test: file needs a relative path inside the test directory" % where)
                kind, name = "file", "%03d.txt" % (n + 1)
            elif lang in ("sh", "bash"):
                kind, name = ("skip" if directive == "skip" else "run"), "%03d.sh" % (n + 1)
                if directive == "skip" and not arg.strip("() "):
                    sys.exit("%s: doc-test: skip needs a reason, e.g. skip (cluster)" % where)
            else:
                if directive == "skip":
                    sys.exit("%s: doc-test: skip before a ```%s block, which is not run anyway" % (where, lang))
                continue
            if kind != "file" and max_n is not None:
                text = COUNT.sub(lambda m: "-n %d" % min(int(m.group(1)), max_n), text)
            n += 1
            with open(os.path.join(out, name), "w", encoding="utf-8") as f:
                f.write(text)
            rows.append("%03d\t%s\t%s\t%s\n" % (n, kind, where, arg.replace("\t", " ")))
    with open(os.path.join(out, "manifest.tsv"), "w", encoding="utf-8") as f:
        f.writelines(rows)


if __name__ == "__main__":
    main()
