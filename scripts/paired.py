#!/usr/bin/env python3
"""Paired difference of two autoglm result JSONs (A - B), with a 95 % interval.

    python3 scripts/paired.py A.json [A2.json ...] -- B.json [B2.json ...]

Pairs node runs by seed (test accuracy), link runs by seed (test AUC) and
graph-classification folds by (seed, fold index) (test accuracy). Files after
`--` are the baseline; several files on a side are concatenated (repeats).
The interval is mean +- t_{0.975, n-1} * sd / sqrt(n) over the paired differences.
"""
import json, math, sys

T975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262, 10: 2.228, 14: 2.145, 19: 2.093, 20: 2.086, 29: 2.045, 30: 2.042}


def t975(df):
    if df in T975:
        return T975[df]
    keys = sorted(T975)
    return T975[max(k for k in keys if k <= df)] if df > 1 else T975[1]


def values(path):
    d = json.load(open(path))
    out = {}
    if d["task"] == "graph":
        seed = d.get("config", {}).get("seed", 0)
        for i, f in enumerate(d["folds"]):
            out[(seed, i)] = f["test_acc"]
    elif d["task"] == "link":
        for r in d["runs"]:
            out[r["seed"]] = r["test"]["auc"]
    else:
        for r in d["runs"]:
            out[r["seed"]] = r["test_acc"]
    return out


def main(argv):
    sep = argv.index("--")
    a, b = {}, {}
    for p in argv[:sep]:
        a.update(values(p))
    for p in argv[sep + 1:]:
        b.update(values(p))
    keys = sorted(set(a) & set(b))
    diffs = [a[k] - b[k] for k in keys]
    n = len(diffs)
    m = sum(diffs) / n
    sd = math.sqrt(sum((x - m) ** 2 for x in diffs) / (n - 1)) if n > 1 else float("nan")
    h = t975(n - 1) * sd / math.sqrt(n) if n > 1 else float("nan")
    ma, mb = sum(a[k] for k in keys) / n, sum(b[k] for k in keys) / n
    print(json.dumps({"pairs": n, "mean_a": ma, "mean_b": mb, "diff": m, "ci95": [m - h, m + h]}))


if __name__ == "__main__":
    main(sys.argv[1:])
