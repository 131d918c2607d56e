"""Classify the iris data set with logistic regression, logging with MLflow.

The same experiment as iris_sklearn.py, written for MLflow instead of runstream's own
logger: runstream's server is an MLflow tracking server too.

Usage: python iris_mlflow.py [regularization rate]   (default 0.01)
- As a tracked run: runstream submit -c local iris_mlflow.py 0.5
  submit points MLflow at the run (MLFLOW_TRACKING_URI, MLFLOW_RUN_ID): its printed
  lines, what MLflow logs and its outputs/ are one run.
- On its own: MLFLOW_TRACKING_URI=http://127.0.0.1:8787 python iris_mlflow.py 0.5
  MLflow makes the run (in the experiment named by MLFLOW_EXPERIMENT_NAME, else
  Default), live on the dashboard like any other.
Needs mlflow (or mlflow-skinny with pandas, which mlflow.sklearn imports) besides
requirements.txt; the docker-mlflow target of runstream.toml installs them.
"""

import os
import pickle
import sys

import mlflow
import numpy as np
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import precision_recall_curve
from sklearn.model_selection import train_test_split

# Every fit logs its parameters (C, max_iter, …), its training metrics and the model.
# Set IRIS_LOG_MODELS=0 to skip the model (logging one infers its pip requirements,
# which takes some seconds).
mlflow.sklearn.autolog(log_models=os.environ.get("IRIS_LOG_MODELS", "1") != "0")

print(f"Python version: {sys.version}")
print(f"MLflow {mlflow.__version__}, tracking to {mlflow.get_tracking_uri()}")

# load Iris dataset and name the labels as the classic CSV did
iris = load_iris()
X = iris.data
Y = np.array(["Iris-" + label for label in iris.target_names[iris.target]])

# add 40 random features to make the problem harder to solve
random_state = np.random.RandomState(0)
X = np.c_[X, random_state.randn(X.shape[0], 40)]
print(f"X.shape = {X.shape}")

X_train, X_test, Y_train, Y_test = train_test_split(X, Y, test_size=0.35, random_state=0)

reg = float(sys.argv[1]) if len(sys.argv) > 1 else 0.01
print(f"Regularization rate is {reg}")

# Under `runstream submit` this resumes the submitted run (MLFLOW_RUN_ID); on its own it
# makes one. Its end does not end a submitted run: the script's exit does.
with mlflow.start_run() as run:
    print(f"MLflow run {run.info.run_id}")
    mlflow.log_param("reg", reg)  # the runs table's column `reg`: filter params.reg < 1

    clf = LogisticRegression(C=1 / reg, max_iter=1000).fit(X_train, Y_train)
    accuracy = clf.score(X_test, Y_test)
    print(f"Accuracy is {accuracy}")
    mlflow.log_metric("Accuracy", accuracy)

    # F1 over the thresholds of the precision-recall curve of one class
    y_scores = clf.predict_proba(X_test)
    precision, recall, _ = precision_recall_curve(Y_test, y_scores[:, 1],
                                                  pos_label="Iris-versicolor")
    denominator = precision + recall
    fscore = np.divide(2 * precision * recall, denominator, out=np.zeros_like(denominator),
                       where=denominator > 0)
    max_f1 = float(max(fscore))
    print(f"Max F_1 is {max_f1}")
    mlflow.log_metric("MaxFscore", max_f1)
    for step, value in enumerate(fscore):  # a curve: one point per step
        mlflow.log_metric("Fscore", float(value), step=step)

    # outputs/ is stored with the run by runstream's agent, as for iris_sklearn.py
    os.makedirs("outputs", exist_ok=True)
    with open("outputs/model.pkl", "wb") as f:
        pickle.dump(clf, f)
    print("Exported the model to outputs/model.pkl")

    pred = clf.predict(np.c_[[[3.0, 3.6, 1.3, 0.25]], random_state.randn(1, 40)])
    print(f"Predicted class is {pred}")
    mlflow.set_tag("predicted_class", str(pred[0]))
