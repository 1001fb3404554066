"""Makes churn-xgboost-broken.json: the example model with one corrupted tree.

The example model (churn-xgboost.json, made by make_example.py with the real
xgboost 1.7.4) with one byte-level edit: tree 3's `left_children[1]` is set
to 0, so node 1 points back at the root. XGBoost would loop or crash
predicting with it; `sm-pack xgboost` refuses it (exit 1) with the findings
`xgb.tree.child_range` and `xgb.tree.cycle`. The README and the report
snapshot tests (tests/report_snapshots.rs) use it as "a bad model".

    python3 make_broken.py        # any Python 3; no xgboost needed
"""
import re

with open("churn-xgboost.json", "rb") as f:
    text = f.read().decode("utf-8")

# The trees in document order; edit the fourth one's left_children array in place,
# leaving every other byte as xgboost wrote it.
trees = [m.start() for m in re.finditer(r'\{"base_weights":', text)]
assert len(trees) == 20, len(trees)
start = text.index('"left_children":[', trees[3]) + len('"left_children":[')
end = text.index("]", start)
children = text[start:end].split(",")
assert children[1] != "0", children
children[1] = "0"
text = text[:start] + ",".join(children) + text[end:]

with open("churn-xgboost-broken.json", "wb") as f:
    f.write(text.encode("utf-8"))
print("wrote churn-xgboost-broken.json")
