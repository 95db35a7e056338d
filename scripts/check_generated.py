#!/usr/bin/env python3
"""Independent check of molecule-generation metrics with RDKit (MOSES denominators).

Reads generated samples (JSONL, one object per line with a "smiles" field that
may be empty or null for a sample that failed to decode) and a training set of
SMILES, and computes

    validity   = valid samples / all samples
                 (valid: RDKit MolFromSmiles succeeds and the SMILES has no '.',
                 so a disconnected molecule counts as invalid)
    uniqueness = distinct canonical SMILES among the valid / valid samples
    novelty    = distinct valid canonical SMILES not in the training set
                 / distinct valid canonical SMILES

The training SMILES are canonicalised with the same RDKit before comparison
(unparsable training rows are skipped and counted). The result is printed and
written as JSON: {validity, uniqueness, novelty, num_samples, num_valid,
num_unique, ...}. A ratio over nothing (no samples, no valid sample) is null.

Usage:
    ~/pyg/bin/python scripts/check_generated.py SAMPLES.jsonl --train TRAIN.csv[.gz]
        [--exclude-idx valid_idx_qm9.json --idx-base 1] [--smiles-column smiles]
        [--out RESULT.json] [--compare ours.json]

    # QM9: training set = qm9.csv minus the held-out molecules
    ~/pyg/bin/python scripts/check_generated.py samples.jsonl \\
        --train ../shared/datasets/qm9/qm9.csv \\
        --exclude-idx ../shared/datasets/qm9/valid_idx_qm9.json --idx-base 1 \\
        --compare result.json

The training file is a CSV (plain or gzipped) with a header; the SMILES column
is the one named by --smiles-column (case-insensitive, default "smiles"), else
the first column. --exclude-idx names a JSON file {"valid_idxs": ["007278", ...]}
of molecule numbers to leave out; molecule i is data row i counted from
--idx-base (1: the first row after the header is molecule 1).

--compare reads our own result JSON (fields validity, uniqueness, novelty, at
the top level or in a nested object), prints the absolute differences and
exits with status 1 if any exceeds 0.001.
"""

import argparse
import csv
import gzip
import io
import json
import sys

TOLERANCE = 1e-3


def open_text(path):
    if path.endswith(".gz"):
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8")
    return open(path, encoding="utf-8")


def read_samples(path):
    smiles = []
    with open_text(path) as f:
        for lineno, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                sys.exit(f"{path}:{lineno}: not JSON: {e}")
            s = obj.get("smiles") if isinstance(obj, dict) else None
            smiles.append(s if isinstance(s, str) else "")
    return smiles


def read_excluded(path, base):
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    ids = data["valid_idxs"] if isinstance(data, dict) else data
    # Molecule number -> 0-based data row.
    return {int(i) - base for i in ids}


def read_train(path, column, excluded):
    with open_text(path) as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if header is None:
            sys.exit(f"{path}: empty file")
        lowered = [h.strip().lower() for h in header]
        col = lowered.index(column.lower()) if column.lower() in lowered else 0
        rows = [r[col] for i, r in enumerate(reader) if r and i not in excluded]
    return rows


def canonical(smiles, Chem):
    """Canonical SMILES of a valid sample, else None."""
    if not smiles or "." in smiles:
        return None
    mol = Chem.MolFromSmiles(smiles)
    if mol is None:
        return None
    return Chem.MolToSmiles(mol)


def ratio(num, den):
    return num / den if den else None


def find_metrics(obj):
    """The first object (depth-first) holding validity, uniqueness and novelty."""
    if isinstance(obj, dict):
        if all(k in obj for k in ("validity", "uniqueness", "novelty")):
            return obj
        for v in obj.values():
            found = find_metrics(v)
            if found is not None:
                return found
    elif isinstance(obj, list):
        for v in obj:
            found = find_metrics(v)
            if found is not None:
                return found
    return None


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("samples", help="JSONL with a 'smiles' field per line")
    ap.add_argument("--train", required=True, help="training SMILES, CSV with a header (.gz allowed)")
    ap.add_argument("--smiles-column", default="smiles", help="SMILES column of --train (default: smiles, else the first)")
    ap.add_argument("--exclude-idx", help="JSON {'valid_idxs': [...]} of molecule numbers to drop from --train")
    ap.add_argument("--idx-base", type=int, default=1, help="number of the first data row in --exclude-idx (default 1)")
    ap.add_argument("--out", help="where to write the result JSON (default: SAMPLES with .check.json)")
    ap.add_argument("--compare", help="our result JSON to compare with (exit 1 if a metric differs by > 0.001)")
    args = ap.parse_args()

    from rdkit import Chem, RDLogger

    RDLogger.DisableLog("rdApp.*")

    samples = read_samples(args.samples)
    excluded = read_excluded(args.exclude_idx, args.idx_base) if args.exclude_idx else set()
    train_raw = read_train(args.train, args.smiles_column, excluded)
    train = set()
    train_invalid = 0
    for s in train_raw:
        mol = Chem.MolFromSmiles(s) if s else None
        if mol is None:
            train_invalid += 1
        else:
            train.add(Chem.MolToSmiles(mol))

    valid = [c for c in (canonical(s, Chem) for s in samples) if c is not None]
    unique = set(valid)
    novel = unique - train
    result = {
        "validity": ratio(len(valid), len(samples)),
        "uniqueness": ratio(len(unique), len(valid)),
        "novelty": ratio(len(novel), len(unique)),
        "num_samples": len(samples),
        "num_valid": len(valid),
        "num_unique": len(unique),
        "num_novel": len(novel),
        "num_train": len(train_raw),
        "num_train_unparsable": train_invalid,
        "num_train_excluded": len(excluded),
        "rdkit": Chem.rdBase.rdkitVersion,
    }
    text = json.dumps(result, indent=2)
    print(text)
    out = args.out or (args.samples[: -len(".jsonl")] if args.samples.endswith(".jsonl") else args.samples) + ".check.json"
    with open(out, "w", encoding="utf-8") as f:
        f.write(text + "\n")
    print(f"wrote {out}", file=sys.stderr)

    if args.compare:
        with open(args.compare, encoding="utf-8") as f:
            ours = find_metrics(json.load(f))
        if ours is None:
            sys.exit(f"{args.compare}: no object with validity, uniqueness and novelty")
        worst = 0.0
        for key in ("validity", "uniqueness", "novelty"):
            a, b = result[key], ours[key]
            if a is None or b is None:
                diff = 0.0 if a is None and b is None else float("inf")
            else:
                diff = abs(float(a) - float(b))
            worst = max(worst, diff)
            print(f"{key:>10}: rdkit {a}  ours {b}  |diff| {diff:.6f}")
        if worst > TOLERANCE:
            print(f"MISMATCH: a metric differs by more than {TOLERANCE}", file=sys.stderr)
            sys.exit(1)
        print("agree within 0.001")


if __name__ == "__main__":
    main()
