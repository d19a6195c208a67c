"""leadq's trainer against scikit-learn's LogisticRegression (run by compare.sh).

Benchmark only: Python is never part of the product or its tests.
"""

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import time
from datetime import datetime, timezone

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss, roc_auc_score
from sklearn.model_selection import StratifiedKFold, train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from threadpoolctl import threadpool_limits

# Filled in by the sales team after contact (README of the data set), plus identifiers.
LEAK = [
    "Tags",
    "Lead Quality",
    "Lead Profile",
    "Asymmetrique Activity Index",
    "Asymmetrique Profile Index",
    "Asymmetrique Activity Score",
    "Asymmetrique Profile Score",
    "Last Notable Activity",
]
ID = "Prospect ID"
# Timings are the fastest of this many runs (the machine may be shared).
REPEATS = 3
TARGET = "Converted"


def machine():
    model = platform.processor() or "unknown"
    try:
        for line in subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines():
            if line.startswith("Model name"):
                model = line.split(":", 1)[1].strip()
    except OSError:
        pass
    return f"{model}, {os.cpu_count()} cpus"


def run_leadq(cmd, repeats=REPEATS):
    """Runs leadq `repeats` times; returns (JSON of the run with the fastest fit, the largest
    peak RSS in MiB, how it was measured)."""
    best, peak = None, 0.0
    for _ in range(repeats):
        out, rss, how = run_leadq_once(cmd)
        peak = max(peak, rss)
        if best is None or out["fit_seconds"] < best["fit_seconds"]:
            best = out
    return best, peak, how


def run_leadq_once(cmd):
    """Runs leadq once; returns (parsed JSON stdout, peak RSS in MiB, how it was measured)."""
    if shutil.which("/usr/bin/time") or os.path.exists("/usr/bin/time"):
        proc = subprocess.run(["/usr/bin/time", "-v", *cmd], capture_output=True, text=True)
        peak = None
        for line in proc.stderr.splitlines():
            if "Maximum resident set size" in line:
                peak = int(line.split(":")[1]) / 1024
        how = "/usr/bin/time -v"
    else:
        proc = subprocess.run(cmd, capture_output=True, text=True)
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        how = "getrusage(RUSAGE_CHILDREN).ru_maxrss"
    if proc.returncode != 0:
        sys.exit(f"leadq failed ({proc.returncode}):\n{proc.stderr}")
    return json.loads(proc.stdout), peak, how


