"""A command that failed (exit code 3): its traceback in a log file under `$FUPIN_HOME/logs/`
(IDs, phones and URL passwords masked), one Chinese line on the terminal naming the failed
run and that file; and, while a command runs, a terminal that shows no traceback at all."""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
import traceback
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from flows.exit_codes import FAILED
from flows.warehouse_words import masked_url as _masked_url

_DOING = {
    "generate": "生成模拟数据",
    "nightly": "夜间核查",
    "export": "导出",
    "report": "生成报告",
    "alerts": "发送预警",
    "snapshot": "年度归档",
    "serve": "部署服务",
    "changes": "比对报送变化",
    "accept": "启用报送文件",
    "demo": "演示",
}


def _failed_runs_since(args: argparse.Namespace, started: datetime) -> list[int]:
    """Runs recorded as failed since `started` (a flow that records its runs and failed)."""
    from config.settings import load_settings
    from warehouse import db

    try:
        engine = db.connect(load_settings(args.db).database_url)
        try:
            return db.failed_runs_since(engine, started)
        finally:
            engine.dispose()
    except Exception:
        return []


def _write_log(
    args: argparse.Namespace, argv: list[str], exc: BaseException, runs: list[int]
) -> Path:
    """The traceback of a failed command, IDs, phones and URL passwords masked, in a file
    under $FUPIN_HOME/logs/ (the system's temporary directory when that cannot be written)."""
    import tempfile

    from config.private import open_private, private_dir
    from config.settings import load_settings
    from transforms.privacy import scrub_error

    now = datetime.now(UTC)
    shown = [_masked_url(a) if "://" in a else a for a in argv]
    lines = [
        f"fupin {' '.join(shown)}",
        f"time: {now.isoformat(timespec='seconds')}",
        f"runs: {', '.join(f'#{r}' for r in runs) or '-'}",
        "",
        "".join(traceback.format_exception(exc)),
    ]
    body = scrub_error("\n".join(lines), limit=10**9)
    name = f"fupin-{now:%Y%m%d-%H%M%S}-{args.command}" + (f"-run{runs[-1]}" if runs else "")
    for folder in (
        load_settings(args.db).home / "logs",
        Path(tempfile.gettempdir()) / "fupin-logs",
    ):
        try:
            path = private_dir(folder) / f"{name}-{os.getpid()}.log"
            with open_private(path, "w", encoding="utf-8") as out:
                out.write(body)
            return path
        except OSError:
            continue
    raise OSError("no folder to write the log to")


def run_failed(
    args: argparse.Namespace, argv: list[str], exc: BaseException, started: datetime
) -> int:
    own = getattr(exc, "fupin_run_id", None)
    runs = [own] if isinstance(own, int) else _failed_runs_since(args, started)
    try:
        log = str(_write_log(args, argv, exc, runs))
    except Exception:
        log = "（日志文件无法写入）"
    which = "、".join(f"#{r}" for r in runs)
    doing = _DOING.get(args.command, args.command)
    run = f"运行 {which} 失败" if runs else "运行失败"
    print(
        f"{doing}{run}（{type(exc).__name__}）。完整的出错信息已写入日志：{log}。"
        f"在用数据不受影响；请把日志交给系统管理员，排除问题后重新运行：fupin {args.command}。",
        file=sys.stderr,
    )
    return FAILED


class _Terse(logging.Formatter):
    """A console handler's formatter, wrapped: the line without its traceback, IDs, phones
    and URL passwords masked (the traceback of a failed run goes to its log file)."""

    def __init__(self, inner: logging.Formatter | None) -> None:
        super().__init__()
        self.inner = inner or logging.Formatter()

    def format(self, record: logging.LogRecord) -> str:
        from transforms.privacy import scrub_error

        saved = record.exc_info, record.exc_text, record.stack_info
        record.exc_info, record.exc_text, record.stack_info = None, None, None
        try:
            return scrub_error(self.inner.format(record), limit=10**6)
        finally:
            record.exc_info, record.exc_text, record.stack_info = saved


@contextlib.contextmanager
def terse_console(prefect: bool = True) -> Iterator[None]:
    """While a command runs, what Prefect (and anything else) logs to the terminal carries
    no traceback and no unmasked ID; file and API handlers are left as they are.  Prefect's
    handlers are set up first (`prefect`: the command runs flows or reads Prefect settings),
    so that they are among those wrapped."""
    if prefect:
        from prefect.logging.configuration import ensure_logging_setup

        ensure_logging_setup()
    loggers = [logging.getLogger()] + [
        lg for lg in logging.root.manager.loggerDict.values() if isinstance(lg, logging.Logger)
    ]
    wrapped: list[tuple[logging.Handler, logging.Formatter | None]] = []
    for logger in loggers:
        for handler in logger.handlers:
            console = isinstance(handler, logging.StreamHandler) and not isinstance(
                handler, logging.FileHandler
            )
            if console and not isinstance(handler.formatter, _Terse):
                wrapped.append((handler, handler.formatter))
                handler.setFormatter(_Terse(handler.formatter))
    # A handler that cannot write (its terminal gone) must not print logging's own traceback.
    raising, logging.raiseExceptions = logging.raiseExceptions, False
    try:
        yield
    finally:
        logging.raiseExceptions = raising
        for handler, formatter in wrapped:
            handler.setFormatter(formatter)  # type: ignore[arg-type]
