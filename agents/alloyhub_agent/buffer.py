"""Store-and-forward buffer: an append-only SQLite (WAL) file on disk.

Every point is appended to ``points`` first. A batch is formed by moving the
oldest points into one ``batches`` row under the next ``seq`` (persisted in
``meta``); from then on that batch is immutable, so a re-send after a
reconnect or a restart carries the same seq and the same points. A batch is
deleted only when the broker has acknowledged it (PUBACK).

The cap counts every point held (loose points plus points in batches). When
an append would exceed it, the oldest data goes first: whole batches in seq
order, then loose points; every point removed that way is added to
``dropped``, which is persisted and reported in the agent's state.

One connection, used from one thread (the agent's event loop).
"""
from __future__ import annotations

import json
import os
import sqlite3
from dataclasses import dataclass
from typing import Iterable, Sequence

Point = tuple  # (tag: str, ts: str ISO8601 UTC, v: number|bool|str, q: str)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS points (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tag TEXT NOT NULL,
    ts TEXT NOT NULL,
    v NOT NULL,
    q TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS batches (
    seq INTEGER PRIMARY KEY,
    n INTEGER NOT NULL,
    points TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
INSERT OR IGNORE INTO meta(key, value) VALUES ('next_seq', 1), ('dropped', 0);
"""


def _store(v):
    """Numbers are stored as SQLite numbers; anything else (bool, str) as JSON text."""
    if type(v) is float or type(v) is int:
        return v
    return json.dumps(v)


def _load(v):
    return json.loads(v) if type(v) is str else v


@dataclass(frozen=True)
class Batch:
    seq: int
    points_json: str  # the points exactly as they go on the wire: [{"tag","ts","v","q"}, ...]

    @property
    def points(self) -> list[list]:
        return [[p["tag"], p["ts"], p["v"], p["q"]] for p in json.loads(self.points_json)]

    def __len__(self) -> int:
        return self.points_json.count('"tag":')


@dataclass(frozen=True)
class BufferStats:
    depth: int  # points held (loose + in batches)
    loose: int  # points not yet in a batch
    batches: int  # batches formed and not yet acknowledged
    dropped: int  # points dropped by the cap since the buffer was created
    next_seq: int
    max_points: int | None  # None when read from a file without the agent


class Buffer:
    def __init__(self, path: str, max_points: int = 1_000_000):
        if max_points < 1:
            raise ValueError("max_points must be >= 1")
        self.path = path
        self.max_points = max_points
        parent = os.path.dirname(os.path.abspath(path))
        os.makedirs(parent, exist_ok=True)
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        self._loose = self._db.execute("SELECT count(*) FROM points").fetchone()[0]
        row = self._db.execute("SELECT count(*), coalesce(sum(n), 0) FROM batches").fetchone()
        self._batches, self._batched = row[0], row[1]
        self._next_seq = self._meta("next_seq")
        self._dropped = self._meta("dropped")

    # -- helpers -----------------------------------------------------------
    def _meta(self, key: str) -> int:
        return self._db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()[0]

    @property
    def depth(self) -> int:
        return self._loose + self._batched

    @property
    def loose(self) -> int:
        return self._loose

    @property
    def dropped(self) -> int:
        return self._dropped

    @property
    def next_seq(self) -> int:
        return self._next_seq

    def stats(self) -> BufferStats:
        return BufferStats(self.depth, self._loose, self._batches, self._dropped,
                           self._next_seq, self.max_points)

    # -- writing -----------------------------------------------------------
    def append(self, points: Sequence[Point]) -> int:
        """Append points (oldest first). Returns how many were dropped to stay under the cap."""
        if not points:
            return 0
        rows = [(t, ts, _store(v), q) for t, ts, v, q in points]
        dropped_before = self._dropped
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            if len(rows) > self.max_points:  # keep only the newest max_points of this call
                self._dropped += len(rows) - self.max_points
                rows = rows[-self.max_points:]
            overflow = self.depth + len(rows) - self.max_points
            if overflow > 0:
                self._drop_oldest(overflow)
            db.executemany("INSERT INTO points(tag, ts, v, q) VALUES (?, ?, ?, ?)", rows)
            self._loose += len(rows)
            if self._dropped != dropped_before:
                db.execute("UPDATE meta SET value=? WHERE key='dropped'", (self._dropped,))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            self._reload_counters()
            raise
        return self._dropped - dropped_before

    def _drop_oldest(self, n: int) -> None:
        db = self._db
        while n > 0 and self._batches:
            seq, count = db.execute("SELECT seq, n FROM batches ORDER BY seq LIMIT 1").fetchone()
            db.execute("DELETE FROM batches WHERE seq=?", (seq,))
            self._batches -= 1
            self._batched -= count
            self._dropped += count
            n -= count
        if n > 0 and self._loose:
            k = min(n, self._loose)
            db.execute("DELETE FROM points WHERE id IN (SELECT id FROM points ORDER BY id LIMIT ?)", (k,))
            self._loose -= k
            self._dropped += k

    def _reload_counters(self) -> None:
        self._loose = self._db.execute("SELECT count(*) FROM points").fetchone()[0]
        row = self._db.execute("SELECT count(*), coalesce(sum(n), 0) FROM batches").fetchone()
        self._batches, self._batched = row[0], row[1]
        self._next_seq = self._meta("next_seq")
        self._dropped = self._meta("dropped")

    def form_batch(self, max_points: int) -> Batch | None:
        """Move up to max_points of the oldest loose points into a new batch with the next seq."""
        if not self._loose:
            return None
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            rows = db.execute(
                "SELECT id, tag, ts, v, q FROM points ORDER BY id LIMIT ?", (max_points,)
            ).fetchall()
            if not rows:
                db.execute("ROLLBACK")
                self._loose = 0
                return None
            pts = [{"tag": t, "ts": ts, "v": _load(v), "q": q} for _id, t, ts, v, q in rows]
            text = json.dumps(pts, separators=(",", ":"))
            seq = self._next_seq
            db.execute("INSERT INTO batches(seq, n, points) VALUES (?, ?, ?)", (seq, len(pts), text))
            db.execute("DELETE FROM points WHERE id <= ?", (rows[-1][0],))
            db.execute("UPDATE meta SET value=? WHERE key='next_seq'", (seq + 1,))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            self._reload_counters()
            raise
        self._next_seq = seq + 1
        self._loose -= len(pts)
        self._batches += 1
        self._batched += len(pts)
        return Batch(seq, text)

    def batches_after(self, seq: int, limit: int = 100) -> list[Batch]:
        """Stored (unacknowledged) batches with a seq greater than ``seq``, oldest first."""
        rows = self._db.execute(
            "SELECT seq, points FROM batches WHERE seq > ? ORDER BY seq LIMIT ?", (seq, limit)
        ).fetchall()
        return [Batch(s, p) for s, p in rows]

    def ack(self, seq: int) -> bool:
        """The broker acknowledged the batch: remove it. False if it was not there (already dropped)."""
        row = self._db.execute("SELECT n FROM batches WHERE seq=?", (seq,)).fetchone()
        if row is None:
            return False
        self._db.execute("DELETE FROM batches WHERE seq=?", (seq,))
        self._batches -= 1
        self._batched -= row[0]
        return True

    def ack_many(self, seqs: Iterable[int]) -> int:
        seqs = list(seqs)
        if not seqs:
            return 0
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        done = 0
        try:
            for seq in seqs:
                if self.ack(seq):
                    done += 1
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            self._reload_counters()
            raise
        return done

    def close(self) -> None:
        try:
            self._db.close()
        except sqlite3.Error:
            pass


def read_stats(path: str) -> BufferStats:
    """Stats of a buffer file without keeping it open (for ``alloyhub-agent status``)."""
    if not os.path.exists(path):
        raise FileNotFoundError(path)
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)  # read only: the agent may be running
    try:
        loose = db.execute("SELECT count(*) FROM points").fetchone()[0]
        batches, batched = db.execute("SELECT count(*), coalesce(sum(n), 0) FROM batches").fetchone()
        meta = dict(db.execute("SELECT key, value FROM meta"))
    finally:
        db.close()
    return BufferStats(loose + batched, loose, batches, meta["dropped"], meta["next_seq"], None)
