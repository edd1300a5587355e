"""A least-recently-used memo bounded by the total size of what it holds, not by its entry count.

What an immutable index derives from one key (a token's postings across segments, say) is the
same for every request, so it is worth keeping; but one entry may be a few bytes or megabytes
(a rare word, a common one), so a count bound would not bound memory. Safe across threads: the
lock guards only the bookkeeping, and two threads computing the same value at once just both do.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

Key = TypeVar("Key", bound=Hashable)
Value = TypeVar("Value")


class SizedMemo(Generic[Key, Value]):
    """`get(key)` is `compute(key)`, remembered while the sizes (`size_of`) of the values held add
    up to at most `capacity`; the least recently used go first. A value larger than the whole
    capacity is computed every time and never held."""

    def __init__(self, compute: Callable[[Key], Value], size_of: Callable[[Value], int], capacity: int) -> None:
        self._compute, self._size_of, self.capacity = compute, size_of, capacity
        self._held: OrderedDict[Key, tuple[Value, int]] = OrderedDict()
        self._total = 0
        self._lock = threading.Lock()

    def get(self, key: Key) -> Value:
        with self._lock:
            found = self._held.get(key)
            if found is not None:
                self._held.move_to_end(key)
                return found[0]
        value = self._compute(key)
        size = max(1, self._size_of(value))
        if size > self.capacity:
            return value
        with self._lock:
            if key not in self._held:
                self._held[key] = (value, size)
                self._total += size
                while self._total > self.capacity:
                    _, (_, dropped) = self._held.popitem(last=False)
                    self._total -= dropped
        return value

    @property
    def size(self) -> int:
        """The sizes of the values held, added up."""
        return self._total

    def __len__(self) -> int:
        return len(self._held)
