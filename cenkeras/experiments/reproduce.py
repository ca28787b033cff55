"""`cenkeras reproduce`: run the rows of one of the paper's tables and write its markdown and chart.

Each row is a separate run under `OUT/<row key>/` (a normal run directory:
`cenkeras eval`, `export` and `inspect` work on it). A row with an
`eval.json` is finished and is not run again; a row that was interrupted
resumes from its backup. The results go to `OUT/<table>.md` (markdown),
`OUT/<table>.png` (bar chart) and `OUT/<table>.json`.
"""

import copy
import dataclasses
import json
import time
from pathlib import Path

from cenkeras import config as config_lib
from cenkeras.training.callbacks import TrainingDiverged, write_json
from cenkeras.training.runs import RunDirectory, resume_may_change
from cenkeras.tasks import get_task, task_for
from cenkeras.tasks.jobs import with_data_root
from cenkeras.experiments.protocol import protocol_lines
from cenkeras.experiments.tables import table as find_table


def plan(table_name, recipe, overrides=(), rows=None):
    """`(table, [(row, row recipe)])`: the rows to run, each recipe validated.

    `overrides` (`--set`) apply to every row, then the row's own overrides.
    `rows` (keys) selects rows; an unknown key is a ConfigError listing the known ones.
    """
    table = find_table(table_name)
    runs = table.runs
    if recipe.task != table.task:
        raise config_lib.ConfigError(
            f"{table.name} compares {table.task} models; recipe {recipe.name!r} is a {recipe.task} recipe."
        )
    selected = list(runs)
    if rows:
        known = {row.key: row for row in runs}
        unknown = [key for key in rows if key not in known]
        if unknown:
            raise config_lib.ConfigError(f"{table.name} has no rows {unknown}; its rows are {list(known)}.")
        selected = [known[key] for key in rows]
        # A row that evaluates another row's run needs that row: it joins the selection before it.
        for row in list(selected):
            if row.reuses and known[row.reuses] not in selected:
                selected.insert(selected.index(row), known[row.reuses])
    planned = []
    names = _placeholders(recipe)
    for row in selected:
        row_overrides = [override.format_map(names) for override in row.overrides]
        # An evaluation from some input domains names them by role too (`{shade}`).
        evaluation = tuple(
            (option, tuple(name.format_map(names) for name in value) if option == "modalities" else value)
            for option, value in row.evaluation
        )
        # The row as it runs on this recipe: the braces filled in, as `--dry-run` lists it.
        row = dataclasses.replace(row, overrides=tuple(row_overrides), evaluation=evaluation)
        row_recipe = config_lib.apply_overrides(copy.deepcopy(recipe), [*overrides, *row_overrides])
        row_recipe.name = f"{recipe.name}-{row.key}"
        planned.append((row, row_recipe))
    return table, planned


def _placeholders(recipe):
    """What the braces in a row's overrides stand for in `recipe`: a translation row's `{shade}`,
    ..., `{target}` (the recipe's domain names), a ResNet-152 row's `{resnet152_epochs}`."""
    paper_domains = getattr(recipe.data, "paper_domains", None)
    if paper_domains is not None:
        return {**paper_domains, "target": recipe.data.domains[-1]}
    return {"resnet152_epochs": ResNet152Epochs(recipe.train)}


class ResNet152Epochs:
    """`{resnet152_epochs}` of a row: `train.resnet152_epochs` (else `train.epochs`), checked when a
    row uses it to have a stage per learning rate of the recipe."""

    def __init__(self, train):
        self.train = train

    def __format__(self, spec):
        epochs = self.train.resnet152_epochs or self.train.epochs
        if len(epochs) != len(self.train.lr_encoder):
            raise config_lib.ConfigError(
                f"the ResNet-152 rows train train.resnet152_epochs {list(epochs)}, one stage per learning "
                f"rate, but the recipe has {len(self.train.lr_encoder)} stages (train.epochs "
                f"{list(self.train.epochs)}): set train.resnet152_epochs too."
            )
        return ",".join(str(count) for count in epochs)


def _check_same_recipe(run, row, row_recipe, finished):
    """A finished or interrupted row is reused only if it was run with the same recipe.

    An interrupted row may differ where resuming a run may change it (`RunDirectory.create`):
    its length, learning rates and determinism.
    """
    saved = config_lib.to_dict(run.load_recipe())
    wanted = config_lib.to_dict(row_recipe)
    differing = sorted(key for key in _differences(saved, wanted) if finished or not resume_may_change(key))
    if differing:
        raise config_lib.ConfigError(
            f"row {row.key!r}: {run.path} was run with other values for {differing[:6]}; "
            "use another --out, or delete that row's folder to run it again."
        )


