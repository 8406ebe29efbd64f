//! Table tests of the core driven by hand (the simulated rings are in the
//! `dhtr-sim` crate's tests).

use std::time::{Duration, Instant};

use super::*;
use crate::node::PeerRef;

pub(super) fn node(b: u8) -> NodeInfo {
    NodeInfo::new(
        PeerRef(vec![b; 38]),
        crate::admission::Ticket { nonce: 0, prefix: crate::admission::Prefix::V4([10, 0, b]) },
        Vec::new(),
    )
}

pub(super) fn drain(c: &mut Chord) -> Vec<Output> {
    std::iter::from_fn(|| c.poll_output()).collect()
}

#[test]
fn a_lone_node_answers_every_lookup_itself() {
    let now = Instant::now();
    let mut c = Chord::new(node(1), Config::default(), now);
    let id = c.start_lookup(now, RingId::hash(b"x"));
    let out = drain(&mut c);
    assert!(
        matches!(&out[..], [Output::LookupDone { id: got, result: Ok(r) }] if *got == id && r.hops == 0 && r.successors == vec![node(1)])
    );
}

#[test]
fn notify_forms_a_two_node_ring() {
    let now = Instant::now();
    let mut a = Chord::new(node(1), Config::default(), now);
    let resp = a.handle_request(now, node(2), Request::Notify);
    assert_eq!(resp, Response::Ack);
    assert_eq!(a.predecessor(), Some(&node(2)));
    assert_eq!(a.successors(), &[node(2)]);
}

#[test]
fn failed_rpcs_are_retried_then_the_peer_is_evicted() {
    let t0 = Instant::now();
    let cfg = Config::default();
    let mut a = Chord::new(node(1), cfg.clone(), t0);
    a.handle_request(t0, node(2), Request::Notify);
    drain(&mut a);
    // Stabilize fires and asks node 2; nobody answers.
    let mut now = t0;
    let mut sends = 0;
    for _ in 0..20 {
        now += Duration::from_millis(500);
        a.handle(now, Input::Timeout);
        sends +=
            drain(&mut a).iter().filter(|o| matches!(o, Output::Send { request: Request::GetNeighbours, .. })).count();
        if a.successors().is_empty() {
            break;
        }
    }
    assert!(a.successors().is_empty(), "dead successor evicted");
    assert!(sends >= cfg.rpc_attempts as usize, "retried before evicting: {sends}");
}

#[test]
fn closer_answers_pointing_backwards_are_ignored() {
    // A lying peer that answers "closer" with nodes behind itself cannot send
    // the lookup backwards or in circles: the join fails instead.
    let now = Instant::now();
    let me = node(1);
    let liar = node(2);
    let behind = (3..=255).map(node).find(|n| n.id.in_open(&me.id, &liar.id));
    let Some(behind) = behind else { panic!("some node lies behind the liar") };
    let mut a = Chord::new(me.clone(), Config::default(), now);
    a.handle(now, Input::Join(liar.clone()));
    let mut out = drain(&mut a);
    let mut queried = 0;
    for _ in 0..10 {
        let Some(Output::Send { id, to, .. }) = out.iter().find(|o| matches!(o, Output::Send { .. })).cloned() else {
            break;
        };
        assert!(to.same(&liar), "only the liar is ever asked, not {to:?}");
        queried += 1;
        a.handle(
            now,
            Input::Response {
                id,
                responder: to.ticket,
                response: Response::Closer { nodes: vec![me.clone(), behind.clone()] },
            },
        );
        out = drain(&mut a);
    }
    assert_eq!(queried, 1);
    assert!(
        out.iter().any(|o| matches!(o, Output::Event(Event::JoinFailed { error: LookupError::Exhausted, .. }))),
        "{out:?}"
    );
    assert!(a.is_alone());
}

#[test]
fn a_node_whose_join_is_under_way_is_no_ring_of_one() {
    // Node 1 is joining through node 3 (no answer yet); node 2 asks node 1
    // to join through it. Answering "I am alone, I am your successor" would
    // found a second ring with node 2: node 1 answers with nobody instead,
    // and a notify does not make node 2 its successor.
    let now = Instant::now();
    let mut a = Chord::new(node(1), Config::default(), now);
    a.handle(now, Input::Join(node(3)));
    drain(&mut a);
    assert!(a.is_joining());
    let resp = a.handle_request(now, node(2), Request::FindSuccessor { key: node(2).id });
    assert_eq!(resp, Response::Successors { successors: Vec::new() });
    a.handle_request(now, node(2), Request::Notify);
    assert!(a.successors().is_empty(), "the join decides the successor, not a notify");
}

#[test]
fn an_empty_successor_list_fails_a_join_through_that_node() {
    let now = Instant::now();
    let mut b = Chord::new(node(2), Config::default(), now);
    b.handle(now, Input::Join(node(1)));
    let id = drain(&mut b)
        .into_iter()
        .find_map(|o| match o {
            Output::Send { id, request: Request::FindSuccessor { .. }, .. } => Some(id),
            _ => None,
        })
        .expect("the join asks node 1");
    b.handle(
        now,
        Input::Response { id, responder: node(1).ticket, response: Response::Successors { successors: Vec::new() } },
    );
    let out = drain(&mut b);
    assert!(out.iter().any(|o| matches!(o, Output::Event(Event::JoinFailed { .. }))), "{out:?}");
    assert!(b.successors().is_empty() && !b.is_joining());
}

#[test]
fn self_checks_also_start_at_a_contact() {
    // Node 1 is in a two-node ring with node 2, whose answers are all it
    // knows; node 3 is a contact from outside that ring. Within two
    // self-check periods node 1 asks node 3 for its own id's successor:
    // the look past its own routing state that merges a split-off ring.
    let t0 = Instant::now();
    let cfg = Config::default();
    let mut a = Chord::new(node(1), cfg.clone(), t0);
    a.handle_request(t0, node(2), Request::Notify);
    a.add_contact(node(3));
    drain(&mut a);
    let mut now = t0;
    let mut asked_contact = false;
    for _ in 0..(2 * SELF_CHECK_EVERY + 2) {
        now += cfg.fix_fingers_interval;
        a.handle(now, Input::Timeout);
        for o in drain(&mut a) {
            let Output::Send { id, to, request } = o else { continue };
            if to.same(&node(3)) {
                asked_contact |= request == Request::FindSuccessor { key: node(1).id };
                continue;
            }
            // Node 2 answers as the other member of a two-node ring.
            let response = match request {
                Request::GetNeighbours => {
                    Response::Neighbours { predecessor: Some(node(1)), successors: vec![node(1)] }
                }
                Request::FindSuccessor { .. } => Response::Successors { successors: vec![node(2), node(1)] },
                _ => Response::Ack,
            };
            a.handle(now, Input::Response { id, responder: to.ticket, response });
        }
    }
    assert!(asked_contact, "a self-check started at the contact");
    assert_eq!(a.successors().first(), Some(&node(2)), "node 2 stayed the successor");
}
