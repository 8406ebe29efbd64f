//! Table tests of one replica driven message by message: the PBFT rules a
//! faulty primary or an unlucky crash would test.

use std::sync::Arc;
use std::time::{Duration, Instant};

use dhtr_ledger::msg::{Body, NewView, Proposal, ViewChange};
use dhtr_ledger::replica::genesis_block;
use dhtr_ledger::sign::{KeySigner, Signer};
use dhtr_ledger::types::vote_digest;
use dhtr_ledger::{Block, Committee, Config, Input, MemStore, Output, Phase, RRset, Replica, Tx, Vote};
use dhtr_protocol::ChunkId;
use serde_bytes::ByteBuf;

const NET: &str = "t";
const CHUNK: ChunkId = ChunkId(3);

struct World {
    keys: Vec<Arc<KeySigner>>,
    committee: Committee,
    store: MemStore,
    t0: Instant,
}

impl World {
    fn new() -> World {
        let keys: Vec<Arc<KeySigner>> = (0..4u8).map(|i| Arc::new(KeySigner::from_secret([i + 1; 32]))).collect();
        let committee = Committee { epoch: 0, members: keys.iter().map(|k| k.peer().clone()).collect() };
        World { keys, committee, store: MemStore::new(), t0: Instant::now() }
    }

    /// Replica of member 2 (an honest backup).
    fn open(&mut self) -> Replica {
        let signer: Arc<dyn Signer + Send + Sync> = self.keys[2].clone();
        let cfg = Config { view_timeout: Duration::from_millis(100), ..Config::default() };
        match Replica::open(cfg, NET, CHUNK, signer, &mut self.store, Some(self.committee.clone())) {
            Ok(Some(r)) => r,
            other => panic!("open: {:?}", other.err()),
        }
    }

    fn genesis(&self) -> Block {
        genesis_block(CHUNK, &self.committee)
    }

    fn block(&self, height: u64, view: u64, proposer: usize) -> Block {
        Block {
            chunk: CHUNK,
            height,
            prev: self.genesis().hash(),
            view,
            proposer: self.keys[proposer].peer().clone(),
            epoch: 0,
            committee: self.committee.digest(),
            time: 1,
            txs: vec![tx()],
        }
    }

    fn proposal(&self, view: u64, block: Block, by: usize) -> Proposal {
        let d = vote_digest(NET, CHUNK, view, block.height, Phase::PrePrepare, &block.hash());
        Proposal { view, block, proposer: self.keys[by].peer().clone(), sig: ByteBuf::from(self.keys[by].sign(&d)) }
    }

    fn vote(&self, phase: Phase, view: u64, block: &Block, by: usize) -> Vote {
        let d = vote_digest(NET, CHUNK, view, block.height, phase, &block.hash());
        Vote {
            phase,
            chunk: CHUNK,
            view,
            height: block.height,
            block: block.hash(),
            voter: self.keys[by].peer().clone(),
            sig: ByteBuf::from(self.keys[by].sign(&d)),
        }
    }

    fn view_change(&self, view: u64, by: usize) -> ViewChange {
        let mut vc = ViewChange {
            new_view: view,
            height: 1,
            last: self.genesis().hash(),
            prepared: None,
            sender: self.keys[by].peer().clone(),
            sig: ByteBuf::new(),
        };
        vc.sig = ByteBuf::from(self.keys[by].sign(&vc.digest(NET, CHUNK)));
        vc
    }

    fn new_view(&self, view: u64, by: usize, vcs: Vec<ViewChange>, proposal: Option<Proposal>) -> NewView {
        let mut nv = NewView {
            view,
            height: 1,
            view_changes: vcs,
            proposal,
            sender: self.keys[by].peer().clone(),
            sig: ByteBuf::new(),
        };
        nv.sig = ByteBuf::from(self.keys[by].sign(&nv.digest(NET, CHUNK)));
        nv
    }

    fn feed(&mut self, r: &mut Replica, at_ms: u64, input: Input) -> Vec<Output> {
        r.handle(self.t0 + Duration::from_millis(at_ms), 1, input, &mut self.store);
        std::iter::from_fn(|| r.poll_output()).collect()
    }

