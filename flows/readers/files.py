"""An inbox file opened without trusting it, read within its size limit, and why a file is
not read: `UnreadableFile`, whose reason is a Chinese sentence for the quarantine that says
nothing of the file's content (names, IDs)."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from config.settings import InboxLimits


class UnreadableFile(Exception):
    """The file cannot be read at all; `reason` is the Chinese sentence for the quarantine."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def open_regular(path: Path | str, dir_fd: int | None = None) -> tuple[int, os.stat_result]:
    """A read-only descriptor of the regular file at `path` (relative to `dir_fd` if given),
    and its stat: a link is not followed, a FIFO is not waited on; anything that is not a
    regular file raises `UnreadableFile` naming what it is."""
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0) | os.O_CLOEXEC
    try:
        fd = os.open(path, flags, dir_fd=dir_fd)
    except OSError as exc:
        raise UnreadableFile(open_failure_reason(exc)) from exc
    try:
        st = os.fstat(fd)
        what = not_a_file(st.st_mode)
        if what:
            raise UnreadableFile(what)
    except BaseException:
        os.close(fd)
        raise
    return fd, st


def open_failure_reason(exc: OSError) -> str:
    """Why a file could not be opened, for a clerk (no path, no content)."""
    if isinstance(exc, FileNotFoundError):
        return "文件不存在（可能在读取前被移走或删除）"
    if exc.errno == errno.ELOOP:
        return "是符号链接（快捷方式），未读取：链接不作为报送文件，请直接放入文件本身"
    if isinstance(exc, PermissionError):
        return "没有读取权限，未读取：请检查文件权限（服务账户须能读取）后重新上报"
    if isinstance(exc, IsADirectoryError):
        return "不是文件，是文件夹"
    return f"文件无法打开（{type(exc).__name__}），未读取"


def not_a_file(mode: int) -> str | None:
    """What an inbox entry is when it is not a regular file (None for a regular file)."""
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISDIR(mode):
        return "不是文件，是文件夹"
    if stat.S_ISLNK(mode):
        return "是符号链接（快捷方式），未读取：链接不作为报送文件，请直接放入文件本身"
    kind = (
        "命名管道"
        if stat.S_ISFIFO(mode)
        else "套接字"
        if stat.S_ISSOCK(mode)
        else "设备文件"
        if stat.S_ISCHR(mode) or stat.S_ISBLK(mode)
        else "特殊文件"
    )
    return f"不是普通文件（{kind}），未读取"


def size_text(n: float) -> str:
    """1536 → '1.5 KB'; sizes in reasons are for people."""
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" or n >= 100 else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"  # pragma: no cover


def too_big_reason(size: int, limits: InboxLimits) -> str:
    return (
        f"文件过大：{size_text(size)}，超过上限{size_text(limits.max_file_bytes)}"
        "（policy.toml [inbox] max_file_bytes），未读取。请确认是否导出了多余的内容，"
        "或分成几个文件重新上报"
    )


def read_bytes(path: Path, limits: InboxLimits) -> bytes:
    fd, st = open_regular(path)
    with open(fd, "rb") as fh:  # closes fd
        if st.st_size > limits.max_file_bytes:
            raise UnreadableFile(too_big_reason(st.st_size, limits))
        try:
            data = fh.read(limits.max_file_bytes + 1)
        except OSError as exc:
            raise UnreadableFile(f"文件无法读取（{type(exc).__name__}），未读取") from exc
    if len(data) > limits.max_file_bytes:  # it grew while being read
        raise UnreadableFile(too_big_reason(len(data), limits))
    if not data[:4096].strip(b" \t\r\n\x00") and not data.strip(b" \t\r\n\x00"):
        raise UnreadableFile("文件为空（0字节或只有空白）")
    return data
