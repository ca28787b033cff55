"""The paper's experiments: recipes found and loaded, the paper's tables as runs
(`cenkeras reproduce`), and the exchange statistics and figures of `cenkeras inspect`.

May import everything below it: tasks, serving, training, models, layers, config, data,
metrics, utils. Only the CLI imports it.
"""
