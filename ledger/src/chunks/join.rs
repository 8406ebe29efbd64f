//! Joining a chunk's chain from the ring, never from a sender (seed 001
//! §4.3; issue 8, "planted chain").
//!
//! A node holds a chunk's chain only if its own ring view puts it in the
//! chunk's committee. A message about a chunk it holds no chain for is only
//! a *hint*: it makes the node look the committee up on the ring
//! ([`Output::CheckRing`]). If the view names this node, it asks every other
//! member of that view, and the next n successors after them (members a
//! join just displaced), for the chain from height 0 (a *probe*), and
//! adopts the longest prefix on which at least f+1 of them agree block for
//! block (f = ⌊(n−1)/3⌋ of the committee's n): with at most f faulty nodes
//! among them, at least one honest node vouches for it. The replica verifies
//! every certificate of that prefix against the committee of its epoch, and
//! the rest of the chain is then fetched from a vouching member, each block
//! certified by the committee the node now holds. Blocks nobody asked for,
//! or from anyone but the member asked, are dropped.
//!
//! What stays open until verified lookups (issue 9): a node whose *ring
//! view* is a lie (f+1 made-up members in it) can still be given a chain.

use std::collections::HashMap;
use std::time::Instant;

use dhtr_protocol::{ChunkId, PeerRef};

use super::ring::Check;
use super::{ChunkEvent, Chunks, Output};
use crate::msg::{Body, MAX_SYNC_BLOCKS, Message};
use crate::replica::{self, genesis_block};
use crate::store::Store;
use crate::types::{Block, Certificate, Committee, Digest, Tx};

/// A chain being fetched, after its first stretch was vouched for, from one
/// of the members that vouched for it.
pub(super) struct Join {
    pub(super) source: PeerRef,
    pub(super) started: Instant,
    pub(super) next: Instant,
}

/// Asking the members of our ring view for their chains: to join one f+1 of
/// them agree on, or to learn that none exists before starting one.
pub(super) struct Probe {
    /// The committee of our ring view (this node among them).
    pub(super) members: Vec<PeerRef>,
    /// Members not heard from yet.
    pub(super) unanswered: Vec<PeerRef>,
    /// What each member that answered holds from height 0 (possibly nothing).
    pub(super) answers: Vec<(PeerRef, Vec<(Block, Certificate)>)>,
    pub(super) deadline: Instant,
}

/// A chunk someone talked about that we hold no chain for.
pub(super) struct Hint {
    /// The first hint.
    pub(super) since: Instant,
    /// When to look at the ring again (`None`: a look or probe is under way).
    pub(super) next: Option<Instant>,
}

/// The prefix f+1 members agree on: the blocks, and who vouched for them.
pub(super) struct Vouched {
    pub(super) blocks: Vec<(Block, Certificate)>,
    /// The members whose answers hold exactly these blocks (and maybe more).
    by: Vec<PeerRef>,
    /// Whether a voucher's answer was cut at the sync limit (more may exist).
    truncated: bool,
}

impl Chunks {
    /// A message about a chunk this node holds no chain for (or a bare
    /// genesis others do not share): look at the ring, never at the sender.
    pub(super) fn hint(&mut self, now: Instant, chunk: ChunkId) {
        if self.hinted.contains_key(&chunk) || self.probes.contains_key(&chunk) || self.joins.contains_key(&chunk) {
            return;
        }
        if self.hinted.len() + self.probes.len() + self.joins.len() >= self.cfg.max_joins {
            return self.event(chunk, ChunkEvent::Unsolicited);
        }
        self.hinted.insert(chunk, Hint { since: now, next: None });
        self.out.push_back(Output::CheckRing { chunk });
    }

    /// A hint that led nowhere yet (the ring view does not name us, or no
    /// f+1 members agreed): look again after `recheck`, until `join_timeout`
    /// after the first hint. The ring may lag behind the members' news.
    pub(super) fn retry_hint(&mut self, now: Instant, chunk: ChunkId) {
        let Some(h) = self.hinted.get_mut(&chunk) else { return };
        if now.saturating_duration_since(h.since) >= self.cfg.join_timeout {
            self.hinted.remove(&chunk);
            return self.event(chunk, ChunkEvent::JoinFailed { reason: "the ring never named this node" });
        }
        h.next = Some(now + self.cfg.recheck);
    }

