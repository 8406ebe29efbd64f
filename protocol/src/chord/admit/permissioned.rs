//! The Chord core in a `permissioned` network: only nodes carrying a valid
//! membership certificate enter routing state or lookups.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::*;
use crate::admission::{NetworkTag, Prefix};
use crate::chord::{Config, Input, Output};
use crate::permit::{Kind, Membership, Statement, public_of};

const NET: NetworkTag = NetworkTag([4; 32]);
const T0: u64 = 1_800_000_000;
const DAY: u64 = 86_400;

fn secret(i: u8) -> [u8; 32] {
    [i + 11; 32]
}

fn rules(now: Instant) -> Rules {
    let keys = (0..3).map(|i| public_of(&secret(i))).collect();
    let m = Membership::new(2, keys, now, T0).unwrap();
    Rules {
        network: NET,
        difficulty: 0,
        per_prefix_committee: u8::MAX,
        per_prefix_routing: u8::MAX,
        permission: Some(Arc::new(m)),
    }
}

fn peer(b: u8) -> PeerRef {
    PeerRef(vec![b; 38])
}

fn statement(kind: Kind, b: u8, signers: &[u8], days: u64) -> Statement {
    let mut s = Statement::unsigned(kind, NET, peer(b), T0 - DAY, T0 + days * DAY);
    for &i in signers {
        s.sign(i, &secret(i));
    }
    s
}

/// Node `b` with a certificate signed by `signers` for `days` (none: no certificate).
fn node(b: u8, signers: Option<&[u8]>, days: u64) -> NodeInfo {
    let cert = signers.map(|s| Arc::new(statement(Kind::Certificate, b, s, days)));
    NodeInfo::certified(peer(b), Ticket { nonce: 0, prefix: Prefix::V4([10, 0, b]) }, cert, Vec::new())
}

fn good(b: u8) -> NodeInfo {
    node(b, Some(&[0, 1]), 30)
}

fn chord(now: Instant) -> Chord {
    Chord::new(good(1), Config { admission: rules(now), ..Config::default() }, now)
}

fn drain(c: &mut Chord) -> Vec<Output> {
    std::iter::from_fn(|| c.poll_output()).collect()
}

fn sends(out: &[Output]) -> Vec<(RequestId, NodeInfo, Request)> {
    out.iter()
        .filter_map(|o| match o {
            Output::Send { id, to, request } => Some((*id, to.clone(), request.clone())),
            _ => None,
        })
        .collect()
}

fn in_routing(c: &Chord, p: &PeerRef) -> bool {
    c.predecessor().is_some_and(|n| &n.peer == p) || c.successors().iter().any(|n| &n.peer == p)
}

#[test]
fn certified_positions_are_the_identity_s_and_serial_s_not_the_node_s_choice() {
    let a = good(2);
    let b = NodeInfo::certified(peer(2), Ticket { nonce: 77, prefix: Prefix::V4([1, 2, 3]) }, a.cert.clone(), vec![]);
    assert_eq!(a.id, b.id, "nonce and prefix do not move a certified node");
    assert_ne!(a.id, good(3).id);
    let mut other = statement(Kind::Certificate, 2, &[0, 1], 30);
    other.serial = 9;
    let moved = NodeInfo::certified(peer(2), a.ticket, Some(Arc::new(other)), vec![]);
    assert_ne!(a.id, moved.id, "the authority's serial places it");
}

#[test]
fn requests_from_nodes_without_a_valid_certificate_change_nothing() {
    let now = Instant::now();
    let mut c = chord(now);
    let expired = node(3, Some(&[0, 1]), 0);
    let later = now + Duration::from_secs(DAY);
    for bad in [node(2, None, 30), node(2, Some(&[2]), 30), node(2, Some(&[2, 2]), 30)] {
        c.handle_request(now, bad.clone(), Request::Notify);
        assert!(!in_routing(&c, &bad.peer), "{bad:?}");
    }
    c.handle_request(later, expired.clone(), Request::Notify);
    assert!(!in_routing(&c, &expired.peer));
    // Another node's certificate attached to mine does not make me admitted.
    let stolen = NodeInfo::certified(peer(4), Ticket::placeholder(), good(2).cert, vec![]);
    c.handle_request(now, stolen, Request::Notify);
    assert!(!in_routing(&c, &peer(4)));
    assert!(drain(&mut c).is_empty());
    c.handle_request(now, good(2), Request::Notify);
    assert!(in_routing(&c, &peer(2)));
}