    fn from(&self, i: usize) -> dhtr_protocol::PeerRef {
        self.keys[i].peer().clone()
    }
}

fn tx() -> Tx {
    Tx::Put(RRset {
        name: "a.example.".into(),
        rtype: 1,
        class: 1,
        ttl: 60,
        rdata: vec![ByteBuf::from(vec![1, 2, 3, 4])],
        fetched_at: 0,
    })
}

fn votes_sent(out: &[Output], phase: Phase) -> usize {
    out.iter()
        .filter(|o| matches!(o, Output::Send { msg, .. } if matches!(&msg.body, Body::Vote(v) if v.phase == phase)))
        .count()
}

fn validate_request(out: &[Output]) -> Option<(dhtr_ledger::Digest, usize)> {
    out.iter().find_map(|o| match o {
        Output::Validate { block, txs, .. } => Some((*block, txs.len())),
        _ => None,
    })
}

#[test]
fn a_new_view_proposal_for_the_wrong_height_is_refused() {
    let mut w = World::new();
    let mut r = w.open();
    let vcs = vec![w.view_change(1, 0), w.view_change(1, 1), w.view_change(1, 3)];
    // Member 1, primary of view 1, re-proposes nothing but slips in a block
    // for height 2 while the chain is at height 0.
    let bad = w.proposal(1, w.block(2, 1, 1), 1);
    let nv = w.new_view(1, 1, vcs.clone(), Some(bad));
    let out = w.feed(&mut r, 0, Input::Message { from: w.from(1), body: Body::NewView(nv) });
    assert!(validate_request(&out).is_none() && votes_sent(&out, Phase::Prepare) == 0, "{out:?}");
    // The same view with a proposal for height 1 is accepted (control).
    let mut w2 = World::new();
    let mut r2 = w2.open();
    let good = w2.proposal(1, w2.block(1, 1, 1), 1);
    let nv = w2.new_view(1, 1, vcs, Some(good));
    let out = w2.feed(&mut r2, 0, Input::Message { from: w2.from(1), body: Body::NewView(nv) });
    assert!(validate_request(&out).is_some(), "{out:?}");
}

#[test]
fn no_votes_after_asking_for_a_view_change() {
    let mut w = World::new();
    let mut r = w.open();
    let b = w.block(1, 0, 0);
    let out = w.feed(&mut r, 0, Input::Message { from: w.from(0), body: Body::Proposal(w.proposal(0, b.clone(), 0)) });
    let (hash, n) = validate_request(&out).unwrap_or_else(|| panic!("asks to validate: {out:?}"));
    // The validator is slow; the view timer fires first.
    let out = w.feed(&mut r, 1000, Input::Timeout);
    assert!(
        out.iter().any(|o| matches!(o, Output::Send { msg, .. } if matches!(msg.body, Body::ViewChange(_)))),
        "{out:?}"
    );
    let out = w.feed(&mut r, 1001, Input::Validated { block: hash, verdicts: vec![true; n] });
    assert_eq!(votes_sent(&out, Phase::Prepare), 0, "a prepare after the view change: {out:?}");
    for i in [0, 1] {
        let out = w.feed(
            &mut r,
            1002,
            Input::Message { from: w.from(i), body: Body::Vote(w.vote(Phase::Prepare, 0, &b, i)) },
        );
        assert_eq!(votes_sent(&out, Phase::Commit), 0, "a commit after the view change: {out:?}");
    }
}

