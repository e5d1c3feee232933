"""Where the time before an answer's first frame goes, step by step.

Standard library only: the benchmark's results schema (``bench/schema.py``) reads the step
names without setting Django up.
"""

import time

# The steps before an answer's first frame, in the order they run.
FIRST_TOKEN_STEPS = (
    "queue",
    "brief",
    "model",
    "retrieval",
    "start",
    "prompt",
    "model_first_token",
    "first_frame",
)


class FirstTokenSteps:
    """Where the time before an answer's first frame went, step by step, in milliseconds
    (recorded on its ``Generation``; the benchmark's ``ttft_breakdown_ms`` reads them).

    ``queue``: from the reply's row being written (the web process) to this worker starting
    it: the commit, what runs on commit (broadcasts, routing), the broker. It compares two
    machines' clocks where the web and the worker run apart. The rest is this process's
    ``perf_counter``, each step from the end of the one before; ``model_first_token`` is from
    the prompt handed to the engine to its first text (reading the prompt, beside the other
    answers the engine decodes).
    """

    def __init__(self) -> None:
        self.began_at = time.time()
        self._last = time.perf_counter()
        self.steps: dict[str, float] = {}

    def queued_since(self, written_at: float) -> None:
        self.steps["queue"] = max(0.0, (self.began_at - written_at) * 1000)

    def lap(self, step: str) -> None:
        now = time.perf_counter()
        self.steps[step] = (now - self._last) * 1000
        self._last = now

    def as_recorded(self) -> dict[str, float]:
        return {
            step: round(self.steps[step], 2) for step in FIRST_TOKEN_STEPS if step in self.steps
        }
