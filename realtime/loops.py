"""One object per event loop: daphne runs one loop per process, each async test its own."""

import asyncio
import weakref
from collections.abc import Callable


class PerLoop[T]:
    """``PerLoop(Factory)()`` is the running loop's instance, made on first use.

    Objects that hold connections or tasks belong to the loop that made them; a loop that ends
    takes its instance with it (the mapping holds loops weakly).
    """

    def __init__(self, factory: Callable[[], T]) -> None:
        self._factory = factory
        self._instances: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, T] = (
            weakref.WeakKeyDictionary()
        )

    def __call__(self) -> T:
        loop = asyncio.get_running_loop()
        if loop not in self._instances:
            self._instances[loop] = self._factory()
        return self._instances[loop]
