"""``alertd_source_info{source,kind,api_version,degraded}``: set by the daemon after each successful poll."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
from blackbox import SourceUnderTest, VBRUnderTest
from e2e import e2e_config, now
from support.webhook import WebhookCollector

from alertd.daemon import Daemon
from alertd.metrics import Metrics

pytest_plugins = ["vbr_fixtures", "blackbox_fixtures"]


def info_series(metrics: Metrics) -> list[str]:
    """The alertd_source_info samples of the exposition, one line each."""
    text = metrics.render()[0].decode()
    return re.findall(r"(?m)^alertd_source_info\{.*$", text)


async def poll_once(tmp_path: Path, src: SourceUnderTest, hook: WebhookCollector) -> Daemon:
    daemon = Daemon(e2e_config(tmp_path, src.url, [hook.url], source=src.source()))
    try:
        await daemon.poll_source(daemon.cfg.sources[0])
    finally:
        await daemon.close()
    return daemon


async def test_source_info_after_a_poll(
    tmp_path: Path, webhook: WebhookCollector, src: SourceUnderTest
) -> None:
    """A successful poll sets one info series: VBR with its negotiated revision, EM without a version."""
    src.failed_run("SQL Daily", ["db01"], {"db01": "Failed"}, now() - timedelta(minutes=10))
    daemon = await poll_once(tmp_path, src, webhook)
    version = "1.3-rev2" if src.kind == "vbr" else ""
    assert info_series(daemon.metrics) == [
        f'alertd_source_info{{api_version="{version}",degraded="false",kind="{src.kind}",source="{src.kind}1"}} 1.0'
    ]


@pytest.mark.parametrize("src", ["vbr"], indirect=True)
async def test_source_info_of_a_degraded_vbr(
    tmp_path: Path, webhook: WebhookCollector, src: SourceUnderTest
) -> None:
    """A VBR 12.0 server shows as degraded, with the revision it speaks."""
    assert isinstance(src, VBRUnderTest)
    src.sim.settings.profile = "12.0"
    daemon = await poll_once(tmp_path, src, webhook)
    assert info_series(daemon.metrics) == [
        'alertd_source_info{api_version="1.1-rev0",degraded="true",kind="vbr",source="vbr1"} 1.0'
    ]


async def test_no_source_info_before_a_successful_poll(
    tmp_path: Path, webhook: WebhookCollector, src: SourceUnderTest
) -> None:
    """A failed poll sets no info series: the labels would only be guesses."""
    src.faults.fail_next(10_000, status=503)
    daemon = await poll_once(tmp_path, src, webhook)
    assert info_series(daemon.metrics) == []


def test_changed_labels_replace_the_old_series() -> None:
    """An upgraded server's new revision replaces its series instead of adding a second one."""

    class Reader:
        api_version = "1.2-rev1"
        degraded = False

    metrics = Metrics(process_metrics=False)
    reader = Reader()
    metrics.source_polled("vbr1", "vbr", reader)
    metrics.source_polled("em1", "em", object())
    reader.api_version = "1.3-rev2"
    metrics.source_polled("vbr1", "vbr", reader)
    assert sorted(info_series(metrics)) == [
        'alertd_source_info{api_version="",degraded="false",kind="em",source="em1"} 1.0',
        'alertd_source_info{api_version="1.3-rev2",degraded="false",kind="vbr",source="vbr1"} 1.0',
    ]
