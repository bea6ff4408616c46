"""Several searches that take turns, their model calls run as one.

A batch of concept sets runs one search per set, each with its own random stream, as
it would alone; alone, each step's forward holds a few dozen tokens and is mostly the
forward's fixed cost. Here each search runs in a thread of its own, but only one runs
at a time: it runs until it needs the model (`ask`), and once every search is waiting
on the model or done, their requests go to the model in one call (`combine`); then
each carries on, in the same order every time. So a search takes the steps it takes
alone (the model's answers differ by float rounding at most), the model runs full
batches, and the same input gives the same output.

Requests that need no forward (`first`: a sampler step's slot distributions, which kept
states answer) are answered before the rest, which wait: a search whose last step asked
for no forward (its candidates all scored before) is then a request behind the others,
and would otherwise ask for its forward in the round after theirs, a forward of its own
(half the forwards of a long search, measured on three sets).

A search's own tensor work runs on one CPU thread, the model's on all of them: a thread
that once ran a parallel op keeps an OpenMP team of its own, which would slow every
forward of the scheduler while it waits. The thread count is set only inside `run`, by
the thread whose turn it is, and the caller's setting is back when `run` returns.
"""
from __future__ import annotations

import threading
from typing import Any, Callable, Sequence

import torch


class Cancelled(Exception):
    """Raised in a waiting search when another one failed: it unwinds, and the failure is reported."""


class Task:
    def __init__(self, function: Callable[[], Any]):
        self.function = function
        self.request: Any = None
        self.answer: Any = None
        self.result: Any = None
        self.error: BaseException | None = None
        self.done = False
        self.cancelled = False
        self.wake = threading.Semaphore(0)       # released when its turn comes


class Lockstep:
    """`run(functions)` runs each function as a search that takes turns with the others; inside
    them, `ask(request)` waits for `combine(requests)` to answer every waiting search at once, or
    those whose requests are `first` when some are."""

    def __init__(self, combine: Callable[[list[Any]], list[Any]], first: Callable[[Any], bool] = lambda request: False):
        self.combine, self.first = combine, first
        self.local = threading.local()
        self.scheduler = threading.Semaphore(0)  # released when the scheduler's turn comes

    def inside(self) -> bool:
        """Whether the caller is one of the searches (whose model calls must go through `ask`)."""
        return getattr(self.local, "task", None) is not None

    def ask(self, request: Any) -> Any:
        task = self.local.task
        task.request = request
        self._pass(task, None)
        if task.cancelled:
            raise Cancelled()
        return task.answer

    def run(self, functions: Sequence[Callable[[], Any]]) -> list[Any]:
        self.cpu_threads = torch.get_num_threads()         # the model's during the run, the caller's after it
        tasks = [Task(f) for f in functions]
        threads = [threading.Thread(target=self._task_main, args=(task,), daemon=True) for task in tasks]
        for thread in threads:
            thread.start()
        answered = tasks
        try:
            while True:
                for task in answered:
                    self._pass(None, task)           # it runs until it asks or finishes
                failed = next((task.error for task in tasks if task.error is not None), None)
                if failed is not None:
                    raise failed
                waiting = [task for task in tasks if not task.done]
                if not waiting:
                    return [task.result for task in tasks]
                answered = [task for task in waiting if self.first(task.request)] or waiting
                for task, answer in zip(answered, self.combine([task.request for task in answered])):
                    task.answer = answer
        except BaseException:
            for task in tasks:                        # the others unwind before the error is reported
                if not task.done:
                    task.cancelled = True
                    self._pass(None, task)
            raise
        finally:
            for thread in threads:
                thread.join()
            torch.set_num_threads(self.cpu_threads)

    def _pass(self, me: Task | None, to: Task | None) -> None:
        """Hand the turn from `me` to `to` (None: the scheduler) and wait until it comes back to `me`.
        Only the thread whose turn it is wakes: one handoff is one thread switch."""
        (self.scheduler if to is None else to.wake).release()
        self._wait(me)

    def _wait(self, me: Task | None) -> None:
        """Wait for the turn of `me` (None: the scheduler). The thread that has the turn sets the CPU
        threads torch uses: all of the caller's for the scheduler, one for a search."""
        (self.scheduler if me is None else me.wake).acquire()
        torch.set_num_threads(self.cpu_threads if me is None else 1)

    def _task_main(self, task: Task) -> None:
        self.local.task = task
        self._wait(task)
        try:
            if not task.cancelled:
                task.result = task.function()
        except Cancelled:
            pass
        except BaseException as error:          # noqa: BLE001 - handed to the scheduler, which raises it
            task.error = error
        task.done = True
        self.scheduler.release()


class InTurn:
    """Searches run one after the other: `taking_turns` of a model that cannot batch their calls."""

    def run(self, functions: Sequence[Callable[[], Any]]) -> list[Any]:
        return [function() for function in functions]
