"""The lab's Task 4 in Python: 5-fold cross-validation of a logistic
regression on Iris, each fold a parallel remote task. The folds are the
Rust task4's own linfa code, called by name from this Python driver (a
plugin in another language):

    raylab-host run guest-tasks/python/lab/task4.py \\
        --plugin task4=guest-tasks/target/wasm32-wasip2/release/task4.wasm

Values cross between the languages as MessagePack: a Rust struct is a dict
of its fields, an enum variant ``{"Variant": {fields}}``, ``None`` is nil.
"""

import argparse
import statistics
import time

import raylab

dataset = raylab.remote_function("task4/dataset")
evaluate = raylab.remote_function("task4/evaluate")


def main():
    parser = argparse.ArgumentParser(prog="task4.py")
    parser.add_argument("--alpha", type=float, default=1.0)
    parser.add_argument("--max-iterations", type=int, default=200)
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args()
    model = {"Logistic": {"alpha": args.alpha, "max_iterations": args.max_iterations}}

    start = time.perf_counter()
    data = dataset.remote(args.seed)  # stays in the store; each fold reads it
    folds = raylab.get([evaluate.remote(data, fold, model, None) for fold in range(5)])
    took = (time.perf_counter() - start) * 1e3

    print("Task 4 (Python driver, Rust linfa folds): 5-fold cross-validation on Iris")
    print("model: logistic(alpha=%g, max_iterations=%d)" % (args.alpha, args.max_iterations))
    print("%-6s %9s" % ("fold", "accuracy"))
    for f in folds:
        print("%-6d %9.4f" % (f["fold"], f["accuracy"]))
    accuracies = [f["accuracy"] for f in folds]
    print("mean accuracy: %.4f ± %.4f" % (statistics.mean(accuracies), statistics.pstdev(accuracies)))
    print("parallel time: %.1f ms (5 fold tasks)" % took)


if __name__ == "__main__":
    main()
