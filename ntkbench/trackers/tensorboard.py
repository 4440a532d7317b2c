"""`tensorboard`: event files for TensorBoard, written with the `tensorboard` package's own event
writer and protocol buffers (no TensorFlow), in `OUT/tracking/tensorboard/<run>` (or
`$NTKBENCH_TENSORBOARD_DIR/<run>`): scalars, the spec and the verdicts as text, the leaderboard's
figures as images and its pages as text."""

from __future__ import annotations

import importlib.util
import os
import struct
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from ..api import Axis, Tracker


class TensorBoardTracker(Tracker):
    """A run's event file for TensorBoard (`tensorboard --logdir OUT/tracking/tensorboard`)."""

    extra = "tensorboard"

    @classmethod
    def missing(cls) -> str | None:
        return None if importlib.util.find_spec("tensorboard") else "tensorboard"

    def start(self, config: Mapping[str, Any]) -> None:
        from tensorboard.summary.writer.event_file_writer import EventFileWriter

        root = Path(os.environ.get("NTKBENCH_TENSORBOARD_DIR") or self.out_dir / "tracking" / "tensorboard")
        self.logdir = root / self.run_name
        self.writer = EventFileWriter(str(self.logdir))
        self._text("spec", f"```yaml\n{yaml.safe_dump(dict(config), sort_keys=False)}```", 0)

    def _event(self, value: Any, step: int) -> None:
        from tensorboard.compat.proto.event_pb2 import Event
        from tensorboard.compat.proto.summary_pb2 import Summary

        self.writer.add_event(Event(wall_time=time.time(), step=step, summary=Summary(value=[value])))

    def _text(self, tag: str, text: str, step: int) -> None:
        from tensorboard.compat.proto.summary_pb2 import Summary, SummaryMetadata
        from tensorboard.compat.proto.tensor_pb2 import TensorProto
        from tensorboard.compat.proto.types_pb2 import DT_STRING

        metadata = SummaryMetadata(plugin_data=SummaryMetadata.PluginData(plugin_name="text"))
        self._event(Summary.Value(tag=tag, metadata=metadata, tensor=TensorProto(dtype=DT_STRING, string_val=[text.encode()])),
                    step)

    def log(self, values: Mapping[str, float], *, step: int, axis: Axis) -> None:
        from tensorboard.compat.proto.summary_pb2 import Summary

        for tag, value in values.items():
            self._event(Summary.Value(tag=tag, simple_value=value), step)

    def log_summary(self, values: Mapping[str, float | str]) -> None:
        from tensorboard.compat.proto.summary_pb2 import Summary

        for tag, value in values.items():
            if isinstance(value, str):
                self._text(f"summary/{tag}", value, 0)
            else:
                self._event(Summary.Value(tag=f"summary/{tag}", simple_value=value), 0)

    def log_artifacts(self, paths: Sequence[Path]) -> None:
        from tensorboard.compat.proto.summary_pb2 import Summary

        for path in paths:
            if path.suffix == ".png":
                content = path.read_bytes()
                width, height = struct.unpack(">II", content[16:24])  # the PNG's IHDR chunk
                image = Summary.Image(height=height, width=width, colorspace=4, encoded_image_string=content)
                self._event(Summary.Value(tag=f"leaderboard/{path.name}", image=image), 0)
            elif path.suffix == ".md":
                self._text(f"leaderboard/{path.name}", path.read_text(encoding="utf-8"), 0)

    def finish(self, *, failed: bool) -> None:
        self.writer.flush()
        self.writer.close()
