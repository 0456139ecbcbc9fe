"""What the CLI and `fupin doctor` say about the warehouse's address: shown without its
password, and why a connection failed in words an administrator acts on.  A leaf: both import
it, it imports neither."""

from __future__ import annotations


def masked_url(url: str) -> str:
    """The warehouse URL as it may be shown: never its password."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "（无法解析的地址）"


def unreachable(exc: BaseException) -> str:
    """What a failed connection says, in words a clerk's administrator acts on."""
    text = str(getattr(exc, "orig", None) or exc).lower()
    if "database" in text and "does not exist" in text:
        return "数据库不存在（请先创建该数据库，或更正地址中的数据库名）"
    if "role" in text and "does not exist" in text:
        return "数据库用户不存在（请更正地址中的用户名）"
    if "authentication" in text or "password" in text:
        return "用户名或密码不对（认证失败）"
    if "unable to open database file" in text:
        return "无法打开数据库文件（请检查目录是否存在、是否可写）"
    return "无法连接数据库服务器（请检查主机、端口以及服务器是否已启动）"
