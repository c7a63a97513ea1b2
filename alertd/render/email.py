"""Email layout helpers: VM rows grouped by normalised reason, the large-run summary and the CSV attachment.

The HTML itself is a template (``alert_email.html.j2``, overridable); this module decides what
it lists. Up to ``EMAIL_FULL_LIST`` VMs the email lists every VM, grouped by reason; past that it
shows a summary per reason (a few names each) and attaches the full list as CSV, so the HTML
stays under 90 KB (Gmail clips at about 102 KB) however large the run. Per-VM reason text is
shortened in steps until the HTML fits. Job runs' own results (job-level entries) are listed
before the VMs, up to ``EMAIL_FULL_LIST`` of them, their reasons shortened in the same steps
(never dropped); they are not VMs, so neither the reason groups nor the CSV hold them.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, replace

from alertd.model import Attachment
from alertd.render.text import ELLIPSIS
from alertd.render.view import AlertView, VmRow, rank

#: Past this many VMs an email shows a summary and attaches the full list as CSV.
EMAIL_FULL_LIST = 200
#: In the summary, each reason names this many VMs before "and N more".
SUMMARY_NAMES = 40
#: Per-VM reason characters, tried in turn until the HTML fits.
REASON_STEPS = (600, 240, 100, 0)
#: A job run's own reason (the job session's message), per step of REASON_STEPS: cut less, never dropped.
JOB_REASON_STEPS = (2000, 600, 240, 100)
#: Spreadsheet programs run a cell that starts with these as a formula (CSV injection).
_FORMULA = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True, slots=True)
class ReasonGroup:
    """VMs sharing one normalised reason and result: one heading, then the VMs."""

    reason: str  # the shared reason: the full text when every VM has the same, else the folded form
    result: str
    failed: bool
    rows: tuple[VmRow, ...]
    per_row: bool  # True when the VMs' reasons differ (each row then shows its own)
    hidden: int = 0  # VMs of the group not named (summary mode)

    @property
    def count(self) -> int:
        """How many VMs the group holds (named or not)."""
        return len(self.rows) + self.hidden


def _cut(text: str, limit: int) -> str:
    if limit <= 0:
        return ""
    return text if len(text) <= limit else text[: limit - 1].rstrip() + ELLIPSIS


def reason_groups(
    view: AlertView, reason_chars: int, names_per_group: int | None = None
) -> list[ReasonGroup]:
    """The view's rows grouped by (result, normalised reason): failures first, larger groups first."""
    buckets: dict[tuple[int, str], list[VmRow]] = {}
    for row in view.rows:
        buckets.setdefault((rank(row.result), row.reason_key), []).append(row)
    ordered = sorted(buckets.items(), key=lambda item: (item[0][0], -len(item[1])))
    groups = []
    for (_, key), rows in ordered:
        same = len({r.reason for r in rows}) == 1
        shown = rows if names_per_group is None else rows[:names_per_group]
        trimmed = tuple(_trim(r, reason_chars) for r in shown)
        groups.append(
            ReasonGroup(
                reason=_cut(rows[0].reason, 2000) if same else key,
                result=rows[0].result,
                failed=rows[0].failed,
                rows=trimmed,
                per_row=not same and names_per_group is None,
                hidden=len(rows) - len(shown),
            )
        )
    return groups


def job_context(view: AlertView, reason_chars: int) -> dict[str, object]:
    """``job_rows`` (at most EMAIL_FULL_LIST, reasons cut to ``reason_chars``) and ``hidden_jobs``."""
    shown = view.job_rows[:EMAIL_FULL_LIST]
    return {
        "job_rows": [_trim(r, reason_chars) for r in shown],
        "hidden_jobs": len(view.job_rows) - len(shown),
    }


def _trim(row: VmRow, reason_chars: int) -> VmRow:
    return replace(row, reason=_cut(row.reason, reason_chars))


def _cell(value: object) -> str:
    text = str(value)
    return "'" + text if text.startswith(_FORMULA) else text


def csv_name(view: AlertView) -> str:
    """``alertd-SQL_Daily-20250605-0104.csv``: job and run start, safe as a file name."""
    job = re.sub(r"[^A-Za-z0-9._-]+", "_", view.job_name).strip("._") or "job"
    return f"alertd-{job[:60]}-{view.start:%Y%m%d-%H%M}.csv"


def csv_attachment(view: AlertView) -> Attachment:
    """Every VM of the message as CSV (one row per VM; formulas neutralised for spreadsheets)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(
        [
            "vm",
            "result",
            "reason",
            "start_utc",
            "end_utc",
            "size_bytes",
            "attempts",
            "streak",
            "job",
            "backup_server",
            "task_session",
        ]
    )
    for r in view.rows:
        end = r.end.isoformat() if r.end is not None else ""
        writer.writerow(
            [
                _cell(x)
                for x in (
                    r.name, r.result, r.reason, r.start.isoformat(), end, r.size, r.attempts, r.streak,
                    r.session.job_name, r.session.backup_server, r.session.uid,
                )
            ]
        )  # fmt: skip
    return Attachment(csv_name(view), "text/csv", out.getvalue())
