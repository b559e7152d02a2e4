#!/usr/bin/env python3
"""Draws the scale rows of a `make bench` run (latest.json) as one PNG: apply, destroy,
no-op plan and the reconciler at rest against the number of containers, berth beside
runc (+ the CNI bridge plugin) where the run measured a peer.

    python3 bench/chart.py RESULTS/latest.json RESULTS/latest.png
"""
import json
import sys

import matplotlib

matplotlib.use("Agg")  # no display: a file
import matplotlib.pyplot as plt  # noqa: E402


def points(rows, ids, side):
    """(count, median) of the rows that were measured, sorted by count."""
    out = []
    for rid in ids:
        row = rows.get(rid)
        if row and row.get(side) and row.get("count"):
            out.append((row["count"], row[side]["median"]))
    return sorted(out)


def main(source, target):
    doc = json.load(open(source))
    rows = {r["id"]: r for r in doc["rows"]}
    sizes = ("small", "medium", "large")
    panels = [
        ("Apply from nothing", "ms", [
            ("berth, networked", [f"scale.apply.net.{s}" for s in sizes] + ["thousand.apply"], "berth", "C0", "-"),
            ("berth, no network", [f"scale.apply.plain.{s}" for s in sizes], "berth", "C0", "--"),
            ("runc run -d + CNI ADD", [f"scale.apply.net.{s}" for s in sizes], "peer", "C1", "-"),
            ("runc run -d", [f"scale.apply.plain.{s}" for s in sizes], "peer", "C1", "--"),
        ]),
        ("Destroy", "ms", [
            ("berth, networked", [f"scale.destroy.net.{s}" for s in sizes] + ["thousand.destroy"], "berth", "C0", "-"),
            ("berth, no network", [f"scale.destroy.plain.{s}" for s in sizes], "berth", "C0", "--"),
            ("runc delete -f + CNI DEL", [f"scale.destroy.net.{s}" for s in sizes], "peer", "C1", "-"),
            ("runc delete -f", [f"scale.destroy.plain.{s}" for s in sizes], "peer", "C1", "--"),
        ]),
        ("No-op plan, networked", "ms", [
            ("berth plan", ["plan.noop", "thousand.plan"], "berth", "C0", "-"),
            ("runc list", ["plan.noop"], "peer", "C1", "-"),
        ]),
        ("Reconciler at rest, 1 s interval", "% of a core", [
            ("berth reconcile", ["reconciler.cpu", "thousand.reconciler.cpu"], "berth", "C0", "-"),
        ]),
    ]
    fig, axes = plt.subplots(2, 2, figsize=(11, 8))
    for ax, (title, unit, series) in zip(axes.flat, panels):
        drawn = False
        for label, ids, side, color, style in series:
            xy = points(rows, ids, side)
            if not xy:
                continue
            ax.plot([x for x, _ in xy], [y for _, y in xy], style, color=color, marker="o", label=label)
            drawn = True
        ax.set_title(title)
        ax.set_xlabel("containers")
        ax.set_ylabel(unit)
        ax.set_xscale("log")
        if unit == "ms":
            ax.set_yscale("log")
        ax.grid(True, which="both", alpha=0.3)
        if drawn:
            ax.legend(fontsize="small")
        else:
            ax.text(0.5, 0.5, "not measured in this run", ha="center", va="center", transform=ax.transAxes)
    machine = doc.get("machine", {})
    fig.suptitle(f"berth {machine.get('berth', '')}, {doc.get('started', '')}"
                 f"{' (quick: tiny counts)' if doc.get('quick') else ''}; median of each row", fontsize="medium")
    fig.tight_layout()
    fig.savefig(target, dpi=100)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