    /// Hints due for another look at the ring, and hints given up.
    pub(super) fn hint_timers(&mut self, now: Instant) {
        let timeout = self.cfg.join_timeout;
        self.hinted.retain(|_, h| now.saturating_duration_since(h.since) < timeout);
        let due: Vec<ChunkId> =
            self.hinted.iter().filter(|(_, h)| h.next.is_some_and(|t| t <= now)).map(|(c, _)| *c).collect();
        for chunk in due {
            if let Some(h) = self.hinted.get_mut(&chunk) {
                h.next = None;
            }
            self.out.push_back(Output::CheckRing { chunk });
        }
    }

    /// Ask the other members of our ring view for their chains.
    pub(super) fn start_probe<S: Store + ?Sized>(
        &mut self,
        now: Instant,
        chunk: ChunkId,
        members: Vec<PeerRef>,
        more: Vec<PeerRef>,
        store: &mut S,
    ) {
        let me = self.me().clone();
        let mut unanswered: Vec<PeerRef> = Vec::new();
        for m in members.iter().chain(more.iter()) {
            if *m != me && !unanswered.contains(m) {
                unanswered.push(m.clone());
            }
        }
        for m in &unanswered {
            self.out
                .push_back(Output::Send { to: m.clone(), msg: Message { chunk, body: Body::GetBlocks { from: 0 } } });
        }
        let deadline = now + self.cfg.probe_wait;
        let alone = unanswered.is_empty();
        self.probes.insert(chunk, Probe { members, unanswered, answers: Vec::new(), deadline });
        if alone {
            self.decide_probe(now, chunk, true, store);
        }
    }

    /// A probed member's chain (only the first answer of each probed member
    /// counts; anything else is dropped).
    pub(super) fn on_probe_answer<S: Store + ?Sized>(
        &mut self,
        now: Instant,
        chunk: ChunkId,
        from: PeerRef,
        mut list: Vec<(Block, Certificate)>,
        store: &mut S,
    ) {
        let Some(p) = self.probes.get_mut(&chunk) else { return };
        if !p.unanswered.contains(&from) {
            return self.event(chunk, ChunkEvent::Unsolicited);
        }
        p.unanswered.retain(|m| *m != from);
        list.truncate(MAX_SYNC_BLOCKS);
        p.answers.push((from, list));
        let all = p.unanswered.is_empty();
        self.decide_probe(now, chunk, all, store);
    }

    /// Act on a probe once its outcome is known: adopt a vouched chain with a
    /// decided block as soon as f+1 agree; at the end (`last`: everyone
    /// answered or the wait is over) start a chain for waiting transactions
    /// when there is none to adopt, or look at the ring again later.
    pub(super) fn decide_probe<S: Store + ?Sized>(&mut self, now: Instant, chunk: ChunkId, last: bool, store: &mut S) {
        let Some(p) = self.probes.get(&chunk) else { return };
        if self.replicas.get(&chunk).is_some_and(|r| r.committed_height() > 0) {
            // We hold a decided chain and someone another: count them all.
            if last {
                self.decide_fork(now, chunk, store);
            }
            return;
        }
        let need = p.members.len().saturating_sub(1) / 3 + 1;
        // Only a chain on which something was decided is adopted: a bare
        // genesis is one node's ring view, no better than ours.
        let vouched = vouched_prefix(&p.answers, need).filter(|v| v.blocks.len() > 1);
        if vouched.is_none() && !last {
            return;
        }
        let Some(p) = self.probes.remove(&chunk) else { return };
        // Someone holds a chain on which something was decided, but fewer
        // than f+1 vouch for it: starting a second chain could fork the
        // chunk (its committee may simply not have handed over yet), so
        // wait and look again. (One identity can delay a new chunk's first
        // chain this way; it cannot plant one.)
        let decided_elsewhere = p.answers.iter().any(|(_, l)| l.len() > 1);
        match vouched {
            Some(v) => {
                self.hinted.remove(&chunk);
                self.adopt(now, chunk, v, store)
            }
            None if self.waiting.contains_key(&chunk) && !decided_elsewhere => {
                // Nobody f+1 agree with holds a chain: start one (members
                // that formed another make this one bare and replace it).
                self.hinted.remove(&chunk);
                self.create(now, chunk, p.members, store);
            }
            None => {
                if decided_elsewhere {
                    self.event(chunk, ChunkEvent::JoinFailed { reason: "no f+1 members agree on a chain" });
                }
                if self.waiting.contains_key(&chunk) {
                    // Transactions wait for this chunk: keep looking.
                    self.hinted.entry(chunk).or_insert(Hint { since: now, next: None });
                }
                self.retry_hint(now, chunk);
            }
        }
    }

