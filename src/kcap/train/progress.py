"""A progress bar for training: step, loss, tokens/s, MFU (on a known accelerator) and ETA (rich)."""

from __future__ import annotations

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


class TrainProgress:
    def __init__(self, total: int, enabled: bool = True, description: str = "train"):
        self.enabled = enabled
        if not enabled:
            return
        self.progress = Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("loss {task.fields[loss]}"), TextColumn("{task.fields[tok_s]} tok/s{task.fields[mfu]}"),
            TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(), transient=False)
        self.task = self.progress.add_task(description, total=total, loss="-", tok_s="-", mfu="")
        self.progress.start()

    def update(self, completed: int, loss: float | None = None, tok_s: float | None = None,
               mfu: float | None = None) -> None:
        if not self.enabled:
            return
        fields = {}
        if loss is not None:
            fields["loss"] = f"{loss:.3f}"
        if tok_s is not None:
            fields["tok_s"] = f"{tok_s / 1e3:.0f}K"
        if mfu is not None:  # only where the accelerator's peak FLOPs are known
            fields["mfu"] = f" MFU {mfu:.1%}"
        self.progress.update(self.task, completed=completed, **fields)

    def close(self) -> None:
        if self.enabled:
            self.progress.stop()
