"""Channel secrets in Prefect Secret blocks: the channels file names the block, the message is
sent with its value, and the value appears nowhere it is recorded (alert table, summary,
errors).  A block that cannot be read fails its channel alone, in Chinese, naming the block."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from config.settings import load_divisions, load_settings
from flows import channel_secrets, doctor
from flows.alerts import AlertsConfigError, channel_label, deliver, load_channels
from tests.flows.test_alerts import webhook  # noqa: F401 (the local webhook receiver)

KEY = "s3cr3t-hook-key-71"


@pytest.fixture(scope="module")
def blocks(harness) -> Iterator[None]:
    """Two Secret blocks saved through Prefect's API (the test harness's server)."""
    from prefect.blocks.system import Secret

    Secret(value=KEY).save("fupin-zhuji-key", overwrite=True)
    yield


def test_references_are_found_resolved_and_hidden() -> None:
    url = "mailtos://fupin:{{ prefect.blocks.secret.smtp-pass }}@smtp.example.gov.cn:465"
    assert channel_secrets.references(url) == ["smtp-pass"]
    assert not channel_secrets.is_whole_reference(url)
    assert channel_secrets.is_whole_reference(" {{prefect.blocks.secret.zhuji-bot}} ")
    real, values = channel_secrets.resolve(url, {"smtp-pass": "pw!"}.__getitem__)
    assert real == "mailtos://fupin:pw!@smtp.example.gov.cn:465" and values == ("pw!",)
    assert channel_secrets.hide("failed for fupin:pw!@smtp", values) == "failed for fupin:***@smtp"
    assert channel_secrets.resolve("json://127.0.0.1/x", lambda n: 1 / 0) == (
        "json://127.0.0.1/x",
        (),
    )


def test_the_channels_file_may_refer_to_blocks(tmp_path: Path) -> None:
    path = tmp_path / "channels.toml"
    path.write_text(
        'office = ["{{ prefect.blocks.secret.office-mail }}"]\n'
        "[townships]\n"
        '"珠玑镇" = ["wecombot://{{ prefect.blocks.secret.zhuji-bot }}?overflow=split"]\n',
        encoding="utf-8",
    )
    found = load_channels(path)  # nothing is fetched to read the file
    assert found.office == ("{{ prefect.blocks.secret.office-mail }}",)
    # A reference does not excuse an address of an unknown kind.
    path.write_text('office = ["nosuch://{{ prefect.blocks.secret.x }}"]\n', encoding="utf-8")
    with pytest.raises(AlertsConfigError, match="无法识别"):
        load_channels(path)


def test_the_label_is_the_reference_never_the_value() -> None:
    whole = "{{ prefect.blocks.secret.zhuji-hook }}"
    assert channel_label(whole).startswith("prefect-secret://zhuji-hook #")
    inner = "json://127.0.0.1:8080/{{ prefect.blocks.secret.zhuji-key }}"
    label = channel_label(inner)
    assert label.startswith("json://127.0.0.1:8080") and "{{" not in label
    # Rotating the value in Prefect keeps the channel's label (and its alert history).
    assert channel_label(inner) == label


def test_a_message_goes_out_with_the_blocks_value(blocks, webhook) -> None:  # noqa: F811
    posts, port = webhook
    url = f"json://127.0.0.1:{port}/{{{{ prefect.blocks.secret.fupin-zhuji-key }}}}"
    sent = deliver(url, "标题", "正文", None, 1, 0)
    assert sent.status == "sent", sent.error
    assert posts[0]["path"] == f"/{KEY}"
    assert KEY not in sent.channel

    missing = "json://127.0.0.1:9/{{ prefect.blocks.secret.no-such-block }}"
    failed = deliver(missing, "标题", "正文", None, 1, 0)
    assert failed.status == "failed" and failed.attempts == 0
    assert "no-such-block" in failed.error and "密钥块" in failed.error


def test_a_secret_never_appears_in_a_failure(blocks) -> None:
    # The value sits in the address's user part; the closed port makes Apprise fail.
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    url = f"json://user:{{{{ prefect.blocks.secret.fupin-zhuji-key }}}}@127.0.0.1:{closed}/x"
    failed = deliver(url, "标题", "正文", None, 1, 0)
    assert failed.status == "failed"
    assert KEY not in (failed.error or "") and KEY not in failed.channel


def test_doctor_reads_every_referenced_block(tmp_path: Path, monkeypatch) -> None:
    divisions = load_divisions()
    path = tmp_path / "channels.toml"
    lines = ['office = ["{{ prefect.blocks.secret.office-url }}"]', "[townships]"]
    lines += [
        f'"{c}" = ["json://127.0.0.1:9/{{{{ prefect.blocks.secret.hook-key }}}}"]'
        for c in divisions.townships
    ]
    path.write_text("\n".join(lines), encoding="utf-8")
    monkeypatch.setenv("FUPIN_CHANNELS_FILE", str(path))
    settings = load_settings()
    values = {"office-url": "json://127.0.0.1:9/office", "hook-key": "k"}

    def fetch(name: str) -> str:
        if name not in values:
            raise channel_secrets.SecretUnavailable(name, "ObjectNotFound")
        return values[name]

    ok = doctor.channels(settings, fetch)
    assert ok.status == "pass" and "密钥块 2 个" in ok.found
    values.pop("hook-key")
    bad = doctor.channels(settings, fetch)
    assert bad.status == "fail" and "hook-key" in bad.found and "Secret" in bad.action
    values.update({"hook-key": "k", "office-url": "not an address"})
    wrong = doctor.channels(settings, fetch)
    assert wrong.status == "fail" and "office-url" in wrong.found
