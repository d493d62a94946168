"""BeliefModel: every clause of the update rule, each bias, capacity, briefs input and snapshots."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from novel_engine.core.belief_update import MAX_EVIDENCE
from novel_engine.core.beliefs import BeliefModel, EvidenceRecord
from novel_engine.core.events import InformationFragment, SourceType, Visibility
from novel_engine.core.perception import PerceivedFragment, Perception, Via
from novel_engine.errors import NovelEngineError


def w(e):
    return math.log((1 + e) / (1 - e))


def sigmoid(x):
    return 1 / (1 + math.exp(-x))


def frag(key="k", value="a", reliability=0.8, origin="world", turn=0, valence=0.0, visibility=Visibility.LOCAL):
    return InformationFragment(
        id=f"{key}={value}",
        content="",
        source_type=SourceType.RUMOR,
        reliability=reliability,
        location="here",
        turn=turn,
        visibility=visibility,
        origin=origin,
        key=key,
        value=value,
        valence=valence,
    )


# ---------------------------------------------------------------- effective reliability and weight


@pytest.mark.parametrize(
    "source, trust, expected_e",
    [
        ("self", {}, 0.6),
        ("world", {"world": -1.0}, 0.6),
        ("ally", {"ally": 0.5}, 0.6 * 0.75),
        ("foe", {"foe": -1.0}, 0.0),
        ("stranger", {}, 0.6 * 0.75),
    ],
)
def test_one_source_gives_half_one_plus_e(source, trust, expected_e):
    m = BeliefModel("me", trust=trust)
    assert m.update_belief("k", "a", source, 0.6) == pytest.approx((1 + expected_e) / 2)
    assert m.credence("k", "a") == pytest.approx((1 + expected_e) / 2)


def test_effective_reliability_is_capped():
    m = BeliefModel("me")
    assert m.update_belief("k", "a", "self", 1.0) == pytest.approx((1 + 0.99) / 2)
    assert m.evidence("k")[0].weight == pytest.approx(w(0.99))


def test_zero_reliability_carries_no_information_but_is_recorded():
    m = BeliefModel("me")
    assert m.update_belief("k", "a", "self", 0.0) == 0.5
    assert m.evidence("k") == [EvidenceRecord("self", "a", 0.0, 0.0, 0)]


def test_unseen_key_and_unclaimed_value():
    m = BeliefModel("me")
    assert m.credence("nothing", "x") == 0.5 and m.belief("nothing") is None
    m.update_belief("k", "a", "self", 0.6)
    assert m.credence("k", "b") == pytest.approx(sigmoid(-w(0.6)))


def test_agreeing_sources_add_and_contradicting_ones_are_kept():
    m = BeliefModel("me", trust={"ally": 1.0})
    m.update_belief("k", "a", "self", 0.6)
    assert m.update_belief("k", "a", "ally", 0.6) == pytest.approx(sigmoid(2 * w(0.6)))
    m.update_belief("k", "b", "self", 0.9)
    m.update_belief("k", "c", "self", 0.3)
    sa, sb, sc = 2 * w(0.6), w(0.9), w(0.3)
    assert m.credence("k", "a") == pytest.approx(sigmoid(sa - sb - sc))
    assert m.credence("k", "b") == pytest.approx(sigmoid(sb - sa - sc))
    assert [e.value for e in m.evidence("k")] == ["a", "a", "b", "c"]


def test_bools_are_not_numbers():
    m = BeliefModel("me")
    m.update_belief("k", True, "self", 0.6)
    m.update_belief("k", 1, "self", 0.6)
    assert m.credence("k", True) == pytest.approx(0.5) and m.credence("k", 1.0) == pytest.approx(0.5)
    assert m.belief("k").value is True


@pytest.mark.parametrize(
    "call",
    [
        lambda m: m.update_belief("k", "a", "self", 1.5),
        lambda m: m.update_belief("k", [1], "self", 0.5),
        lambda m: m.update_belief("k", float("nan")),
        lambda m: m.update_belief(3, "a"),
        lambda m: m.set_trust("x", 2.0),
        lambda m: m.add_cognitive_bias("optimism", 0.5),
        lambda m: m.add_cognitive_bias("recency", 1.5),
    ],
)
def test_invalid_input_raises(call):
    with pytest.raises(NovelEngineError):
        call(BeliefModel("me"))


def test_bias_errors_name_the_problem():
    with pytest.raises(NovelEngineError, match="unknown cognitive bias 'optimism'.*confirmation"):
        BeliefModel("me").add_cognitive_bias("optimism", 0.5)
    with pytest.raises(NovelEngineError, match=r"\[0, 1\]"):
        BeliefModel("me").add_cognitive_bias("Confirmation_Bias", -0.1)
    with pytest.raises(NovelEngineError):
        BeliefModel("me", capacity=0)


# ---------------------------------------------------------------- biases


@pytest.mark.parametrize("alias", ["confirmation", "confirmation_bias", "Confirmation Bias", "confirmation-bias"])
def test_bias_aliases(alias):
    m = BeliefModel("me")
    m.add_cognitive_bias(alias, 0.3)
    assert m.biases == {"confirmation": 0.3}


def test_confirmation_boosts_agreeing_and_damps_disagreeing_evidence():
    m = BeliefModel("me")
    m.add_cognitive_bias("confirmation_bias", 0.5)
    m.update_belief("k", "a", "self", 0.6)  # no leader yet: plain weight
    m.update_belief("k", "a", "self", 0.6)
    m.update_belief("k", "b", "self", 0.6)
    weights = [e.weight for e in m.evidence("k")]
    assert weights == pytest.approx([w(0.6), 1.5 * w(0.6), 0.5 * w(0.6)])


def test_confirmation_needs_a_leader_above_half():
    m = BeliefModel("me")
    m.update_belief("tie", "a", "self", 0.6)
    m.update_belief("tie", "b", "self", 0.6)  # a and b at 0.5 each: nobody leads
    m.update_belief("zero", "a", "self", 0.0)  # only zero support: credence 0.5
    m.add_cognitive_bias("confirmation", 0.5)
    m.update_belief("tie", "a", "self", 0.6)
    m.update_belief("zero", "b", "self", 0.6)
    assert m.evidence("tie")[-1].weight == pytest.approx(w(0.6))
    assert m.evidence("zero")[-1].weight == pytest.approx(w(0.6))


def test_anchoring_damps_every_value_but_the_first():
    m = BeliefModel("me")
    m.add_cognitive_bias("anchoring", 0.4)
    m.update_belief("k", "first", "self", 0.6)
    m.update_belief("k", "second", "self", 0.6)
    m.update_belief("k", "second", "self", 0.6)
    m.update_belief("k", "first", "self", 0.6)
    assert [e.weight for e in m.evidence("k")] == pytest.approx([w(0.6), 0.6 * w(0.6), 0.6 * w(0.6), w(0.6)])


def test_negativity_boosts_bad_news_only():
    m = BeliefModel("me")
    m.add_cognitive_bias("negativity", 0.4)
    m.update_belief("bad", "a", "self", 0.6, valence=-0.5)
    m.update_belief("good", "a", "self", 0.6, valence=0.5)
    assert m.evidence("bad")[0].weight == pytest.approx(1.2 * w(0.6))
    assert m.evidence("good")[0].weight == pytest.approx(w(0.6))
    assert m.credence("bad", "a") > m.credence("good", "a")


def test_recency_decays_old_support_before_new_evidence():
    m = BeliefModel("me")
    m.add_cognitive_bias("recency", 0.5)
    m.update_belief("k", "old", "self", 0.6, turn=1)
    m.update_belief("k", "new", "self", 0.6, turn=3)  # old support x 0.75 ** 2
    assert m.credence("k", "new") == pytest.approx(sigmoid(w(0.6) - 0.5625 * w(0.6)))
    m.update_belief("k", "new", "self", 0.0, turn=2)  # an earlier turn decays nothing
    assert m.credence("k", "new") == pytest.approx(sigmoid(w(0.6) - 0.5625 * w(0.6)))
    plain = BeliefModel("me")
    plain.update_belief("k", "old", "self", 0.6, turn=1)
    plain.update_belief("k", "new", "self", 0.6, turn=3)
    assert plain.credence("k", "new") == pytest.approx(0.5)  # no recency bias, no decay


def test_bias_strength_zero_is_off():
    m = BeliefModel("me")
    for name in ("confirmation", "anchoring", "recency", "negativity"):
        m.add_cognitive_bias(name, 0.0)
    m.update_belief("k", "a", "self", 0.6, turn=0)
    m.update_belief("k", "b", "self", 0.6, turn=5, valence=-1.0)
    assert m.credence("k", "a") == pytest.approx(0.5)


# ---------------------------------------------------------------- capacity, evidence, summaries


def test_capacity_evicts_oldest_last_update_then_smallest_key():
    m = BeliefModel("me", capacity=3)
    m.update_belief("b", 1, turn=1)
    m.update_belief("a", 1, turn=1)
    m.update_belief("c", 1, turn=0)
    m.update_belief("c", 2, turn=2)  # c is now the most recent
    m.update_belief("d", 1, turn=3)  # a and b tie at turn 1: a goes
    assert sorted(m.keys()) == ["b", "c", "d"]
    m.update_belief("e", 1, turn=3)
    assert sorted(m.keys()) == ["c", "d", "e"] and m.evidence("b") == []


def test_evidence_keeps_the_most_recent_records():
    m = BeliefModel("me")
    for t in range(MAX_EVIDENCE + 3):
        m.update_belief("k", "a" if t % 2 else "b", f"s{t}", 0.5, turn=t)
    ev = m.evidence("k")
    assert len(ev) == MAX_EVIDENCE and [e.turn for e in ev] == list(range(3, MAX_EVIDENCE + 3))
    assert {e.value for e in ev} == {"a", "b"}


def test_belief_and_ordering_of_beliefs():
    m = BeliefModel("me")
    m.update_belief("sure", "x", "self", 0.9, turn=1)
    m.update_belief("split", "x", "self", 0.6, turn=2)
    m.update_belief("split", "y", "self", 0.5, turn=2)
    m.update_belief("a_old", "x", "self", 0.2, turn=0)
    m.update_belief("lopsided", "x", "self", 0.9, turn=0)
    m.update_belief("lopsided", "y", "self", 0.3, turn=0)
    m.update_belief("weak_new", "x", "self", 0.2, turn=4)
    m.update_belief("a_weak_new", "x", "self", 0.2, turn=4)
    assert [b.key for b in m.beliefs()] == ["sure", "lopsided", "a_weak_new", "weak_new", "a_old", "split"]
    assert [b.key for b in m.beliefs(2)] == ["sure", "lopsided"]
    split = m.belief("split")
    assert split.value == "x" and split.contested and split.credence == pytest.approx(sigmoid(w(0.6) - w(0.5)))
    assert not m.belief("sure").contested and not m.belief("lopsided").contested


# ---------------------------------------------------------------- perceptions


def test_apply_to_information_predicts_without_mutating():
    m = BeliefModel("me", trust={"friend": 0.6})
    m.add_cognitive_bias("confirmation", 0.3)
    m.add_cognitive_bias("recency", 0.4)
    m.update_belief("k", "a", "self", 0.7, turn=1)
    before = m.to_dict()
    hear = Perception(frag("k", "b", turn=4), 0.5, Via.HEARSAY, 1, "friend")
    keyless = Perception(frag(None, None, origin="stranger"), 0.6, Via.HERE)
    bare = frag("new", "z", reliability=0.8, valence=-0.5)
    out = m.apply_to_information([hear, keyless, bare])
    assert m.to_dict() == before
    assert [type(pf) for pf in out] == [PerceivedFragment] * 3 and out[0].perception is hear
    assert out[1].credence == pytest.approx((1 + 0.6 * 0.75) / 2)
    assert out[2].perception.via == Via.HERE and out[2].credence == pytest.approx((1 + 0.8) / 2)  # origin: world
    twin = BeliefModel.from_dict(before)
    assert out[0].credence == twin.update_belief("k", "b", "friend", 0.5, turn=4)


def test_absorb_updates_keyed_perceptions_with_the_right_source():
    m = BeliefModel("me", trust={"friend": 1.0})
    items = [
        Perception(frag("k", "a", origin="world"), 0.6, Via.HERE),
        Perception(frag("k", "a", origin="villain"), 0.6, Via.HEARSAY, 1, "friend"),
        Perception(frag("mine", "a", origin="me", visibility=Visibility.PRIVATE), 0.6, Via.PRIVATE),
        Perception(frag(None, None), 0.9, Via.HERE),
    ]
    assert m.absorb(items, turn=7) == 3
    assert [(e.source, e.turn) for e in m.evidence("k")] == [("world", 7), ("friend", 7)]
    assert m.evidence("mine")[0].source == "self"
    assert m.credence("k", "a") == pytest.approx(sigmoid(2 * w(0.6)))


# ---------------------------------------------------------------- snapshots and properties


def test_round_trip_keeps_everything():
    m = BeliefModel("me", capacity=5, trust={"friend": 0.3, "foe": -0.7, "world": 0.1})
    m.add_cognitive_bias("anchoring_bias", 0.4)
    m.add_cognitive_bias("recency", 0.2)
    m.update_belief("k", True, "friend", 0.9, turn=1)
    m.update_belief("k", 1, "foe", 0.8, turn=2, valence=-0.3)
    m.update_belief("k", None, "x", 0.3, turn=3)
    m.update_belief("n", 2.5, "self", 0.7, turn=3)
    snap = json.loads(json.dumps(m.to_dict()))
    back = BeliefModel.from_dict(snap)
    assert back.to_dict() == m.to_dict()
    assert back.biases == {"anchoring": 0.4, "recency": 0.2} and back.evidence("k") == m.evidence("k")
    assert back.belief("k") == m.belief("k") and back.credence("k", 1) == m.credence("k", 1)
    assert back.update_belief("k", 1, "friend", 0.6, turn=9) == m.update_belief("k", 1, "friend", 0.6, turn=9)


updates = st.lists(
    st.tuples(
        st.sampled_from(["k1", "k2", "k3", "k4"]),
        st.sampled_from(["a", "b", 0, 1, 1.5, True, False, None]),
        st.sampled_from(["self", "world", "friend", "foe", "stranger"]),
        st.floats(0.0, 1.0),
        st.integers(0, 20),
        st.floats(-1.0, 1.0),
    ),
    max_size=30,
)
bias_sets = st.dictionaries(
    st.sampled_from(["confirmation", "anchoring", "recency", "negativity"]), st.floats(0.0, 1.0), max_size=4
)


def build(seq, biases, capacity=3):
    m = BeliefModel("me", capacity=capacity, trust={"friend": 0.5, "foe": -0.5})
    for name, s in biases.items():
        m.add_cognitive_bias(name, s)
    for key, value, source, rel, turn, valence in seq:
        c = m.update_belief(key, value, source, rel, turn=turn, valence=valence)
        assert 0.0 <= c <= 1.0 and c == m.credence(key, value)
    return m


@settings(max_examples=200, deadline=None)
@given(updates, bias_sets)
def test_snapshot_round_trip_is_exact(seq, biases):
    m = build(seq, biases)
    back = BeliefModel.from_dict(json.loads(json.dumps(m.to_dict())))
    assert back.to_dict() == m.to_dict() and back.beliefs() == m.beliefs()
    assert len(m.keys()) <= 3
    for key in m.keys():
        assert back.evidence(key) == m.evidence(key)
        assert back.update_belief(key, "a", "friend", 0.7, turn=21) == m.update_belief(key, "a", "friend", 0.7, turn=21)


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 4), st.lists(st.tuples(st.sampled_from("abcdefg"), st.integers(0, 6)), max_size=60))
def test_eviction_matches_the_rule(capacity, seq):
    m = BeliefModel("me", capacity=capacity)
    last: dict[str, int] = {}  # the rule, spelled out naively
    for key, turn in seq:
        if key not in last and len(last) >= capacity:
            del last[min(last, key=lambda k: (last[k], k))]
        last[key] = max(last.get(key, turn), turn)
        m.update_belief(key, 1, turn=turn)
        assert sorted(m.keys()) == sorted(last)
        assert len(m._age) == len(last)  # one eviction entry per key, however many updates
    assert BeliefModel.from_dict(m.to_dict()).to_dict() == m.to_dict()


class _DictRule:
    """The update rule spelled out with a plain dict of support per key (no capacity): the compact
    per-key layout of BeliefModel must give exactly the same floats."""

    def __init__(self, biases):
        self.b = {k: biases.get(k, 0.0) for k in ("confirmation", "anchoring", "recency", "negativity")}
        self.factor = {"friend": 0.75, "foe": 0.25}
        self.keys = {}

    def update(self, key, vk, value, source, r, turn, valence, certain):
        f = 1.0 if source in ("self", "world") else self.factor.get(source, 0.75)
        e = min(r * f, 0.99)
        w = math.log((1.0 + e) / (1.0 - e))
        decay, st, b = 1.0, self.keys.get(key), self.b
        if st is not None:
            sup = st["sup"]
            if b["recency"] and turn > st["last"]:
                decay = (1.0 - b["recency"] / 2.0) ** (turn - st["last"])
            if w and b["confirmation"]:
                total = sum(sup.values())
                if 2.0 * sup.get(vk, 0.0) > total:
                    w *= 1.0 + b["confirmation"]
                elif any(2.0 * x > total for x in sup.values()):
                    w *= 1.0 - b["confirmation"]
            if w and b["anchoring"] and vk != st["anchor"]:
                w *= 1.0 - b["anchoring"]
        if valence < 0.0 and b["negativity"] and (w or st is None):
            w *= 1.0 + b["negativity"] * -valence
        if st is None:
            st = self.keys[key] = {"sup": {}, "anchor": vk, "last": turn, "ev": []}
        sup = st["sup"]
        if certain:
            sup.clear()
            w = math.log((1.0 + 0.99) / (1.0 - 0.99))
        else:
            for k in sup:
                sup[k] *= decay
        sup[vk] = sup.get(vk, 0.0) + w
        st["ev"] = (st["ev"] + [(source, value, r, w, turn)])[-MAX_EVIDENCE:]
        st["last"] = max(st["last"], turn)

    def credence(self, key, vk):
        sup = self.keys[key]["sup"]
        x = 2.0 * sup.get(vk, 0.0) - sum(sup.values())
        return 1.0 / (1.0 + math.exp(-x)) if x >= 0.0 else math.exp(x) / (1.0 + math.exp(x))


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["k1", "k2", "k3"]),
            st.sampled_from(["a", "b", 0, 1, 1.0, True, None]),
            st.sampled_from(["self", "world", "friend", "foe", "stranger"]),
            st.floats(0.0, 1.0),
            st.integers(0, 12),
            st.floats(-1.0, 1.0),
            st.booleans(),
        ),
        max_size=40,
    ),
    bias_sets,
)
def test_compact_key_state_equals_the_rule_with_plain_dicts(seq, biases):
    from novel_engine.core.belief_state import vkey

    m = BeliefModel("me", capacity=64, trust={"friend": 0.5, "foe": -0.5})
    for name, strength in biases.items():
        m.add_cognitive_bias(name, strength)
    ref = _DictRule(m.biases)
    for key, value, source, rel, turn, valence, certain in seq:
        got = m.update_belief(key, value, source, rel, turn=turn, valence=valence, certain=certain)
        ref.update(key, vkey(value), value, source, rel, turn, valence, certain)
        assert got == ref.credence(key, vkey(value))  # exactly: the same floats, not just close ones
        for other in ("a", "b", 0, True, None):
            assert m.credence(key, other) == ref.credence(key, vkey(other))
            # what a brief shows of a perceived claim, and the ranking of beliefs(), by the same rule
            [seen] = m.view([Perception(frag(key, other), 0.5, Via.HEARSAY)])
            assert seen.credence == ref.credence(key, vkey(other))
        ranked = sorted(
            ref.keys, key=lambda k: (-max(ref.credence(k, v) for v in ref.keys[k]["sup"]), -ref.keys[k]["last"], k)
        )
        assert [(b.key, b.credence) for b in m.beliefs()] == [
            (k, max(ref.credence(k, v) for v in ref.keys[k]["sup"])) for k in ranked
        ]
    for key, st_ in ref.keys.items():
        assert [(e.source, e.value, e.reliability, e.weight, e.turn) for e in m.evidence(key)] == st_["ev"]
        sup = st_["sup"]
        best = max(sup.values())
        leader = next(v for v, x in sup.items() if x == best)  # ties: the value claimed first
        b = m.belief(key)
        assert (b.value, b.credence) == (
            (leader.value if hasattr(leader, "value") else leader),
            ref.credence(key, leader),
        )
    dumped = {k["key"]: k["support"] for k in m.to_dict()["keys"]}
    assert dumped == {k: [[getattr(v, "value", v), x] for v, x in s["sup"].items()] for k, s in ref.keys.items()}


@settings(max_examples=200, deadline=None)
@given(updates)
def test_without_biases_order_does_not_matter(seq):
    forward, backward = build(seq, {}, capacity=64), build(list(reversed(seq)), {}, capacity=64)
    for key, value, *_ in seq:
        assert forward.credence(key, value) == pytest.approx(backward.credence(key, value), abs=1e-9)


def test_subjective_reality_facade_reexports():
    from novel_engine.core import beliefs, events, fog_of_war, perception
    from novel_engine.core import subjective_reality as sr

    assert sr.BeliefModel is beliefs.BeliefModel and sr.EvidenceRecord is beliefs.EvidenceRecord
    assert sr.FogOfWarService is fog_of_war.FogOfWarService and sr.InformationFragment is events.InformationFragment
    assert sr.Via is perception.Via and sr.PerceivedFragment is perception.PerceivedFragment
    assert {"TurnBrief", "TurnBriefFactory"} <= set(sr.__all__) and "TurnBriefFactory" in dir(sr)
    with pytest.raises(AttributeError):
        sr.NoSuchThing  # noqa: B018
    briefs = pytest.importorskip("novel_engine.core.briefs")
    assert sr.TurnBriefFactory is briefs.TurnBriefFactory and sr.TurnBrief is briefs.TurnBrief


def test_certain_first_hand_evidence_clears_every_other_value_but_keeps_the_records():
    m = BeliefModel("me")
    m.add_cognitive_bias("anchoring", 0.9)
    m.add_cognitive_bias("confirmation", 0.9)
    for turn in range(5):
        m.update_belief("location_of:me", "hall", "ally", 0.9, turn=turn)
    assert m.belief("location_of:me").value == "hall"
    assert m.update_belief("location_of:me", "yard", turn=6, certain=True) == pytest.approx((1 + 0.99) / 2)
    assert m.credence("location_of:me", "hall") < 0.01
    assert [r.value for r in m.evidence("location_of:me")][-2:] == ["hall", "yard"]


def test_absorb_reads_only_own_private_fully_reliable_fragments_as_certain():
    m = BeliefModel("me")
    m.add_cognitive_bias("anchoring", 0.9)
    m.update_belief("k", "a", "ally", 0.9, turn=0)
    local = frag(value="b", reliability=1.0, origin="me", turn=1)  # seen here: ordinary evidence
    m.absorb([Perception(local, 1.0, Via.HERE)], turn=1)
    assert m.belief("k").value == "a"
    own = frag(value="b", reliability=1.0, origin="me", turn=2, visibility=Visibility.PRIVATE)
    view = m.apply_to_information([Perception(own, 1.0, Via.PRIVATE)])[0]
    m.absorb([Perception(own, 1.0, Via.PRIVATE)], turn=2)
    assert m.belief("k").value == "b" and m.credence("k", "b") == pytest.approx(view.credence)


def test_absorb_views_and_ranked_views_equal_the_two_pass_results():
    """absorb_views (one pass, persona by persona) and view(limit) (ranked as tuples) must give
    exactly what absorb, then views, then a sort by perceived_order gave."""
    from novel_engine.agents.belief_store import BeliefStore
    from novel_engine.core.briefs import perceived_order
    from novel_engine.core.fog_of_war import FogOfWarService
    from novel_engine.core.setup import build_world
    from novel_engine.scenarios.synthetic import synthetic

    world, initial = build_world(synthetic(personas=400, seed=11))
    routes = FogOfWarService().route(initial, world)
    ids = sorted(world.personas)[::3]
    one, two = BeliefStore(world.personas.values()), BeliefStore(world.personas.values())
    fused = one.absorb_views(routes, 1, ids)
    assert sum(len(v.perceived) for v in fused.values()) > len(ids) and any(v.beliefs for v in fused.values())
    two.absorb(routes, 1)
    assert fused == two.views(routes, ids)
    assert one.to_dict() == two.to_dict()  # every persona absorbed once, those without a view too
    for pid in ids[:50]:
        model, seen = two.models[pid], routes.get(pid, [])
        assert model.view(seen, 5) == sorted(model.view(seen), key=perceived_order)[:5]


def test_the_kept_ranking_equals_a_full_sort_through_updates_evictions_and_restores():
    import random

    rnd = random.Random(5)
    model = BeliefModel("p", capacity=12)
    model.add_cognitive_bias("recency", 0.3)

    def full_sort(m: BeliefModel) -> list:
        fresh = BeliefModel.from_dict(m.to_dict())  # ranks every key from scratch
        return fresh.beliefs()

    for turn in range(1, 40):
        for _ in range(rnd.randint(1, 6)):
            model.update_belief(
                f"k{rnd.randint(0, 30)}",
                rnd.choice(["a", "b", 3, True]),
                rnd.choice(["x", "self"]),
                rnd.random(),
                turn=turn,
                certain=rnd.random() < 0.1,
            )
        if turn % 3:
            got = model.beliefs(rnd.randint(1, 15))
            assert got == full_sort(model)[: len(got)]
        if turn % 10 == 0:
            model = BeliefModel.from_dict(model.to_dict())
    assert len(model.keys()) == 12 and model.beliefs() == full_sort(model)
