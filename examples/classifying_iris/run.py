"""Submit iris_sklearn.py once per regularization rate: 10, 5, 2.5, … while > 0.005.

That is 11 runs, the last with 0.009765625. Usage: python run.py [-c TARGET] [--wait] [--mlflow]
By default the runs are detached (they run side by side); --wait runs them one after
another and streams each one's output. --mlflow submits iris_mlflow.py instead, the
same experiment logged with MLflow (needs mlflow or mlflow-skinny installed).
"""

import argparse
import subprocess
import sys


def rates():
    reg = 10.0
    while reg > 0.005:
        yield reg
        reg /= 2


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-c", "--target", default="local", help="compute target (default local)")
    parser.add_argument("--wait", action="store_true", help="run one at a time, in the foreground")
    parser.add_argument("--mlflow", action="store_true", help="submit iris_mlflow.py (MLflow)")
    args = parser.parse_args()
    failed = 0
    for reg in rates():
        cmd = ["runstream", "submit", "-c", args.target]
        if not args.wait:
            cmd.append("--detach")
        cmd += ["iris_mlflow.py" if args.mlflow else "iris_sklearn.py", repr(reg)]
        print(" ".join(cmd), flush=True)
        failed += subprocess.call(cmd) != 0
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
