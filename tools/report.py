#!/usr/bin/env python3
"""Writes report.md for a directory tools/reproduce.sh filled (standard library only).

  tools/report.py DIR [--r2g2 PATH] [--out DIR/report.md]

DIR holds settings.json (mode, seeds, budgets), runs.tsv (one line per command run:
name, status, exit code, seconds, command), logs/<data>/<model>-<estimator>-s<seed>.json
(`r2g2 train --log-json`), variance/*.csv and figures/*.png. The report has the paper's
table layouts (classification, VAE test bounds, speed) as mean +- 1.96 sd / sqrt(n) over
the seeds, the figures, the commands, the machine and every reduction of the run's budgets
against the paper's.
"""
import argparse
import datetime
import glob
import json
import math
import os
import platform
import subprocess
import sys

# The paper's budgets, against which a run's settings are stated as reductions.
PAPER = {
    "seeds": 5,
    "mlp": {"steps": 15000, "lr": 1e-4, "batch": 80, "hidden": "1024,1024", "test_examples": 0,
            "train_eval_examples": 0, "eval_samples": 10},
    "vgg11": {"steps": 12500, "lr": 1e-4, "batch": 80, "width_divisor": 1, "train_examples": 0, "test_examples": 0,
              "train_eval_examples": 0, "eval_samples": 10},
    "vae": {"steps": 100000, "lr": 3e-4, "batch": 80, "test_examples": 0, "iwae_samples": 5000},
}
FAMILY_LABEL = {"mlp": "Bayesian MLP", "vgg11": "Bayesian VGG-11", "vae": "VAEs"}
ESTIMATOR_ORDER = ["rt", "lrt", "flipout", "r2g2", "r2g2-paper", "r2g2-shared", "score"]


def load_json(path):
    with open(path) as f:
        return json.load(f)


def family(model):
    return "vae" if model.startswith("vae") else model


def num(value):
    """A JSON number as float; null (NaN written by r2g2) and missing values are NaN."""
    return math.nan if value is None else float(value)


def mean_ci(values):
    """(mean, 1.96 * sd / sqrt(n), n) over the finite values."""
    finite = [v for v in values if math.isfinite(v)]
    n = len(finite)
    if n == 0:
        return math.nan, math.nan, 0
    mean = sum(finite) / n
    if n == 1:
        return mean, math.nan, 1
    sd = math.sqrt(sum((v - mean) ** 2 for v in finite) / (n - 1))
    return mean, 1.96 * sd / math.sqrt(n), n


def fmt(values, scale=1.0, digits=4):
    mean, half, n = mean_ci([v * scale for v in values])
    if n == 0:
        return "–"
    if n == 1:
        return f"{mean:.{digits}f} (1 seed)"
    return f"{mean:.{digits}f} ± {half:.{digits}f}"


def estimator_key(name):
    return (ESTIMATOR_ORDER.index(name) if name in ESTIMATOR_ORDER else len(ESTIMATOR_ORDER), name)


def read_logs(directory):
    """Every train JSON log under DIR/logs, each with the data set taken from its folder."""
    logs = []
    for path in sorted(glob.glob(os.path.join(directory, "logs", "**", "*.json"), recursive=True)):
        try:
            log = load_json(path)
        except (OSError, ValueError) as e:
            print(f"report.py: skipping {path}: {e}", file=sys.stderr)
            continue
        if log.get("command") != "train":
            continue
        log["_data"] = log.get("data") or os.path.basename(os.path.dirname(path))
        log["_path"] = os.path.relpath(path, directory)
        logs.append(log)
    return logs


def read_runs(directory):
    runs = []
    path = os.path.join(directory, "runs.tsv")
    if not os.path.exists(path):
        return runs
    with open(path) as f:
        for line in f:
            parts = line.rstrip("\n").split("\t")
            if len(parts) >= 5 and parts[0] != "name":
                runs.append({"name": parts[0], "status": parts[1], "code": parts[2],
                             "seconds": float(parts[3] or 0), "command": "\t".join(parts[4:])})
    return runs


def group(logs, key):
    out = {}
    for log in logs:
        out.setdefault(key(log), []).append(log)
    return out


