//! Two histories of one chunk after a partition (`chunks::fork`): a member
//! of the ring's committee that meets another chain of a chunk it holds asks
//! the committee, keeps its chain or gives it up for the one more members
//! hold (ties: the lower genesis hash), never for one a single identity
//! vouches for; and a chain whose committee this node left is released
//! after `keep_after_leaving`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{CHUNK, Victim, asked_for_blocks, first_block, key, peers};
use dhtr_ledger::chunks::{ChunkEvent, ChunksConfig, Input, Output};
use dhtr_ledger::msg::Body;
use dhtr_ledger::sign::{KeySigner, Signer};
use dhtr_ledger::{Block, Certificate, RRset, Store, Tx};
use dhtr_protocol::PeerRef;
use serde_bytes::ByteBuf;

type Chain = Vec<(Block, Certificate)>;

fn record(name: &str, last: u8) -> RRset {
    RRset {
        name: name.into(),
        rtype: 1,
        class: 1,
        ttl: 300,
        rdata: vec![ByteBuf::from(vec![192, 0, 2, last])],
        fetched_at: 1,
    }
}

/// A chain that a first committee `first` formed on one side of a
/// partition: block 1 puts `name` and hands the chunk to `to` (the merged
/// ring's committee), certified by the first three of `first`.
fn side(first: &[&KeySigner], name: &str, to: Vec<PeerRef>) -> Chain {
    first_block(first, &first[..3], vec![Tx::Put(record(name, 1)), Tx::Reconfigure { committee: to }])
}

fn events(out: &[Output]) -> Vec<ChunkEvent> {
    out.iter()
        .filter_map(|o| match o {
            Output::Event { event, .. } => Some(event.clone()),
            _ => None,
        })
        .collect()
}

/// Keys: v is the node under test; the merged ring's committee is
/// [v, p, x, y]; side A's first committee was [v, p, q, r], side B's
/// [x, y, z, w].
struct Partition {
    v: std::sync::Arc<dhtr_ledger::sign::KeySigner>,
    p: std::sync::Arc<KeySigner>,
    q: std::sync::Arc<KeySigner>,
    r: std::sync::Arc<KeySigner>,
    x: std::sync::Arc<KeySigner>,
    y: std::sync::Arc<KeySigner>,
    z: std::sync::Arc<KeySigner>,
    w: std::sync::Arc<KeySigner>,
    a: Chain,
    b: Chain,
}

impl Partition {
    fn new() -> Partition {
        let (v, p, q, r, x, y, z, w) = (key(1), key(2), key(3), key(4), key(5), key(6), key(7), key(8));
        let merged = peers(&[&v, &p, &x, &y]);
        let a = side(&[&v, &p, &q, &r], "a.example.", merged.clone());
        let b = side(&[&x, &y, &z, &w], "b.example.", merged);
        Partition { v, p, q, r, x, y, z, w, a, b }
    }

    fn members(&self) -> Vec<PeerRef> {
        peers(&[&self.v, &self.p, &self.x, &self.y])
    }

    fn more(&self) -> Vec<PeerRef> {
        peers(&[&self.q, &self.r, &self.z, &self.w])
    }

    /// v holds `ours`; a member holding `theirs` answers v's poll with it.
    /// Returns the node after it asked the ring (and the outputs of that).
    fn meet(&self, ours: &Chain, theirs: &Chain, from: &KeySigner) -> (Victim, Vec<Output>) {
        let mut node = Victim::holding(self.v.clone(), ours.clone());
        let out = node.message(from, Body::Blocks(theirs[1..].to_vec()));
        assert!(
            out.iter().any(|o| matches!(o, Output::CheckRing { .. })),
            "another chain at our height: the ring is asked: {out:?}"
        );
        assert!(
            !events(&out).iter().any(|e| matches!(e, ChunkEvent::Replica(dhtr_ledger::Event::Rejected { .. }))),
            "its sender did nothing wrong: {out:?}"
        );
        let out = node.feed(Input::Ring { chunk: CHUNK, members: self.members(), more: self.more() });
        let mut asked = asked_for_blocks(&out);
        asked.sort();
        let mut expected: Vec<PeerRef> =
            self.members().into_iter().chain(self.more()).filter(|m| m != self.v.peer()).collect();
        expected.sort();
        assert_eq!(asked, expected, "the ring's committee and the next successors are asked");
        (node, out)
    }

    /// The answers of the probed peers: `holders_a` hold A, `holders_b`
    /// hold B, the rest nothing. Returns the outputs of the last answer.
    fn answer(&self, node: &mut Victim, holders_a: &[&KeySigner], holders_b: &[&KeySigner]) -> Vec<Output> {
        let all = [&self.p, &self.x, &self.y, &self.q, &self.r, &self.z, &self.w];
        let mut out = Vec::new();
        for k in all {
            let list = if holders_a.iter().any(|h| h.peer() == k.peer()) {
                self.a.clone()
            } else if holders_b.iter().any(|h| h.peer() == k.peer()) {
                self.b.clone()
            } else {
                Vec::new()
            };
            out = node.message(k, Body::Blocks(list));
        }
        out
    }
}

fn holds(node: &Victim, chain: &Chain) -> bool {
    node.store.tip(CHUNK).ok().flatten().is_some_and(|t| t.hash == chain[1].0.hash())
}

