#!/usr/bin/env python3
"""Regenerate the PyTorch Geometric reference fixture for TransformerConv.

What it generates
-----------------
``crates/autoglm/tests/fixtures/pyg_transformer.json``: forward outputs and
gradients (float64) of PyTorch Geometric 2.8.1 ``TransformerConv`` (torch
2.15) on one small directed 10-node graph, for four cases (all with
``beta=False``, ``dropout=0``, ``bias=True``, ``concat=True``, eval mode):

  plain        TransformerConv(5, 3, heads=2)                    no edge features
  edge         TransformerConv(5, 3, heads=2, edge_dim=3)
  edge_noroot  TransformerConv(5, 3, heads=2, edge_dim=3, root_weight=False)
  one_head     TransformerConv(5, 4, heads=1, edge_dim=3)

The layer as PyG 2.8.1 computes it (H heads of C channels, messages j -> i
over the edges in ``edges`` only; TransformerConv adds NO self loops, so a
node without in-edges aggregates zero, and the one self loop in the graph is
an ordinary edge):

  q_i = lin_query(x_i), k_j = lin_key(x_j), v_j = lin_value(x_j)  [H, C] each
  e_ij = lin_edge(edge_attr_ij)        (edge_dim set; lin_edge has NO bias)
  a_ij = <q_i, k_j + e_ij>_head / sqrt(C)     (per head; sqrt(out_channels))
  alpha_ij = softmax of a_ij over the in-edges of i (per head)
  m_i = sum_j alpha_ij * (v_j + e_ij)     (the same e_ij is added to values)
  out_i = concat_heads(m_i) + lin_skip(x_i)   (lin_skip only if root_weight)

lin_query, lin_key, lin_value and lin_skip carry a bias (bias=True);
lin_edge never has one.  With root_weight=False PyG still creates lin_skip but
never uses it; such unused parameters are left out of ``params`` (and so of
``grad_params``), and the script checks they get no gradient.

Every input is read FROM the input JSON, so a regenerated file has exactly the
same graph (``edges``, directed [src, dst] pairs, PyG edge_index[0] = src,
edge_index[1] = dst), node features ``x`` [10, 5], ``edge_attr`` [E, 3] (same
order as ``edges``), and per case its ``config``, parameters (``params``:
PyG state_dict name -> shape and row-major data; Linear weights are torch
layout [out, in], y = x @ W^T + b) and loss weights R (``loss_weights``,
[10, heads * out_channels]).  For each case the script builds the layer from
``config``, loads the parameters, computes
``output = layer(x, edge_index[, edge_attr])`` and the gradients ``grad_x``,
``grad_edge_attr`` (null without edge_dim) and ``grad_params`` of
``loss = sum(output * R)``, and writes a JSON with the same structure and key
order (``json.dump(..., indent=1)``).  The top-level "torch" and
"torch_geometric" fields record the versions that produced the file.

Install
-------
    python3 -m venv ~/pyg && ~/pyg/bin/pip install torch torch_geometric scipy

(the fixture was made with torch 2.15 and torch_geometric 2.8.1).

Usage
-----
Create the fixture from scratch (random inputs from torch.manual_seed(0),
float64; the graph: 10 nodes, 30 distinct directed edges, nodes 4 and 8 have
no in-edges, exactly one self loop):

    ~/pyg/bin/python scripts/gen_pyg_transformer.py --init \\
        crates/autoglm/tests/fixtures/pyg_transformer.json

Regenerate the fixture (from the repository root):

    ~/pyg/bin/python scripts/gen_pyg_transformer.py \\
        crates/autoglm/tests/fixtures/pyg_transformer.json \\
        crates/autoglm/tests/fixtures/pyg_transformer.json

Check that PyG still reproduces the committed fixture (prints the max abs and
relative difference per case and field; exits 1 if any relative difference
exceeds 1e-9).  OUT.json is optional with --check; if given it is written too:

    ~/pyg/bin/python scripts/gen_pyg_transformer.py --check \\
        crates/autoglm/tests/fixtures/pyg_transformer.json [OUT.json]

The relative difference of a field is max|new - ref| / max|ref| over that
field (infinity-norm relative error, so entries that are exactly zero in the
reference do not blow it up), with max|ref| floored at 1e-6.

Note on ``grad_params["lin_key.bias"]``: it is zero in exact arithmetic.  The
key bias b adds <q_i, b>/sqrt(C) to every score of target i, the same for all
its in-edges, and the softmax over those edges is shift invariant.  PyG's
values are rounding noise (~1e-16), so compare that field with an absolute
tolerance (the floor above does this in --check).
"""

import argparse
import json
import sys

import torch
import torch_geometric
from torch_geometric.nn import TransformerConv

DTYPE = torch.float64
REL_TOL = 1e-9
# Fields whose reference inf-norm is below SCALE_FLOOR are rounding noise
# around an exact zero (grad of lin_key.bias, see the docstring), so their
# difference is divided by SCALE_FLOOR instead of by that noise.
SCALE_FLOOR = 1e-6

