#!/usr/bin/env python3
"""Report of scripts/auto/warm_loo.sh: for every left-out dataset and seed,
the configurations the cold and the warm-started search needed to reach the
cold search's final best validation score (full fidelity), and the mean
best-so-far curves. Writes report.json next to the searches."""
import json
import os
import sys

out = sys.argv[1]


def curve(path):
    doc = json.load(open(path))
    pts = doc["curves"][0]["best_so_far"]
    return [(p["configs"], p["best"]) for p in pts if p["best"] is not None], doc


def first_reach(pts, target):
    for n, b in pts:
        if b >= target - 1e-12:
            return n
    return None


rows = []
for task in ("node", "graph"):
    tdir = os.path.join(out, task)
    if not os.path.isdir(tdir):
        continue
    for d in sorted(os.listdir(tdir)):
        ddir = os.path.join(tdir, d)
        if not os.path.isdir(ddir):
            continue
        for s in range(3):
            c, w = (os.path.join(ddir, f"{m}_seed{s}", "summary.json") for m in ("cold", "warm"))
            if not (os.path.exists(c) and os.path.exists(w)):
                continue
            cp, cdoc = curve(c)
            wp, wdoc = curve(w)
            if not cp:
                continue
            target = cp[-1][1]
            rows.append({
                "task": task, "dataset": d, "seed": s, "score": cdoc.get("score"),
                "cold_final": target, "warm_final": wp[-1][1] if wp else None,
                "cold_reach": first_reach(cp, target), "warm_reach": first_reach(wp, target),
                "cold_first": cp[0], "warm_first": wp[0] if wp else None,
                "cold_curve": cp, "warm_curve": wp,
            })

print(f"{'task':5} {'dataset':12} {'seed':>4} {'cold final':>10} {'warm final':>10} {'configs to reach the cold final: cold':>38} {'warm':>6}")
fewer = 0
for r in rows:
    wr = r["warm_reach"]
    better = wr is not None and wr < r["cold_reach"]
    fewer += better
    print(f"{r['task']:5} {r['dataset']:12} {r['seed']:>4} {r['cold_final']:>10.4f} {r['warm_final'] or float('nan'):>10.4f} {r['cold_reach']:>38} {str(wr) if wr is not None else 'never':>6}")
print(f"warm-started search reached the cold final score in fewer configurations: {fewer} of {len(rows)} (dataset, seed) pairs")
ties = sum(1 for r in rows if r["warm_reach"] is not None and r["warm_reach"] == r["cold_reach"])
never = sum(1 for r in rows if r["warm_reach"] is None)
print(f"same number: {ties}; warm never reached it within the budget: {never}")
json.dump({"rows": rows, "fewer": fewer, "ties": ties, "never": never}, open(os.path.join(out, "report.json"), "w"), indent=1)