def sklearn_pipeline(num, cat):
    pre = ColumnTransformer(
        [
            ("num", Pipeline([("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler())]), num),
            (
                "cat",
                Pipeline(
                    [
                        ("impute", SimpleImputer(strategy="constant", fill_value="missing")),
                        ("onehot", OneHotEncoder(handle_unknown="ignore")),
                    ]
                ),
                cat,
            ),
        ]
    )
    return pre


def timed_fit(x, y, repeats=1):
    """LogisticRegression.fit on one thread; returns (model, fastest of `repeats` fits in seconds)."""
    best = float("inf")
    with threadpool_limits(1):
        for _ in range(repeats):
            start = time.perf_counter()
            model = LogisticRegression(max_iter=5000).fit(x, y)
            best = min(best, time.perf_counter() - start)
    return model, best


def fit_sklearn(pre, x_train, y_train, repeats=1):
    """Preprocesses, then times LogisticRegression.fit alone; returns (pre, model, seconds)."""
    xt = pre.fit_transform(x_train)
    model, seconds = timed_fit(xt, y_train, repeats)
    return pre, model, seconds


def x_education(args):
    df = pd.read_csv(args.leads, na_values=["Select"])
    df = df.loc[:, ~df.columns.str.startswith("Unnamed")]
    y = df[TARGET].astype(int).to_numpy()
    features = df.drop(columns=[TARGET, ID, "Lead Number", *LEAK])
    train_idx, test_idx = train_test_split(
        np.arange(len(df)), test_size=0.2, stratify=y, random_state=42
    )
    ids_path = os.path.join(args.out, "xedu-test-ids.txt")
    with open(ids_path, "w") as f:
        f.write("\n".join(df[ID].iloc[test_idx]) + "\n")

    num = [c for c in features.columns if pd.api.types.is_numeric_dtype(features[c])]
    cat = [c for c in features.columns if c not in num]
    for c in cat:
        features[c] = features[c].astype(object)
    xtr, xte, ytr, yte = features.iloc[train_idx], features.iloc[test_idx], y[train_idx], y[test_idx]

    cv_aucs = []
    for fit_i, val_i in StratifiedKFold(5, shuffle=True, random_state=42).split(xtr, ytr):
        pre, model, _ = fit_sklearn(sklearn_pipeline(num, cat), xtr.iloc[fit_i], ytr[fit_i])
        cv_aucs.append(roc_auc_score(ytr[val_i], model.predict_proba(pre.transform(xtr.iloc[val_i]))[:, 1]))
    pre, model, sk_seconds = fit_sklearn(sklearn_pipeline(num, cat), xtr, ytr, repeats=REPEATS)
    p = model.predict_proba(pre.transform(xte))[:, 1]
    sk = {
        "cv_auc": float(np.mean(cv_aucs)),
        "cv_sd": float(np.std(cv_aucs, ddof=1)),
        "auc": roc_auc_score(yte, p),
        "log_loss": log_loss(yte, p),
        "fit": sk_seconds,
        "features": int(pre.transform(xte.iloc[:1]).shape[1]),
    }

    drop = ",".join([*LEAK, "Lead Number"])
    cmd = [
        args.leadq, "backtest", "--csv", args.leads, "--target", TARGET, "--positive", "1",
        "--id", ID, "--test-ids", ids_path, "--drop", drop, "--missing", "Select",
        "--folds", "5", "--seed", "42", "--format", "json",
        "--report", os.path.join(args.out, "xedu-report.html"),
    ]
    ours, peak, _ = run_leadq(cmd)
    print("\n## X Education (leak columns dropped), sklearn's stratified 80/20 split, random_state=42")
    print("leadq command: " + " ".join(f"'{c}'" if " " in c or "," in c else c for c in cmd))
    print(f"{'':24}{'leadq':>16}{'scikit-learn':>16}")
    print(f"{'CV AUC (5-fold)':24}{ours['cv_auc_mean']:>10.4f}±{ours['cv_auc_sd']:.3f}{sk['cv_auc']:>10.4f}±{sk['cv_sd']:.3f}")
    print(f"{'holdout AUC':24}{ours['holdout']['auc']:>16.4f}{sk['auc']:>16.4f}")
    print(f"{'holdout log loss':24}{ours['holdout']['log_loss']:>16.4f}{sk['log_loss']:>16.4f}")
    print(f"{'fit seconds (best of 3)':24}{ours['fit_seconds']:>16.4f}{sk['fit']:>16.4f}")
    print(f"{'features':24}{ours['features']:>16}{sk['features']:>16}")
    print(f"{'lambda / C':24}{ours['lambda']:>16g}{'C=1':>16}")
    print(f"{'leadq total seconds':24}{ours['total_seconds']:>16.3f}   (read, 5-fold x {len(ours['lambdas'])} lambdas, fit, report)")
    print(f"{'leadq peak RSS MiB':24}{peak:>16.1f}")
    return {"leadq": ours, "sklearn": sk}


def synthetic(args):
    path = os.path.join(args.out, f"synth-{args.rows}x{args.cols}.csv")
    ids_path = os.path.join(args.out, f"synth-{args.rows}x{args.cols}-test-ids.txt")
    rng = np.random.default_rng(20261123)
    # Known weights on features of varied means and scales: logit = -0.5 + sum_j w_j * x_j.
    means = rng.normal(0, 5, args.cols)
    scales = rng.uniform(0.5, 20, args.cols)
    weights = rng.normal(0, 0.3, args.cols) / scales
    if not (os.path.exists(path) and os.path.exists(ids_path)):
        start = time.perf_counter()
        x = rng.standard_normal((args.rows, args.cols)) * scales + means
        z = -0.5 + (x - means) @ weights
        y = (rng.random(args.rows) < 1 / (1 + np.exp(-z))).astype(np.int8)
        df = pd.DataFrame(x.astype(np.float32), columns=[f"x{j}" for j in range(args.cols)])
        df.insert(0, "y", y)
        df.insert(0, "id", np.arange(args.rows))
        df.to_csv(path, index=False, float_format="%.6g")
        _, test_idx = train_test_split(np.arange(args.rows), test_size=0.2, stratify=y, random_state=42)
        with open(ids_path, "w") as f:
            f.write("\n".join(map(str, np.sort(test_idx))) + "\n")
        print(f"\n(generated {path} in {time.perf_counter() - start:.1f} s)")

    df = pd.read_csv(path)
    test_ids = np.loadtxt(ids_path, dtype=np.int64)
    is_test = np.isin(df["id"].to_numpy(), test_ids)
    y = df["y"].to_numpy()
    x = df.drop(columns=["id", "y"]).to_numpy(dtype=np.float64)
    del df
    scaler = StandardScaler().fit(x[~is_test])
    xtr, xte = scaler.transform(x[~is_test]), scaler.transform(x[is_test])
    del x
    model, sk_fit = timed_fit(xtr, y[~is_test], REPEATS)
    sk_auc = roc_auc_score(y[is_test], model.predict_proba(xte)[:, 1])
    sk_ll = log_loss(y[is_test], model.predict_proba(xte)[:, 1])
    sk_iter = int(model.n_iter_[0])
    del xtr, xte

    cmd = [
        args.leadq, "backtest", "--csv", path, "--target", "y", "--positive", "1", "--id", "id",
        "--test-ids", ids_path, "--folds", "0", "--lambda", "1", "--format", "json",
    ]
    ours, peak, how = run_leadq(cmd)
    print(f"\n## Synthetic {args.rows:,} x {args.cols} (numeric, known weights), 80/20 split, one thread each")
    print("leadq command: " + " ".join(cmd))
    print(f"{'':24}{'leadq':>16}{'scikit-learn':>16}")
    print(f"{'fit seconds (best of 3)':24}{ours['fit_seconds']:>16.3f}{sk_fit:>16.3f}   speed-up {sk_fit / ours['fit_seconds']:.1f}x")
    print(f"{'iterations':24}{ours['iterations']:>16}{sk_iter:>16}   ({ours['solver']} vs lbfgs)")
    print(f"{'holdout AUC':24}{ours['holdout']['auc']:>16.4f}{sk_auc:>16.4f}   difference {abs(ours['holdout']['auc'] - sk_auc):.5f}")
    print(f"{'holdout log loss':24}{ours['holdout']['log_loss']:>16.4f}{sk_ll:>16.4f}")
    print(f"{'leadq peak RSS MiB':24}{peak:>16.1f}   ({how}; whole process: CSV read, encode, fit, metrics)")
    print(f"{'leadq total seconds':24}{ours['total_seconds']:>16.2f}   (CSV read and parse included)")
    return {"leadq": ours, "sklearn": {"fit": sk_fit, "auc": sk_auc, "log_loss": sk_ll}, "peak_mib": peak}


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--leadq", required=True)
    parser.add_argument("--leads", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--cols", type=int, default=50)
    args = parser.parse_args()
    import sklearn

    print(f"# leadq vs scikit-learn {sklearn.__version__} (numpy {np.__version__}, pandas {pd.__version__})")
    print(f"machine: {machine()}; date: {datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}")
    results = {"xedu": x_education(args), "synthetic": synthetic(args)}
    with open(os.path.join(args.out, "results.json"), "w") as f:
        json.dump(results, f, indent=2, default=float)
    print(f"\n(results in {os.path.join(args.out, 'results.json')})")


if __name__ == "__main__":
    main()
