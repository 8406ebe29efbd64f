//! Network reads (seed 001 §4.2): a node asks every distinct member of a
//! chunk's committee for its committed state of one (name, type) and
//! accepts a state only when more than half of the committee returned it
//! identically ([`crate::majority`]); its own state counts as one vote when
//! it is a member. A read ends as soon as no outstanding answer can change
//! its outcome.

use std::collections::HashMap;

use dhtr_protocol::{ChunkId, NodeInfo, PeerRef};

use crate::majority::{self, Verdict};
use crate::records::{MemberState, RecordsRequest, RecordsResponse};

/// What a network read found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReadOutcome {
    /// The committee's verdict.
    pub verdict: Verdict,
    /// The committee's size (the majority is of this many).
    pub members: usize,
    /// The chunk read.
    pub chunk: ChunkId,
}

/// Why a network read could not be made.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ReadError {
    /// The name cannot be a key.
    #[error("invalid name: {0}")]
    Name(String),
    /// The committee could not be found.
    #[error("lookup of the chunk's committee failed: {0}")]
    Lookup(String),
    /// Too many reads are in flight.
    #[error("too many network reads in flight")]
    Overloaded,
}

/// One records request sent to one member.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RequestId(pub u64);

/// A request for the environment to send.
#[derive(Clone, Debug)]
pub struct Send {
    /// Its id, for the answer or failure.
    pub id: RequestId,
    /// The member.
    pub to: NodeInfo,
    /// The request.
    pub request: RecordsRequest,
}

struct PendingRead<T> {
    token: T,
    request: RecordsRequest,
    size: usize,
    states: Vec<MemberState>,
    outstanding: usize,
}

/// Most reads in flight at once; more are refused (a flood of misses
/// costs its sender, not the node's memory).
pub const MAX_READS: usize = 4096;

/// The reads in flight, each answered to its caller's token `T`.
pub struct Reads<T> {
    reads: HashMap<u64, PendingRead<T>>,
    requests: HashMap<RequestId, u64>,
    next_read: u64,
    next_request: u64,
}

impl<T> Default for Reads<T> {
    fn default() -> Self {
        Reads { reads: HashMap::new(), requests: HashMap::new(), next_read: 0, next_request: 0 }
    }
}

impl<T> Reads<T> {
    /// Reads in flight.
    pub fn len(&self) -> usize {
        self.reads.len()
    }

    /// No read in flight?
    pub fn is_empty(&self) -> bool {
        self.reads.is_empty()
    }

    /// Start a read of `request` from `members` (a committee of `size`):
    /// requests to send go to `sends`; `own` is this node's own state when
    /// it is a member; `skip` members are not asked (banned peers). Returns
    /// the outcome at once if nothing needs asking.
    #[allow(clippy::too_many_arguments)]
    pub fn start(
        &mut self,
        token: T,
        request: RecordsRequest,
        members: &[NodeInfo],
        size: usize,
        me: &PeerRef,
        own: Option<MemberState>,
        skip: impl Fn(&PeerRef) -> bool,
        sends: &mut Vec<Send>,
    ) -> Option<(T, ReadOutcome)> {
        let read = self.next_read;
        self.next_read += 1;
        let mut pending = PendingRead { token, request, size, states: Vec::new(), outstanding: 0 };
        let mut asked: Vec<&PeerRef> = Vec::new();
        for m in members {
            // A list naming one peer several times counts it once.
            if asked.contains(&&m.peer) {
                continue;
            }
            asked.push(&m.peer);
            if m.peer == *me {
                pending.states.extend(own.clone());
                continue;
            }
            if skip(&m.peer) {
                continue;
            }
            let id = RequestId(self.next_request);
            self.next_request += 1;
            self.requests.insert(id, read);
            pending.outstanding += 1;
            sends.push(Send { id, to: m.clone(), request: pending.request.clone() });
        }
        self.reads.insert(read, pending);
        self.finish_if_decided(read)
    }

