"""Makes the example model shipped with sm-pack (README quick start).

A small churn-style binary classifier trained by the real xgboost 1.7.4
(the version the SageMaker 1.7-1 container pins) and saved as JSON, plus a
sample of rows and the library's own predictions for them.

    python make_example.py        # inside a venv with xgboost==1.7.4
"""
import numpy as np
import xgboost as xgb

rng = np.random.RandomState(2024)
n = 400
names = ["tenure_months", "monthly_charges", "support_calls", "contract_len", "usage_gb"]
X = np.column_stack([
    rng.randint(1, 72, n),
    rng.uniform(20, 120, n),
    rng.poisson(1.5, n),
    rng.choice([1, 12, 24], n),
    rng.gamma(2.0, 10.0, n),
]).astype(np.float32)
X[rng.rand(n, 5) < 0.05] = np.nan
logit = -0.04 * np.nan_to_num(X[:, 0]) + 0.02 * np.nan_to_num(X[:, 1]) + 0.5 * np.nan_to_num(X[:, 2]) - 0.05 * np.nan_to_num(X[:, 3]) - 1.0
y = (rng.rand(n) < 1 / (1 + np.exp(-logit))).astype(np.float32)
dtrain = xgb.DMatrix(X, label=y, feature_names=names)
params = {"objective": "binary:logistic", "max_depth": 3, "eta": 0.3, "seed": 1, "nthread": 1}
bst = xgb.train(params, dtrain, num_boost_round=20)
bst.save_model("churn-xgboost.json")

sample = X[:8]
np.savetxt("sample.csv", sample, delimiter=",", fmt="%.9g")
with open("sample.csv") as f:
    text = f.read().replace("nan", "")
with open("sample.csv", "w") as f:
    f.write(text)
pred = bst.predict(xgb.DMatrix(sample, feature_names=names))
np.savetxt("sample.expected.csv", pred, fmt="%.9g")
print("wrote churn-xgboost.json", bst.num_boosted_rounds(), "rounds")
