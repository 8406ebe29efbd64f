//! Table tests of the core driven by hand, and small simulated rings.

use std::time::{Duration, Instant};

use super::*;
use crate::node::PeerRef;
use crate::sim::{Sim, SimConfig};

fn node(b: u8) -> NodeInfo {
    NodeInfo::new(PeerRef(vec![b; 38]), Vec::new())
}

fn drain(c: &mut Chord) -> Vec<Output> {
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
        a.handle(now, Input::Response { id, response: Response::Closer { nodes: vec![me.clone(), behind.clone()] } });
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
fn small_rings_converge_and_answer_correctly() {
    for (n, seed) in [(2, 1), (3, 2), (5, 3), (16, 4), (40, 5)] {
        let mut sim = Sim::new(SimConfig::new(n, seed));
        assert!(sim.build_ring(Duration::from_secs(120)), "n={n}: all joined");
        let took = sim.run_until_consistent(Duration::from_secs(120));
        assert!(took.is_some(), "n={n}: ring never consistent: {}", sim.describe());
        // Successor lists fill one position per stabilization round.
        sim.run_for(Duration::from_secs(10));
        let check = sim.check_lookups(50);
        assert_eq!(check.correct, check.total, "n={n}: {check:?}");
    }
}

#[test]
fn graceful_leave_hands_over_neighbours() {
    let mut sim = Sim::new(SimConfig::new(12, 9));
    assert!(sim.build_ring(Duration::from_secs(60)));
    assert!(sim.run_until_consistent(Duration::from_secs(120)).is_some());
    sim.leave(3);
    // Far less than the failure-detection time: the handover does the work.
    sim.run_for(Duration::from_millis(300));
    assert_eq!(sim.ring_consistency(), 1.0);
}

#[test]
fn small_rings_forget_crashed_nodes() {
    // With fewer nodes than the successor list length, lists wrap around
    // the ring; a crashed node must not keep circulating through them.
    for (n, seed) in [(4, 21), (6, 22), (8, 23)] {
        let mut sim = Sim::new(SimConfig::new(n, seed));
        assert!(sim.build_ring(Duration::from_secs(60)));
        assert!(sim.run_until_consistent(Duration::from_secs(60)).is_some());
        sim.run_for(Duration::from_secs(10));
        sim.kill(1);
        if n > 4 {
            sim.kill(3);
        }
        let took = sim.run_until_consistent(Duration::from_secs(60));
        assert!(took.is_some(), "n={n}: ring not repaired: {}", sim.describe());
        sim.run_for(Duration::from_secs(10));
        let check = sim.check_lookups(50);
        assert_eq!(check.correct, check.total, "n={n}: {:?}", check.mismatches);
    }
}
