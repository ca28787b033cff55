"""`cenkeras reproduce TABLE`: a table of the paper as runs, markdown and a chart."""

import click

from cenkeras.cli.errors import friendly_errors, log_errors_in
from cenkeras.cli.options import INCEPTION_WEIGHTS_HELP


@click.command()
@click.argument(
    "table_name",
    metavar="TABLE",
    type=click.Choice(["table1", "table2", "table3", "table4", "table5", "missing", "missing-translation"]),
)
@click.option("--recipe", "recipe_name", required=True, help="Recipe every row starts from (name or .py).")
@click.option(
    "--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Override a recipe value in every row (repeatable)."
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False),
    help="Folder of the rows' runs and the table (default runs/<recipe>-<table>).",
)
@click.option("--rows", help="Only these rows (comma-separated keys; see --dry-run).")
@click.option("--data-dir", type=click.Path(file_okay=False), help="Dataset root or synthetic data folder.")
@click.option(
    "--inception-weights",
    type=click.Path(exists=True, dir_okay=False),
    help=INCEPTION_WEIGHTS_HELP,
)
@click.option(
    "--seeds",
    default=1,
    show_default=True,
    type=click.IntRange(1),
    help="Run each row with this many seeds (train.seed and the next ones); figures are mean ± std.",
)
@click.option("--dry-run", is_flag=True, help="List the rows and their overrides; run nothing.")
@click.option("--quiet", is_flag=True, help="No progress bars.")
@friendly_errors
def reproduce(table_name, recipe_name, overrides, out_dir, rows, data_dir, inception_weights, seeds, dry_run, quiet):
    """Run the rows of one of the paper's TABLEs as separate runs and write its markdown table and chart.

    table1: CEN ablations; table2: segmentation fusion methods; table3:
    uni-modal networks, CEN-RefineNet and CEN-PSPNet; table4:
    translation fusion methods; table5: translation from more input domains;
    missing: an RGB-D network with a modality missing (CEN, CEN trained with
    modality dropout, with lone norms, with lone passes; single-modality
    networks); missing-translation: the
    same for a shade + texture generator. Finished rows are kept; an
    interrupted row resumes. Under the table: how its figures were made
    (split, input, epochs, batch, precision, evaluation, checkpoint, seeds).
    """
    from cenkeras.experiments import reproduce as reproduce_lib
    from cenkeras.experiments.recipe_files import load_recipe

    experiment = load_recipe(recipe_name)
    selected = [key.strip() for key in rows.split(",") if key.strip()] if rows else None
    table, planned = reproduce_lib.plan(table_name, experiment, list(overrides), selected)
    out_dir = out_dir or f"runs/{experiment.name}-{table.name}"
    log_errors_in(out_dir)
    runs = f" x {seeds} seeds" if seeds > 1 else ""
    click.echo(f"{table.title}: {len(planned)} rows{runs} under {out_dir}")
    if dry_run:
        for row, _ in planned:
            what = f"evaluates {row.reuses!r}'s run with {dict(row.evaluation)}" if row.reuses else None
            click.echo(f"  {row.key:<34} {row.label}  [{what or ' '.join(row.overrides) or 'recipe as is'}]")
        return
    results = reproduce_lib.reproduce(
        table_name,
        experiment,
        out_dir,
        list(overrides),
        selected,
        data_dir,
        inception_weights,
        verbose=0 if quiet else 1,
        log=click.echo,
        seeds=seeds,
    )
    click.echo()
    click.echo(reproduce_lib.format_markdown(table, results))
    click.echo(f"\nWrote {out_dir}/{table.name}.md, {table.name}.png and {table.name}.json")
