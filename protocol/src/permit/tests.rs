#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;

const NET: NetworkTag = NetworkTag([5; 32]);
const T0: u64 = 1_800_000_000;
const DAY: u64 = 86_400;

fn secret(i: u8) -> [u8; 32] {
    [i + 1; 32]
}

/// A 2-of-3 authority.
fn authority() -> Membership {
    let keys = (0..3).map(|i| public_of(&secret(i))).collect();
    Membership::new(2, keys, Instant::now(), T0).unwrap()
}

fn peer(b: u8) -> PeerRef {
    PeerRef(vec![b; 38])
}

fn statement(kind: Kind, p: u8, signers: &[u8]) -> Statement {
    let mut s = Statement::unsigned(kind, NET, peer(p), T0 - DAY, T0 + 30 * DAY);
    for &i in signers {
        s.sign(i, &secret(i));
    }
    s
}

fn cert(p: u8, signers: &[u8]) -> Certificate {
    statement(Kind::Certificate, p, signers)
}

#[test]
fn a_certificate_survives_bytes_and_text_and_verifies() {
    let c = cert(1, &[0, 2]);
    assert_eq!(Statement::from_bytes(&c.to_bytes()).unwrap(), c);
    let text = format!("# a comment\n{}", c.to_text());
    assert_eq!(Statement::from_text(&text, Kind::Certificate).unwrap(), c);
    let m = authority();
    assert_eq!(m.check(&NET, T0, &peer(1), &c), Ok(()));
    assert_eq!(m.signers(&c).unwrap(), vec![0, 2]);
}

#[test]
fn k_minus_one_signatures_are_refused() {
    let m = authority();
    assert_eq!(m.check(&NET, T0, &peer(1), &cert(1, &[1])), Err(PermitError::Threshold { valid: 1, needed: 2 }));
    assert_eq!(m.check(&NET, T0, &peer(1), &cert(1, &[])), Err(PermitError::Threshold { valid: 0, needed: 2 }));
}

#[test]
fn a_key_signing_twice_counts_once() {
    let m = authority();
    let c = cert(1, &[1, 1]);
    assert_eq!(c.signatures.len(), 2);
    assert_eq!(m.check(&NET, T0, &peer(1), &c), Err(PermitError::Threshold { valid: 1, needed: 2 }));
}

#[test]
fn wrong_network_peer_kind_and_forged_signatures_are_refused() {
    let m = authority();
    let c = cert(1, &[0, 1]);
    assert!(matches!(m.check(&NET, T0, &peer(2), &c), Err(PermitError::WrongPeer { .. })));
    assert!(matches!(m.check(&NetworkTag([6; 32]), T0, &peer(1), &c), Err(PermitError::WrongNetwork { .. })));
    // Re-labelled for another network: the signatures no longer cover it.
    let mut moved = c.clone();
    moved.network = NetworkTag([6; 32]);
    assert!(matches!(m.check(&moved.network, T0, &peer(1), &moved), Err(PermitError::BadSignature { .. })));
    // A longer validity than was signed.
    let mut stretched = c.clone();
    stretched.not_after += DAY;
    assert!(matches!(m.check(&NET, T0, &peer(1), &stretched), Err(PermitError::BadSignature { .. })));
    // Signed by a key the network does not have, or claiming an index it has not.
    let mut stranger = cert(1, &[0]);
    stranger.sign(1, &[99; 32]);
    assert!(matches!(m.check(&NET, T0, &peer(1), &stranger), Err(PermitError::BadSignature { index: 1, key: 1 })));
    let mut beyond = cert(1, &[0, 1]);
    beyond.signatures[1].key = 7;
    assert!(matches!(m.check(&NET, T0, &peer(1), &beyond), Err(PermitError::BadSignature { key: 7, .. })));
    // A revocation is not a certificate.
    let r = statement(Kind::Revocation, 1, &[0, 1]);
    assert!(matches!(m.check(&NET, T0, &peer(1), &r), Err(PermitError::WrongKind { .. })));
    assert!(matches!(Statement::from_text(&r.to_text(), Kind::Certificate), Err(PermitError::WrongKind { .. })));
}

#[test]
fn expired_and_not_yet_valid_certificates_are_refused_with_some_skew_allowed() {
    let m = authority();
    let c = cert(1, &[0, 1]);
    let end = T0 + 30 * DAY;
    assert_eq!(m.check(&NET, end + CLOCK_SKEW_SECS, &peer(1), &c), Ok(()));
    let late = m.check(&NET, end + CLOCK_SKEW_SECS + 1, &peer(1), &c);
    assert!(matches!(late, Err(PermitError::Expired { .. })), "{late:?}");
    assert_eq!(late.unwrap_err().unadmitted(), Unadmitted::Expired);
    let early = m.check(&NET, T0 - DAY - CLOCK_SKEW_SECS - 1, &peer(1), &c);
    assert!(matches!(early, Err(PermitError::NotYetValid { .. })), "{early:?}");
}

