"""Decode every listed sample as training would and report every problem at once.

Training stops at the first bad file it meets. On a dataset of thousands of
frames that finds the bad files one run at a time; `check_samples` instead
reads all of them (in threads: PIL releases the GIL while it decodes) and
collects each failure with the list line it came from.

The readers are the training readers themselves (a `SampleCheck.read` calls
the same code the pipeline calls), so a dataset that passes the check passes
training's decoding: sizes, modes, bit depths, channel counts, label ranges
and the image/mask size rule of the recipe.
"""

import concurrent.futures
import dataclasses
import os
import time
from typing import Callable

from cenkeras.data.modalities import DataError
from cenkeras.utils.progress import track

ERROR_PREFIX = "cenkeras data error: "
# data.verify: what training checks before it starts (every file exists, or every sample decodes).
VERIFY_RULES = ("exists", "decode")


@dataclasses.dataclass(frozen=True)
class SampleCheck:
    """One listed sample: where it is listed, how many files it reads, and the training reader.

    Examples:

        >>> check = SampleCheck("train.txt:3", files=3, read=lambda: None)
        >>> check.where
        'train.txt:3'
    """

    where: str
    files: int
    read: Callable[[], object]


@dataclasses.dataclass(frozen=True)
class DataProblem:
    """A sample that training could not read: its list line and what is wrong."""

    split: str
    where: str
    message: str

    def __str__(self):
        return f"{self.where}: {self.message}"


@dataclasses.dataclass
class DataReport:
    """What `check_samples` found: samples and files read per split, the problems, the time taken."""

    samples: dict  # split -> samples checked
    files: int
    problems: list
    seconds: float

    @property
    def ok(self):
        return not self.problems

    def summary(self):
        splits = ", ".join(f"{split} {count:,}" for split, count in self.samples.items())
        rate = self.files / self.seconds if self.seconds > 0 else float("inf")
        found = f"{len(self.problems):,} problem(s)" if self.problems else "no problems"
        return (
            f"Checked {sum(self.samples.values()):,} samples ({splits}; {self.files:,} files) in "
            f"{self.seconds:.1f} s ({rate:,.0f} files/s): {found}."
        )

    def text(self):
        """Every problem on its own line, then the summary."""
        return "".join(f"{problem}\n" for problem in self.problems) + self.summary() + "\n"


def _problem_message(error):
    if isinstance(error, DataError):
        return str(error).removeprefix(ERROR_PREFIX)
    # Not an error the readers name themselves: still a sample training cannot read.
    return f"{type(error).__name__}: {error}"


def check_samples(splits, workers=None, quiet=False):
    """Run every `SampleCheck` of every split; returns a `DataReport`.

    Args:
        splits: `{split name: [SampleCheck or DataProblem]}`; a `DataProblem`
            (a list line that could not even be parsed) is reported as it is.
        workers: reader threads (default: the CPU count).
        quiet: no progress bar.
    """
    workers = workers or os.cpu_count() or 1
    started = time.perf_counter()
    problems, files, samples = [], 0, {}
    with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
        for split, checks in splits.items():
            samples[split] = len(checks)
            problems += [check for check in checks if isinstance(check, DataProblem)]
            checks = [check for check in checks if isinstance(check, SampleCheck)]
            files += sum(check.files for check in checks)
            futures = {pool.submit(check.read): check for check in checks}
            for future in track(concurrent.futures.as_completed(futures), f"{split:<10}", len(futures), quiet):
                error = future.exception()
                if error is not None:
                    problems.append(DataProblem(split, futures[future].where, _problem_message(error)))
    order = {split: index for index, split in enumerate(splits)}
    problems.sort(key=lambda p: (order[p.split], _list_order(p.where)))
    return DataReport(samples, files, problems, time.perf_counter() - started)


def _list_order(where):
    """`file:line` sorted by file, then line number."""
    path, _, line = where.rpartition(":")
    return (path, int(line)) if line.isdigit() else (where, 0)


def checks_of_lines(lines, split, make_check):
    """`[SampleCheck or DataProblem]` of `(number, text, where)` list lines.

    `make_check(text, where)` returns the line's `SampleCheck`; a line it
    cannot parse (a `DataError`) becomes a `DataProblem` instead of stopping.
    """
    checks = []
    for _, text, where in lines:
        try:
            checks.append(make_check(text, where))
        except DataError as error:
            # The parsers' messages start with the line they name; the report puts it first anyway.
            message = _problem_message(error).removeprefix(f"{where}: ")
            checks.append(DataProblem(split, where, message))
    return checks


def checks_of_list(list_file, root, split, make_check):
    """`checks_of_lines` over a list file; a list file that cannot be read is one `DataProblem`."""
    from cenkeras.data.listfile import list_lines

    try:
        lines = list(list_lines(list_file, root))
    except DataError as error:
        return [DataProblem(split, str(list_file), _problem_message(error))]
    return checks_of_lines(lines, split, make_check)
