"""bench/compare_revisions.py's verdict on the graphs: the same computation under other node names is
"identical", a changed graph says how much of it still matches."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))

import compare_revisions  # noqa: E402

RAN = ["_Arg()", "Pad(_Arg,Const)", "Conv2D(Pad,ReadVariableOp)", "Relu(Conv2D)", "_Retval(Relu)"]


def graphs(ran, **traced):
    return {"traced": traced or {"Conv2D": 1, "Pad": 1}, "ran": ran}


def test_identical_graphs_are_reported_identical():
    line = compare_revisions.describe_graphs(graphs(RAN), graphs(list(RAN)))
    assert "op types differing (base, head): none" in line
    assert "identical up to node names, 5 nodes each" in line


def test_a_changed_graph_reports_the_op_types_and_nodes_that_differ():
    waited = RAN[:2] + ["Conv2D(Pad,ReadVariableOp,^_Arg)"] + RAN[3:]
    line = compare_revisions.describe_graphs(graphs(RAN), graphs(waited, Conv2D=2, Pad=1))
    assert "op types differing (base, head): {'Conv2D': (1, 2)}" in line
    assert "base 5 nodes, head 5; 4 match in order" in line
    assert "identical" not in line
