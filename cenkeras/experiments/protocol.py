"""The protocol line under a reproduced table: how its figures were made, from the rows' runs.

Each row's run says how it was trained and evaluated (`Task.protocol`: the
validation split and its size, the training input, epochs, batch,
precision, evaluation views and upsampling, which output the headline
figure is, the checkpoint choice, the FID network). What every row shares
is said once; what differs is listed with the rows of each value, so a
reader sees from the table alone which figures are comparable.
"""


def row_ranges(numbers):
    """`[1, 2, 3, 5]` -> "1-3, 5"."""
    ranges, start = [], None
    for index, number in enumerate(numbers):
        if start is None:
            start = number
        if index + 1 == len(numbers) or numbers[index + 1] != number + 1:
            ranges.append(f"{start}" if start == number else f"{start}-{number}")
            start = None
    return ", ".join(ranges)


def protocol_lines(numbered):
    """Markdown lines for `[(row number, {item: value})]`: the shared items, then those that differ.

    Examples:
        >>> rows = [(1, {"epochs": "300", "batch": "6"}), (2, {"epochs": "450", "batch": "6"})]
        >>> print("\\n".join(protocol_lines(rows)))
        Protocol of every row: batch 6.
        <BLANKLINE>
        By row: epochs 300 (row 1), 450 (row 2).
    """
    numbered = [(number, protocol) for number, protocol in numbered if protocol]
    if not numbered:
        return []
    items = list(dict.fromkeys(item for _, protocol in numbered for item in protocol))
    shared, differing = [], []
    for item in items:
        values = {}
        for number, protocol in numbered:
            values.setdefault(protocol.get(item, "–"), []).append(number)
        if len(values) == 1:
            shared.append(f"{item} {next(iter(values))}")
        else:
            listed = ", ".join(
                f"{value} (row{'s' if len(rows) > 1 else ''} {row_ranges(rows)})" for value, rows in values.items()
            )
            differing.append(f"{item} {listed}")
    lines = [f"Protocol of every row: {'; '.join(shared)}."] if shared else []
    if differing:
        lines += ["", f"By row: {'; '.join(differing)}."]
    return lines
