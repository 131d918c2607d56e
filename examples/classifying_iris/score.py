"""Load a downloaded model.pkl and predict a sample.

Usage: python score.py [outputs/model.pkl]
Get the model first: runstream asset download --link-file assets/model.pkl.link -d outputs
"""

import pickle
import sys

import numpy as np


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else "outputs/model.pkl"
    with open(path, "rb") as f:
        model = pickle.load(f)
    sample = np.c_[[[3.0, 3.6, 1.3, 0.25]], np.random.RandomState(0).randn(1, 40)]
    print(f"Predicted class is {model.predict(sample)[0]}")


if __name__ == "__main__":
    main()
