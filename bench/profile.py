"""Summarise a py-spy ``--format raw`` profile (collapsed stacks): where the time goes.

``python -m bench.profile bench/out/profile-workers-100ms.txt [--top 25] [--match alerts/]``
prints the functions holding the most samples, inclusive (anywhere on the stack) and
self (on top of it), as shares of all samples; idle waits are counted apart.
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from pathlib import Path

# Frames in which a process waits rather than computes.
IDLE = re.compile(r"\b(select|poll|epoll_wait|_worker_loop|wait|sleep|recv_into|accept|_run_once)\b")


def load(path: Path) -> Counter[tuple[str, ...]]:
    stacks: Counter[tuple[str, ...]] = Counter()
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            frames = tuple(f.strip() for f in stack.split(";") if f.strip())
            stacks[frames] += int(count)
    return stacks


def _name(frame: str) -> str:
    # "func (path/to/file.py:123)" -> "func (file path without line)"
    frame = re.sub(r":\d+\)$", ")", frame)
    return re.sub(r"\(/.*?/(site-packages|main)/", "(", frame)


def summarise(path: Path, top: int = 25, match: str = "") -> str:
    stacks = load(path)
    total = sum(stacks.values()) or 1
    inclusive: Counter[str] = Counter()
    self_time: Counter[str] = Counter()
    idle = 0
    for frames, count in stacks.items():
        names = [_name(f) for f in frames]
        if names and IDLE.search(names[-1]):
            idle += count
        for name in set(names):
            inclusive[name] += count
        if names:
            self_time[names[-1]] += count
    lines = [
        f"{path.name}: {total:,} samples (py-spy keeps busy samples only, unless recorded with --idle); "
        f"{100 * idle / total:.0f}% in select/poll/sleep/recv",
        "",
    ]
    lines.append("inclusive (share of samples with the function anywhere on the stack):")
    shown = 0
    for name, count in inclusive.most_common():
        if match and match not in name:
            continue
        lines.append(f"  {100 * count / total:5.1f}%  {name}")
        shown += 1
        if shown >= top:
            break
    lines += ["", "self (share of samples with the function on top):"]
    for name, count in self_time.most_common(top):
        lines.append(f"  {100 * count / total:5.1f}%  {name}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("path", type=Path)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--match", default="", help="only inclusive entries whose name contains this")
    args = parser.parse_args()
    print(summarise(args.path, args.top, args.match))


if __name__ == "__main__":
    main()