def _differences(saved, wanted, prefix=""):
    for key in set(saved) | set(wanted):
        a, b = saved.get(key), wanted.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            yield from _differences(a, b, f"{prefix}{key}.")
        elif a != b:
            yield f"{prefix}{key}"


def seed_folder(out, key, seed, first_seed):
    """A row's run for `seed`: `OUT/<key>` for the recipe's own seed (a table run without --seeds),
    `OUT/<key>.seed<N>` for the others."""
    return Path(out) / (key if seed == first_seed else f"{key}.seed{seed}")


def reproduce(
    table_name,
    recipe,
    out_dir,
    overrides=(),
    rows=None,
    data_dir=None,
    inception_weights=None,
    verbose=1,
    log=print,
    seeds=1,
):
    """Run (or resume) every row of `table_name` with `recipe`, then write the table; returns its results.

    `seeds` > 1 runs each row with the recipe's `train.seed` and the next
    ones (the whole table per seed, in turn); a row's figure is then the mean
    over its seeds, with their standard deviation, and each seed's scores
    are kept. A row already run with a seed is reused.

    Returns `{"table", "title", "rows": [{"key", "label", "overrides", "parameters",
    "fusion_parameters", "scores", "seeds", "scores_by_seed", "std", "protocol", "seconds"}],
    "diverged": {key: message}}`, also written to `OUT/<table>.json`. A row whose loss
    became NaN/Inf is left out and named in "diverged"; `--rows ROW --set train.lr_...=...`
    then resumes it with a smaller rate (what resuming a run may change, an unfinished row may too).
    """
    if seeds < 1:
        raise config_lib.ConfigError(f"--seeds must be >= 1, got {seeds}.")
    if inception_weights and recipe.task == "translation":
        # The rows' runs then keep their best checkpoint by FID, as the official code (select_by=auto).
        overrides = [*overrides, f"eval.inception_weights={inception_weights}"]
    table, planned = plan(table_name, recipe, overrides, rows)
    out = Path(out_dir)
    task = task_for(recipe)
    evaluation_options = {"inception_weights": inception_weights} if inception_weights else {}
    task.check_evaluation_options(evaluation_options)
    # The seed the rows run with (the recipe's, or the one --set gave every row), then the next ones.
    first_seed = planned[0][1].train.seed if planned else recipe.train.seed
    seed_list = [first_seed + offset for offset in range(seeds)]
    for seed in seed_list:  # a trap in any row stops the table before the first row trains
        for row, row_recipe in planned:
            if not row.reuses and not RunDirectory(seed_folder(out, row.key, seed, first_seed)).exists():
                task.check_new_run(row_recipe)
    started = time.time()
    diverged = {}
    steps = len(planned) * len(seed_list)
    for seed_index, seed in enumerate(seed_list):
        for index, (row, row_recipe) in enumerate(planned, start=1):
            step = f"[{seed_index * len(planned) + index}/{steps}] {row.key}" + (f" (seed {seed})" if seeds > 1 else "")
            folder = seed_folder(out, row.key, seed, first_seed)
            if row.reuses:
                base = seed_folder(out, row.reuses, seed, first_seed)
                _evaluate_reused(task, row, base, folder, data_dir, verbose, evaluation_options, step, log)
                continue
            outcome = _run_row(
                task, row, _with_seed(row_recipe, seed), folder, data_dir, verbose, evaluation_options, step, log
            )
            if outcome:
                diverged[folder.name] = outcome
    results = collect(table, [row for row, _ in planned], out, seed_list)
    results["diverged"] = diverged
    results["seconds_this_call"] = round(time.time() - started, 1)
    write_json(out / f"{table.name}.json", results)
    (out / f"{table.name}.md").write_text(format_markdown(table, results) + "\n")
    chart(table, results, out / f"{table.name}.png")
    return results


def _with_seed(row_recipe, seed):
    if row_recipe.train.seed == seed:
        return row_recipe
    return config_lib.apply_overrides(copy.deepcopy(row_recipe), [f"train.seed={seed}"])


def _run_row(task, row, row_recipe, folder, data_dir, verbose, evaluation_options, step, log):
    """Train and evaluate one row's run in `folder` (or keep it, finished); the divergence message, if any."""
    row_recipe = with_data_root(row_recipe, data_dir)  # as the row's run records it
    run = RunDirectory(folder)
    if run.exists():
        _check_same_recipe(run, row, row_recipe, finished=run.eval_file.exists())
    if run.eval_file.exists():
        log(f"{step}: finished earlier, kept")
        return None
    action = "resuming" if run.exists() else "training"
    log(f"{step}: {row.label} ({action}; {' '.join(row.overrides) or 'the recipe as is'})")
    row_started = time.time()
    try:
        task.train(row_recipe, run.path, data_dir=data_dir, resume=run.exists(), verbose=verbose)
    except TrainingDiverged as error:
        # One unstable baseline must not stop a night of runs: the others go on.
        log(f"{step}: diverged, left out of the table ({error})")
        return str(error)
    task.evaluate(run.path, data_dir=data_dir, verbose=verbose, **dict(row.evaluation), **evaluation_options)
    write_json(run.path / "reproduce_row.json", {"seconds": round(time.time() - row_started, 1)})
    return None


