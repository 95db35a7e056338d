#!/usr/bin/env python3
"""scikit-learn reference for `autoglm::eval::svm` (GraphMAE's SVM protocol).

Writes crates/autoglm/tests/fixtures/svm_reference.json with, for a few small
seeded data sets:

* `fits`: `SVC(C=c, kernel=k)` (gamma='scale' for RBF) fitted on a fixed
  train part and its predictions / accuracy on the test part, for every C of
  GraphMAE's grid and both kernels;
* `protocol`: GraphMAE's full protocol (outer `StratifiedKFold(10,
  shuffle=True, random_state=0)`, inner `GridSearchCV(SVC(), {"C": grid})`
  with its default 5-fold `StratifiedKFold`), with the fold indices written
  out so the Rust test can run the same folds.

Usage: ~/pyg/bin/python scripts/svm_reference.py
"""

import json
import os

import numpy as np
import sklearn
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.svm import SVC

GRID = [1e-3, 1e-2, 1e-1, 1.0, 10.0]
OUT = os.path.join(os.path.dirname(__file__), "..", "crates", "autoglm", "tests", "fixtures", "svm_reference.json")


def blobs(rng, n_per, dim, shift, classes):
    xs, ys = [], []
    for c in range(classes):
        centre = np.zeros(dim)
        centre[c % dim] = shift
        centre[(c + 1) % dim] = shift * (1 if c % 2 == 0 else -1)
        xs.append(rng.normal(size=(n_per, dim)) + centre)
        ys += [c] * n_per
    return np.vstack(xs), np.array(ys)


def xor(rng, n, noise_dims):
    a = rng.uniform(-1, 1, size=(n, 2))
    y = ((a[:, 0] > 0) ^ (a[:, 1] > 0)).astype(int)
    return np.hstack([a, 0.1 * rng.normal(size=(n, noise_dims))]), y


def main():
    rng = np.random.RandomState(0)
    cases = {
        "blobs": blobs(rng, 40, 6, 1.5, 2),
        "xor": xor(rng, 120, 3),
        "three": blobs(rng, 30, 5, 2.0, 3),
    }
    out = {"sklearn": sklearn.__version__, "grid": GRID, "cases": {}}
    for name, (x, y) in cases.items():
        x = np.round(x, 6)  # short decimal literals, read back exactly by both sides
        idx = np.arange(len(y))
        train, test = idx[idx % 3 != 0], idx[idx % 3 == 0]
        fits = []
        for kernel in ["rbf", "linear"]:
            for c in GRID:
                m = SVC(C=c, kernel=kernel).fit(x[train], y[train])
                pred = m.predict(x[test])
                fits.append({"kernel": kernel, "c": c, "pred": pred.tolist(), "acc": float((pred == y[test]).mean())})
                print(f"{name:6s} {kernel:6s} C={c:<6g} test acc {fits[-1]['acc']:.4f}")
        outer = []
        for tr, te in StratifiedKFold(n_splits=10, shuffle=True, random_state=0).split(x, y):
            inner = [[tr[a].tolist(), tr[b].tolist()] for a, b in StratifiedKFold(n_splits=5).split(x[tr], y[tr])]
            gs = GridSearchCV(SVC(), {"C": GRID}, n_jobs=1).fit(x[tr], y[tr])
            outer.append(
                {
                    "train": tr.tolist(),
                    "test": te.tolist(),
                    "inner": inner,
                    "inner_mean_acc": gs.cv_results_["mean_test_score"].tolist(),
                    "chosen_c": gs.best_params_["C"],
                    "acc": float(gs.score(x[te], y[te])),
                }
            )
        accs = [o["acc"] for o in outer]
        print(f"{name:6s} protocol: {np.mean(accs):.4f} ± {np.std(accs):.4f}, C = {[o['chosen_c'] for o in outer]}")
        out["cases"][name] = {
            "x": x.tolist(),
            "y": y.tolist(),
            "train": train.tolist(),
            "test": test.tolist(),
            "fits": fits,
            "protocol": {"outer": outer, "mean": float(np.mean(accs)), "std": float(np.std(accs))},
        }
    with open(OUT, "w") as f:
        json.dump(out, f)
        f.write("\n")
    print("wrote", os.path.normpath(OUT))


if __name__ == "__main__":
    main()