#[test]
fn a_prepared_block_survives_a_restart_into_the_view_change() {
    let mut w = World::new();
    let mut r = w.open();
    let b = w.block(1, 0, 0);
    let out = w.feed(&mut r, 0, Input::Message { from: w.from(0), body: Body::Proposal(w.proposal(0, b.clone(), 0)) });
    let (hash, n) = validate_request(&out).unwrap_or_else(|| panic!("{out:?}"));
    let out = w.feed(&mut r, 1, Input::Validated { block: hash, verdicts: vec![true; n] });
    assert_eq!(votes_sent(&out, Phase::Prepare), 3);
    let mut commits = 0;
    for i in [0, 1] {
        let out =
            w.feed(&mut r, 2, Input::Message { from: w.from(i), body: Body::Vote(w.vote(Phase::Prepare, 0, &b, i)) });
        commits += votes_sent(&out, Phase::Commit);
    }
    assert_eq!(commits, 3, "prepared, so it sent its commit to the 3 others");
    // Crash, restart from the same store, and let the view timer fire.
    drop(r);
    let mut r = w.open();
    let out = w.feed(&mut r, 10, Input::Submit(tx()));
    let out2 = w.feed(&mut r, 5000, Input::Timeout);
    let vc = out.iter().chain(&out2).find_map(|o| match o {
        Output::Send { msg, .. } => match &msg.body {
            Body::ViewChange(vc) => Some(vc.clone()),
            _ => None,
        },
        _ => None,
    });
    let vc = vc.unwrap_or_else(|| panic!("a view change after the restart: {out:?} {out2:?}"));
    let prepared = vc.prepared.unwrap_or_else(|| panic!("the prepared certificate was forgotten"));
    assert_eq!(prepared.block.hash(), b.hash());
    assert_eq!(prepared.votes.len(), 3);
}

#[test]
fn a_new_view_below_the_view_asked_for_is_refused() {
    let mut w = World::new();
    let mut r = w.open();
    // Two members (f + 1) ask for view 3: member 2 joins them (member 3
    // is that view's primary, so member 2 waits for its new view).
    for i in [0, 1] {
        let vc = w.view_change(3, i);
        w.feed(&mut r, 0, Input::Message { from: w.from(i), body: Body::ViewChange(vc) });
    }
    // Now a valid new view for view 1 arrives: accepting it would break
    // the promise made by asking for view 3.
    let vcs = vec![w.view_change(1, 0), w.view_change(1, 1), w.view_change(1, 3)];
    let p = w.proposal(1, w.block(1, 1, 1), 1);
    let nv = w.new_view(1, 1, vcs, Some(p));
    let out = w.feed(&mut r, 1, Input::Message { from: w.from(1), body: Body::NewView(nv) });
    assert!(validate_request(&out).is_none(), "entered view 1 after asking for view 3: {out:?}");
    assert_eq!(r.view(), 0);
}

#[test]
fn a_proposal_for_the_next_height_that_arrives_before_our_commit_is_kept() {
    let mut w = World::new();
    let mut r = w.open();
    let b1 = w.block(1, 0, 0);
    let at = |ms| ms;
    let out =
        w.feed(&mut r, at(0), Input::Message { from: w.from(0), body: Body::Proposal(w.proposal(0, b1.clone(), 0)) });
    let (hash, n) = validate_request(&out).unwrap_or_else(|| panic!("asks to validate: {out:?}"));
    w.feed(&mut r, at(1), Input::Validated { block: hash, verdicts: vec![true; n] });
    for i in [0, 1] {
        w.feed(&mut r, at(2), Input::Message { from: w.from(i), body: Body::Vote(w.vote(Phase::Prepare, 0, &b1, i)) });
    }
    // The others commit height 1 first; the primary's proposal for height 2
    // reaches us before the last commit vote we need.
    let mut b2 = w.block(2, 0, 0);
    b2.prev = b1.hash();
    b2.txs = vec![Tx::Delete { name: "a.example.".into(), rtype: 1 }];
    let out =
        w.feed(&mut r, at(3), Input::Message { from: w.from(0), body: Body::Proposal(w.proposal(0, b2.clone(), 0)) });
    assert!(validate_request(&out).is_none(), "not current yet: {out:?}");
    w.feed(&mut r, at(4), Input::Message { from: w.from(0), body: Body::Vote(w.vote(Phase::Commit, 0, &b1, 0)) });
    let out =
        w.feed(&mut r, at(5), Input::Message { from: w.from(1), body: Body::Vote(w.vote(Phase::Commit, 0, &b1, 1)) });
    assert!(out.iter().any(|o| matches!(o, Output::Committed { block, .. } if block.height == 1)), "{out:?}");
    // Without waiting for a view change, the kept proposal is taken up.
    let (hash2, _) =
        validate_request(&out).unwrap_or_else(|| panic!("the early proposal is validated at once: {out:?}"));
    assert_eq!(hash2, b2.hash());
}