    /// A member's answer, or `None` when the request failed.
    pub fn on_response(&mut self, id: RequestId, response: Option<RecordsResponse>) -> Option<(T, ReadOutcome)> {
        let read = self.requests.remove(&id)?;
        let p = self.reads.get_mut(&read)?;
        p.outstanding = p.outstanding.saturating_sub(1);
        if let Some(RecordsResponse::State(s)) = response {
            p.states.push(s);
        }
        self.finish_if_decided(read)
    }

    fn finish_if_decided(&mut self, read: u64) -> Option<(T, ReadOutcome)> {
        let p = self.reads.get(&read)?;
        if p.outstanding > 0 && majority::undecided(p.size, &p.states, p.outstanding) {
            return None;
        }
        let p = self.reads.remove(&read)?;
        // Answers still on their way are ignored when they arrive.
        self.requests.retain(|_, r| *r != read);
        let verdict = majority::tally(p.size, &p.states);
        Some((p.token, ReadOutcome { verdict, members: p.size, chunk: p.request.chunk }))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use dhtr_ledger::RRset;
    use serde_bytes::ByteBuf;

    fn node(i: u8) -> NodeInfo {
        NodeInfo::new(PeerRef(vec![i]), dhtr_protocol::Ticket::placeholder(), Vec::new())
    }

    fn state(ip: u8) -> MemberState {
        let rr = RRset {
            name: "a.example.".into(),
            rtype: 1,
            class: 1,
            ttl: 60,
            rdata: vec![ByteBuf::from(vec![192, 0, 2, ip])],
            fetched_at: 1,
        };
        MemberState { height: 1, rrset: Some(rr), cname: None, history: None }
    }

    fn request() -> RecordsRequest {
        RecordsRequest { chunk: ChunkId(1), name: "a.example.".into(), rtype: 1, history: false, cert: None }
    }

    #[test]
    fn a_read_counts_each_member_once_and_ends_when_nothing_can_change() {
        let mut reads: Reads<&str> = Reads::default();
        let mut sends = Vec::new();
        let members = [node(1), node(2), node(2), node(3), node(4)];
        let me = PeerRef(vec![1]);
        let r = reads.start("t", request(), &members, 4, &me, Some(state(7)), |_| false, &mut sends);
        assert!(r.is_none());
        assert_eq!(sends.len(), 3, "each other member asked once: {sends:?}");
        assert!(reads.on_response(sends[0].id, Some(RecordsResponse::State(state(7)))).is_none());
        let (token, outcome) = reads.on_response(sends[1].id, Some(RecordsResponse::State(state(7)))).unwrap();
        assert_eq!(token, "t");
        assert!(matches!(outcome.verdict, Verdict::Agreed(ref a) if a.votes == 3));
        // The last answer arrives after the read ended: ignored.
        assert!(reads.on_response(sends[2].id, Some(RecordsResponse::State(state(9)))).is_none());
        assert!(reads.is_empty());
    }

    #[test]
    fn failures_and_not_held_count_against_every_answer() {
        let mut reads: Reads<u8> = Reads::default();
        let mut sends = Vec::new();
        let members = [node(2), node(3), node(4), node(5)];
        reads.start(0, request(), &members, 4, &PeerRef(vec![1]), None, |_| false, &mut sends);
        assert_eq!(sends.len(), 4);
        assert!(reads.on_response(sends[0].id, Some(RecordsResponse::State(state(7)))).is_none());
        assert!(reads.on_response(sends[1].id, Some(RecordsResponse::NotHeld)).is_none());
        // One state, one member without a chain, one failure: the last
        // answer could not make a majority of 4, so the read ends now.
        let (_, outcome) = reads.on_response(sends[2].id, None).unwrap();
        assert!(matches!(outcome.verdict, Verdict::NoMajority { answered: 1, .. }));
        // A banned member is not asked at all.
        let mut sends = Vec::new();
        reads.start(1, request(), &members, 4, &PeerRef(vec![1]), None, |p| p.0 == [5], &mut sends);
        assert_eq!(sends.len(), 3);
    }
}