#[test]
fn malformed_bytes_are_errors_not_panics() {
    let good = cert(1, &[0, 1]).to_bytes();
    for cut in 0..good.len() {
        assert!(Statement::from_bytes(&good[..cut]).is_err(), "truncated at {cut}");
    }
    assert!(matches!(Statement::from_bytes(&vec![0u8; MAX_STATEMENT_BYTES + 1]), Err(PermitError::TooLarge { .. })));
    // Too many signatures, a short signature, an empty peer.
    let mut many = cert(1, &[0, 1]);
    while many.signatures.len() <= MAX_SIGNATURES {
        many.sign(0, &secret(0));
    }
    assert!(Statement::from_bytes(&many.to_bytes()).is_err());
    let mut short = cert(1, &[0, 1]);
    short.signatures[0].sig.truncate(10);
    assert!(Statement::from_bytes(&short.to_bytes()).is_err());
    let mut nobody = cert(1, &[0, 1]);
    nobody.peer = PeerRef(Vec::new());
    assert!(Statement::from_bytes(&nobody.to_bytes()).is_err());
    // Flipped bytes anywhere: an error, a statement that fails to verify,
    // or (a flipped length the decoder reads past) the same statement.
    let m = authority();
    let original = cert(1, &[0, 1]);
    for i in 0..good.len() {
        let mut b = good.clone();
        b[i] ^= 0x55;
        if let Ok(s) = Statement::from_bytes(&b) {
            assert!(s == original || m.check(&NET, T0, &peer(1), &s).is_err(), "flip at {i}: {s:?}");
        }
    }
    for text in ["", "# only a comment", "dhtr-certificate-v1 zz", "dhtr-certificate-v1", "other-v1 00"] {
        assert!(Statement::from_text(text, Kind::Certificate).is_err(), "{text:?}");
    }
}

#[test]
fn revocations_verify_and_refuse_the_peer_until_its_certificate_would_expire() {
    let m = authority();
    let c = cert(1, &[0, 1]);
    assert_eq!(
        m.revoke(&NET, T0, &statement(Kind::Revocation, 1, &[2])),
        Err(PermitError::Threshold { valid: 1, needed: 2 })
    );
    assert!(matches!(m.revoke(&NET, T0, &c), Err(PermitError::WrongKind { .. })));
    assert_eq!(m.check(&NET, T0, &peer(1), &c), Ok(()));
    let r = statement(Kind::Revocation, 1, &[1, 2]);
    assert_eq!(m.revoke(&NET, T0, &r), Ok(true));
    assert_eq!(m.revoke(&NET, T0, &r), Ok(false), "known already");
    let refused = m.check(&NET, T0, &peer(1), &c);
    assert_eq!(refused, Err(PermitError::Revoked));
    assert_eq!(refused.unwrap_err().unadmitted(), Unadmitted::Revoked);
    assert_eq!(m.check(&NET, T0, &peer(2), &cert(2, &[0, 1])), Ok(()), "others unaffected");
    // A later certificate (re-admission) outlives the revocation.
    let mut renewed = Statement::unsigned(Kind::Certificate, NET, peer(1), T0, T0 + 60 * DAY);
    renewed.sign(0, &secret(0));
    renewed.sign(1, &secret(1));
    assert_eq!(m.check(&NET, T0, &peer(1), &renewed), Ok(()));
    assert_eq!(m.revocations(0, 8), vec![r.clone()]);
    // A later revocation ends the renewed certificate too.
    let mut later = Statement::unsigned(Kind::Revocation, NET, peer(1), T0 + 1, T0 + 60 * DAY);
    later.sign(0, &secret(0));
    later.sign(2, &secret(2));
    assert_eq!(m.revoke(&NET, T0 + 2, &later), Ok(true));
    assert_eq!(m.revoke(&NET, T0 + 2, &r), Ok(false), "the older one adds nothing");
    assert_eq!(m.check(&NET, T0 + 2, &peer(1), &renewed), Err(PermitError::Revoked));
    m.prune(T0 + 61 * DAY);
    assert_eq!(m.revocation_count(), 0);
}

#[test]
fn verification_results_are_cached_and_bounded() {
    let m = authority();
    let c = cert(1, &[0, 1]);
    assert_eq!(m.check(&NET, T0, &peer(1), &c), Ok(()));
    assert_eq!(m.state().verified.len(), 1);
    assert_eq!(m.check(&NET, T0, &peer(1), &c), Ok(()));
    assert_eq!(m.state().verified.len(), 1);
    for i in 0..(CACHE_ENTRIES + 10) {
        let mut s = Statement::unsigned(Kind::Certificate, NET, peer(1), i as u64, T0);
        s.signatures.push(KeySignature { key: 0, sig: vec![0; 64] });
        let _ = m.check(&NET, T0, &peer(1), &s);
    }
    assert!(m.state().verified.len() <= CACHE_ENTRIES);
}

#[test]
fn unusable_authorities_are_refused() {
    let now = Instant::now();
    let k = |i| public_of(&secret(i));
    assert!(Membership::new(0, vec![k(0)], now, T0).is_err());
    assert!(Membership::new(2, vec![k(0)], now, T0).is_err());
    assert!(Membership::new(1, vec![k(0), k(0)], now, T0).is_err());
    assert!(Membership::new(1, vec![], now, T0).is_err());
    assert!(Membership::new(1, vec![k(0), k(1)], now, T0).is_ok());
}

#[test]
fn the_clock_follows_the_anchor() {
    let now = Instant::now();
    let m = Membership::new(1, vec![public_of(&secret(0))], now, T0).unwrap();
    assert_eq!(m.unix(now + std::time::Duration::from_secs(90)), T0 + 90);
    m.set_clock(now, T0 + 1000);
    assert_eq!(m.unix(now), T0 + 1000);
}
