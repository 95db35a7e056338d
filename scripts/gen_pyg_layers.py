#!/usr/bin/env python3
"""Regenerate the PyTorch Geometric reference fixture for our GNN layers.

What it generates
-----------------
``crates/autoglm/tests/fixtures/pyg_layers.json``: forward outputs and
gradients (float64) of PyTorch Geometric 2.8.1 layers (torch 2.15) on one
small 10-node graph, for six cases:

  gcn           GCNConv(5, 4)
  gcn_weighted  GCNConv(5, 4) with edge_weight
  gat           GATConv(5, 2, heads=2, concat=True)
  sage_mean     SAGEConv(5, 4, aggr="mean")
  sage_max      SAGEConv(5, 4, aggr="max")
  gin           GINConv(Linear(5, 8) - ReLU - Linear(8, 4), eps=0.1, train_eps=True)

Every input is read FROM the input JSON, so a regenerated file has exactly the
same graph (``edges``, directed [src, dst] pairs, messages flow src -> dst),
node features ``x``, ``edge_weight``, loss weights R (``loss_weights``) and
per-case parameters (``params``: PyG parameter name -> shape and row-major
data).  For each case the script builds the PyG layer, loads the parameters,
computes ``output = layer(x, edge_index[, edge_weight])`` and the gradients
``grad_x`` and ``grad_params`` of ``loss = sum(output * R)``, and writes a
JSON with the same structure and key order (``json.dump(..., indent=1)``).

Install
-------
    python3 -m venv ~/pyg && ~/pyg/bin/pip install torch torch_geometric scipy

(the fixture was made with torch 2.15 and torch_geometric 2.8.1).

Usage
-----
Regenerate the fixture (from the repository root):

    ~/pyg/bin/python scripts/gen_pyg_layers.py \\
        crates/autoglm/tests/fixtures/pyg_layers.json \\
        crates/autoglm/tests/fixtures/pyg_layers.json

Check that PyG still reproduces the committed fixture (prints the max abs and
relative difference per case and field; exits 1 if any relative difference
exceeds 1e-9).  OUT.json is optional with --check; if given it is written too:

    ~/pyg/bin/python scripts/gen_pyg_layers.py --check \\
        crates/autoglm/tests/fixtures/pyg_layers.json [OUT.json]

The relative difference of a field is max|new - ref| / max|ref| over that
field (infinity-norm relative error, so entries that are exactly zero in the
reference do not blow it up).
"""

import argparse
import json
import sys

import torch
from torch import nn
from torch_geometric.nn import GATConv, GCNConv, GINConv, SAGEConv

DTYPE = torch.float64
REL_TOL = 1e-9


def build_layer(name):
    """The PyG layer for a case, with the conventions in its description."""
    if name in ("gcn", "gcn_weighted"):
        # Default GCNConv: add_remaining_self_loops (an existing self loop is
        # kept once, with its own weight; missing ones get weight 1),
        # symmetric D^-1/2 (A+I) D^-1/2 with (weighted) in-degree, bias after.
        return GCNConv(5, 4)
    if name == "gat":
        # Self loops removed then re-added, LeakyReLU(0.2), softmax over
        # incoming edges per head, heads concatenated, bias after concat.
        return GATConv(5, 2, heads=2, concat=True, negative_slope=0.2,
                       dropout=0.0, add_self_loops=True)
    if name == "sage_mean":
        # out = lin_l(mean_{j->i} x_j) + lin_r(x_i); lin_r has no bias.
        return SAGEConv(5, 4, aggr="mean")
    if name == "sage_max":
        return SAGEConv(5, 4, aggr="max")
    if name == "gin":
        mlp = nn.Sequential(nn.Linear(5, 8), nn.ReLU(), nn.Linear(8, 4))
        return GINConv(mlp, eps=0.1, train_eps=True)
    raise ValueError(f"unknown case {name!r}")


def load_params(layer, params):
    """Copy the JSON parameters into the layer; names must match exactly."""
    own = dict(layer.named_parameters())
    if set(own) != set(params):
        raise ValueError(
            f"parameter names differ: PyG has {sorted(own)}, "
            f"JSON has {sorted(params)}")
    with torch.no_grad():
        for pname, spec in params.items():
            p = own[pname]
            value = torch.tensor(spec["data"], dtype=DTYPE).reshape(spec["shape"])
            if tuple(p.shape) != tuple(value.shape):
                raise ValueError(
                    f"{pname}: PyG shape {tuple(p.shape)}, "
                    f"JSON shape {tuple(value.shape)}")
            p.copy_(value)
    return own


