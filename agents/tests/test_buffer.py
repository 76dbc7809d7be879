import json
import sqlite3

from alloyhub_agent.buffer import Buffer, read_stats


def pts(start, n, tag="t"):
    return [(tag, f"2026-01-01T00:00:{i:02d}.000Z", float(i), "good") for i in range(start, start + n)]


def test_append_then_batch_in_order_with_growing_seq(tmp_path):
    buf = Buffer(str(tmp_path / "b.db"))
    buf.append(pts(0, 5))
    assert buf.depth == 5 and buf.loose == 5
    b1 = buf.form_batch(3)
    b2 = buf.form_batch(3)
    assert (b1.seq, b2.seq) == (1, 2)
    assert [p[2] for p in b1.points] == [0.0, 1.0, 2.0]
    assert [p[2] for p in b2.points] == [3.0, 4.0]
    assert buf.form_batch(3) is None
    assert buf.depth == 5 and buf.loose == 0 and buf.next_seq == 3
    assert json.loads(b1.points_json)[0] == {"tag": "t", "ts": "2026-01-01T00:00:00.000Z", "v": 0.0, "q": "good"}
    assert len(b1) == 3


def test_values_keep_their_type(tmp_path):
    buf = Buffer(str(tmp_path / "b.db"))
    buf.append([("a", "x", True, "good"), ("b", "x", 3, "uncertain"), ("c", "x", "RUN", "bad"),
                ("d", "x", 1.5, "good")])
    b = buf.form_batch(10)
    assert [p[2] for p in b.points] == [True, 3, "RUN", 1.5]
    assert [p[3] for p in b.points] == ["good", "uncertain", "bad", "good"]


def test_ack_removes_only_that_batch(tmp_path):
    buf = Buffer(str(tmp_path / "b.db"))
    buf.append(pts(0, 4))
    b1, b2 = buf.form_batch(2), buf.form_batch(2)
    assert buf.ack(b1.seq)
    assert not buf.ack(b1.seq)  # a second PUBACK for the same seq changes nothing
    assert buf.depth == 2
    assert [b.seq for b in buf.batches_after(0)] == [b2.seq]


def test_restart_keeps_everything_and_resends_the_same_seq(tmp_path):
    path = str(tmp_path / "b.db")
    buf = Buffer(path)
    buf.append(pts(0, 6))
    b1 = buf.form_batch(4)  # published, PUBACK never came
    buf.close()

    again = Buffer(path)  # the agent restarts
    assert again.depth == 6 and again.loose == 2 and again.next_seq == 2
    [resent] = again.batches_after(0)
    assert resent.seq == b1.seq and resent.points == b1.points  # same seq, same points, same ts and q
    nxt = again.form_batch(4)
    assert nxt.seq == 2 and [p[2] for p in nxt.points] == [4.0, 5.0]
    again.ack_many([1, 2])
    again.close()
    st = read_stats(path)
    assert (st.depth, st.next_seq, st.dropped) == (0, 3, 0)


def test_seq_never_goes_back_even_when_the_buffer_is_empty(tmp_path):
    path = str(tmp_path / "b.db")
    buf = Buffer(path)
    buf.append(pts(0, 1))
    buf.ack(buf.form_batch(10).seq)
    buf.close()
    buf = Buffer(path)
    buf.append(pts(1, 1))
    assert buf.form_batch(10).seq == 2


def test_cap_drops_oldest_points_and_counts(tmp_path):
    path = str(tmp_path / "b.db")
    buf = Buffer(path, max_points=5)
    buf.append(pts(0, 4))
    assert buf.append(pts(4, 3)) == 2  # 7 points for 5 places: the two oldest go
    assert buf.depth == 5 and buf.dropped == 2
    b = buf.form_batch(10)
    assert [p[2] for p in b.points] == [2.0, 3.0, 4.0, 5.0, 6.0]
    buf.close()
    assert read_stats(path).dropped == 2  # persisted


def test_cap_drops_whole_oldest_batches_first(tmp_path):
    buf = Buffer(str(tmp_path / "b.db"), max_points=6)
    buf.append(pts(0, 6))
    old = buf.form_batch(3)
    buf.form_batch(3)
    buf.append(pts(6, 2))  # needs 2 places: the oldest batch (3 points) is dropped whole
    assert buf.dropped == 3 and buf.depth == 5
    assert [b.seq for b in buf.batches_after(0)] == [old.seq + 1]
    assert not buf.ack(old.seq)  # its late PUBACK is harmless


def test_more_points_than_the_cap_in_one_append(tmp_path):
    buf = Buffer(str(tmp_path / "b.db"), max_points=3)
    buf.append(pts(0, 5))
    assert buf.depth == 3 and buf.dropped == 2
    assert [p[2] for p in buf.form_batch(10).points] == [2.0, 3.0, 4.0]


def test_file_is_sqlite_wal(tmp_path):
    path = str(tmp_path / "b.db")
    Buffer(path).close()
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