#[test]
fn a_member_gives_up_its_chain_for_the_one_more_of_the_committee_hold() {
    let s = Partition::new();
    let (mut node, _) = s.meet(&s.a, &s.b, &s.x);
    // A: v and p; B: x, y and z.
    let out = s.answer(&mut node, &[&s.p], &[&s.x, &s.y, &s.z]);
    let ev = events(&out);
    assert!(ev.contains(&ChunkEvent::OtherChain { kept: false, height: 1 }), "{ev:?}");
    assert!(ev.iter().any(|e| matches!(e, ChunkEvent::Joined { height: 1 })), "and takes part in B: {ev:?}");
    assert!(holds(&node, &s.b));
    assert_eq!(node.store.rrset(CHUNK, "b.example.", 1).unwrap(), Some(record("b.example.", 1)));
    assert_eq!(node.store.rrset(CHUNK, "a.example.", 1).unwrap(), None, "A's records are forgotten");
}

#[test]
fn a_member_keeps_its_chain_when_more_hold_it_and_shows_it_to_the_others() {
    let s = Partition::new();
    let (mut node, _) = s.meet(&s.a, &s.b, &s.x);
    // A: v, p and q; B: x and y.
    let out = s.answer(&mut node, &[&s.p, &s.q], &[&s.x, &s.y]);
    assert!(events(&out).contains(&ChunkEvent::OtherChain { kept: true, height: 1 }), "{out:?}");
    assert!(holds(&node, &s.a));
    let mut shown: Vec<PeerRef> = out
        .iter()
        .filter_map(|o| match o {
            Output::Send { to, msg } if matches!(&msg.body, Body::Blocks(l) if l.len() == 1 && l[0].0.hash() == s.a[1].0.hash()) => {
                Some(to.clone())
            }
            _ => None,
        })
        .collect();
    shown.sort();
    let mut expected = peers(&[&s.x, &s.y]);
    expected.sort();
    assert_eq!(shown, expected, "the holders of B see A's block at their height");
}

#[test]
fn on_a_tie_both_sides_choose_the_lower_genesis_hash() {
    let s = Partition::new();
    // A: v and p; B: x and y. From either side, the same chain survives.
    let (mut on_a, _) = s.meet(&s.a, &s.b, &s.x);
    s.answer(&mut on_a, &[&s.p], &[&s.x, &s.y]);
    let b_wins = s.b[0].0.hash() < s.a[0].0.hash();
    assert_eq!(holds(&on_a, &s.b), b_wins);
    // The same from a holder of B (key x, in the same committee).
    let mut on_b = Victim::holding(s.x.clone(), s.b.clone());
    on_b.message(&s.p, Body::Blocks(s.a[1..].to_vec()));
    on_b.feed(Input::Ring { chunk: CHUNK, members: s.members(), more: s.more() });
    for (k, list) in [(&s.v, &s.a), (&s.p, &s.a), (&s.y, &s.b), (&s.q, &Vec::new()), (&s.r, &Vec::new())] {
        on_b.message(k, Body::Blocks(list.clone()));
    }
    on_b.message(&s.z, Body::Blocks(Vec::new()));
    on_b.message(&s.w, Body::Blocks(Vec::new()));
    assert_eq!(holds(&on_b, &s.b), b_wins, "both sides agree on the survivor");
}

#[test]
fn one_identity_cannot_make_a_member_give_up_its_chain() {
    let s = Partition::new();
    let (mut node, _) = s.meet(&s.a, &s.b, &s.x);
    // Only x holds B (one voucher, f+1 = 2 needed), and only v holds A.
    let out = s.answer(&mut node, &[], &[&s.x]);
    assert!(events(&out).contains(&ChunkEvent::OtherChain { kept: true, height: 1 }), "{out:?}");
    assert!(holds(&node, &s.a));
}

#[test]
fn another_chain_is_looked_into_at_most_once_per_check_interval() {
    let s = Partition::new();
    let (mut node, _) = s.meet(&s.a, &s.b, &s.x);
    s.answer(&mut node, &[&s.p, &s.q], &[&s.x, &s.y]);
    let out = node.message(&s.y, Body::Blocks(s.b[1..].to_vec()));
    assert!(!out.iter().any(|o| matches!(o, Output::CheckRing { .. })), "not again so soon: {out:?}");
    let later = ChunksConfig::default().check_interval.as_millis() as u64 + node.ms + 10;
    node.ms = later;
    let out = node.message(&s.y, Body::Blocks(s.b[1..].to_vec()));
    assert!(out.iter().any(|o| matches!(o, Output::CheckRing { .. })), "looked into again later: {out:?}");
}

#[test]
fn a_chain_whose_committee_this_node_left_is_released_later() {
    let s = Partition::new();
    // q was in A's first committee; A handed the chunk to [v, p, x, y].
    let mut node = Victim::holding(s.q.clone(), s.a.clone());
    let keep = ChunksConfig::default().keep_after_leaving.as_millis() as u64;
    // The periodic look at the ring finds q outside the committee.
    node.timeout_at(31_000);
    node.feed(Input::Ring { chunk: CHUNK, members: s.members(), more: s.more() });
    assert!(node.holds_chain(), "kept for a while: joining members may fetch it here");
    let out = node.timeout_at(31_000 + keep + 1_000);
    assert!(events(&out).contains(&ChunkEvent::Released { height: 1 }), "{out:?}");
    assert!(node.store.tip(CHUNK).unwrap().is_none());
    assert_eq!(node.store.rrset(CHUNK, "a.example.", 1).unwrap(), None);
    // A member keeps its chain.
    let mut member = Victim::holding(s.p.clone(), s.a.clone());
    member.timeout_at(31_000);
    member.feed(Input::Ring { chunk: CHUNK, members: s.members(), more: s.more() });
    let out = member.timeout_at(31_000 + keep + 1_000);
    assert!(!events(&out).iter().any(|e| matches!(e, ChunkEvent::Released { .. })));
    assert!(holds(&member, &s.a));
}