def run_case(case, x0, edge_index, edge_weight, R):
    name = case["name"]
    layer = build_layer(name).to(DTYPE)
    layer.eval()  # no dropout anywhere, but be explicit
    own = load_params(layer, case["params"])

    x = x0.clone().requires_grad_(True)
    if name == "gcn_weighted":
        out = layer(x, edge_index, edge_weight)
    else:
        out = layer(x, edge_index)
    loss = (out * R).sum()
    layer.zero_grad()
    loss.backward()

    result = {}
    for key, value in case.items():  # keep the original key order
        if key == "output":
            result[key] = out.detach().tolist()
        elif key == "grad_x":
            result[key] = x.grad.tolist()
        elif key == "grad_params":
            result[key] = {
                pname: own[pname].grad.reshape(-1).tolist()
                for pname in case["params"]
            }
        else:
            result[key] = value  # name, description, params: copied
    return result


def generate(ref):
    torch.set_default_dtype(DTYPE)
    x0 = torch.tensor(ref["x"], dtype=DTYPE)
    edge_index = torch.tensor(ref["edges"], dtype=torch.long).t().contiguous()
    edge_weight = torch.tensor(ref["edge_weight"], dtype=DTYPE)
    R = torch.tensor(ref["loss_weights"], dtype=DTYPE)
    n = ref["num_nodes"]
    assert x0.shape[0] == n and R.shape[0] == n
    assert edge_weight.shape[0] == edge_index.shape[1]

    out = {}
    for key, value in ref.items():
        if key == "cases":
            out[key] = [run_case(c, x0, edge_index, edge_weight, R)
                        for c in value]
        else:
            out[key] = value
    return out


def _diff(new, ref):
    a = torch.tensor(new, dtype=DTYPE)
    b = torch.tensor(ref, dtype=DTYPE)
    if a.shape != b.shape:
        raise ValueError(f"shape {tuple(a.shape)} vs reference {tuple(b.shape)}")
    abs_diff = (a - b).abs().max().item()
    scale = b.abs().max().item()
    rel = abs_diff / scale if scale > 0 else (0.0 if abs_diff == 0 else float("inf"))
    return abs_diff, rel


def check(new, ref):
    """Print per case/field differences; return True if all within REL_TOL."""
    ok = True
    for key in ref:
        if key != "cases" and new[key] != ref[key]:
            print(f"top-level {key!r} differs")
            ok = False
    print(f"{'case':<14} {'field':<26} {'max abs':>12} {'max rel':>12}")
    worst = 0.0
    for c_new, c_ref in zip(new["cases"], ref["cases"]):
        fields = [("output", c_new["output"], c_ref["output"]),
                  ("grad_x", c_new["grad_x"], c_ref["grad_x"])]
        if set(c_new["grad_params"]) != set(c_ref["grad_params"]):
            print(f"{c_ref['name']}: grad_params names differ")
            ok = False
        for pname in c_ref["grad_params"]:
            fields.append((f"grad_params.{pname}",
                           c_new["grad_params"].get(pname, []),
                           c_ref["grad_params"][pname]))
        for field, a, b in fields:
            abs_diff, rel = _diff(a, b)
            worst = max(worst, rel)
            flag = "" if rel <= REL_TOL else "  FAIL"
            if flag:
                ok = False
            print(f"{c_ref['name']:<14} {field:<26} {abs_diff:12.3e} {rel:12.3e}{flag}")
    if len(new["cases"]) != len(ref["cases"]):
        ok = False
    print(f"worst relative difference: {worst:.3e} (tolerance {REL_TOL:g}) -> "
          f"{'OK' if ok else 'FAIL'}")
    return ok


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("input", help="existing pyg_layers.json (inputs are read from it)")
    ap.add_argument("output", nargs="?", help="where to write the regenerated JSON")
    ap.add_argument("--check", action="store_true",
                    help="compare against INPUT; exit 1 if any field differs "
                         f"by more than {REL_TOL:g} relative")
    args = ap.parse_args(argv)
    if args.output is None and not args.check:
        ap.error("OUT.json is required unless --check is given")

    with open(args.input) as f:
        ref = json.load(f)
    new = generate(ref)

    if args.output is not None:
        with open(args.output, "w") as f:
            json.dump(new, f, indent=1)
    if args.check:
        return 0 if check(new, ref) else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
