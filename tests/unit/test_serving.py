"""The gunicorn worker class: its heartbeat is rate-limited, not paid per request."""

from __future__ import annotations

from gateway.server.serving import DrainingWorker


class _Tmp:
    def __init__(self) -> None:
        self.beats = 0

    def notify(self) -> None:
        self.beats += 1


def test_the_heartbeat_is_written_once_a_second_not_at_every_loop_turn() -> None:
    worker = DrainingWorker.__new__(DrainingWorker)  # no sockets, no arbiter: only notify
    worker.tmp = _Tmp()
    for _ in range(1000):
        worker.notify()
    assert worker.tmp.beats == 1
    worker._last_beat -= worker.heartbeat_seconds  # a second later
    worker.notify()
    assert worker.tmp.beats == 2
