//! The planted-chain attack (issue 8) against the chunk manager: one
//! attacker key fabricates a chain — a genesis naming only itself (quorum
//! 1), then a block with a forged `Put` and a `Reconfigure` handing the
//! chunk to [victim, S1, S2, S3], certified by the attacker alone — and
//! sends it to the victim. Before the fix, any message about the chunk made
//! the victim fetch the chain from its sender and adopt it.
//!
//! Now a message is only a hint to look at the ring; the chain is asked of
//! the members the victim's own ring view names, and a prefix is adopted
//! only when f+1 of them agree on it. An honest chain handed over the same
//! way is still adopted. Also here: two rules the ring simulator needed once
//! joins went through the ring (an unvouched decided chain stops a second
//! genesis without leaving a timer in the past; a no-op committee change is
//! refused).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{CHUNK, NET, Victim, asked_for_blocks, first_block, key, peers};
use dhtr_ledger::chunks::{ChunkEvent, Input, Output};
use dhtr_ledger::msg::Body;
use dhtr_ledger::sign::{KeySigner, Signer};
use dhtr_ledger::types::vote_digest;
use dhtr_ledger::{Block, Certificate, Committee, Phase, RRset, Store, Tx};
use dhtr_protocol::PeerRef;
use serde_bytes::ByteBuf;

fn forged() -> RRset {
    RRset {
        name: "bank.example.".into(),
        rtype: 1,
        class: 1,
        ttl: 86_400,
        rdata: vec![ByteBuf::from(vec![203, 0, 113, 66])],
        fetched_at: 1,
    }
}

/// A chain from `genesis_members` whose block 1 (a forged `Put` and a
/// `Reconfigure` to `next`) is certified by `signers`.
fn chain(genesis_members: &[&KeySigner], signers: &[&KeySigner], next: Vec<PeerRef>) -> Vec<(Block, Certificate)> {
    first_block(genesis_members, signers, vec![Tx::Put(forged()), Tx::Reconfigure { committee: next }])
}

#[test]
fn the_fabricated_chain_is_self_consistent_so_only_the_join_rule_stops_it() {
    let (v, a, s1, s2, s3) = (key(1), key(9), key(2), key(3), key(4));
    let planted = chain(&[&a], &[&a], peers(&[&v, &s1, &s2, &s3]));
    let committee = Committee { epoch: 0, members: vec![a.peer().clone()] };
    assert!(dhtr_ledger::verify::check_certificate(NET, CHUNK, &committee, &planted[1].1).is_ok());
}

#[test]
fn one_message_from_an_attacker_plants_no_chain() {
    let (v, a, s1, s2, s3) = (key(1), key(9), key(2), key(3), key(4));
    let planted = chain(&[&a], &[&a], peers(&[&v, &s1, &s2, &s3]));
    let mut victim = Victim::new(v.clone());

    // Any message about the chunk: a vote, then the chain itself, unasked.
    let d = vote_digest(NET, CHUNK, 0, 2, Phase::Prepare, &planted[1].0.hash());
    let vote = dhtr_ledger::Vote {
        phase: Phase::Prepare,
        chunk: CHUNK,
        view: 0,
        height: 2,
        block: planted[1].0.hash(),
        voter: a.peer().clone(),
        sig: ByteBuf::from(a.sign(&d)),
    };
    let out = victim.message(&a, Body::Vote(vote));
    assert!(asked_for_blocks(&out).is_empty(), "never fetch from the sender: {out:?}");
    assert!(out.iter().any(|o| matches!(o, Output::CheckRing { chunk } if *chunk == CHUNK)), "the ring is asked");
    let out = victim.message(&a, Body::Blocks(planted.clone()));
    assert!(asked_for_blocks(&out).is_empty());
    assert!(out.iter().any(|o| matches!(o, Output::Event { event: ChunkEvent::Unsolicited, .. })));
    assert!(!victim.holds_chain(), "unsolicited blocks are dropped");

    // The victim's ring view is honest: it asks those members only.
    let out = victim.feed(Input::Ring { chunk: CHUNK, members: peers(&[&v, &s1, &s2, &s3]), more: Vec::new() });
    let mut asked = asked_for_blocks(&out);
    asked.sort();
    let mut want = peers(&[&s1, &s2, &s3]);
    want.sort();
    assert_eq!(asked, want, "the chain is asked of the ring's committee");
    // The attacker keeps pushing its chain; the members hold nothing.
    victim.message(&a, Body::Blocks(planted.clone()));
    for s in [&s1, &s2, &s3] {
        victim.message(s, Body::Blocks(Vec::new()));
    }
    victim.message(&a, Body::Blocks(planted));
    assert!(!victim.holds_chain(), "no chain was planted");
    assert_eq!(victim.store.rrset(CHUNK, "bank.example.", 1).ok().flatten(), None);
}

#[test]
fn one_attacker_inside_the_committee_cannot_vouch_alone() {
    let (v, a, s1, s2) = (key(1), key(9), key(2), key(3));
    let planted = chain(&[&a], &[&a], peers(&[&v, &a, &s1, &s2]));
    let mut victim = Victim::new(v.clone());
    victim.message(&a, Body::Blocks(planted.clone()));
    // The ring really puts the attacker in the committee (f = 1 of 4).
    let out = victim.feed(Input::Ring { chunk: CHUNK, members: peers(&[&v, &a, &s1, &s2]), more: Vec::new() });
    assert_eq!(asked_for_blocks(&out).len(), 3);
    victim.message(&a, Body::Blocks(planted));
    victim.message(&s1, Body::Blocks(Vec::new()));
    let out = victim.message(&s2, Body::Blocks(Vec::new()));
    assert!(!victim.holds_chain(), "f+1 = 2 members must vouch: {out:?}");
    assert!(
        out.iter().any(|o| matches!(o, Output::Event { event: ChunkEvent::JoinFailed { .. }, .. })),
        "the refused join is reported: {out:?}"
    );
}

