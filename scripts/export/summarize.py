"""Summarise scripts/export/run_targets.sh: one row per model, int8 against float."""
import glob, json, math, os, sys

T975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262}

def ci(v):
    n = len(v)
    m = sum(v) / n
    if n < 2:
        return m, float("nan")
    s = math.sqrt(sum((x - m) ** 2 for x in v) / (n - 1))
    return m, T975.get(n - 1, 1.96) * s / math.sqrt(n)

out = sys.argv[1]
rows = []
for name in ["cora_gcn", "cora_gat", "proteins_gin"]:
    f32 = sorted(glob.glob(os.path.join(out, f"{name}-*-f32.json")))
    if not f32:
        continue
    d, absd, size, speed, agree, t = [], [], [], [], [], []
    for p in f32:
        a = json.load(open(p))
        b = json.load(open(p.replace("-f32.json", "-int8.json")))
        fa, ia = a["test"]["accuracy_export"], b["test"]["accuracy_export"]
        d.append((ia - fa) * 100)
        absd.append(abs(ia - fa) * 100)
        size.append(b["size_ratio_vs_float_weights"])
        speed.append(b["timing_ms"]["speedup_vs_fastest_float"])
        agree.append(b["test"]["agreement_with_checkpoint"] * 100)
        t.append((b["timing_ms"]["checkpoint_library"], b["timing_ms"]["float_export"], b["timing_ms"]["export"], b["activation_scheme"]))
    m, h = ci(d)
    rows.append({"model": name, "seeds": len(d), "float_acc": ci([json.load(open(p))["test"]["accuracy_export"] * 100 for p in f32])[0],
                 "int8_minus_float": m, "ci95": h, "max_abs_diff": max(absd), "agreement_pct": sum(agree) / len(agree),
                 "size_ratio_min": min(size), "speedup_median": sorted(speed)[len(speed) // 2],
                 "ms_library_float_int8_median": [sorted(x[i] for x in t)[len(t) // 2] for i in range(3)],
                 "schemes": sorted(set(x[3] for x in t))})
print("| model | seeds | float acc | int8 - float (95 % CI) | max abs diff | agreement % | size ratio (min) | ms: library / float export / int8 | int8 speed-up vs fastest float | activation schemes |")
print("|---|---|---|---|---|---|---|---|---|---|")
for r in rows:
    ms = r["ms_library_float_int8_median"]
    print(f"| {r['model']} | {r['seeds']} | {r['float_acc']:.2f} | {r['int8_minus_float']:+.2f} (± {r['ci95']:.2f}) | {r['max_abs_diff']:.2f} | {r['agreement_pct']:.2f} | {r['size_ratio_min']:.2f}x | {ms[0]:.2f} / {ms[1]:.2f} / {ms[2]:.2f} | {r['speedup_median']:.2f}x | {', '.join(r['schemes'])} |")
json.dump(rows, open(os.path.join(out, "summary.json"), "w"), indent=1)
