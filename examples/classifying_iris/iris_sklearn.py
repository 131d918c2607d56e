"""Classify the iris data set with logistic regression, logging to runstream.

Usage: python iris_sklearn.py [regularization rate]   (default 0.01)
Run it as a tracked run with: runstream submit -c local iris_sklearn.py 0.5
"""

import os
import pickle
import sys

import numpy as np
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import precision_recall_curve
from sklearn.model_selection import train_test_split

import runstream

run_logger = runstream.get_logger()

print(f"Python version: {sys.version}")
print()

# load Iris dataset
iris = load_iris()
print(f"Iris dataset shape: {iris.data.shape}")

# load features and labels; name the labels as the classic CSV did
X = iris.data
Y = iris.target_names[iris.target].astype(object)
Y = np.array(["Iris-" + label for label in Y])

# add n more random features to make the problem harder to solve
# number of new random features to add
n = 40
random_state = np.random.RandomState(0)
n_samples, n_features = X.shape
X = np.c_[X, random_state.randn(n_samples, n)]
print(f"X.shape = {X.shape}")

# split data 65%-35% into training set and test set
X_train, X_test, Y_train, Y_test = train_test_split(X, Y, test_size=0.35, random_state=0)

# change regularization rate and you will likely get a different accuracy.
reg = 0.01
# load regularization rate from argument if present
if len(sys.argv) > 1:
    reg = float(sys.argv[1])

print(f"Regularization rate is {reg}")

# log the regularization rate: as a metric (charted with the others) and as the
# run's parameter `reg` (a column of the runs table; filter on it: params.reg < 1)
run_logger.log("Regularization Rate", reg)
run_logger.log_param("reg", reg)

# train a logistic regression model on the training set
clf1 = LogisticRegression(C=1 / reg, max_iter=1000).fit(X_train, Y_train)
print(clf1)

# evaluate the test set
accuracy = clf1.score(X_test, Y_test)
print(f"Accuracy is {accuracy}")

# log accuracy
run_logger.log("Accuracy", accuracy)

# calculate and log precision, recall, and thresholds, which are lists of numerical values
y_scores = clf1.predict_proba(X_test)
precision, recall, thresholds = precision_recall_curve(
    Y_test, y_scores[:, 1], pos_label="Iris-versicolor")
run_logger.log("Precision", precision)
run_logger.log("Recall", recall)
run_logger.log("Thresholds", thresholds)

# F1 at each threshold (0 where precision and recall are both 0)
denominator = precision + recall
fscore = np.divide(2 * precision * recall, denominator, out=np.zeros_like(denominator),
                   where=denominator > 0)
max_f1 = max(fscore)  # a numpy.float64: runstream takes NumPy values as they are
run_logger.log("Fscore", fscore)
run_logger.log("MaxFscore", max_f1)
print(f"Max F_1 is {max_f1}")

print("")
print("==========================================")
print("Serialize and deserialize using the outputs folder.")
print("")

# serialize the model on disk in the special 'outputs' folder
print("Export the model to model.pkl")
os.makedirs("./outputs", exist_ok=True)
with open("./outputs/model.pkl", "wb") as f:
    pickle.dump(clf1, f)

# load the model back from the 'outputs' folder into memory
print("Import the model from model.pkl")
with open("./outputs/model.pkl", "rb") as f:
    clf2 = pickle.load(f)

# predict on a new sample
X_new = [[3.0, 3.6, 1.3, 0.25]]
print(f"New sample: {X_new}")

# add random features to match the training data
X_new_with_random_features = np.c_[X_new, random_state.randn(1, n)]

# score on the new sample
pred = clf2.predict(X_new_with_random_features)
print(f"Predicted class is {pred}")
run_logger.log("Predicted class", pred[0])  # a numpy.str_

try:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import ConfusionMatrixDisplay, RocCurveDisplay

    ConfusionMatrixDisplay.from_estimator(clf1, X_test, Y_test, xticks_rotation=30)
    plt.title("Confusion matrix")
    plt.tight_layout()
    plt.savefig("./outputs/cm.png")
    plt.close("all")

    RocCurveDisplay.from_predictions(Y_test == "Iris-versicolor", y_scores[:, 1],
                                     name="Iris-versicolor")
    plt.title("ROC")
    plt.savefig("./outputs/roc.png")
    plt.close("all")
    print("Plotted the confusion matrix and ROC curve into outputs/")
except ImportError:
    print("matplotlib is not installed: no plots")

run_logger.wait()
