"""Channel secrets kept in Prefect Secret blocks and referenced from the channels file.

An address in `config/channels.toml` may carry `{{ prefect.blocks.secret.NAME }}` (Prefect's
own template syntax for blocks) where it would otherwise hold a password, a bot key or the
whole address.  The file then holds no secret, and the operator rotates a password in the
Prefect UI (Blocks) or with `prefect block create secret`.

A reference is resolved only when a message is sent (and by `fupin doctor`), never stored:
the warehouse and the summary record the address with the reference as written.  A block that
cannot be read fails that channel alone, with a Chinese message naming the block.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

REFERENCE = re.compile(r"\{\{\s*prefect\.blocks\.secret\.([a-z0-9][a-z0-9-]*)\s*\}\}")
PLACEHOLDER = "secret"

Fetch = Callable[[str], str]


class SecretUnavailable(Exception):
    """A referenced Secret block could not be read; the message names the block only."""

    def __init__(self, name: str, reason: str) -> None:
        super().__init__(
            f"Prefect 密钥块“{name}”无法读取（{reason}）：请在 Prefect 界面 Blocks 页或用 "
            f"`prefect block create secret` 创建该密钥块，并确认 PREFECT_API_URL 指向正确的服务器。"
        )
        self.name = name


def references(url: str) -> list[str]:
    """Names of the Secret blocks an address refers to, in order, without repeats."""
    return list(dict.fromkeys(REFERENCE.findall(url)))


def is_whole_reference(url: str) -> bool:
    """Whether the whole address is kept in one Secret block."""
    return REFERENCE.fullmatch(url.strip()) is not None


def placeholder_form(url: str) -> str:
    """The address with every reference replaced by a harmless word, for checking its shape
    and for labels; never the secret itself."""
    return REFERENCE.sub(PLACEHOLDER, url)


def prefect_secret(name: str) -> str:
    """The value of a Prefect Secret block (imported here: only a channel that uses one pays
    for loading Prefect's block machinery)."""
    from prefect.blocks.system import Secret

    try:
        block: Any = Secret.load(name)  # synchronous outside an event loop
        value = block.get()
    except Exception as exc:  # not found, API unreachable, wrong block type...
        raise SecretUnavailable(name, type(exc).__name__) from None
    if not isinstance(value, str) or not value:
        raise SecretUnavailable(name, "值不是非空文本")
    return value


def resolve(url: str, fetch: Fetch = prefect_secret) -> tuple[str, tuple[str, ...]]:
    """The address with its references replaced by their values, and those values (so a
    caller can keep them out of any message it records)."""
    names = references(url)
    if not names:
        return url, ()
    values = {name: fetch(name) for name in names}
    resolved = REFERENCE.sub(lambda m: values[m.group(1)], url)
    return resolved, tuple(values.values())


def hide(text: str | None, values: tuple[str, ...]) -> str | None:
    """`text` with every resolved secret value replaced by ***."""
    if text is None:
        return None
    for value in sorted(values, key=len, reverse=True):
        text = text.replace(value, "***")
    return text
