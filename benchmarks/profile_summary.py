"""Where a worker's CPU went: the top frames of a py-spy profile (`py-spy record --format raw`, what
`benchmarks/compare.py --profile DIR` writes), by the samples that were in each frame (inclusive) and that were
executing the frame itself (self), in % of the busy samples (py-spy leaves out idle ones).

    .venv/bin/python benchmarks/profile_summary.py DIR/fanout-200-rep1.txt [--top 25] [--under chat/]
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import Counter
from pathlib import Path

SITE = re.compile(r"^.*?/(?:site-packages|lib/python3\.\d+)/")
LINE = re.compile(r":\d+$")


def frames(stack: str) -> list[str]:
    """The frames of one collapsed stack, outermost first, as `function (file:line)` with short paths."""
    out = []
    for frame in stack.split(";"):
        name, _, where = frame.partition(" (")
        path = SITE.sub("", where.rstrip(")"))
        path = LINE.sub("", re.sub(r"^.*?/(chat|emulator)/", r"\1/", path))
        out.append(f"{name} ({path})")
    return out


def summarize(text: str, top: int, under: str) -> str:
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    for line in text.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        total += n
        names = frames(stack)
        own[names[-1]] += n
        for name in set(names):
            inclusive[name] += n
    if not total:
        return "no samples"
    lines = [f"{total} busy samples", "", "| inclusive % | self % | frame |", "|---|---|---|"]
    shown = [name for name, _ in inclusive.most_common() if under in name][:top]
    lines += [f"| {100 * inclusive[n] / total:.1f} | {100 * own[n] / total:.1f} | `{n}` |" for n in shown]
    lines += ["", "top frames by self time:", "", "| self % | frame |", "|---|---|"]
    lines += [f"| {100 * c / total:.1f} | `{n}` |" for n, c in own.most_common(top)]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("profile", type=Path)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--under", default="", help="inclusive table: only frames whose text contains this")
    args = parser.parse_args()
    print(summarize(args.profile.read_text(), args.top, args.under))
    return 0


if __name__ == "__main__":
    sys.exit(main())
