"""Optional TensorBoard logging of the metric records (``kcap train --tensorboard``, extra ``tb``).

metrics.jsonl stays the record of a run; TensorBoard is a view of the same numbers, written to
``RUN/tb/``. On resume, events past the resumed step are purged so curves are not drawn twice.
"""

from __future__ import annotations

from pathlib import Path
from typing import Self

from kcap.errors import KcapError


class TensorBoardLog:
    def __init__(self, run: Path, purge_step: int | None = None):
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise KcapError("--tensorboard needs the tensorboard package: pip install 'kcap[tb]'") from None
        self.writer = SummaryWriter(log_dir=str(Path(run) / "tb"), purge_step=purge_step)

    def log(self, rec: dict) -> None:
        step = rec["step"]
        for k, v in rec.items():
            if k != "step" and isinstance(v, (int, float)) and v is not None:
                self.writer.add_scalar(f"train/{k}", v, step)
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
