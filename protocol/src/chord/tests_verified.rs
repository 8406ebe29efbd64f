//! Verified lookups and neighbours driven by hand against a scripted ring:
//! honest nodes answer as the true ring would; a liar and an identity that
//! is not on the ring answer as an attacker would.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use super::tests::{drain, node};
use super::*;
use crate::node::PeerRef;

/// The true ring (every node but the sybil), clockwise from `me`.
struct World {
    me: NodeInfo,
    ring: Vec<NodeInfo>,
    liar: NodeInfo,
    sybil: NodeInfo,
    key: RingId,
    owner: NodeInfo,
}

impl World {
    /// 40 nodes; the key lies just after `pred`; the sybil is the node
    /// right after it, taken off the ring, so the true owner is the one
    /// after the sybil; the liar is the last of my eight successors (the
    /// one closest to the key, where a lookup starts).
    fn new() -> World {
        let me = node(1);
        let mut all: Vec<NodeInfo> = (2..42).map(node).collect();
        all.sort_by_key(|n| me.id.distance_to(&n.id));
        let k = all.len() / 2;
        let pred = all[k - 1].clone();
        let sybil = all.remove(k);
        let owner = all[k].clone();
        let key = pred.id.add_pow2(0);
        assert!(sybil.id.in_open(&key, &owner.id), "the sybil sits between the key and its owner");
        let liar = all[7].clone();
        let mut ring = vec![me.clone()];
        ring.extend(all);
        World { me, ring, liar, sybil, key, owner }
    }

    fn at(&self, n: &NodeInfo) -> Option<usize> {
        self.ring.iter().position(|m| m.same(n))
    }

    /// The honest successors of a position: the next `k` nodes.
    fn after(&self, i: usize, k: usize) -> Vec<NodeInfo> {
        (1..=k).map(|d| self.ring[(i + d) % self.ring.len()].clone()).collect()
    }

    /// The key's true successor list.
    fn truth(&self, k: usize) -> Vec<NodeInfo> {
        let i = self.at(&self.owner).unwrap();
        std::iter::once(self.owner.clone()).chain(self.after(i, k - 1)).collect()
    }

    fn answer(&self, to: &NodeInfo, request: &Request) -> Option<Response> {
        if to.same(&self.sybil) {
            // Not on the ring, confirms the lie: the liar is its predecessor.
            return match request {
                Request::GetNeighbours => {
                    Some(Response::Neighbours { predecessor: Some(self.liar.clone()), successors: Vec::new() })
                }
                _ => None,
            };
        }
        let i = self.at(to)?;
        let pred = self.ring[(i + self.ring.len() - 1) % self.ring.len()].clone();
        match request {
            Request::FindSuccessor { .. } if to.same(&self.liar) => {
                Some(Response::Successors { successors: vec![self.sybil.clone()] })
            }
            // An honest node knows the answer (as if routing had ended here).
            Request::FindSuccessor { .. } => Some(Response::Successors { successors: self.truth(4) }),
            Request::GetNeighbours => {
                Some(Response::Neighbours { predecessor: Some(pred), successors: self.after(i, 4) })
            }
            _ => Some(Response::Ack),
        }
    }
}

/// Run lookup `id` to its end against `w`.
fn run(c: &mut Chord, w: &World, id: LookupId) -> (Result<LookupResult, LookupError>, Vec<Event>, Vec<NodeInfo>) {
    let now = Instant::now();
    let mut queue: std::collections::VecDeque<Output> = drain(c).into();
    let mut events = Vec::new();
    let mut asked = Vec::new();
    for _ in 0..200 {
        let Some(o) = queue.pop_front() else { break };
        match o {
            Output::Send { id: rid, to, request } => {
                if matches!(request, Request::FindSuccessor { .. }) {
                    asked.push(to.clone());
                }
                let input = match w.answer(&to, &request) {
                    Some(response) => Input::Response { id: rid, responder: to.ticket, response },
                    None => Input::Failure { id: rid },
                };
                c.handle(now, input);
                queue.extend(drain(c));
            }
            Output::LookupDone { id: got, result } if got == id => return (result, events, asked),
            Output::Event(e) => events.push(e),
            Output::LookupDone { .. } => {}
        }
    }
    panic!("lookup did not finish");
}

fn chord_in(w: &World) -> Chord {
    let mut c = Chord::new(w.me.clone(), Config::default(), Instant::now());
    c.routing.set_successors(w.after(0, 8));
    c.routing.predecessor = w.ring.last().cloned();
    c
}

#[test]
fn a_caller_lookup_runs_disjoint_paths() {
    let w = World::new();
    let mut c = chord_in(&w);
    let id = c.start_lookup(Instant::now(), w.key);
    let (result, _, asked) = run(&mut c, &w, id);
    assert!(result.is_ok());
    let distinct: HashSet<&PeerRef> = asked.iter().map(|n| &n.peer).collect();
    assert_eq!(asked.len(), Config::default().lookup_paths, "one query per path: {asked:?}");
    assert_eq!(distinct.len(), asked.len(), "no node is asked by two paths");
}

#[test]
fn a_confirmed_identity_off_the_ring_loses_to_a_witness_before_the_key() {
    let w = World::new();
    let mut c = chord_in(&w);
    let id = c.start_lookup(Instant::now(), w.key);
    let (result, events, asked) = run(&mut c, &w, id);
    assert!(asked.iter().any(|n| n.same(&w.liar)), "the liar was on one path");
    let r = result.expect("the lookup ends");
    assert_eq!(r.successors, w.truth(r.successors.len()), "the true successors, not the sybil");
    assert!(
        events.iter().any(|e| matches!(e,
            Event::AnswerRefused { peer, reason: Refusal::Contradicted } if peer.same(&w.sybil))),
        "the sybil was refused as contradicted by the key's predecessor: {events:?}"
    );
    assert!(r.messages > asked.len() as u32, "confirmations and cross-checks are counted: {}", r.messages);
}

