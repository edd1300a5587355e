"""`SizedMemo`: values are computed once while held, and what is held stays within its size bound."""

from __future__ import annotations

from qa.memo import SizedMemo


def test_a_held_value_is_computed_once() -> None:
    calls: list[str] = []

    def compute(key: str) -> str:
        calls.append(key)
        return key * 2

    memo = SizedMemo(compute, len, capacity=100)
    assert memo.get("ab") == "abab" and memo.get("ab") == "abab"
    assert calls == ["ab"]


def test_the_least_recently_used_go_first_past_the_capacity() -> None:
    calls: list[str] = []

    def compute(key: str) -> str:
        calls.append(key)
        return key

    memo = SizedMemo(compute, len, capacity=6)
    for key in ("aaa", "bb", "aaa", "c", "dd"):  # "dd" overflows: "bb", used least recently, goes
        memo.get(key)
    assert memo.size == 6 and len(memo) == 3
    memo.get("aaa")
    memo.get("bb")
    assert calls == ["aaa", "bb", "c", "dd", "bb"]


def test_a_value_larger_than_the_capacity_is_never_held() -> None:
    memo = SizedMemo(lambda key: key, len, capacity=3)
    assert memo.get("abcd") == "abcd"
    assert len(memo) == 0 and memo.size == 0
