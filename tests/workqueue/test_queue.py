"""Queue: client-go's add/get/done guarantees, shutdown, drain, and the thread-safe entry points."""

from __future__ import annotations

import asyncio
import threading

import pytest

from pycontroller.workqueue import Queue


async def settle(n: int = 10) -> None:
    for _ in range(n):
        await asyncio.sleep(0)


async def test_items_come_out_in_the_order_they_were_added() -> None:
    q: Queue[str] = Queue()
    for key in ["a", "b", "c"]:
        q.add(key)
    assert [(await q.get())[0] for _ in range(3)] == ["a", "b", "c"]


async def test_an_item_added_twice_before_it_is_taken_is_queued_once() -> None:
    q: Queue[str] = Queue()
    q.add("a")
    q.add("b")
    q.add("a")
    assert len(q) == 2
    assert await q.get() == ("a", False)
    assert await q.get() == ("b", False)
    assert len(q) == 0


async def test_an_item_added_while_processing_is_queued_again_only_after_done() -> None:
    q: Queue[str] = Queue()
    q.add("a")
    item, _ = await q.get()
    q.add("a")
    q.add("a")
    assert len(q) == 0  # not handed to a second worker while the first holds it
    q.done(item)
    assert len(q) == 1
    assert await q.get() == ("a", False)


async def test_a_waiting_worker_gets_an_item_added_later() -> None:
    q: Queue[str] = Queue()
    getter = asyncio.create_task(q.get())
    await settle()
    assert not getter.done()
    q.add("a")
    assert await asyncio.wait_for(getter, 1) == ("a", False)


async def test_waiting_workers_are_served_in_the_order_they_started_waiting() -> None:
    q: Queue[int] = Queue()
    getters = []
    for _ in range(3):
        getters.append(asyncio.create_task(q.get()))
        await settle(2)
    for i in range(3):
        q.add(i)
    results = await asyncio.gather(*getters)
    assert results == [(0, False), (1, False), (2, False)]


async def test_a_cancelled_waiting_get_loses_no_item() -> None:
    q: Queue[str] = Queue()
    first = asyncio.create_task(q.get())
    second = asyncio.create_task(q.get())
    await settle()
    q.add("a")  # handed to `first`...
    first.cancel()  # ...which is cancelled before it runs: `second` must get "a"
    assert await asyncio.wait_for(second, 1) == ("a", False)
    with pytest.raises(asyncio.CancelledError):
        await first


async def test_done_of_an_item_not_being_processed_is_ignored() -> None:
    q: Queue[str] = Queue()
    q.add("a")
    q.done("a")  # queued, not processing: nothing happens
    q.done("never-added")
    assert len(q) == 1
    assert await q.get() == ("a", False)
    assert len(q) == 0


async def test_unhashable_items_raise_type_error_naming_the_type() -> None:
    q: Queue[object] = Queue()
    with pytest.raises(TypeError, match="'list'"):
        q.add([1, 2])
    with pytest.raises(TypeError, match="'dict'"):
        q.done({})
    with pytest.raises(TypeError, match="'set'"):
        q.add_threadsafe(set())


async def test_adds_after_shut_down_are_ignored() -> None:
    q: Queue[str] = Queue()
    q.shut_down()
    q.add("a")
    assert len(q) == 0
    assert q.shutting_down()


async def test_queued_items_are_still_handed_out_after_shut_down_then_none_true() -> None:
    q: Queue[str] = Queue()
    q.add("a")
    q.shut_down()
    assert await q.get() == ("a", False)
    assert await q.get() == (None, True)
    assert await q.get() == (None, True)


async def test_shut_down_wakes_every_waiting_worker() -> None:
    q: Queue[str] = Queue()
    getters = [asyncio.create_task(q.get()) for _ in range(4)]
    await settle()
    q.shut_down()
    assert await asyncio.wait_for(asyncio.gather(*getters), 1) == [(None, True)] * 4


async def test_an_item_re_added_before_shut_down_is_processed_once_more_after_done() -> None:
    q: Queue[str] = Queue()
    q.add("a")
    item, _ = await q.get()
    q.add("a")
    q.shut_down()
    q.done(item)
    assert await q.get() == ("a", False)
    assert await q.get() == (None, True)


async def test_shut_down_with_drain_waits_until_taken_items_are_done() -> None:
    q: Queue[str] = Queue()
    q.add("a")
    q.add("b")
    a, _ = await q.get()
    b, _ = await q.get()
    drain = asyncio.create_task(q.shut_down_with_drain())
    await settle()
    assert q.shutting_down() and not drain.done()
    q.done(a)
    await settle()
    assert not drain.done()
    q.done(b)
    await asyncio.wait_for(drain, 1)


async def test_shut_down_with_drain_returns_at_once_when_nothing_is_processed() -> None:
    q: Queue[str] = Queue()
    q.add("queued-but-not-taken")
    await asyncio.wait_for(q.shut_down_with_drain(), 1)
    assert await q.get() == ("queued-but-not-taken", False)


async def test_a_later_shut_down_ends_the_drain_wait() -> None:
    q: Queue[str] = Queue()
    q.add("a")
    await q.get()  # never done
    drain = asyncio.create_task(q.shut_down_with_drain())
    await settle()
    assert not drain.done()
    q.shut_down()
    await asyncio.wait_for(drain, 1)