# --init settings.
SEED = 0
NUM_NODES = 10
IN_CHANNELS = 5
EDGE_DIM = 3
NUM_EDGES = 30            # including the one self loop
NO_IN_EDGES = (4, 8)      # nodes that receive no message
SELF_LOOP_NODE = 2
PARAM_SCALE = 0.5

CASE_CONFIGS = {
    "plain": dict(out_channels=3, heads=2, root_weight=True, edge_dim=None),
    "edge": dict(out_channels=3, heads=2, root_weight=True, edge_dim=EDGE_DIM),
    "edge_noroot": dict(out_channels=3, heads=2, root_weight=False,
                        edge_dim=EDGE_DIM),
    "one_head": dict(out_channels=4, heads=1, root_weight=True,
                     edge_dim=EDGE_DIM),
}


def full_config(c):
    return {"in_channels": IN_CHANNELS, "out_channels": c["out_channels"],
            "heads": c["heads"], "concat": True, "beta": False,
            "root_weight": c["root_weight"], "edge_dim": c["edge_dim"],
            "bias": True}


def build_layer(config):
    """The PyG layer for a case config (dropout 0, eval mode)."""
    layer = TransformerConv(
        config["in_channels"], config["out_channels"], heads=config["heads"],
        concat=config["concat"], beta=config["beta"], dropout=0.0,
        edge_dim=config["edge_dim"], bias=config["bias"],
        root_weight=config["root_weight"])
    layer = layer.to(DTYPE)
    layer.eval()
    return layer


def used_param_names(layer, config):
    """Parameters that take part in the forward pass (PyG state_dict names)."""
    names = []
    for pname, _ in layer.named_parameters():
        if pname.startswith("lin_skip.") and not config["root_weight"]:
            continue  # created by PyG but unused without root_weight
        names.append(pname)
    return names


def load_params(layer, config, params):
    """Copy the JSON parameters into the layer; names must match exactly."""
    own = dict(layer.named_parameters())
    used = used_param_names(layer, config)
    if set(used) != set(params):
        raise ValueError(
            f"parameter names differ: PyG uses {sorted(used)}, "
            f"JSON has {sorted(params)}")
    with torch.no_grad():
        for pname, p in own.items():
            if pname not in params:
                p.zero_()  # unused; set so the result cannot depend on init
                continue
            spec = params[pname]
            value = torch.tensor(spec["data"], dtype=DTYPE).reshape(spec["shape"])
            if tuple(p.shape) != tuple(value.shape):
                raise ValueError(
                    f"{pname}: PyG shape {tuple(p.shape)}, "
                    f"JSON shape {tuple(value.shape)}")
            p.copy_(value)
    return own


def run_case(case, x0, edge_index, edge_attr0):
    config = case["config"]
    layer = build_layer(config)
    own = load_params(layer, config, case["params"])
    R = torch.tensor(case["loss_weights"], dtype=DTYPE)

    x = x0.clone().requires_grad_(True)
    ea = None
    if config["edge_dim"] is not None:
        ea = edge_attr0.clone().requires_grad_(True)
        out = layer(x, edge_index, ea)
    else:
        out = layer(x, edge_index)
    if tuple(out.shape) != tuple(R.shape):
        raise ValueError(f"output shape {tuple(out.shape)}, "
                         f"loss_weights shape {tuple(R.shape)}")
    loss = (out * R).sum()
    layer.zero_grad(set_to_none=True)
    loss.backward()
    for pname, p in own.items():
        if pname not in case["params"] and p.grad is not None \
                and p.grad.abs().max().item() != 0:
            raise RuntimeError(f"{pname} is left out but gets a gradient")

    computed = {
        "output": out.detach().tolist(),
        "grad_x": x.grad.tolist(),
        "grad_edge_attr": ea.grad.tolist() if ea is not None else None,
        "grad_params": {pname: own[pname].grad.reshape(-1).tolist()
                        for pname in case["params"]},
    }
    result = {}
    for key, value in case.items():  # keep the original key order
        result[key] = computed[key] if key in computed else value
    for key, value in computed.items():  # fields missing from the input
        result.setdefault(key, value)
    return result


def generate(ref):
    torch.set_default_dtype(DTYPE)
    n = ref["num_nodes"]
    x0 = torch.tensor(ref["x"], dtype=DTYPE)
    edge_index = torch.tensor(ref["edges"], dtype=torch.long).t().contiguous()
    edge_attr = torch.tensor(ref["edge_attr"], dtype=DTYPE)
    assert x0.shape[0] == n
    assert edge_attr.shape[0] == edge_index.shape[1]
    assert int(edge_index.max()) < n

    out = {}
    for key, value in ref.items():
        if key == "torch":
            out[key] = torch.__version__
        elif key == "torch_geometric":
            out[key] = torch_geometric.__version__
        elif key == "cases":
            out[key] = {name: run_case(c, x0, edge_index, edge_attr)
                        for name, c in value.items()}
        else:
            out[key] = value
    return out


