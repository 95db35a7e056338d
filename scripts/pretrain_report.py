#!/usr/bin/env python3
"""Collect the pretraining measurements of bench_results/pretrain/ into one JSON
and print the tables of BENCHMARKS.md ("Pretraining and transfer")."""
import glob, json, math, os, re, statistics as st, sys
sys.path.insert(0, os.path.dirname(__file__))
from paired import paired

B = "bench_results/pretrain"

def load(p):
    return json.load(open(p)) if os.path.exists(p) else None

def per_seed(pattern):
    """{seed: run} from files like probe_s3.json (one run each)."""
    out = {}
    for f in glob.glob(f"{B}/{pattern}"):
        s = int(re.search(r"_s(\d+)\.json$", f).group(1))
        r = load(f)["runs"][0]
        out[s] = r
    return out

def runs_by_seed(doc):
    return {r["seed"]: r for r in doc["runs"]}

def fmt(v):
    return f"{st.mean(v):.2f} ± {st.pstdev(v):.2f}" if v else "n/a"

report = {}
probe = per_seed("cora/probe_s*.json")
ft = per_seed("cora/finetune_s*.json")
ft5 = per_seed("cora/finetune5_s*.json")
ftc = per_seed("cora/finetunecur_s*.json")
base, base5 = load(f"{B}/cora/gat_baseline.json"), load(f"{B}/cora/gat_baseline5.json")
seeds = sorted(probe)
print(f"Cora pretrained encoders: seeds {seeds}")
acc = [100 * probe[s]["test_acc"] for s in seeds]
print(f"linear probe: {fmt(acc)} (n={len(acc)}), per seed {[round(a, 1) for a in acc]}")
report["cora_linear_probe"] = {"seeds": seeds, "test_acc": acc}
for name, runs, b in [("finetune", ft, base), ("finetune, 5 labels per class", ft5, base5)]:
    if not runs or not b:
        continue
    bb = runs_by_seed(b)
    for metric in ["test_acc", "test_macro_f1"]:
        a = {(s,): runs[s][metric] for s in runs}
        c = {(s,): bb[s][metric] for s in runs if s in bb}
        n, m, hw, ma, mb = paired(a, c)
        print(f"{name} vs pinned GAT baseline, {metric}: {ma:.2f} vs {mb:.2f}, diff {m:+.2f} ± {hw:.2f} ({n} paired seeds)")
        report[f"cora {name} {metric}"] = {"pretrained": ma, "baseline": mb, "diff": m, "ci95": hw, "pairs": n}
if ftc and ft:
    a = {(x,): ftc[x]["test_acc"] for x in ftc}
    c = {(x,): ft[x]["test_acc"] for x in ftc if x in ft}
    n, m, hw, ma, mb = paired(a, c)
    ep_on = st.mean(ftc[x]["best_epoch"] for x in ftc)
    ep_off = st.mean(ft[x]["best_epoch"] for x in ftc if x in ft)
    print(f"finetune, curriculum on vs off: {ma:.2f} vs {mb:.2f}, diff {m:+.2f} ± {hw:.2f} ({n} paired seeds); selected epoch {ep_on:.0f} on, {ep_off:.0f} off")
    report["cora finetune curriculum on-off"] = {"on": ma, "off": mb, "diff": m, "ci95": hw, "pairs": n, "epoch_on": ep_on, "epoch_off": ep_off}
for name in ["mutag", "mutag_curriculum", "imdb", "proteins"]:
    d = load(f"{B}/{name}/summary.json")
    if d:
        print(f"{name} SVM: {d['mean']:.2f} ± {d['std']:.2f} over {len(d['accuracy_per_seed'])} seeds")
        report[f"svm {name}"] = d
a, b = load(f"{B}/mutag/summary.json"), load(f"{B}/mutag_curriculum/summary.json")
if a and b:
    x = {(i,): v / 100 for i, v in enumerate(b["accuracy_per_seed"])}
    y = {(i,): v / 100 for i, v in enumerate(a["accuracy_per_seed"])}
    n, m, hw, _, _ = paired(x, y)
    print(f"MUTAG SVM, curriculum on - off: {m:+.2f} ± {hw:.2f} ({n} paired seeds)")
    report["mutag svm curriculum diff"] = {"diff": m, "ci95": hw, "pairs": n}
for t in ["transfer", "transfer_qm9_curriculum"]:
    p = load(f"{B}/{t}/paired.json")
    if p:
        print(f"{t}: MUTAG fine-tuned {p['test_acc']['a']:.2f} vs scratch {p['test_acc']['b']:.2f}, diff {p['test_acc']['diff']:+.2f} ± {p['test_acc']['ci95']:.2f} ({p['test_acc']['pairs']} fold pairs)")
        report[t] = p
json.dump(report, open(f"{B}/report.json", "w"), indent=1)