def test_a_queue_created_outside_a_loop_binds_to_the_first_loop_that_waits() -> None:
    q: Queue[str] = Queue()  # no running loop here
    q.add("before-the-loop")
    with pytest.raises(RuntimeError, match="not bound"):
        q.add_threadsafe("x")

    async def use() -> list[tuple[str, bool]]:
        first = await q.get()  # an item is ready: no waiting, no binding needed
        waiter = asyncio.create_task(q.get())  # this one waits: binds the queue to this loop
        await settle()
        thread = threading.Thread(target=q.add_threadsafe, args=("from-thread",))
        thread.start()
        thread.join()
        return [first, await asyncio.wait_for(waiter, 5)]

    assert asyncio.run(use()) == [("before-the-loop", False), ("from-thread", False)]


def test_a_queue_refuses_to_wait_on_a_second_event_loop() -> None:
    q: Queue[str] = Queue()
    asyncio.run(_wait_briefly(q))
    with pytest.raises(RuntimeError, match="another event loop"):
        asyncio.run(q.get())


async def _wait_briefly(q: Queue[str]) -> None:
    task = asyncio.create_task(q.get())
    await settle()
    q.add("x")
    await task


async def test_worker_threads_use_the_threadsafe_entry_points() -> None:
    q: Queue[int] = Queue()
    loop = asyncio.get_running_loop()
    processed: list[int] = []
    all_done = asyncio.Event()

    def reconcile_in_thread(item: int) -> None:
        processed.append(item)
        if item < 3:
            q.add_threadsafe(item + 10)  # enqueue follow-up work from the thread
        q.done_threadsafe(item)

    async def worker() -> None:
        while True:
            item, shutdown = await q.get()
            if shutdown:
                return
            await loop.run_in_executor(None, reconcile_in_thread, item)
            if len(processed) == 6:
                all_done.set()

    for i in range(3):
        q.add(i)
    task = asyncio.create_task(worker())
    await asyncio.wait_for(all_done.wait(), 5)
    thread = threading.Thread(target=q.shut_down_threadsafe)
    thread.start()
    await asyncio.wait_for(task, 5)
    thread.join()
    assert sorted(processed) == [0, 1, 2, 10, 11, 12]


def test_an_item_added_from_a_thread_reaches_a_waiting_worker() -> None:
    async def main() -> tuple[str, bool]:
        q: Queue[str] = Queue()
        getter = asyncio.create_task(q.get())
        await settle()
        threading.Thread(target=q.add_threadsafe, args=("from-thread",)).start()
        return await asyncio.wait_for(getter, 5)

    assert asyncio.run(main()) == ("from-thread", False)


def test_a_queue_name_must_be_a_string() -> None:
    with pytest.raises(TypeError):
        Queue(name=3)  # type: ignore[arg-type]


async def test_drain_also_waits_for_an_item_re_added_while_it_was_processed() -> None:
    q: Queue[str] = Queue()
    q.add("a")
    a, _ = await q.get()
    q.add("a")  # dirty again: must be processed once more before the drain completes
    drain = asyncio.create_task(q.shut_down_with_drain())
    await settle()
    q.done(a)
    await settle()
    assert not drain.done()
    again, shutdown = await q.get()
    assert (again, shutdown) == ("a", False)
    q.done(again)
    await asyncio.wait_for(drain, 1)
    assert await q.get() == (None, True)


async def test_several_drain_waiters_all_return_and_a_cancelled_one_leaves_the_queue_shut() -> None:
    q: Queue[str] = Queue()
    q.add("a")
    a, _ = await q.get()
    waiters = [asyncio.create_task(q.shut_down_with_drain()) for _ in range(3)]
    await settle()
    waiters[0].cancel()
    await settle()
    assert q.shutting_down()
    q.done(a)
    await asyncio.wait_for(asyncio.gather(*waiters[1:]), 1)
    assert waiters[0].cancelled()


async def test_drain_wakes_waiting_getters_with_shutdown() -> None:
    q: Queue[str] = Queue()
    getter = asyncio.create_task(q.get())
    await settle()
    await asyncio.wait_for(q.shut_down_with_drain(), 1)
    assert await getter == (None, True)


async def test_many_threads_adding_at_once_lose_nothing() -> None:
    q: Queue[tuple[int, int]] = Queue()
    expected = {(t, i) for t in range(4) for i in range(500)}
    seen: set[tuple[int, int]] = set()
    everything = asyncio.Event()

    async def worker() -> None:
        while True:
            item, shutdown = await q.get()
            if shutdown:
                return
            seen.add(item)
            q.done(item)
            if seen == expected:
                everything.set()

    def producer(t: int) -> None:
        for i in range(500):
            q.add_threadsafe((t, i))

    workers = [asyncio.create_task(worker()) for _ in range(3)]
    threads = [threading.Thread(target=producer, args=(t,)) for t in range(4)]
    for thread in threads:
        thread.start()
    await asyncio.wait_for(everything.wait(), 10)
    for thread in threads:
        thread.join()
    q.shut_down()
    await asyncio.wait_for(asyncio.gather(*workers), 5)
    assert seen == expected
