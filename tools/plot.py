"""Figures from the logs `r2g2 train --log-csv` and `r2g2 variance --model ... --csv` write.

  /usr/bin/python3 tools/plot.py training LOG.csv [LOG.csv ...] --out DIR
  /usr/bin/python3 tools/plot.py variance VAR.csv [VAR.csv ...] --out DIR

training: one figure per (model, data set): the loss, its data term (NLL; the rest is the
KL term) and, for the classifiers, the batch accuracy against the step, one line per estimator, the mean over
seeds with a band of +-1.96 standard errors where several seeds ran.
variance: one figure per (model, estimator trained with): log10 of the gradient variance
(per coordinate, averaged over the coordinates) against the step, one panel per parameter
tensor, one line per compared estimator, as the paper's variance-over-training figures.
Each figure is written as PNG and SVG; the paths written are printed, one a line.
"""
import argparse
import csv
import math
import os
import sys
from collections import defaultdict

TRAINING_COLUMNS = ["model", "estimator", "seed", "step", "epoch", "loss", "nll", "kl", "accuracy",
                    "step_seconds", "elapsed_seconds"]
VARIANCE_COLUMNS = ["model", "trained_with", "step", "parameter", "estimator", "mean_variance",
                    "mean_abs_grad", "draws"]
METRIC_LABELS = {"loss": "training loss per example (NLL + KL term)", "nll": "NLL per example (data term)",
                 "accuracy": "batch accuracy"}
# Estimators in the order (and colours) every figure uses, so one estimator looks the same everywhere.
ESTIMATOR_ORDER = ["rt", "lrt", "flipout", "r2g2", "r2g2-paper", "r2g2-shared", "score"]


def import_pyplot():
    try:
        import matplotlib
    except ImportError:
        sys.exit("plot.py: matplotlib is missing: install it with 'apt-get install python3-matplotlib' "
                 "and run this with /usr/bin/python3")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def to_float(text):
    """A CSV cell as a float; empty, 'nan' or 'null' cells are NaN."""
    if text is None or text.strip() in ("", "nan", "null", "-nan"):
        return math.nan
    return float(text)


def read_rows(path, columns):
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        if reader.fieldnames is None:
            sys.exit(f"plot.py: {path} is empty")
        missing = [c for c in columns if c not in reader.fieldnames]
        if missing:
            sys.exit(f"plot.py: {path} lacks the column(s) {', '.join(missing)} "
                     f"(expected {','.join(columns)})")
        return list(reader)


def estimator_sort_key(name):
    base = name.split(":")[0]
    return (ESTIMATOR_ORDER.index(base) if base in ESTIMATOR_ORDER else len(ESTIMATOR_ORDER), name)


def estimator_style(name):
    """Colour, line style and marker: distinct even where two estimators' curves coincide
    (LRT and R2-G2 do on the MLP)."""
    styles = [("-", "o"), ("--", "s"), (":", "^"), ("-.", "D"), ((0, (1, 1)), "v"), ((0, (5, 1, 1, 1, 1, 1)), "x"),
              ((0, (8, 2)), "P")]
    base = name.split(":")[0]
    index = ESTIMATOR_ORDER.index(base) if base in ESTIMATOR_ORDER else len(name)
    line, marker = styles[index % len(styles)]
    return {"color": estimator_colour(name), "linestyle": line, "marker": marker}


def estimator_colour(name):
    palette = ["#1f77b4", "#ff7f0e", "#9467bd", "#2ca02c", "#d62728", "#8c564b", "#7f7f7f"]
    base = name.split(":")[0]
    if base in ESTIMATOR_ORDER:
        return palette[ESTIMATOR_ORDER.index(base) % len(palette)]
    return palette[len(name) % len(palette)]


def mean_and_band(values):
    """The mean of the finite values and the half-width 1.96 * sd / sqrt(n) (0 for one value)."""
    finite = [v for v in values if math.isfinite(v)]
    n = len(finite)
    if n == 0:
        return math.nan, 0.0
    mean = sum(finite) / n
    if n < 2:
        return mean, 0.0
    var = sum((v - mean) ** 2 for v in finite) / (n - 1)
    return mean, 1.96 * math.sqrt(var / n)


def save_figure(plt, fig, out_dir, stem):
    paths = []
    for ext in ("png", "svg"):
        path = os.path.join(out_dir, f"{stem}.{ext}")
        fig.savefig(path, dpi=120, bbox_inches="tight")
        paths.append(path)
    plt.close(fig)
    for p in paths:
        print(p)
    return paths


def safe_stem(text):
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in text)


