#!/usr/bin/env python3
"""Paired difference of two result JSONs of `autoglm train` / `autoglm finetune`
(same seeds, and for graphs the same folds): mean of (A - B) with its 95 % t
interval, per metric. Usage: scripts/paired.py A.json B.json [--metric test_acc]"""
import json, math, sys

T975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262, 10: 2.228,
        11: 2.201, 12: 2.179, 13: 2.160, 14: 2.145, 15: 2.131, 16: 2.120, 17: 2.110, 18: 2.101, 19: 2.093,
        20: 2.086, 25: 2.060, 29: 2.045, 30: 2.042, 40: 2.021, 60: 2.000, 120: 1.980}

def t975(df):
    keys = sorted(T975)
    for k in keys:
        if df <= k:
            return T975[k]
    return 1.96

def rows(d, metric):
    if "runs" in d and d["runs"] and "test_acc" in d["runs"][0]:
        return {(r["seed"],): r.get(metric) for r in d["runs"]}
    if "folds" in d:
        return {(f["seed"], f["fold"]): f.get(metric) for f in d["folds"]}
    raise SystemExit("no per-run or per-fold results in the file")

def paired(a, b):
    keys = sorted(set(a) & set(b))
    diff = [100 * (a[k] - b[k]) for k in keys if a[k] is not None and b[k] is not None]
    n = len(diff)
    m = sum(diff) / n
    sd = math.sqrt(sum((x - m) ** 2 for x in diff) / (n - 1)) if n > 1 else float("nan")
    hw = t975(n - 1) * sd / math.sqrt(n) if n > 1 else float("nan")
    return n, m, hw, sum(100 * a[k] for k in keys) / n, sum(100 * b[k] for k in keys) / n

if __name__ == "__main__":
    a, b = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
    metrics = [sys.argv[sys.argv.index("--metric") + 1]] if "--metric" in sys.argv else ["test_acc", "test_macro_f1"]
    out = {}
    for metric in metrics:
        ra, rb = rows(a, metric), rows(b, metric)
        if not any(v is not None for v in ra.values()):
            continue
        n, m, hw, ma, mb = paired(ra, rb)
        out[metric] = {"pairs": n, "a": ma, "b": mb, "diff": m, "ci95": hw}
        print(f"{metric}: A {ma:.2f}  B {mb:.2f}  A-B {m:+.2f} ± {hw:.2f} (95 % t interval, {n} pairs)")
    if "--json" in sys.argv:
        json.dump(out, open(sys.argv[sys.argv.index("--json") + 1], "w"), indent=1)
