//! The network walk, sans-IO: reads asked for, results fed, no network.

use hickory_proto::rr::RecordType;

use super::support::*;
use crate::pipeline::{MAX_NETWORK_CNAMES, MAX_STALE, NetworkRead, ReadOutcome, STALE_TTL, Step, Walk, Walked};

const HIT: ReadOutcome = ReadOutcome::Hit { dissent: 1 };
const ABSENT: ReadOutcome = ReadOutcome::Absent { dissent: 1 };

/// Feeds `reads` in order; the outcomes, the (name, type) asked for before
/// each, and how the walk ended (`None` if it still wants a read).
fn run(
    qname: &str,
    qtype: RecordType,
    now: u64,
    reads: Vec<NetworkRead>,
) -> (Vec<ReadOutcome>, Vec<(String, u16)>, Option<Walked>) {
    let mut walk = Walk::new(&question(qname, qtype), now);
    let (mut outcomes, mut asked) = (Vec::new(), Vec::new());
    for read in reads {
        asked.push(walk.next_read());
        let (outcome, step) = walk.feed(read);
        outcomes.push(outcome);
        if let Step::Done(walked) = step {
            return (outcomes, asked, Some(walked));
        }
    }
    (outcomes, asked, None)
}

#[test]
fn a_fresh_agreed_rrset_is_the_answer_with_its_remaining_ttl() {
    let rr = a_set("www.example.test.", 1, 300, NOW - 100);
    let (outcomes, asked, end) = run("WWW.Example.Test.", RecordType::A, NOW, vec![agreed(Some(rr), None)]);
    assert_eq!(outcomes, vec![HIT]);
    assert_eq!(asked, vec![("www.example.test.".to_owned(), 1)], "the name is read case-folded");
    let Some(Walked::Fresh(res)) = end else { panic!("{end:?}") };
    assert_eq!(records(&res), vec![a_record("www.example.test.", 1, 200)]);
}

#[test]
fn cnames_are_followed_through_the_network() {
    let reads = vec![
        agreed(None, Some(cname_set("alias.example.test.", "Mid.Example.Test.", 600, NOW))),
        agreed(None, Some(cname_set("mid.example.test.", "www.example.test.", 600, NOW))),
        agreed(Some(a_set("www.example.test.", 1, 300, NOW)), None),
    ];
    let (outcomes, asked, end) = run("alias.example.test.", RecordType::A, NOW, reads);
    assert_eq!(outcomes, vec![HIT; 3]);
    let names: Vec<&str> = asked.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["alias.example.test.", "mid.example.test.", "www.example.test."]);
    assert!(asked.iter().all(|&(_, t)| t == 1), "every step asks for the question's type");
    let Some(Walked::Fresh(res)) = end else { panic!("{end:?}") };
    assert_eq!(
        records(&res),
        vec![
            cname_record("alias.example.test.", "mid.example.test.", 600),
            cname_record("mid.example.test.", "www.example.test.", 600),
            a_record("www.example.test.", 1, 300),
        ]
    );
}

#[test]
fn a_cname_loop_or_a_chain_too_long_ends_in_nothing() {
    // a → b → a → ...: every read is a hit, and the walk gives up after
    // following MAX_NETWORK_CNAMES of them.
    let looping = |i: usize| {
        let (from, to) = if i.is_multiple_of(2) { ("a.test.", "b.test.") } else { ("b.test.", "a.test.") };
        agreed(None, Some(cname_set(from, to, 300, NOW)))
    };
    let (outcomes, asked, end) = run("a.test.", RecordType::A, NOW, (0..20).map(looping).collect());
    assert_eq!(end, Some(Walked::Nothing));
    assert_eq!(outcomes.len(), MAX_NETWORK_CNAMES + 1);
    assert_eq!(asked.len(), MAX_NETWORK_CNAMES + 1);
    // A straight chain of exactly MAX_NETWORK_CNAMES CNAMEs is followed to its end.
    let hop = |i: usize| format!("n{i}.test.");
    let mut chain: Vec<NetworkRead> =
        (0..MAX_NETWORK_CNAMES).map(|i| agreed(None, Some(cname_set(&hop(i), &hop(i + 1), 300, NOW)))).collect();
    chain.push(agreed(Some(a_set(&hop(MAX_NETWORK_CNAMES), 9, 300, NOW)), None));
    let (_, _, end) = run(&hop(0), RecordType::A, NOW, chain);
    let Some(Walked::Fresh(res)) = end else { panic!("{end:?}") };
    assert_eq!(records(&res).len(), MAX_NETWORK_CNAMES + 1);
}

