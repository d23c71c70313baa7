"""The terminal's view of a run: one line per message the assets log, none of Dagster's own events.

Dagster's console logger prints every engine event and whole tracebacks; on a terminal that buries the
progress and the one-line reason `m365 run` prints. Every event, tracebacks included, is still in the run's
event log (the UI) and in the log file `m365 run` writes.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import dagster as dg


class _UserMessages(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        meta: dict[str, Any] = getattr(record, "dagster_meta", None) or {}
        if meta.get("dagster_event") is not None:
            return
        step = meta.get("step_key") or "run"
        tenant = (meta.get("job_tags") or {}).get("dagster/partition", "")
        where = f"{tenant} {step}" if tenant else step
        message = meta.get("orig_message", record.getMessage())
        print(f"  [{where}] {message}", file=sys.stderr, flush=True)


@dg.logger(
    config_schema={"log_level": dg.Field(str, default_value="INFO", is_required=False)},
    description="One line per asset log message on stderr; Dagster's engine events stay in the event log.",
)
def progress_logger(init_context: dg.InitLoggerContext) -> logging.Logger:
    logger = logging.Logger("m365_progress", level=init_context.logger_config["log_level"])
    logger.addHandler(_UserMessages())
    return logger
