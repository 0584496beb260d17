"""Reciprocal rank fusion on rankings small enough to check by hand."""

from __future__ import annotations

import subprocess
import sys

import pytest

from appliance.knowledge.fusion import reciprocal_rank_fusion


def ids(fused):
    return [item for item, _score in fused]


def test_fused_scores_are_the_sums_of_reciprocal_ranks():
    # BM25 ranks 1, 2, 3; dense ranks 3, 1, 4. With k = 60:
    #   1: 1/61 + 1/62,  3: 1/63 + 1/61,  2: 1/62,  4: 1/63
    fused = reciprocal_rank_fusion([[1, 2, 3], [3, 1, 4]])

    assert ids(fused) == [1, 3, 2, 4]
    assert [score for _item, score in fused] == pytest.approx([1 / 61 + 1 / 62, 1 / 61 + 1 / 63, 1 / 62, 1 / 63])


def test_a_smaller_k_rewards_the_top_ranks_more():
    # Id 1 is first in one list and tenth in the other; id 2 is second in both.
    #   k = 0:  1 scores 1/1 + 1/10 = 1.1, 2 scores 1/2 + 1/2 = 1.0, so 1 wins.
    #   k = 60: 1 scores 1/61 + 1/70 < 2/62, the score of 2, so the steady 2 wins.
    rankings = [[1, 2], [3, 2, 4, 5, 6, 7, 8, 9, 10, 1]]

    assert reciprocal_rank_fusion(rankings, k=0)[:2] == [(1, pytest.approx(1.1)), (2, pytest.approx(1.0))]
    assert reciprocal_rank_fusion(rankings, k=60)[:2] == [(2, pytest.approx(2 / 62)),
                                                          (1, pytest.approx(1 / 61 + 1 / 70))]


def test_weights_scale_each_ranking():
    # 1: 1/61 + 2/62,  2: 1/62 + 2/61: doubling the second list puts its first id on top.
    fused = reciprocal_rank_fusion([[1, 2], [2, 1]], weights=[1.0, 2.0])

    assert fused == [(2, pytest.approx(1 / 62 + 2 / 61)), (1, pytest.approx(1 / 61 + 2 / 62))]


def test_a_zero_weight_leaves_the_other_ranking_alone():
    assert ids(reciprocal_rank_fusion([[5, 6, 7], [7, 6, 5, 8]], weights=[1.0, 0.0])) == [5, 6, 7, 8]


def test_equal_scores_keep_the_order_in_which_ids_were_first_seen():
    assert ids(reciprocal_rank_fusion([[1, 2], [2, 1]])) == [1, 2]
    assert ids(reciprocal_rank_fusion([[2, 1], [1, 2]])) == [2, 1]
    assert ids(reciprocal_rank_fusion([[10], [20], [30]])) == [10, 20, 30]


def test_an_id_repeated_in_one_ranking_counts_once_at_its_best_rank():
    assert reciprocal_rank_fusion([[4, 4, 5]]) == [(4, pytest.approx(1 / 61)), (5, pytest.approx(1 / 63))]


def test_no_rankings_or_empty_rankings_fuse_to_nothing():
    assert reciprocal_rank_fusion([]) == []
    assert reciprocal_rank_fusion([[], []]) == []


def test_one_ranking_keeps_its_order():
    assert ids(reciprocal_rank_fusion([[9, 3, 7, 1]])) == [9, 3, 7, 1]


def test_weights_must_match_the_rankings():
    with pytest.raises(ValueError, match="2 weights for 3 rankings"):
        reciprocal_rank_fusion([[1], [2], [3]], weights=[1.0, 1.0])


def test_a_negative_k_is_refused():
    with pytest.raises(ValueError, match="k must not be negative"):
        reciprocal_rank_fusion([[1]], k=-1)


def test_fusion_needs_no_third_party_package():
    code = "import sys, appliance.knowledge.fusion; print('numpy' in sys.modules)"

    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"
