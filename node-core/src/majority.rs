//! Strict-majority agreement over members' answers (seed 001 §4.2): an
//! answer counts only when more than half of the committee, `n`, returned
//! the identical committed state. Members that did not answer, or hold no
//! chain, count against every answer, so a read never rests on a minority.

use crate::records::MemberState;

/// What the committee said, taken together.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// More than n/2 members returned this state.
    Agreed(Agreed),
    /// No state reached a strict majority.
    NoMajority {
        /// Members that answered with a state.
        answered: usize,
        /// Distinct states among them.
        distinct: usize,
    },
}

/// The agreed state, without the per-member height.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Agreed {
    /// The RRset of the type asked for.
    pub rrset: Option<dhtr_ledger::RRset>,
    /// The CNAME at the name.
    pub cname: Option<dhtr_ledger::RRset>,
    /// The committed history, for history reads.
    pub history: Option<Vec<crate::records::HistoryEntry>>,
    /// Members that returned it.
    pub votes: usize,
    /// Members that returned something else (liars or laggards).
    pub dissent: usize,
}

/// Tally the states returned by members of a committee of `n`.
pub fn tally(n: usize, states: &[MemberState]) -> Verdict {
    let mut groups: Vec<(&MemberState, usize)> = Vec::new();
    for s in states {
        match groups.iter_mut().find(|(g, _)| same(g, s)) {
            Some((_, c)) => *c += 1,
            None => groups.push((s, 1)),
        }
    }
    let answered = states.len();
    match groups.iter().find(|(_, c)| 2 * c > n) {
        Some((s, c)) => Verdict::Agreed(Agreed {
            rrset: s.rrset.clone(),
            cname: s.cname.clone(),
            history: s.history.clone(),
            votes: *c,
            dissent: answered - c,
        }),
        None => Verdict::NoMajority { answered, distinct: groups.len() },
    }
}

/// Do two members say the same? The chain height is not compared, nor who
/// signed each certificate: every member assembles its own certificate
/// from the first 2f+1 commit votes it received.
fn same(a: &MemberState, b: &MemberState) -> bool {
    type Version<'a> = (u64, u64, &'a Option<dhtr_ledger::RRset>, &'a String, u16);
    fn versions(s: &MemberState) -> Option<Vec<Version<'_>>> {
        s.history.as_ref().map(|h| h.iter().map(|e| (e.height, e.time, &e.rrset, &e.name, e.rtype)).collect())
    }
    a.rrset == b.rrset && a.cname == b.cname && versions(a) == versions(b)
}

/// Can the outcome still change? True while the leading state could still
/// gain a strict majority, or another could still overtake it, with the
/// `outstanding` answers not yet in.
pub fn undecided(n: usize, states: &[MemberState], outstanding: usize) -> bool {
    match tally(n, states) {
        Verdict::Agreed(_) => false,
        Verdict::NoMajority { .. } => {
            let best = states.iter().map(|s| states.iter().filter(|t| same(s, t)).count()).max().unwrap_or(0);
            2 * (best + outstanding) > n
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dhtr_ledger::RRset;
    use serde_bytes::ByteBuf;

    fn a(ip: u8) -> MemberState {
        let rr = RRset {
            name: "www.example.".into(),
            rtype: 1,
            class: 1,
            ttl: 300,
            rdata: vec![ByteBuf::from(vec![192, 0, 2, ip])],
            fetched_at: 100,
        };
        MemberState { height: 3, rrset: Some(rr), cname: None, history: None }
    }

    fn absent() -> MemberState {
        MemberState { height: 3, rrset: None, cname: None, history: None }
    }

    #[test]
    fn a_liar_is_outvoted_and_a_minority_never_wins() {
        // 4 members: 3 honest, 1 liar.
        assert!(matches!(tally(4, &[a(1), a(1), a(9), a(1)]), Verdict::Agreed(Agreed { votes: 3, dissent: 1, .. })));
        // 2 of 4 is not a strict majority, even if nobody disagrees.
        assert!(matches!(tally(4, &[a(1), a(1)]), Verdict::NoMajority { answered: 2, distinct: 1 }));
        // A split committee agrees on nothing.
        assert!(matches!(tally(4, &[a(1), a(1), a(2), a(2)]), Verdict::NoMajority { distinct: 2, .. }));
        // Agreement that the network does not have the name is an answer too.
        let v = tally(4, &[absent(), absent(), absent()]);
        assert!(matches!(v, Verdict::Agreed(Agreed { rrset: None, cname: None, .. })));
        // The height is not compared: a member one block ahead still agrees.
        let mut ahead = a(1);
        ahead.height = 4;
        assert!(matches!(tally(4, &[a(1), a(1), ahead]), Verdict::Agreed(Agreed { votes: 3, .. })));
    }

    #[test]
    fn waiting_stops_once_nothing_can_change() {
        assert!(undecided(4, &[a(1), a(1)], 2));
        assert!(!undecided(4, &[a(1), a(1), a(1)], 1));
        // 1-1-1 with one answer outstanding: nothing can reach 3.
        assert!(!undecided(4, &[a(1), a(2), a(3)], 1));
    }
}