#[test]
fn an_answer_naming_a_node_without_a_certificate_is_refused_and_it_never_enters_routing_state() {
    let now = Instant::now();
    let mut c = chord(now);
    // The bootstrap peer was known only by identity; its answer carries its certificate.
    let via = NodeInfo::new(peer(2), Ticket::placeholder(), Vec::new());
    c.handle(now, Input::Join(via));
    let (id, _, _) = sends(&drain(&mut c)).remove(0);
    let cert = good(2).cert.map(Arc::unwrap_or_clone);
    let response = Response::Successors { successors: vec![node(3, None, 30), good(2)] };
    c.handle_certified_response(now, id, Ticket::placeholder(), cert, response);
    let out = drain(&mut c);
    assert!(
        out.iter().any(|o| matches!(o, Output::Event(Event::AnswerRefused { reason: Refusal::Unadmitted, .. }))),
        "{out:?}"
    );
    assert!(!sends(&out).iter().any(|(_, to, _)| to.peer == peer(3)));
    assert!(!in_routing(&c, &peer(3)));
}

#[test]
fn a_bootstrap_peer_without_a_certificate_is_refused() {
    let now = Instant::now();
    let mut c = chord(now);
    c.handle(now, Input::Join(NodeInfo::new(peer(2), Ticket::placeholder(), Vec::new())));
    let (id, _, _) = sends(&drain(&mut c)).remove(0);
    let response = Response::Successors { successors: vec![good(2)] };
    c.handle_certified_response(now, id, Ticket::placeholder(), None, response);
    let out = drain(&mut c);
    assert!(out.iter().any(|o| matches!(o, Output::Event(Event::AnswerRefused { reason: Refusal::Unadmitted, .. }))));
}

#[test]
fn a_revocation_drops_the_node_and_is_passed_on_once() {
    let now = Instant::now();
    let mut c = chord(now);
    c.handle_request(now, good(2), Request::Notify);
    c.handle_request(now, good(3), Request::Notify);
    assert!(in_routing(&c, &peer(2)) && in_routing(&c, &peer(3)));
    drain(&mut c);
    // Too few signatures: ignored, not passed on.
    let weak = statement(Kind::Revocation, 2, &[1], 30);
    assert_eq!(c.take_revocations(now, vec![weak]), 0);
    assert!(sends(&drain(&mut c)).is_empty());
    let r = statement(Kind::Revocation, 2, &[1, 2], 30);
    c.handle_request(now, good(3), Request::Revocations { revocations: vec![r.clone()] });
    assert!(!in_routing(&c, &peer(2)), "the revoked node left routing state");
    let out = sends(&drain(&mut c));
    assert!(
        out.iter()
            .any(|(_, to, req)| to.peer == peer(3) && *req == Request::Revocations { revocations: vec![r.clone()] })
    );
    // Known already: not passed on again, and the node stays out.
    assert_eq!(c.take_revocations(now, vec![r]), 0);
    assert!(sends(&drain(&mut c)).is_empty());
    c.handle_request(now, good(2), Request::Notify);
    assert!(!in_routing(&c, &peer(2)));
}

#[test]
fn nodes_whose_certificates_expire_are_dropped() {
    let now = Instant::now();
    let mut c = chord(now);
    c.handle_request(now, node(2, Some(&[0, 1]), 2), Request::Notify);
    c.handle_request(now, good(3), Request::Notify);
    assert!(in_routing(&c, &peer(2)));
    assert_eq!(c.drop_unadmitted(now), 0);
    assert_eq!(c.drop_unadmitted(now + Duration::from_secs(3 * DAY)), 1);
    assert!(!in_routing(&c, &peer(2)) && in_routing(&c, &peer(3)));
}

#[test]
fn an_answer_naming_a_node_revoked_since_is_no_lie_the_node_is_left_out() {
    let now = Instant::now();
    let mut c = chord(now);
    let r = statement(Kind::Revocation, 3, &[0, 2], 30);
    assert_eq!(c.take_revocations(now, vec![r]), 1);
    let via = good(2);
    c.handle(now, Input::Join(via.clone()));
    let (id, _, _) = sends(&drain(&mut c)).remove(0);
    // The responder has not heard of the revocation yet.
    let response = Response::Closer { nodes: vec![good(3), good(5)] };
    c.handle_certified_response(now, id, via.ticket, via.cert.as_deref().cloned(), response);
    let out = drain(&mut c);
    assert!(!out.iter().any(|o| matches!(o, Output::Event(Event::AnswerRefused { .. }))), "{out:?}");
    let to: Vec<PeerRef> = sends(&out).into_iter().map(|(_, to, _)| to.peer).collect();
    assert!(to.contains(&peer(5)), "the lookup goes on with the admitted node: {to:?}");
    assert!(!to.contains(&peer(3)), "and never asks the revoked one: {to:?}");
}
