"""Progress of a training run: a tqdm bar on a terminal when tqdm is
installed (``pip install 'minigrad[progress]'``), else one printed line per
report. Where the output is not a terminal (a log file, a pipe, a notebook's
captured cell) a bar would be redrawn and cleared each epoch, leaving no
losses in the log, so the lines are printed there too."""
from __future__ import annotations

import sys

__all__ = ["Progress", "note"]


class Progress:
    """A bar over one epoch's ``total`` batches; silent when ``enabled`` is False.

    >>> bar = Progress(3, "epoch 1/1", enabled=False)
    >>> bar.step(); bar.report("loss 0.5"); bar.close()
    """

    def __init__(self, total, desc, enabled=True):
        self.desc, self.bar, self.enabled = desc, None, enabled
        if not enabled or not _on_a_terminal(sys.stderr):   # (where tqdm draws)
            return
        try:
            from tqdm import tqdm   # optional: training must not depend on it
        except ImportError:
            return
        self.bar = tqdm(total=total, desc=desc, leave=False, dynamic_ncols=True)

    def step(self):
        if self.bar is not None:
            self.bar.update(1)

    def report(self, text):
        if self.bar is not None:
            self.bar.set_postfix_str(text, refresh=False)
        elif self.enabled:
            print(f"| {self.desc} | {text}", flush=True)

    def close(self):
        if self.bar is not None:
            self.bar.close()


def _on_a_terminal(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):    # no isatty, or a closed stream
        return False


def note(text, enabled=True):
    """A line for the log (after an epoch, say), unless progress is off."""
    if enabled:
        print(text, flush=True)
