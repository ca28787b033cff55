"""A progress bar over a known number of items (rich), or silence."""

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn


def track(items, description, total=None, quiet=False):
    """Yield `items`, showing a bar with the count and the time left unless `quiet`.

    Examples:
        >>> list(track(range(3), "squares", quiet=True))
        [0, 1, 2]
    """
    if quiet:
        yield from items
        return
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, transient=False) as progress:
        task = progress.add_task(description, total=total if total is not None else len(items))
        for item in items:
            yield item
            progress.advance(task)
