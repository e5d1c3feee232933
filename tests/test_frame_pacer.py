"""Frames: the first piece at once, then coalesced; database writes at most once a second; sent
from a thread of their own, in order."""

import threading

from llm.streaming import BackgroundCalls, FramePacer


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _pacer(clock: FakeClock, frames: list[dict]) -> FramePacer:
    return FramePacer(
        sink=lambda **frame: frames.append(frame),
        frame_interval=0.05,
        persist_interval=1.0,
        clock=clock,
    )


def test_the_first_piece_is_sent_at_once():
    clock, frames = FakeClock(), list[dict]()
    _pacer(clock, frames).add("Hel")
    assert frames == [{"seq": 1, "delta": "Hel", "text": "Hel", "persist": False}]


def test_pieces_arriving_within_the_interval_are_coalesced_into_one_frame():
    clock, frames = FakeClock(), list[dict]()
    pacer = _pacer(clock, frames)
    pacer.add("a")
    for piece in "bcd":
        clock.now += 0.01
        pacer.add(piece)
    assert len(frames) == 1
    clock.now += 0.03
    pacer.add("e")
    assert [frame["delta"] for frame in frames] == ["a", "bcde"]
    assert frames[-1]["text"] == "abcde"


def test_frames_are_numbered_in_order_and_their_deltas_add_up_to_the_text():
    clock, frames = FakeClock(), list[dict]()
    pacer = _pacer(clock, frames)
    for index in range(200):
        clock.now += 0.013
        pacer.add(f"t{index} ")
    pacer.finish()
    assert [frame["seq"] for frame in frames] == list(range(1, len(frames) + 1))
    assert "".join(frame["delta"] for frame in frames) == pacer.text
    assert pacer.seq == len(frames)


def test_the_text_is_saved_at_most_once_per_persist_interval():
    clock, frames = FakeClock(), list[dict]()
    pacer = _pacer(clock, frames)
    for _ in range(1000):  # 10 s of tokens at 100 per second
        clock.now += 0.01
        pacer.add("x")
    saves = [frame for frame in frames if frame["persist"]]
    assert 9 <= len(saves) <= 10
    assert len(frames) > 100


def test_finish_sends_what_is_pending_without_an_extra_save():
    clock, frames = FakeClock(), list[dict]()
    pacer = _pacer(clock, frames)
    pacer.add("a")
    clock.now += 0.001
    pacer.add("b")
    pacer.finish()
    assert frames[-1] == {"seq": 2, "delta": "b", "text": "ab", "persist": False}
    pacer.finish()
    assert len(frames) == 2


def test_background_calls_run_in_order_without_the_caller_waiting_and_close_waits_for_all():
    release = threading.Event()
    done: list[int] = []
    calls = BackgroundCalls(name="test-frames")

    def first() -> None:
        release.wait(5)
        done.append(1)

    calls.submit(first)
    calls.submit(lambda: done.append(2))
    assert done == [], "submit returned while the first call was still running"
    release.set()
    calls.close()
    assert done == [1, 2]


def test_a_failing_background_call_is_logged_and_the_next_ones_still_run(caplog):
    done: list[int] = []
    calls = BackgroundCalls(name="test-frames")

    def failing() -> None:
        raise RuntimeError("Redis is gone")

    calls.submit(failing)
    calls.submit(lambda: done.append(2))
    calls.close()
    calls.close()  # closing twice is harmless
    assert done == [2]
    assert "A background call failed" in caplog.text
