"""SCALE-Sim v3's double-buffered SRAMs, simulated word by word on an address stream.

SCALE-Sim (``scalesim/memory/``, run with ``InterfaceBandwidth = CALC`` as
:mod:`nos.sim.reference` does) counts DRAM traffic with two buffer models; this module
reproduces both exactly (``tests/test_sim_dram.py`` checks it against the real package):

* **Read buffer** (``read_buffer_estimate_bw.py``), for the ifmap and filter SRAMs: the
  SRAM of ``words`` words is cut into 100 sets of ``words // 100`` words, half of them
  active. A word read by the array is a DRAM read unless it was already fetched since the
  buffer was last emptied; the buffer is emptied the moment it holds
  ``capacity = 50 * (words // 100)`` words (the active half), even if the array is about
  to re-read them. (``words < 100``: never emptied.) DRAM reads are the misses:
  :class:`FlushBuffer`.
* **Write buffer** (``write_buffer.py``), for the ofmap SRAM: every word the array stores is
  written to DRAM, in lines of ``line`` words (the array's columns). When the free space
  falls below the active half, the partly filled line is closed and the next
  ``ceil(drain / line)`` lines go to DRAM (``drain = words - ceil(words / 2)``); a closed
  line that is not the last of such a batch is counted whole, empty slots included:
  :func:`simulate_write_buffer`.

Both are slow (numpy over the stream): for tests, experiments and the few layers whose
count has no closed form (:mod:`nos.sim.memory`).
"""
from __future__ import annotations

import numpy as np

from nos.sim.streams import Stream


def read_capacity(words: int) -> int:
    """Words SCALE-Sim's read buffer holds before it empties itself (0: never empties)."""
    return 50 * (words // 100)


class FlushBuffer:
    """SCALE-Sim's read buffer: counts the DRAM reads of the address streams it is given.

    Args:
        capacity: words held before the buffer empties itself (:func:`read_capacity`);
            0 means it never does.
        addresses: one more than the largest address that will be read.
    """

    def __init__(self, capacity: int, addresses: int):
        self.capacity = capacity
        self._epoch = np.full(addresses, -1, dtype=np.int64)  # the fill a word was fetched in
        self._fill = 0  # fills so far (the buffer empties between fills)
        self._held = 0  # words fetched in the current fill
        self.misses = 0

    def read(self, addresses: np.ndarray) -> int:
        """Read ``addresses`` in order; returns the DRAM reads they caused."""
        before = self.misses
        limit = self.capacity if self.capacity > 0 else len(addresses) + self._held + 1
        chunk = min(max(4 * limit, 4096), 1 << 20)  # a few fills' worth of reads per numpy pass
        position = 0
        while position < len(addresses):
            part = addresses[position:position + chunk]
            absent = np.flatnonzero(self._epoch[part] != self._fill)
            _, first = np.unique(part[absent], return_index=True)
            new = absent[np.sort(first)]  # positions of the first read of each absent word
            room = limit - self._held
            if len(new) < room:
                self._epoch[part[new]] = self._fill
                self._held += len(new)
                self.misses += len(new)
                position += len(part)
            else:  # the buffer fills up at the room-th new word and empties itself
                self.misses += room
                self._fill += 1
                self._held = 0
                position += int(new[room - 1]) + 1
        return self.misses - before


def read_misses(stream: Stream, capacity: int) -> int:
    """DRAM reads of ``stream`` through a fresh read buffer of ``capacity`` words."""
    if not stream:
        return 0
    size = 1 + max(int(addresses.max()) for addresses, _ in stream if len(addresses))
    buffer = FlushBuffer(capacity, size)
    for addresses, repeats in stream:
        for _ in range(repeats):
            if buffer.read(addresses) == 0:
                break  # nothing changed: every further repeat hits too
    return buffer.misses


def simulate_write_buffer(stores: np.ndarray, words: int, line: int) -> int:
    """DRAM writes of SCALE-Sim's ofmap write buffer.

    Args:
        stores: words the array stores in each cycle (at most ``line`` per cycle).
        words: ofmap SRAM size in words; line: words per DRAM write line (the array's columns).

    Raises:
        ValueError: if a cycle stores more than ``line`` words, or the buffer would stall
            (SCALE-Sim then delays the array, which this model does not follow).
    """
    stores = np.asarray(stores, dtype=np.int64)
    if np.any(stores > line):
        raise ValueError(f"stores: at most line = {line} words per cycle")
    stored_by = np.cumsum(stores)  # stores up to and including each cycle
    total = int(stored_by[-1]) if len(stored_by) else 0
    active = -(-words // 2)
    batch = -(-(words - active) // line)
    lines: list[int] = []  # words in each closed line, in order
    drained = written = 0  # lines sent to DRAM, words counted
    free, done, closed_at, drain_end = words, 0, 0, 0  # done: words stored so far

    def close_lines(upto: int) -> None:
        full, rest = divmod(upto - closed_at, line)
        lines.extend([line] * full + ([rest] if rest else []))

    def drain(count: int) -> int:
        nonlocal drained, written
        taken = lines[drained:drained + count]
        words_out = line * (len(taken) - 1) + taken[-1]
        drained += len(taken)
        written += words_out
        return words_out

    while True:
        by_space = done + free - active + 1  # the store that leaves less than the active half free
        first_after_drain = int(stored_by[min(drain_end, len(stored_by)) - 1]) + 1 if drain_end > 0 else 1
        if done + free < min(first_after_drain, total + 1):  # full before the drain is done
            raise ValueError("write buffer stalls: not modelled")
        trigger = max(by_space, first_after_drain)
        if trigger > total:
            break
        cycle = int(np.searchsorted(stored_by, trigger))
        close_lines(trigger)
        closed_at = trigger
        free -= trigger - done
        done = trigger
        sent = min(batch, len(lines) - drained)
        free += drain(sent)
        drain_end = cycle + sent - 1
    close_lines(total)
    while drained < len(lines):
        drain(min(batch, len(lines) - drained))
    return written