#[test]
fn a_join_is_confirmed_by_a_successor_that_already_holds_me() {
    // My join requests taught my successor about me before my join
    // ended: it names me as its predecessor, which confirms it is mine.
    let w = World::new();
    let now = Instant::now();
    let mut c = Chord::new(w.me.clone(), Config::default(), now);
    let (via, succ) = (w.ring[5].clone(), w.ring[1].clone());
    c.handle(now, Input::Join(via.clone()));
    let mut joined = false;
    for _ in 0..20 {
        let out = drain(&mut c);
        if out.is_empty() {
            break;
        }
        for o in out {
            match o {
                Output::Send { id, to, request } => {
                    let response = match request {
                        Request::FindSuccessor { .. } => Response::Successors { successors: w.after(0, 4) },
                        Request::GetNeighbours if to.same(&succ) => {
                            Response::Neighbours { predecessor: Some(w.me.clone()), successors: w.after(1, 4) }
                        }
                        _ => Response::Ack,
                    };
                    c.handle(now, Input::Response { id, responder: to.ticket, response });
                }
                Output::Event(Event::Joined { successor }) => joined = successor.same(&succ),
                _ => {}
            }
        }
    }
    assert!(joined, "joined with the successor that holds me");
}

#[test]
fn one_path_through_the_liar_alone_is_believed() {
    // What stays open: with one path and no witness known, the lie stands.
    let w = World::new();
    let cfg = Config { lookup_paths: 1, ..Config::default() };
    let mut c = Chord::new(w.me.clone(), cfg, Instant::now());
    c.routing.set_successors(vec![w.liar.clone()]);
    let id = c.start_lookup(Instant::now(), w.key);
    let (result, _, _) = run(&mut c, &w, id);
    assert!(result.expect("ends").successors[0].same(&w.sybil));
}

/// Stabilize `c` with successor `s` for up to `rounds` half-seconds from
/// `t0`; `s` names `pred_of_s()` as its predecessor, and `on_notify()` runs
/// when `c` notifies it. Stops at the first `NeighbourRefused`; returns the
/// time reached and whether `s` was refused.
fn stabilize_with(
    c: &mut Chord,
    w: &World,
    s: &NodeInfo,
    t0: Instant,
    rounds: usize,
    mut pred_of_s: impl FnMut() -> NodeInfo,
    mut on_notify: impl FnMut(),
) -> (Instant, bool) {
    let mut now = t0;
    for _ in 0..rounds {
        now += Duration::from_millis(500);
        c.handle(now, Input::Timeout);
        for o in drain(c) {
            match o {
                Output::Send { id, to, request: Request::GetNeighbours } if to.same(s) => {
                    let response = Response::Neighbours { predecessor: Some(pred_of_s()), successors: w.after(1, 4) };
                    c.handle(now, Input::Response { id, responder: to.ticket, response });
                }
                Output::Send { id, to, request: Request::Notify } if to.same(s) => {
                    on_notify();
                    c.handle(now, Input::Response { id, responder: to.ticket, response: Response::Ack });
                }
                Output::Event(Event::NeighbourRefused { peer }) if peer.same(s) => return (now, true),
                _ => {}
            }
        }
    }
    (now, false)
}

#[test]
fn a_successor_that_never_holds_me_as_predecessor_is_dropped_and_distrusted() {
    let t0 = Instant::now();
    let w = World::new();
    let mut c = Chord::new(w.me.clone(), Config::default(), t0);
    let s = w.ring[1].clone();
    let before_me = w.ring[w.ring.len() - 2].clone();
    c.routing.set_successors(vec![s.clone(), w.ring[2].clone()]);
    // s keeps naming a node before me as its predecessor.
    let (now, refused) = stabilize_with(&mut c, &w, &s, t0, 30, || before_me.clone(), || {});
    assert!(refused);
    assert!(!c.successors().iter().any(|n| n.same(&s)), "dropped");
    // Named again by another node's list, it stays out.
    let next = c.successors()[0].clone();
    let i = w.at(&next).unwrap();
    c.on_neighbours(now, next.clone(), Some(w.me.clone()), vec![s.clone(), w.ring[i + 1].clone()]);
    assert!(!c.successors().iter().any(|n| n.same(&s)), "distrusted: {:?}", c.successors());
    // And its requests change nothing here.
    c.handle_request(now, s.clone(), Request::Notify);
    assert!(c.predecessor().is_none_or(|p| !p.same(&s)));
}

#[test]
fn an_honest_successor_that_acknowledges_after_a_notify_stays() {
    let t0 = Instant::now();
    let w = World::new();
    let mut c = Chord::new(w.me.clone(), Config::default(), t0);
    let s = w.ring[1].clone();
    c.routing.set_successors(vec![s.clone()]);
    // s names a node before me until I notify it, then me, as an honest
    // node does.
    let notified = std::cell::Cell::new(false);
    let before_me = w.ring[w.ring.len() - 2].clone();
    let pred = || if notified.get() { w.me.clone() } else { before_me.clone() };
    let (_, refused) = stabilize_with(&mut c, &w, &s, t0, 20, pred, || notified.set(true));
    assert!(!refused, "an honest successor was dropped");
    assert!(c.successors()[0].same(&s));
}