#[test]
fn an_honest_chain_handed_over_is_adopted_when_f_plus_one_members_vouch() {
    let (v, x, s1, s2, s3, a) = (key(1), key(5), key(2), key(3), key(4), key(9));
    // The committee [S1, S2, S3, X] committed a hand-over to [V, S1, S2, S3].
    let honest = chain(&[&s1, &s2, &s3, &x], &[&s1, &s2, &s3], peers(&[&v, &s1, &s2, &s3]));
    let planted = chain(&[&a], &[&a], peers(&[&v, &s1, &s2, &s3]));
    let mut victim = Victim::new(v.clone());
    // The committing members announce the hand-over: a hint, not a source.
    victim.message(&s1, Body::Blocks(honest[1..].to_vec()));
    assert!(!victim.holds_chain());
    victim.feed(Input::Ring { chunk: CHUNK, members: peers(&[&v, &s1, &s2, &s3]), more: Vec::new() });
    // A liar outside the view answers first: ignored.
    victim.message(&a, Body::Blocks(planted));
    victim.message(&s1, Body::Blocks(honest.clone()));
    assert!(!victim.holds_chain(), "one voucher is not enough");
    let out = victim.message(&s2, Body::Blocks(honest.clone()));
    assert!(
        out.iter().any(|o| matches!(o, Output::Event { event: ChunkEvent::Joined { height: 1 }, .. })),
        "joined once f+1 agree: {out:?}"
    );
    let tip = victim.store.tip(CHUNK).ok().flatten().expect("a chain");
    assert_eq!(tip.height, 1);
    assert!(tip.committee.contains(v.peer()));
    assert_eq!(victim.store.rrset(CHUNK, "bank.example.", 1).ok().flatten(), Some(forged()));
}

fn put() -> Tx {
    Tx::Put(RRset { name: "www.example.".into(), ..forged() })
}

#[test]
fn an_unvouched_decided_chain_stops_a_second_genesis_without_a_timer_in_the_past() {
    let (v, x, s1, s2, s3) = (key(1), key(5), key(2), key(3), key(4));
    let decided = chain(&[&s1, &s2, &s3, &x], &[&s1, &s2, &s3], peers(&[&v, &s1, &s2, &s3]));
    let mut victim = Victim::new(v.clone());
    let members = peers(&[&v, &s1, &s2, &s3]);
    // A client's transaction for a chunk without a chain: the ring is asked.
    victim.feed(Input::Submit { chunk: CHUNK, tx: put(), members: members.clone() });
    victim.feed(Input::Ring { chunk: CHUNK, members, more: Vec::new() });
    // One member holds a decided chain nobody else vouches for.
    victim.message(&s1, Body::Blocks(decided));
    victim.message(&s2, Body::Blocks(Vec::new()));
    let out = victim.message(&s3, Body::Blocks(Vec::new()));
    assert!(!victim.holds_chain(), "neither adopted (one voucher) nor a second genesis started: {out:?}");
    // The transaction keeps waiting while the ring is asked again; no
    // deadline is left in the past (a node would spin on it).
    let out = victim.timeout_at(6_000);
    assert!(out.iter().any(|o| matches!(o, Output::CheckRing { .. })), "looked again: {out:?}");
    victim.timeout_at(11_000);
    let next = victim.chunks.poll_timeout().expect("a deadline");
    assert!(next > victim.now(), "the next deadline is in the future");
}

#[test]
fn a_committee_change_to_the_committee_in_charge_is_refused() {
    let (v, x, s1, s2, s3, s4) = (key(1), key(5), key(2), key(3), key(4), key(6));
    let honest = chain(&[&s1, &s2, &s3, &x], &[&s1, &s2, &s3], peers(&[&v, &s1, &s2, &s3]));
    let mut victim = Victim::new(v.clone());
    victim.message(&s1, Body::Blocks(honest[1..].to_vec()));
    victim.feed(Input::Ring { chunk: CHUNK, members: peers(&[&v, &s1, &s2, &s3]), more: Vec::new() });
    victim.message(&s1, Body::Blocks(honest.clone()));
    victim.message(&s2, Body::Blocks(honest));
    assert!(victim.holds_chain());
    // The victim is the primary of view 0 of [V, S1, S2, S3]: it proposes
    // what it validated, and validates a committee change against the ring.
    let proposes = |out: &[Output]| {
        out.iter().any(|o| matches!(o, Output::Send { msg, .. } if matches!(msg.body, Body::Proposal(_))))
    };
    let same = Tx::Reconfigure { committee: peers(&[&v, &s1, &s2, &s3]) };
    victim.feed(Input::Ring { chunk: CHUNK, members: peers(&[&v, &s1, &s2, &s3]), more: Vec::new() });
    let out = victim.message(&s1, Body::Submit(same));
    assert!(!proposes(&out), "a change to the committee in charge is refused: {out:?}");
    let moved = Tx::Reconfigure { committee: peers(&[&v, &s1, &s2, &s4]) };
    victim.feed(Input::Ring { chunk: CHUNK, members: peers(&[&v, &s1, &s2, &s4]), more: Vec::new() });
    let out = victim.message(&s1, Body::Submit(moved));
    assert!(proposes(&out), "a change to the ring's committee is proposed: {out:?}");
}