def init_inputs():
    """Fresh inputs (no outputs yet) from a fixed seed, float64."""
    torch.manual_seed(SEED)
    # Candidate edges: no self loops, no edge into a NO_IN_EDGES node.
    cands = [(s, d) for s in range(NUM_NODES) for d in range(NUM_NODES)
             if s != d and d not in NO_IN_EDGES]
    perm = torch.randperm(len(cands)).tolist()
    edges = [list(cands[i]) for i in perm[:NUM_EDGES - 1]]
    # The one self loop, at a random position.
    pos = int(torch.randint(0, len(edges) + 1, (1,)))
    edges.insert(pos, [SELF_LOOP_NODE, SELF_LOOP_NODE])
    assert len({tuple(e) for e in edges}) == len(edges)
    assert sum(s == d for s, d in edges) == 1

    x = torch.randn(NUM_NODES, IN_CHANNELS, dtype=DTYPE)
    edge_attr = torch.randn(len(edges), EDGE_DIM, dtype=DTYPE)

    cases = {}
    for name, c in CASE_CONFIGS.items():
        config = full_config(c)
        layer = build_layer(config)
        params = {}
        for pname in used_param_names(layer, config):
            shape = list(dict(layer.named_parameters())[pname].shape)
            data = torch.randn(shape, dtype=DTYPE) * PARAM_SCALE
            params[pname] = {"shape": shape, "data": data.reshape(-1).tolist()}
        width = config["heads"] * config["out_channels"]
        R = torch.randn(NUM_NODES, width, dtype=DTYPE)
        cases[name] = {
            "config": config,
            "params": params,
            "loss_weights": R.tolist(),
            "output": None,
            "grad_x": None,
            "grad_edge_attr": None,
            "grad_params": None,
        }
    return {
        "torch": torch.__version__,
        "torch_geometric": torch_geometric.__version__,
        "num_nodes": NUM_NODES,
        "edges": edges,
        "x": x.tolist(),
        "edge_attr": edge_attr.tolist(),
        "cases": cases,
    }


def _diff(new, ref):
    a = torch.tensor(new, dtype=DTYPE)
    b = torch.tensor(ref, dtype=DTYPE)
    if a.shape != b.shape:
        raise ValueError(f"shape {tuple(a.shape)} vs reference {tuple(b.shape)}")
    abs_diff = (a - b).abs().max().item()
    scale = max(b.abs().max().item(), SCALE_FLOOR)
    rel = abs_diff / scale
    return abs_diff, rel


def check(new, ref):
    """Print per case/field differences; return True if all within REL_TOL."""
    ok = True
    for key in ref:
        if key in ("torch", "torch_geometric"):
            if new[key] != ref[key]:
                print(f"note: {key} {new[key]} (reference made with {ref[key]})")
        elif key != "cases" and new[key] != ref[key]:
            print(f"top-level {key!r} differs")
            ok = False
    if list(new["cases"]) != list(ref["cases"]):
        print("case names differ")
        ok = False
    print(f"{'case':<12} {'field':<28} {'max abs':>12} {'max rel':>12}")
    worst = 0.0
    for name, c_ref in ref["cases"].items():
        c_new = new["cases"].get(name)
        if c_new is None:
            continue
        fields = [("output", c_new["output"], c_ref["output"]),
                  ("grad_x", c_new["grad_x"], c_ref["grad_x"])]
        if (c_new["grad_edge_attr"] is None) != (c_ref["grad_edge_attr"] is None):
            print(f"{name}: grad_edge_attr present in only one")
            ok = False
        elif c_ref["grad_edge_attr"] is not None:
            fields.append(("grad_edge_attr", c_new["grad_edge_attr"],
                           c_ref["grad_edge_attr"]))
        if set(c_new["grad_params"]) != set(c_ref["grad_params"]):
            print(f"{name}: grad_params names differ")
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
            print(f"{name:<12} {field:<28} {abs_diff:12.3e} {rel:12.3e}{flag}")
    print(f"worst relative difference: {worst:.3e} (tolerance {REL_TOL:g}) -> "
          f"{'OK' if ok else 'FAIL'}")
    return ok


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("input", nargs="?",
                    help="existing pyg_transformer.json (inputs are read from it)")
    ap.add_argument("output", nargs="?", help="where to write the regenerated JSON")
    ap.add_argument("--check", action="store_true",
                    help="compare against INPUT; exit 1 if any field differs "
                         f"by more than {REL_TOL:g} relative")
    ap.add_argument("--init", metavar="OUT.json",
                    help="create fresh inputs (seed 0) and write the fixture")
    args = ap.parse_args(argv)

    if args.init is not None:
        if args.input is not None or args.check:
            ap.error("--init takes only OUT.json")
        new = generate(init_inputs())
        with open(args.init, "w") as f:
            json.dump(new, f, indent=1)
        return 0
    if args.input is None:
        ap.error("IN.json is required")
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