def _evaluate_reused(task, row, base, folder, data_dir, verbose, evaluation_options, step, log):
    """A row that trains nothing: the run in `base` (of row `row.reuses`) evaluated with this row's
    options, into `folder/eval.json`."""
    base, result = RunDirectory(base), folder / "eval.json"
    if result.exists():
        log(f"{step}: finished earlier, kept")
        return
    if not base.eval_file.exists():
        log(f"{step}: row {row.reuses!r} has no finished run to evaluate; left out")
        return
    options = dict(row.evaluation)
    log(f"{step}: {row.label} (the run of {row.reuses!r}, evaluated with {options})")
    started = time.time()
    task.evaluate(base.path, data_dir=data_dir, verbose=verbose, out_file=result, **options, **evaluation_options)
    write_json(folder / "reproduce_row.json", {"seconds": round(time.time() - started, 1)})


def collect(table, rows, out, seeds=None):
    """The finished rows' scores (the mean over `seeds` where several ran, with their standard
    deviation and each seed's scores) and parameter counts, read from their run directories, then
    the table's context rows (other methods' published figures, not run). `seeds` defaults to the
    seed of each row's run in `OUT/<key>`."""
    collected = []
    for row in rows:
        runs = []  # (seed, recipe, evaluation, seconds)
        first = RunDirectory(out / (row.reuses or row.key))
        if not first.exists():
            continue
        base_seed = first.load_recipe().train.seed
        for seed in seeds or [base_seed]:
            folder = seed_folder(out, row.key, seed, base_seed)
            run = RunDirectory(seed_folder(out, row.reuses, seed, base_seed) if row.reuses else folder)
            if not (folder / "eval.json").exists():
                continue
            timing = folder / "reproduce_row.json"
            seconds = json.loads(timing.read_text())["seconds"] if timing.exists() else None
            runs.append((seed, run.load_recipe(), json.loads((folder / "eval.json").read_text()), seconds))
        if not runs:
            continue
        _, recipe, evaluation, _ = runs[0]
        task = task_for(recipe)
        network = task.build_network(recipe)
        scores, spread = mean_scores([run_evaluation["scores"] for _, _, run_evaluation, _ in runs])
        protocol = task.protocol(recipe, evaluation)
        protocol["seeds"] = seed_summary([seed for seed, *_ in runs])
        seconds = [run_seconds for *_, run_seconds in runs if run_seconds is not None]
        collected.append(
            {
                "key": row.key,
                "label": row.label,
                "paper": paper_entries(row),
                "overrides": list(row.overrides),
                "parameters": network.count_params(),
                "fusion_parameters": network.fusion_parameter_count(),
                "scores": scores,
                "seeds": [seed for seed, *_ in runs],
                "scores_by_seed": {str(seed): run_evaluation["scores"] for seed, _, run_evaluation, _ in runs},
                "std": spread,
                "fid_network": evaluation.get("fid_network"),
                "protocol": protocol,
                "seconds": round(sum(seconds), 1) if seconds else None,
            }
        )
    for row in table.rows:
        if row.context:
            collected.append({"key": row.key, "label": row.label, "paper": paper_entries(row), "context": True})
    return {"table": table.name, "title": table.title, "task": table.task, "rows": collected}


def seed_summary(seeds):
    """How many seeds made a row's figure, and which."""
    if len(seeds) == 1:
        return f"1 seed ({seeds[0]})"
    return f"{len(seeds)} seeds ({', '.join(map(str, seeds))}), mean ± std"


def mean_scores(runs):
    """`(mean, std)` of the numeric scores of several seeds' `{output: {metric: value}}`; one seed's
    scores are returned as they are (lists such as per-class IoU included), with no std."""
    if len(runs) == 1:
        return runs[0], {}
    import numpy as np

    mean, spread = {}, {}
    for output in runs[0]:
        for metric, value in runs[0][output].items():
            if isinstance(value, (int, float)) and all(output in run and metric in run[output] for run in runs):
                values = np.array([run[output][metric] for run in runs], dtype=float)
                mean.setdefault(output, {})[metric] = float(values.mean())
                spread.setdefault(output, {})[metric] = float(values.std(ddof=1))
    return mean, spread


def paper_entries(row):
    """A row's published figures for the JSON: each as its fields and as the text the table prints."""
    return [{**dataclasses.asdict(figure), "text": figure.describe()} for figure in row.paper]