    /// Take a vouched prefix: open (or replace a bare genesis with) its
    /// genesis, let the replica verify its certificates, then fetch the rest
    /// from a voucher.
    pub(super) fn adopt<S: Store + ?Sized>(&mut self, now: Instant, chunk: ChunkId, v: Vouched, store: &mut S) {
        let Some((genesis, cert)) = v.blocks.first() else { return };
        let Some(committee) = genesis_committee(genesis, cert) else {
            return self.event(chunk, ChunkEvent::JoinFailed { reason: "not a genesis block" });
        };
        let mut carried = Vec::new();
        if let Some(ours) = self.genesis_hash(chunk)
            && ours != genesis.hash()
        {
            // Our bare genesis gives way to a chain f+1 vouch for on which
            // something was decided — unless we signed a commit on ours: the
            // others may have decided height 1 with that vote, and a node in
            // two decided chains of one chunk could let both gather quorums.
            if self.replicas.get(&chunk).is_some_and(|r| r.signed_commit(1)) {
                return self.event(chunk, ChunkEvent::JoinFailed { reason: "signed a commit on our own genesis" });
            }
            if let Err(e) = store.discard_genesis(chunk) {
                return self.event(chunk, ChunkEvent::Replica(replica::Event::Halted { error: e.to_string() }));
            }
            carried = self.replicas.remove(&chunk).map(|r| r.pending_txs()).unwrap_or_default();
            self.event(chunk, ChunkEvent::GenesisReplaced);
        }
        if !self.wake(chunk, store) && !self.open(chunk, Some(committee), store) {
            return;
        }
        let Some(source) = v.by.first().cloned() else { return };
        self.event(chunk, ChunkEvent::JoinStarted { from: source.clone() });
        // Every voucher holds these blocks; each assembled its own
        // certificates, so take them from the next voucher if one's fail.
        let target = (v.blocks.len() - 1) as u64;
        let tail: Vec<(Block, Certificate)> = v.blocks[1..].to_vec();
        if !tail.is_empty() {
            self.feed(now, chunk, replica::Input::Message { from: source.clone(), body: Body::Blocks(tail) }, store);
        }
        self.resubmit(now, chunk, carried, store);
        let Some(r) = self.replicas.get(&chunk) else { return };
        let (member, height) = (r.committee().contains(self.me()), r.committed_height());
        if height < target {
            return self.event(chunk, ChunkEvent::JoinFailed { reason: "vouched blocks did not verify" });
        }
        self.release_waiting(now, chunk, store);
        if v.truncated || !member {
            // More may follow (a longer chain, or a committee change that
            // names us further on): fetch it, certified block by block.
            self.joins.insert(chunk, Join { source: source.clone(), started: now, next: now + self.cfg.join_retry });
            let msg = Message { chunk, body: Body::GetBlocks { from: height + 1 } };
            self.out.push_back(Output::Send { to: source, msg });
        }
        if member {
            self.joined(now, chunk, height);
        }
    }

    /// This node is a member of the chain it holds now.
    fn joined(&mut self, now: Instant, chunk: ChunkId, height: u64) {
        self.joins.remove(&chunk);
        self.leaving.remove(&chunk);
        self.event(chunk, ChunkEvent::Joined { height });
        self.checks.entry(chunk).or_insert(Check { next: now + self.cfg.recheck, candidate: None });
    }

