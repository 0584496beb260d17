"""Turns at computing replies: never more at once than allowed, handed on in the order they were asked for, taken
again by a thread that holds one without waiting, and given up while a thread waits on something outside."""

from __future__ import annotations

import os
import threading
import time

import pytest

from appliance.turns import Turns, reply_cores


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


def test_a_thread_keeps_to_the_turns_cores_while_it_waits_and_holds_and_gets_its_own_back_after():
    own = os.sched_getaffinity(0)
    cores = frozenset({max(own)})
    turns = Turns(1, cores=cores)
    go, waiting, seen = threading.Event(), threading.Event(), {}

    def other() -> None:  # started before the turn below: a thread started during one would start on its cores
        go.wait(5)
        waiting.set()
        with turns.taken():
            seen["holding"] = os.sched_getaffinity(0)
        seen["after"] = os.sched_getaffinity(0)

    thread = threading.Thread(target=other)
    thread.start()
    with turns.taken():
        assert os.sched_getaffinity(0) == cores
        go.set()
        assert waiting.wait(5)
        deadline = time.monotonic() + 5
        while os.sched_getaffinity(thread.native_id) != cores and time.monotonic() < deadline:
            time.sleep(0.005)
        assert os.sched_getaffinity(thread.native_id) == cores  # waiting for the turn, already on its cores
        with turns.given_up():
            assert os.sched_getaffinity(0) == own  # waiting outside the process, anywhere
            thread.join(5)
        assert os.sched_getaffinity(0) == cores
    assert os.sched_getaffinity(0) == own
    assert seen == {"holding": cores, "after": own}


@pytest.mark.parametrize("turns", [Turns(1), Turns.for_process(1, keep_to_cores=False)])
def test_turns_without_cores_never_move_a_thread(turns):
    own = os.sched_getaffinity(0)
    with turns.taken():
        assert os.sched_getaffinity(0) == own
    assert os.sched_getaffinity(0) == own


def test_replies_keep_to_the_last_cores_only_when_the_process_may_use_more(monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2, 3})
    assert reply_cores(1) == frozenset({3})
    assert reply_cores(2) == frozenset({2, 3})
    assert reply_cores(4) is None  # every core the process has computes replies: nothing to keep to
