from __future__ import annotations

import threading

from hypothesis import given, settings
from hypothesis import strategies as st

from jainam_fsm.core.registry import SubscriptionRegistry, flatten, nest, reconcile

keys = st.tuples(st.integers(1, 3), st.integers(1, 200), st.sampled_from([1501, 1502, 1512]))


def test_consumers_are_counted() -> None:
    reg = SubscriptionRegistry()
    assert reg.add(1, 2885, 1501, "strategy-a")
    assert not reg.add(1, 2885, 1501, "strategy-b")
    assert reg.consumers(1, 2885, 1501) == 2
    assert not reg.remove(1, 2885, 1501, "strategy-a")
    assert reg.wants(1, 2885, 1501)
    assert reg.remove(1, 2885, 1501, "strategy-b")
    assert not reg.wants(1, 2885, 1501)
    assert not reg.remove(1, 2885, 1501, "nobody")


def test_keyed_by_segment_then_instrument_then_codes() -> None:
    reg = SubscriptionRegistry()
    reg.add(1, 22, 1501)
    reg.add(1, 22, 1502)
    reg.add(2, 22, 1501)
    assert reg.desired() == {1: {22: frozenset({1501, 1502})}, 2: {22: frozenset({1501})}}


def test_remove_consumer_and_clear() -> None:
    reg = SubscriptionRegistry()
    reg.add(1, 1, 1501, "a")
    reg.add(1, 1, 1501, "b")
    reg.add(1, 2, 1501, "a")
    assert reg.remove_consumer("a") == {(1, 2, 1501)}
    assert reg.keys() == {(1, 1, 1501)}
    reg.clear()
    assert len(reg) == 0


def test_reconcile_batches_one_code_per_request() -> None:
    desired = {(1, i, 1501) for i in range(120)} | {(2, 5, 1502)}
    plan = reconcile(set(), desired, batch=50)
    assert [len(r.instruments) for r in plan.subscribe] == [50, 50, 20, 1]
    assert {r.code for r in plan.subscribe[:3]} == {1501}
    assert plan.unsubscribe == ()


@settings(max_examples=200, deadline=None)
@given(
    server=st.sets(keys, max_size=60), desired=st.sets(keys, max_size=60), batch=st.integers(1, 60)
)
def test_reconcile_is_minimal_and_complete(server: set, desired: set, batch: int) -> None:  # type: ignore[type-arg]
    plan = reconcile(server, desired, batch)
    subs = [(s, i, r.code) for r in plan.subscribe for s, i in r.instruments]
    unsubs = [(s, i, r.code) for r in plan.unsubscribe for s, i in r.instruments]
    assert len(subs) == len(set(subs)) and set(subs) == desired - server
    assert len(unsubs) == len(set(unsubs)) and set(unsubs) == server - desired
    assert all(1 <= len(r.instruments) <= batch for r in plan.subscribe + plan.unsubscribe)
    assert (server | set(subs)) - set(unsubs) == desired
    assert flatten(nest(desired)) == desired


def test_thread_safety_under_contention() -> None:
    reg = SubscriptionRegistry()
    barrier = threading.Barrier(8)

    def work(n: int) -> None:
        barrier.wait()
        for i in range(500):
            reg.add(1, i % 50, 1501, n)
            reg.wants(1, i % 50, 1501)
        for i in range(500):
            reg.remove(1, i % 50, 1501, n)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(reg) == 0