    /// The next stretch of a chain being fetched, from the member asked:
    /// the replica verifies every certificate against its committee.
    pub(super) fn on_join_blocks<S: Store + ?Sized>(
        &mut self,
        now: Instant,
        chunk: ChunkId,
        from: PeerRef,
        list: Vec<(Block, Certificate)>,
        store: &mut S,
    ) {
        if !self.replicas.contains_key(&chunk) {
            self.joins.remove(&chunk);
            return;
        }
        let got = list.len();
        self.feed(now, chunk, replica::Input::Message { from, body: Body::Blocks(list) }, store);
        let Some(r) = self.replicas.get(&chunk) else { return };
        let (member, height) = (r.committee().contains(self.me()), r.committed_height());
        self.release_waiting(now, chunk, store);
        if member && got < MAX_SYNC_BLOCKS {
            self.joined(now, chunk, height);
        } else if let Some(j) = self.joins.get_mut(&chunk) {
            if got == 0 {
                // The source has nothing further and the chain does not name
                // us: we are not (yet) a member; stop.
                self.joins.remove(&chunk);
                self.note_membership(now, chunk);
                return self.event(chunk, ChunkEvent::JoinFailed { reason: "chain does not name this node" });
            }
            j.next = now + self.cfg.join_retry;
            let msg = Message { chunk, body: Body::GetBlocks { from: height + 1 } };
            self.out.push_back(Output::Send { to: j.source.clone(), msg });
        }
    }

    pub(super) fn genesis_hash(&self, chunk: ChunkId) -> Option<Digest> {
        let r = self.replicas.get(&chunk)?;
        (r.committed_height() == 0).then(|| genesis_block(chunk, r.committee()).hash())
    }
}

/// The longest prefix from height 0 that at least `need` answers hold block
/// for block (equal hashes), if any. Answers not starting at height 0 or
/// not hash-linked are ignored where they break.
pub(super) fn vouched_prefix(answers: &[(PeerRef, Vec<(Block, Certificate)>)], need: usize) -> Option<Vouched> {
    let linked = |list: &[(Block, Certificate)], h: usize| -> Option<Digest> {
        let (b, _) = list.get(h)?;
        let ok = b.height == h as u64 && (h == 0 || list.get(h - 1).is_some_and(|(p, _)| p.hash() == b.prev));
        ok.then(|| b.hash())
    };
    let mut group: Vec<usize> = (0..answers.len()).collect();
    let mut len = 0;
    loop {
        let mut counts: HashMap<Digest, Vec<usize>> = HashMap::new();
        for &i in &group {
            if let Some(h) = linked(&answers[i].1, len) {
                counts.entry(h).or_default().push(i);
            }
        }
        // At most one hash can have `need` ≥ f+1 members among honest
        // chains; ties among made-up ones are broken by size, then hash.
        let best = counts.into_iter().filter(|(_, v)| v.len() >= need).max_by_key(|(h, v)| (v.len(), *h));
        match best {
            Some((_, members)) => {
                group = members;
                len += 1;
            }
            None => break,
        }
    }
    let first = *group.first()?;
    if len == 0 {
        return None;
    }
    Some(Vouched {
        blocks: answers[first].1[..len].to_vec(),
        by: group.iter().map(|&i| answers[i].0.clone()).collect(),
        truncated: group.iter().any(|&i| answers[i].1.len() >= MAX_SYNC_BLOCKS),
    })
}

/// The first committee of a genesis block, if the block is exactly the
/// deterministic genesis of that committee (with its empty certificate).
fn genesis_committee(block: &Block, cert: &Certificate) -> Option<Committee> {
    let members = match block.txs.as_slice() {
        [Tx::Reconfigure { committee }] => committee.clone(),
        _ => return None,
    };
    let committee = Committee { epoch: 0, members };
    let ok = block.height == 0
        && *block == genesis_block(block.chunk, &committee)
        && cert.block == block.hash()
        && cert.height == 0;
    ok.then_some(committee)
}
