"""Where a worker's CPU went: the top frames of a py-spy profile (`py-spy record --format raw`, what
`benchmarks/compare.py --profile DIR` writes), by the samples that were in each frame (inclusive) and that were
executing the frame itself (self), in % of the busy samples (py-spy leaves out idle ones).

    .venv/bin/python benchmarks/profile_summary.py DIR/fanout-200-rep1.txt [--top 25] [--under chat/]
    .venv/bin/python benchmarks/profile_summary.py DIR/fanout-200-rep1.txt --buckets   # a --native profile

--buckets puts each sample of a `--native` profile in the first of BUCKETS that matches, from its innermost frame
out (the system calls first), and gives each bucket's share of the busy samples (epoll_pwait is waiting).
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import Counter
from pathlib import Path

SITE = re.compile(r"^.*?/(?:site-packages|lib/python3\.\d+)/")
LINE = re.compile(r":\d+$")


# (bucket, test on one frame): system calls by the innermost frame, the rest by the innermost Python frame
SYSCALLS = [
    ("write(2) to the sockets", "write (libc"),
    ("epoll_pwait (waiting)", "epoll_pwait (libc"),
    ("getpid(2)", "getpid (libc"),
]
BUCKETS = [
    ("Fanout.deliver itself (Python)", "Fanout.deliver ("),
    ("redis-py (Python)", "(redis/"),
    ("python-engineio / python-socketio", "(engineio/"),
    ("python-engineio / python-socketio", "(socketio/"),
    ("uvicorn / websockets", "(uvicorn/"),
    ("uvicorn / websockets", "(websockets/"),
    ("chat, the rest", "(chat/"),
    ("asyncio", "(asyncio/"),
]


def bucket(names: list[str]) -> str:
    for label, leaf in SYSCALLS:
        if names[-1].startswith(leaf):
            return label
    if any(name.startswith("gc_collect") for name in names):
        return "the garbage collector"
    for name in reversed(names):
        if ".py" in name:
            return next((label for label, part in BUCKETS if part in name), "other Python")
    return "other"


def buckets(text: str) -> str:
    counts: Counter[str] = Counter()
    for line in text.splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            counts[
                bucket(
                    [
                        frame.partition(" (")[0] + " (" + SITE.sub("", frame.partition(" (")[2])
                        for frame in stack.split(";")
                    ]
                )
            ] += int(count)
    busy = sum(counts.values()) - counts["epoll_pwait (waiting)"]
    lines = [
        f"{sum(counts.values())} samples, {busy} busy",
        "",
        "| where | samples | % of busy |",
        "|---|---|---|",
    ]
    lines += [
        f"| {label} | {n} | {100 * n / busy:.1f} |"
        for label, n in counts.most_common()
        if not label.startswith("epoll")
    ]
    return "\n".join(lines)


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
    parser.add_argument("--buckets", action="store_true", help="shares by bucket (a --native profile)")
    parser.add_argument("--under", default="", help="inclusive table: only frames whose text contains this")
    args = parser.parse_args()
    text = args.profile.read_text()
    print(buckets(text) if args.buckets else summarize(text, args.top, args.under))
    return 0


if __name__ == "__main__":
    sys.exit(main())