def plot_training(paths, out_dir):
    plt = import_pyplot()
    # (model, data) -> estimator -> metric -> step -> [value per seed]
    curves = defaultdict(lambda: defaultdict(lambda: defaultdict(lambda: defaultdict(list))))
    for path in paths:
        data = data_set_of(path)
        for row in read_rows(path, TRAINING_COLUMNS):
            key = (row["model"], data)
            step = int(row["step"])
            for metric in ("loss", "nll", "accuracy"):
                curves[key][row["estimator"]][metric][step].append(to_float(row[metric]))
    if not curves:
        sys.exit("plot.py: the training logs hold no rows")
    written = []
    for (model, data), by_estimator in sorted(curves.items()):
        has_accuracy = any(math.isfinite(v) for est in by_estimator.values()
                           for vals in est["accuracy"].values() for v in vals)
        metrics = ["loss", "nll", "accuracy"] if has_accuracy else ["loss", "nll"]
        fig, axes = plt.subplots(1, len(metrics), figsize=(5.2 * len(metrics), 3.8), squeeze=False)
        for ax, metric in zip(axes[0], metrics):
            for estimator in sorted(by_estimator, key=estimator_sort_key):
                series = by_estimator[estimator][metric]
                steps = sorted(series)
                stats = [mean_and_band(series[s]) for s in steps]
                means = [m for m, _ in stats]
                if not any(math.isfinite(m) for m in means):
                    continue
                seeds = max(len(series[s]) for s in steps)
                colour = estimator_colour(estimator)
                label = estimator if seeds < 2 else f"{estimator} ({seeds} seeds)"
                style = estimator_style(estimator)
                style["marker"] = None
                ax.plot(steps, means, label=label, linewidth=1.4, **style)
                if seeds > 1:
                    ax.fill_between(steps, [m - b for m, b in stats], [m + b for m, b in stats],
                                    color=colour, alpha=0.2, linewidth=0)
            ax.set_xlabel("step")
            ax.set_ylabel(METRIC_LABELS[metric])
            ax.grid(True, alpha=0.3)
            ax.legend(fontsize=8)
        title = f"{model} on {data}" if data else model
        fig.suptitle(f"{title}: training curves (mean over seeds, band 1.96 se)", fontsize=10)
        stem = safe_stem(f"training-{model}" + (f"-{data}" if data else ""))
        written += save_figure(plt, fig, out_dir, stem)
    return written


def data_set_of(path):
    """The data set a log belongs to, read from the directory tools/reproduce.sh puts it in
    (logs/<data>/...); empty when the file is not in such a directory."""
    parent = os.path.basename(os.path.dirname(os.path.abspath(path)))
    return "" if parent in ("logs", "") else parent


def plot_variance(paths, out_dir):
    plt = import_pyplot()
    # (model, trained_with) -> parameter -> estimator -> [(step, variance)]
    series = defaultdict(lambda: defaultdict(lambda: defaultdict(list)))
    draws = {}
    for path in paths:
        for row in read_rows(path, VARIANCE_COLUMNS):
            key = (row["model"], row["trained_with"])
            series[key][row["parameter"]][row["estimator"]].append(
                (int(row["step"]), to_float(row["mean_variance"])))
            draws[key] = row["draws"]
    if not series:
        sys.exit("plot.py: the variance logs hold no rows")
    written = []
    for (model, trained_with), by_parameter in sorted(series.items()):
        parameters = list(by_parameter)  # in the order the log lists them
        cols = min(4, len(parameters))
        rows = (len(parameters) + cols - 1) // cols
        fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.3 * rows), squeeze=False)
        for index, parameter in enumerate(parameters):
            ax = axes[index // cols][index % cols]
            for estimator in sorted(by_parameter[parameter], key=estimator_sort_key):
                points = sorted(by_parameter[parameter][estimator])
                steps = [s for s, v in points if v > 0 and math.isfinite(v)]
                logs = [math.log10(v) for s, v in points if v > 0 and math.isfinite(v)]
                if steps:
                    ax.plot(steps, logs, markersize=4, linewidth=1.4, label=estimator,
                            markerfacecolor="none", **estimator_style(estimator))
            ax.set_title(parameter, fontsize=9)
            ax.set_xlabel("training step")
            ax.set_ylabel("log10 gradient variance")
            ax.grid(True, alpha=0.3)
            ax.legend(fontsize=8)
        for index in range(len(parameters), rows * cols):
            axes[index // cols][index % cols].axis("off")
        fig.suptitle(f"{model} trained with {trained_with}: gradient variance over training "
                     f"({draws[(model, trained_with)]} draws on one fixed batch)", fontsize=10)
        fig.tight_layout()
        written += save_figure(plt, fig, out_dir, safe_stem(f"variance-{model}-{trained_with}"))
    return written


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("kind", choices=["training", "variance"])
    parser.add_argument("logs", nargs="+", help="CSV logs")
    parser.add_argument("--out", required=True, help="directory for the figures (created)")
    args = parser.parse_args(argv)
    for path in args.logs:
        if not os.path.isfile(path):
            sys.exit(f"plot.py: {path}: no such file")
    os.makedirs(args.out, exist_ok=True)
    if args.kind == "training":
        plot_training(args.logs, args.out)
    else:
        plot_variance(args.logs, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
