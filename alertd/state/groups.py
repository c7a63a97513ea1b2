"""State the flush reads and writes: open groups, their members, and turning them into messages."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from alertd.records import FlushPlan, GroupDue, OpenMember
from alertd.state.codec import dt, ts
from alertd.state.db import chunks, reading
from alertd.state.outbox import OutboxMixin
from alertd.state.rows import MEMBERS_FROM, open_member


class GroupsMixin(OutboxMixin):
    """The grouping half of the state database."""

    @reading
    def open_groups(self) -> list[GroupDue]:
        """One summary per open group: when it is due and how long it is held (no members read)."""
        rows = self._db.execute(
            "SELECT group_key, MIN(route), MIN(due_at), MAX(hold_until) FROM members "
            "WHERE flush_id IS NULL AND closed IS NULL GROUP BY group_key"
        )
        return [GroupDue(r[0], r[1], dt(r[2]), dt(r[3]) if r[3] else None) for r in rows]

    @reading
    def group_members(self, keys: Sequence[str]) -> dict[str, list[OpenMember]]:
        """The open members of each group in ``keys``, in arrival order."""
        found: dict[str, list[OpenMember]] = {k: [] for k in keys}
        for chunk in chunks(list(keys)):
            rows = self._db.execute(
                f"{MEMBERS_FROM} AND m.group_key IN ({','.join('?' * len(chunk))}) ORDER BY m.id", chunk
            )
            for row in rows:
                member = open_member(row)
                found[member.group_key].append(member)
        return {k: v for k, v in found.items() if v}

    @reading
    def group_histories(self, keys: Sequence[str]) -> dict[tuple[str, str], tuple[int, int]]:
        """Per (group key, receiver) of ``keys``: how many messages already went, and how many alerts
        they held (absent: none yet). One query for a whole flush, not one per group and receiver."""
        found: dict[tuple[str, str], tuple[int, int]] = {}
        for chunk in chunks(list(keys)):
            rows = self._db.execute(
                "SELECT group_key, receiver, COUNT(*), COALESCE(SUM(alert_count), 0) FROM messages "
                f"WHERE group_key IN ({','.join('?' * len(chunk))}) GROUP BY group_key, receiver",
                chunk,
            )
            for key, receiver, count, alerts in rows:
                found[(key, receiver)] = (int(count), int(alerts))
        return found

    def rename_routes(self, renamed: Mapping[str, str]) -> int:
        """Move open members, recoveries owed and group history from old route identities to new ones.

        Returns how many open members moved. One transaction; keys not in use change nothing.
        """
        moved = 0
        with self._tx() as db:
            for old, new in renamed.items():
                cur = db.execute(
                    "UPDATE members SET route=?, group_key=replace(group_key, ?, ?) WHERE route=?",
                    (new, f"{old}|", f"{new}|", old),
                )
                moved += cur.rowcount
                db.execute("UPDATE OR IGNORE notified SET route=? WHERE route=?", (new, old))
                db.execute(
                    "UPDATE messages SET group_key=replace(group_key, ?, ?) WHERE instr(group_key, ?) > 0",
                    (f"{old}|", f"{new}|", f"{old}|"),
                )
        return moved

    def flush_group(self, plan: FlushPlan, now: datetime) -> None:
        """Turn a group's open members into messages and outbox rows, in one transaction."""
        self.flush_groups([plan], now)

    def flush_groups(self, plans: Sequence[FlushPlan], now: datetime) -> None:
        """Turn the open members of several groups into messages and outbox rows, in one transaction.

        Each group keeps its own flush id, so a member's messages are those of its own group.
        """
        stamp = ts(now)
        with self._tx() as db:
            for plan in plans:
                flush_id = self._new_flush(db, stamp)
                for msg in plan.messages:
                    self._insert_message(db, plan.group_key, msg, flush_id, stamp)
                db.executemany(
                    "UPDATE members SET flush_id=? WHERE id=? AND flush_id IS NULL AND closed IS NULL",
                    [(flush_id, mid) for mid in plan.member_ids],
                )
                db.executemany(
                    "INSERT OR IGNORE INTO notified (source, job_key, vm_key, route, alert_end) VALUES (?,?,?,?,?)",
                    [(n.source, n.key[0], n.key[1], n.route, ts(n.alert_end)) for n in plan.notified],
                )
