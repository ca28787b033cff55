"""Tasks (segmentation, translation) behind one interface, their trainers and the jobs that run them.

`get_task(name)` / `task_for(recipe)` give the `Task` object that builds a
recipe's networks, data and trainer, evaluates, summarises, formats results
and serves; see `cenkeras.tasks.base.Task`.
"""

from cenkeras.tasks.registry import TASKS, get_task, task_for

__all__ = ["TASKS", "get_task", "task_for"]
