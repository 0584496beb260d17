"""Turns at computing replies: never more at once than allowed, handed on in the order they were asked for, taken
again by a thread that holds one without waiting, and given up while a thread waits on something outside."""

from __future__ import annotations

import contextvars
import threading
import time

import pytest

from appliance.turns import Turns


def _run_all(turns: Turns, count: int, work) -> list[threading.Thread]:
    threads = [threading.Thread(target=work, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
        assert not thread.is_alive()
    return threads


@pytest.mark.parametrize("at_once", [1, 2, 3])
def test_never_more_threads_hold_a_turn_than_allowed_and_every_one_gets_one(at_once):
    turns, lock = Turns(at_once), threading.Lock()
    holding, most, done = [0], [0], []

    def work(number: int) -> None:
        for _ in range(20):
            with turns.taken():
                with lock:
                    holding[0] += 1
                    most[0] = max(most[0], holding[0])
                time.sleep(0.0005)
                with lock:
                    holding[0] -= 1
        done.append(number)

    _run_all(turns, 8, work)
    assert most[0] == at_once and sorted(done) == list(range(8))


def test_turns_go_in_the_order_they_were_asked_for():
    turns, order = Turns(1), []
    queued = threading.Semaphore(0)
    with turns.taken():
        threads = []
        for number in range(5):
            def work(number=number) -> None:
                queued.release()
                with turns.taken():
                    order.append(number)
            thread = threading.Thread(target=work)
            thread.start()
            threads.append(thread)
            queued.acquire()
            time.sleep(0.05)  # the thread is waiting for its turn before the next one asks
    for thread in threads:
        thread.join(10)
    assert order == [0, 1, 2, 3, 4]


def test_a_thread_holding_a_turn_takes_it_again_without_waiting_for_itself():
    turns = Turns(1)
    with turns.taken():
        with turns.taken():
            assert turns.held_here()
        assert turns.held_here()
    assert not turns.held_here()
    taken = threading.Event()

    def other() -> None:
        with turns.taken():
            taken.set()

    threading.Thread(target=other).start()
    assert taken.wait(5)  # the turn was free again


def test_a_turn_given_up_while_waiting_goes_to_another_and_comes_back():
    turns = Turns(1)
    outside, answered = threading.Event(), threading.Event()

    def other() -> None:
        with turns.taken():
            answered.set()

    with turns.taken():
        with turns.given_up():
            assert not turns.held_here()
            thread = threading.Thread(target=other)
            thread.start()
            assert answered.wait(5)  # computed while this one waited outside
            outside.set()
        assert turns.held_here()
    thread.join(5)
    assert outside.is_set()


def test_giving_up_without_holding_a_turn_changes_nothing():
    turns = Turns(1)
    with turns.given_up():
        assert not turns.held_here()
    with turns.taken():
        assert turns.held_here()


def test_at_least_one_reply_at_a_time():
    with pytest.raises(ValueError):
        Turns(0)


def _asking(turns: Turns, job, count: int = 1) -> tuple[list[threading.Thread], list]:
    """`count` threads each asking `turns.run(job)` while the caller holds the turn, each in line before the next
    asks; their outcomes ("ok", result) or ("error", exception), in the order they asked."""
    outcomes: list = [None] * count
    threads = []
    for number in range(count):
        def ask(number=number) -> None:
            try:
                outcomes[number] = ("ok", turns.run(lambda: job(number)))
            except Exception as exc:
                outcomes[number] = ("error", exc)
        thread = threading.Thread(target=ask)
        thread.start()
        threads.append(thread)
        _wait_until(lambda in_line=number + 1: len(turns._waiting) == in_line)
    return threads, outcomes


def _wait_until(condition) -> None:
    deadline = time.monotonic() + 5
    while not condition():
        assert time.monotonic() < deadline
        time.sleep(0.001)


def test_a_reply_asked_for_while_the_turn_is_held_is_computed_by_the_holder_once_done_in_the_order_asked():
    turns, computed_on = Turns(1), []

    def job(number: int) -> str:
        computed_on.append((number, threading.get_ident(), turns.held_here()))
        return f"reply {number}"

    with turns.taken():
        threads, outcomes = _asking(turns, job, 3)
        assert computed_on == []  # nothing is computed while the holder is busy with its own
    for thread in threads:
        thread.join(5)
    here = threading.get_ident()
    assert computed_on == [(0, here, True), (1, here, True), (2, here, True)]
    assert outcomes == [("ok", "reply 0"), ("ok", "reply 1"), ("ok", "reply 2")]
    assert turns.run(lambda: "free again") == "free again"  # and the turn was freed after them


def test_a_reply_that_fails_on_the_holders_thread_raises_in_the_thread_that_asked_and_the_next_is_computed():
    turns = Turns(1)

    def job(number: int) -> str:
        if number == 0:
            raise LookupError("no such agent")
        return "second"

    with turns.taken():
        threads, outcomes = _asking(turns, job, 2)
    for thread in threads:
        thread.join(5)
    assert outcomes[0][0] == "error" and str(outcomes[0][1]) == "no such agent"
    assert outcomes[1] == ("ok", "second")


def test_a_reply_computed_by_another_thread_sees_its_own_context_never_the_computing_threads():
    turns, visitor = Turns(1), contextvars.ContextVar("visitor", default="nobody")
    visitor.set("holder")
    seen = []

    def ask(name: str) -> None:
        visitor.set(name)
        seen.append(turns.run(visitor.get))

    with turns.taken():
        thread = threading.Thread(target=ask, args=("visitor b",))
        thread.start()
        _wait_until(lambda: len(turns._waiting) == 1)
    thread.join(5)
    assert seen == ["visitor b"] and visitor.get() == "holder"


def test_the_holder_computes_others_replies_for_a_bounded_time_then_hands_its_turn_to_the_next():
    turns, computed_on = Turns(1, serving_seconds=0), []
    with turns.taken():
        threads, outcomes = _asking(turns, lambda number: computed_on.append((number, threading.get_ident())), 2)
    for thread in threads:
        thread.join(5)
    # Out of time at once: the first in line got the turn and computed its own, then (out of time too) handed on.
    assert [number for number, _ in computed_on] == [0, 1]
    assert [ident for _, ident in computed_on] == [thread.ident for thread in threads]
    assert outcomes == [("ok", None), ("ok", None)]


def test_a_reply_computed_by_the_holder_that_gives_its_turn_up_lets_the_next_in_line_go_meanwhile():
    turns, events = Turns(1), []
    outside = threading.Event()

    def job(number: int) -> int:
        if number == 0:
            with turns.given_up():
                events.append("waiting outside")
                assert outside.wait(5)  # the next reply is computed meanwhile, elsewhere
            events.append("back")
        else:
            events.append("second computed")
            outside.set()
        return number

    with turns.taken():
        threads, outcomes = _asking(turns, job, 2)
    for thread in threads:
        thread.join(5)
    assert events == ["waiting outside", "second computed", "back"]
    assert outcomes == [("ok", 0), ("ok", 1)]


def test_a_reply_computed_by_the_holder_takes_a_turn_again_without_waiting():
    turns = Turns(1)
    with turns.taken():
        threads, outcomes = _asking(turns, lambda number: turns.run(lambda: f"nested {number}"))
    threads[0].join(5)
    assert outcomes == [("ok", "nested 0")]