def _measured(results):
    """The rows that were run (not the context rows)."""
    return [row for row in results["rows"] if not row.get("context")]


def _metrics(table, results):
    names = get_task(table.task).table_metrics
    measured = _measured(results)
    first = measured[0]["scores"] if measured else {}
    available = next(iter(first.values()), {})
    return [(key, label) for key, label in names if key in available]


def _outputs(results):
    """Every output of any row, in order of appearance: rows may differ (table5 adds input domains).

    The fused output ("ensemble") goes last, where every row has it.
    """
    outputs = []
    for row in _measured(results):
        outputs += [name for name in row["scores"] if name not in outputs]
    return sorted(outputs, key=lambda name: name == "ensemble")


def _millions(count):
    return f"{count / 1e6:.1f}M" if count >= 1e5 else f"{count:,}"


def format_markdown(table, results):
    """The table as markdown: one line per row; per output each metric; parameters in total and
    for fusion; the published figures. Context rows show "not run" where a measured row has scores."""
    lines = [f"### {table.title}", ""]
    if not _measured(results):
        return "\n".join(lines + ["(no finished row yet)"])
    outputs = _outputs(results)
    metrics = _metrics(table, results)
    percent = get_task(table.task).percent_scores
    header = ["#", "row"] + [f"{o} {label}" for o in outputs for _, label in metrics]
    header += ["params", "fusion params", "paper"]
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for number, row in enumerate(results["rows"], start=1):
        paper = "; ".join(entry["text"] for entry in row.get("paper", ())) or "–"
        if row.get("context"):
            cells = [str(number), row["label"], *["not run"] * (len(outputs) * len(metrics) + 2), paper]
            lines.append("| " + " | ".join(cells) + " |")
            continue
        cells = [str(number), row["label"]]
        scale, digits = (100, 2) if percent else (1, 4)
        for output in outputs:
            for key, _ in metrics:
                value = row["scores"].get(output, {}).get(key)
                spread = row.get("std", {}).get(output, {}).get(key)
                if value is None:  # a row without this output (fewer input domains)
                    cells.append("–")
                elif spread is None:
                    cells.append(f"{scale * value:.{digits}f}")
                else:
                    cells.append(f"{scale * value:.{digits}f} ± {scale * spread:.{digits}f}")
        cells += [_millions(row["parameters"]), f"{row['fusion_parameters']:,}", paper]
        lines.append("| " + " | ".join(cells) + " |")
    networks = sorted({row.get("fid_network") for row in results["rows"] if row.get("fid_network")})
    if networks:  # FIDs of different networks are not comparable: say which one made them
        lines += ["", f"FID / KID×100 by {' and '.join(networks)}."]
    numbered = [(number, row.get("protocol")) for number, row in enumerate(results["rows"], start=1)]
    lines += ["", *protocol_lines(numbered)] if any(protocol for _, protocol in numbered) else []
    # On other data (the synthetic scenes) the published column is context, not a target.
    lines += ["", "paper: the published figures for the row, on the dataset each names; – where the paper has none."]
    seconds = [r["seconds"] for r in _measured(results) if r["seconds"] is not None]
    if seconds:
        lines += ["", f"Training + evaluation time of the rows: {sum(seconds) / 60:.1f} min."]
    return "\n".join(lines)


def chart(table, results, path):
    """A grouped bar chart of the main metric (mIoU; FID when computed, else L1) per row and output."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    rows = _measured(results)
    if not rows:
        return None
    outputs = _outputs(results)
    available = [key for key, _ in _metrics(table, results)]
    task = get_task(table.task)
    metric = task.chart_metric(available)
    scale = 100.0 if task.percent_scores else 1.0
    positions = np.arange(len(rows))
    width = 0.8 / len(outputs)
    figure, axes = plt.subplots(figsize=(max(6.0, 0.6 * len(rows) + 2), 4.0))
    for index, output in enumerate(outputs):
        # NaN draws no bar: a row without this output.
        values = [scale * row["scores"].get(output, {}).get(metric, float("nan")) for row in rows]
        # Several seeds: their standard deviation as an error bar.
        spread = [scale * row.get("std", {}).get(output, {}).get(metric, 0.0) for row in rows]
        offsets = positions + (index - (len(outputs) - 1) / 2) * width
        axes.bar(offsets, values, width, label=output, yerr=spread if any(spread) else None, capsize=2)
    axes.set_xticks(positions, [str(i) for i in range(1, len(rows) + 1)])
    axes.set_xlabel("row (see the markdown table)")
    axes.set_ylabel(dict(task.table_metrics)[metric] + (" (%)" if task.percent_scores else ""))
    axes.set_title(table.title, fontsize=10)
    # Below the axes: inside, the legend would hide the bars of the last rows.
    axes.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.18), ncol=len(outputs))
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path
