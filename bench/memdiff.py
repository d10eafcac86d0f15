"""Compare the gateway memory checkpoints written by `bench/soak.py --mem-dir DIR` (bench/gateway_traced.py).

    .venv/bin/python bench/memdiff.py DIR                  # table of all checkpoints + type-count deltas
    .venv/bin/python bench/memdiff.py DIR --diff 2 3       # tracemalloc growth from checkpoint 2 to 3
    .venv/bin/python bench/memdiff.py DIR --diff 2 3 --group traceback --top 5
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import tracemalloc
from pathlib import Path
from typing import Any

MIB = 1024 * 1024


def load(directory: Path) -> list[dict[str, Any]]:
    return [json.loads(p.read_text()) for p in sorted(directory.glob("checkpoint-*.json"))]


def table(cps: list[dict[str, Any]]) -> None:
    print("| # | RSS MiB | RSS after trim | malloc heap (brk+mmap) MiB | malloc in use | malloc free | "
          "pymalloc arenas (cur/hwm) | pymalloc bytes in blocks MiB | gc objects | open fds | tracemalloc MiB (peak) |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for c in cps:
        m, p = c.get("mallinfo2", {}), c.get("pymalloc", {})
        heap = (m.get("arena", 0) + m.get("hblkhd", 0)) / MIB
        trim = c.get("rss_kib_after_trim")
        tm = c.get("tracemalloc_current")
        traced = "" if tm is None else f"{tm / MIB:.1f} ({c['tracemalloc_peak'] / MIB:.1f})"
        print(f"| {c['n']} | {c['rss_kib'] / 1024:.1f} | {'' if trim is None else f'{trim / 1024:.1f}'} | "
              f"{heap:.1f} | {m.get('uordblks', 0) / MIB:.1f} | {m.get('fordblks', 0) / MIB:.1f} | "
              f"{p.get('arenas allocated current', 0)}/{p.get('arenas highwater mark', 0)} | "
              f"{p.get('bytes in allocated blocks', 0) / MIB:.1f} | {c['gc_objects']} | {c.get('open_fds', '')} | "
              f"{traced} |")


def type_deltas(cps: list[dict[str, Any]], top: int) -> None:
    for a, b in itertools.pairwise(cps):
        ta, tb = a["gc_types"], b["gc_types"]
        deltas = sorted(((tb.get(k, 0) - ta.get(k, 0), k) for k in set(ta) | set(tb)), key=lambda d: -abs(d[0]))
        shown = ", ".join(f"{k} {d:+d}" for d, k in deltas[:top] if d)
        print(f"gc types {a['n']} -> {b['n']}: objects {b['gc_objects'] - a['gc_objects']:+d}; {shown}")


def diff(directory: Path, a: int, b: int, group: str, top: int) -> None:
    filters = [tracemalloc.Filter(False, tracemalloc.__file__),
               tracemalloc.Filter(False, "<frozen importlib._bootstrap>")]
    sa = tracemalloc.Snapshot.load(str(directory / f"snapshot-{a:02d}.pickle")).filter_traces(filters)
    sb = tracemalloc.Snapshot.load(str(directory / f"snapshot-{b:02d}.pickle")).filter_traces(filters)
    stats = sb.compare_to(sa, group)
    total = sum(s.size_diff for s in stats)
    print(f"tracemalloc {a} -> {b}: {total / MIB:+.2f} MiB net over {len(stats)} {group} groups; "
          f"top {top} by growth:")
    for s in sorted(stats, key=lambda s: -s.size_diff)[:top]:
        print(f"  {s.size_diff / 1024:+10.1f} KiB  {s.count_diff:+7d} blocks  (now {s.size / 1024:.1f} KiB, "
              f"{s.count} blocks)")
        frames = s.traceback.format(limit=-12 if group == "traceback" else 1)
        for line in frames:
            print("      " + line)
    print(f"top {min(top, 5)} by shrink:")
    for s in sorted(stats, key=lambda s: s.size_diff)[:min(top, 5)]:
        print(f"  {s.size_diff / 1024:+10.1f} KiB  {s.count_diff:+7d} blocks  {s.traceback.format(limit=1)[0].strip()}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dir", type=Path)
    ap.add_argument("--diff", nargs=2, type=int, metavar=("A", "B"))
    ap.add_argument("--group", default="lineno", choices=("lineno", "filename", "traceback"))
    ap.add_argument("--top", type=int, default=15)
    args = ap.parse_args()
    if args.diff:
        diff(args.dir, args.diff[0], args.diff[1], args.group, args.top)
        return 0
    cps = load(args.dir)
    table(cps)
    type_deltas(cps, args.top)
    return 0


if __name__ == "__main__":
    sys.exit(main())