def classification_table(logs):
    rows = [l for l in logs if family(l["model"]) in ("mlp", "vgg11")]
    if not rows:
        return ["No classification runs finished."]
    lines = ["| model | data | estimator | seeds | train LL | test LL | train acc % | test acc % | test ECE |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    groups = group(rows, lambda l: (l["model"], l["_data"], l["estimator"]))
    for (model, data, estimator) in sorted(groups, key=lambda k: (k[0], k[1], estimator_key(k[2]))):
        g = groups[(model, data, estimator)]
        test = [l.get("test") or {} for l in g]
        train = [l.get("train") or {} for l in g]
        lines.append("| " + " | ".join([
            model, data, estimator, str(len(g)),
            fmt([num(t.get("log_likelihood")) for t in train]),
            fmt([num(t.get("log_likelihood")) for t in test]),
            fmt([num(t.get("accuracy")) for t in train], 100.0, 2),
            fmt([num(t.get("accuracy")) for t in test], 100.0, 2),
            fmt([num(t.get("ece")) for t in test]),
        ]) + " |")
    return lines


def vae_table(logs):
    rows = [l for l in logs if family(l["model"]) == "vae"]
    if not rows:
        return ["No VAE runs finished."]
    ks = sorted({int((l.get("test") or {}).get("iwae_samples") or 0) for l in rows})
    lines = [f"Test importance-weighted bound (nats per image, higher is better), K = {', '.join(map(str, ks))}.",
             "", "| stochastic layers | data | estimator | seeds | test IWAE bound |",
             "| --- | --- | --- | --- | --- |"]
    groups = group(rows, lambda l: (l["model"], l["_data"], l["estimator"]))
    for (model, data, estimator) in sorted(groups, key=lambda k: (k[1], k[0], estimator_key(k[2]))):
        g = groups[(model, data, estimator)]
        layers = model[3:] if model[3:].isdigit() else model
        bounds = [num((l.get("test") or {}).get("iwae_bound")) for l in g]
        lines.append(f"| {layers} | {data} | {estimator} | {len(g)} | {fmt(bounds, 1.0, 2)} |")
    return lines


def speed_table(logs):
    if not logs:
        return ["No runs finished."]
    lines = ["| model | data | estimator | seeds | steps/s | ratio to rt |", "| --- | --- | --- | --- | --- | --- |"]
    groups = group(logs, lambda l: (l["model"], l["_data"], l["estimator"]))
    means = {k: mean_ci([num(l.get("steps_per_second")) for l in g])[0] for k, g in groups.items()}
    for key in sorted(groups, key=lambda k: (k[0], k[1], estimator_key(k[2]))):
        model, data, estimator = key
        rt = means.get((model, data, "rt"), math.nan)
        ratio = f"{means[key] / rt:.2f}" if math.isfinite(rt) and rt > 0 and math.isfinite(means[key]) else "–"
        lines.append(f"| {model} | {data} | {estimator} | {len(groups[key])} | "
                     f"{fmt([num(l.get('steps_per_second')) for l in groups[key]], 1.0, 2)} | {ratio} |")
    return lines


def reductions(settings):
    """One line per budget of this run that is smaller than (or differs from) the paper's."""
    lines = []
    seeds = len(settings.get("seeds", []))
    if seeds and seeds < PAPER["seeds"]:
        lines.append(f"- seeds: {seeds} instead of the paper's {PAPER['seeds']}")
    described = {"steps": "training steps", "lr": "learning rate", "batch": "batch size",
                 "hidden": "hidden widths", "width_divisor": "conv widths divided by",
                 "train_examples": "training examples used (N of the ELBO)",
                 "test_examples": "test examples scored", "train_eval_examples": "training examples scored",
                 "eval_samples": "Monte-Carlo samples per prediction", "iwae_samples": "IWAE samples K"}
    for fam, paper in PAPER.items():
        if fam == "seeds":
            continue
        ours = settings.get("budgets", {}).get(fam)
        if ours is None:
            lines.append(f"- {FAMILY_LABEL[fam]}: not run")
            continue
        for key, paper_value in paper.items():
            if key not in ours or ours[key] == paper_value:
                continue
            value = ours[key]
            if key in ("train_examples", "test_examples", "train_eval_examples"):
                shown_paper = "the whole split" if paper_value == 0 else paper_value
                shown = "the whole split" if value == 0 else f"the first {value}"
                lines.append(f"- {FAMILY_LABEL[fam]}: {described[key]}: {shown} instead of {shown_paper}")
            else:
                lines.append(f"- {FAMILY_LABEL[fam]}: {described[key]}: {value} instead of the paper's {paper_value}")
    for note in settings.get("notes", []):
        lines.append(f"- {note}")
    return lines or ["- none: the paper's budgets"]


def machine(r2g2):
    lines = [f"- host: {platform.node()}, {platform.system()} {platform.release()}",
             f"- cores (nproc): {os.cpu_count()}"]
    try:
        with open("/proc/cpuinfo") as f:
            models = [l.split(":", 1)[1].strip() for l in f if l.startswith("model name")]
        if models:
            lines.append(f"- CPU: {models[0]}")
    except OSError:
        pass
    if r2g2:
        try:
            info = subprocess.run([r2g2, "info"], capture_output=True, text=True, timeout=60).stdout
            lines += ["- `r2g2 info`:", "", "```", info.rstrip(), "```"]
        except (OSError, subprocess.SubprocessError) as e:
            lines.append(f"- `r2g2 info` failed: {e}")
    return lines


def figures(directory, out_dir):
    paths = sorted(glob.glob(os.path.join(directory, "figures", "*.png")))
    lines = []
    for path in paths:
        name = os.path.splitext(os.path.basename(path))[0]
        lines += [f"![{name}]({os.path.relpath(path, out_dir)})", ""]
    return lines or ["No figures were drawn."]


def write_report(directory, out_path, r2g2):
    settings_path = os.path.join(directory, "settings.json")
    settings = load_json(settings_path) if os.path.exists(settings_path) else {}
    logs = read_logs(directory)
    runs = read_runs(directory)
    failed = [r for r in runs if r["status"] != "ok"]
    out_dir = os.path.dirname(os.path.abspath(out_path))
    total = sum(r["seconds"] for r in runs)
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = [f"# r2g2 reproduction ({settings.get('mode', 'unknown mode')})", "",
             f"Started {settings.get('date', 'at an unrecorded time')}, report written {now}. "
             f"{len(runs)} commands, {len(failed)} failed, {total / 60:.1f} minutes of runs. "
             "Each cell is the mean over seeds ± 1.96 sd / sqrt(n).", ""]
    if "invocation" in settings:
        load = settings.get("load_average", {})
        lines += [f"Made by `{settings['invocation']}`: {settings.get('elapsed_seconds', 0) / 60:.1f} minutes from "
                  f"start to the last run (data step{' and build' if settings.get('built') else ''} included); "
                  f"load average (1, 5, 15 min) "
                  f"{load.get('start', '?')} at the start, {load.get('end', '?')} at the end.", ""]
    if failed:
        lines += ["**Failed runs** (their rows are missing below):", ""]
        lines += [f"- `{r['name']}` (exit {r['code']}): `{r['command']}`" for r in failed]
        lines.append("")
    lines += ["## Reductions against the paper", ""] + reductions(settings) + [""]
    lines += ["## Classification (Bayesian MLP and VGG-11)", ""] + classification_table(logs) + [""]
    lines += ["Train figures score the first training examples as stated under Reductions; LL is the mean "
              "log-likelihood of the Monte-Carlo predictive distribution.", ""]
    lines += ["## VAEs", ""] + vae_table(logs) + [""]
    lines += ["## Speed", "", "Training steps per second as `r2g2 train` measured them (steps / training seconds).", ""]
    lines += speed_table(logs) + [""]
    lines += ["## Figures", ""] + figures(directory, out_dir)
    lines += ["## Machine", ""] + machine(r2g2) + [""]
    lines += ["## Commands", "", "```sh"] + [r["command"] for r in runs] + ["```", ""]
    with open(out_path + ".tmp", "w") as f:
        f.write("\n".join(lines))
    os.replace(out_path + ".tmp", out_path)
    return out_path


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("directory")
    parser.add_argument("--r2g2", help="the r2g2 program, for `r2g2 info` in the machine section")
    parser.add_argument("--out", help="the report (default DIR/report.md)")
    args = parser.parse_args(argv)
    if not os.path.isdir(args.directory):
        sys.exit(f"report.py: {args.directory}: no such directory")
    print(write_report(args.directory, args.out or os.path.join(args.directory, "report.md"), args.r2g2))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