#[test]
fn records_of_another_name_type_or_class_from_the_committee_are_ignored() {
    let q = "www.example.test.";
    let mut other_class = a_set(q, 1, 300, NOW);
    other_class.class = 3;
    let cases = vec![
        ("another name", agreed(Some(a_set("evil.test.", 1, 300, NOW)), None)),
        ("another type", agreed(Some(set(q, 28, 300, NOW, vec![vec![0; 16]])), None)),
        ("another class", agreed(Some(other_class), None)),
        ("a CNAME of another name", agreed(None, Some(cname_set("evil.test.", "x.test.", 300, NOW)))),
        ("a CNAME that is not a CNAME", agreed(None, Some(a_set(q, 1, 300, NOW)))),
        ("nothing", agreed(None, None)),
    ];
    for (what, read) in cases {
        let (outcomes, _, end) = run(q, RecordType::A, NOW, vec![read]);
        assert_eq!((outcomes, end), (vec![ABSENT], Some(Walked::Nothing)), "{what}");
    }
    // Asking for the CNAME itself: the RRset is the answer, the cname field
    // is not followed.
    let c = cname_set(q, "x.test.", 300, NOW);
    let (_, _, end) = run(q, RecordType::CNAME, NOW, vec![agreed(Some(c.clone()), None)]);
    assert!(matches!(end, Some(Walked::Fresh(_))), "{end:?}");
    let (outcomes, _, end) = run(q, RecordType::CNAME, NOW, vec![agreed(None, Some(c))]);
    assert_eq!((outcomes, end), (vec![ABSENT], Some(Walked::Nothing)));
}

#[test]
fn an_answer_expired_within_max_stale_is_only_stale_and_later_nothing() {
    let max = MAX_STALE.as_secs();
    // Expired 1 s ago, and exactly MAX_STALE ago: served stale with STALE_TTL.
    for expired_for in [1, max] {
        let rr = a_set("www.example.test.", 1, 300, NOW - 300 - expired_for);
        let (outcomes, _, end) = run("www.example.test.", RecordType::A, NOW, vec![agreed(Some(rr), None)]);
        assert_eq!(outcomes, vec![HIT]);
        let Some(Walked::Expired(res)) = end else { panic!("{expired_for}: {end:?}") };
        assert_eq!(records(&res), vec![a_record("www.example.test.", 1, STALE_TTL)]);
    }
    // Expired longer ago: as if absent.
    let rr = a_set("www.example.test.", 1, 300, NOW - 300 - max - 1);
    let (outcomes, _, end) = run("www.example.test.", RecordType::A, NOW, vec![agreed(Some(rr), None)]);
    assert_eq!((outcomes, end), (vec![ABSENT], Some(Walked::Nothing)));
    // An expired CNAME makes the whole chain stale; the fresh A keeps its TTL.
    let reads = vec![
        agreed(None, Some(cname_set("alias.test.", "www.test.", 60, NOW - 100))),
        agreed(Some(a_set("www.test.", 1, 300, NOW)), None),
    ];
    let (_, _, end) = run("alias.test.", RecordType::A, NOW, reads);
    let Some(Walked::Expired(res)) = end else { panic!("{end:?}") };
    assert_eq!(records(&res), vec![cname_record("alias.test.", "www.test.", STALE_TTL), a_record("www.test.", 1, 300)]);
}

#[test]
fn no_majority_or_a_failed_read_is_nothing() {
    let (outcomes, _, end) = run("x.test.", RecordType::A, NOW, vec![NetworkRead::NoMajority { answered: 3 }]);
    assert_eq!((outcomes, end), (vec![ReadOutcome::NoMajority { answered: 3 }], Some(Walked::Nothing)));
    let (outcomes, _, end) = run("x.test.", RecordType::A, NOW, vec![NetworkRead::Failed]);
    assert_eq!((outcomes, end), (vec![ReadOutcome::Failed], Some(Walked::Nothing)));
    // Failing halfway through a CNAME chain gives nothing either.
    let reads = vec![agreed(None, Some(cname_set("alias.test.", "www.test.", 60, NOW))), NetworkRead::Failed];
    let (outcomes, _, end) = run("alias.test.", RecordType::A, NOW, reads);
    assert_eq!((outcomes, end), (vec![HIT, ReadOutcome::Failed], Some(Walked::Nothing)));
}

#[test]
fn an_agreed_rrset_that_does_not_decode_counts_as_a_hit_and_answers_nothing() {
    let bad = set("x.test.", 1, 300, NOW, vec![vec![1, 2]]);
    let (outcomes, _, end) = run("x.test.", RecordType::A, NOW, vec![agreed(Some(bad), None)]);
    assert_eq!((outcomes, end), (vec![HIT], Some(Walked::Nothing)));
}
