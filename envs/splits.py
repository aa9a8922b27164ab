"""How every task generator numbers its tasks: seeded splits.

Task ``i`` of "train" is generator seed ``i`` and task ``i`` of "test" seed ``SPLIT_SIZE + i``
(``0 <= i < SPLIT_SIZE``), so the splits never share a seed, and the same (split, index)
always gives the same task. A generator draws everything from its own RNG built from that seed:

    def generate_task(split: Split, index: int) -> Task:
        seed = split_seed("DB", split, index)          # checks the split and the index
        rng = random.Random(seed)
        ...

    generate_tasks = partial(task_range, generate_task)    # (split, n, start=0) -> tasks
"""

from __future__ import annotations

from collections.abc import Callable

from envs.base import Split, Task
from envs.errors import EnvsError

SPLIT_SIZE = 10_000_000
SPLIT_SEED_BASE: dict[str, int] = {"train": 0, "test": SPLIT_SIZE}


def split_seed(name: str, split: str, index: int) -> int:
    """The generator seed of task ``index`` of ``split``; ``name`` ("DB") says whose tasks in the error."""
    if split not in SPLIT_SEED_BASE:
        raise EnvsError(f"{name} tasks are generated for splits {sorted(SPLIT_SEED_BASE)}, not {split!r}")
    if not 0 <= index < SPLIT_SIZE:
        raise EnvsError(f"{name} task index {index} is outside 0..{SPLIT_SIZE - 1}")
    return SPLIT_SEED_BASE[split] + index


def task_range(generate_task: Callable[[Split, int], Task], split: Split, n: int, start: int = 0) -> list[Task]:
    """Tasks ``start`` .. ``start + n - 1`` of ``split``, each from ``generate_task(split, index)``."""
    return [generate_task(split, index) for index in range(start, start + n)]
