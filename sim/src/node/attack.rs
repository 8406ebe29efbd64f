//! Adversaries of the whole-node simulation: strategies some nodes follow,
//! as the kit's [`Adversary`] hook on everything they send plus made-up
//! identities ("sybils") that answer network reads with forged records.
//!
//! - [`Attack::FakeSuccessors`]: a hop on lookup paths answers `Successors`
//!   with made-up identities that carry no proof of work, well formed (in
//!   ring order after the key it was asked for); a reader that believed it
//!   would ask them, and they agree on a forged record.
//! - [`Attack::SybilSuccessors`]: the same lie with identities that did
//!   their work (on four attacker /24s, wherever the work put them: no
//!   grinding), and they confirm it: each says the liar is its predecessor.
//! - [`Attack::AdaptiveSybils`]: the same lie, and the worked identities
//!   play along with whoever asks: each names the asker as its predecessor
//!   (so it seems to acknowledge a node that adopted it as successor),
//!   acknowledges pings and notifies, and answers lookups with the other
//!   identities.
//! - [`Attack::PlantChain`]: one key fabricates a chain (a genesis naming
//!   itself, a forged `Put`, a `Reconfigure` to the victim's committee) and
//!   sends it, with a vote, to every node.
//! - [`Attack::LieInReads`]: a member answers reads with falsified records.
//! - [`Attack::WithholdVotes`]: a member sends no ledger message at all.
//! - [`Attack::Equivocate`]: a member signs two versions of each proposal
//!   and vote (validly, with its own key): every other recipient gets a
//!   block hash of a block that does not exist.
//! - [`Attack::FloodSubmissions`]: a node sends the committees of the
//!   oracle's names a stream of forged `Put`s (and `Put`s for names nobody
//!   serves), which every honest member must validate by resolving.

use std::collections::{HashMap, HashSet};

use dhtr_ledger::msg::{Body, Message};
use dhtr_ledger::replica::genesis_block;
use dhtr_ledger::sign::{KeySigner, Signer};
use dhtr_ledger::types::vote_digest;
use dhtr_ledger::{Block, Certificate, Committee, Phase, RRset, Tx, Vote};
use dhtr_node_core::records::{MemberState, RecordsRequest, RecordsResponse};
use dhtr_protocol::admission::work_bits;
use dhtr_protocol::key::name_key;
use dhtr_protocol::{NetworkParams, NodeInfo, PeerRef, Prefix, Request, Response, Ticket, WireResponse};
use serde_bytes::ByteBuf;

use super::Msg;
use super::oracle::{Oracle, TTL};
use crate::kit::{Adversary, Envelope, Wire};

/// A node's strategy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Attack {
    /// Lie in lookup answers: made-up successors.
    FakeSuccessors,
    /// Lie in lookup answers with made-up successors that confirm the lie.
    SybilSuccessors,
    /// As [`Attack::SybilSuccessors`], with identities that name whoever
    /// asks as their predecessor.
    AdaptiveSybils,
    /// Plant a fabricated chain with one message.
    PlantChain,
    /// Lie in network reads.
    LieInReads,
    /// Withhold every ledger message (votes, proposals).
    WithholdVotes,
    /// Sign conflicting proposals and votes for different recipients.
    Equivocate,
    /// Flood committees with forged submissions.
    FloodSubmissions,
}

/// Made-up identities per fake-successors attacker.
const SYBILS: usize = 8;

/// Address prefixes the sybils of [`Attack::SybilSuccessors`] stand on.
const SYBIL_PREFIXES: u8 = 4;

/// The attackers of one run.
pub struct Attacker {
    attacks: Vec<(usize, Attack)>,
    sybils: Vec<NodeInfo>,
    sybil_peers: HashSet<PeerRef>,
    key: KeySigner,
    /// The keys of equivocating nodes (their own: their signatures verify).
    equivocators: HashMap<usize, KeySigner>,
    /// Messages an equivocator sent so far (which version goes where).
    sent: u64,
    /// The key of each lookup request the lookup liar was sent, by (asker,
    /// request id), to shape its lie.
    asked: HashMap<(usize, dhtr_protocol::RequestId), dhtr_protocol::RingId>,
}

/// Lookup requests remembered for the liar before the memory is cleared.
const MAX_ASKED: usize = 65_536;

/// A ticket for `peer` whose work falls short of the simulated network's.
fn unworked(peer: &PeerRef, prefix: Prefix) -> Ticket {
    let rules = super::sim_rules();
    let nonce = (0..).find(|&n| work_bits(&rules.network, peer, n) < u32::from(rules.difficulty)).unwrap_or(0);
    Ticket { nonce, prefix }
}

/// The rdata every forged answer carries (never served by the oracle).
pub fn forged_rdata() -> Vec<u8> {
    vec![203, 0, 113, 66]
}

fn forged(name: &str, unix: u64) -> RRset {
    RRset {
        name: name.to_string(),
        rtype: 1,
        class: 1,
        ttl: TTL,
        rdata: vec![ByteBuf::from(forged_rdata())],
        fetched_at: unix,
    }
}

impl Attack {
    fn lies_in_lookups(self) -> bool {
        matches!(self, Attack::FakeSuccessors | Attack::SybilSuccessors | Attack::AdaptiveSybils)
    }
}

impl Attacker {
    /// The strategies `attacks` (node index, strategy) of a run.
    pub fn new(attacks: &[(usize, Attack)], seed: u64, _nodes: &[NodeInfo]) -> Attacker {
        let fake = attacks.iter().any(|(_, a)| a.lies_in_lookups());
        let worked = attacks.iter().any(|(_, a)| matches!(a, Attack::SybilSuccessors | Attack::AdaptiveSybils));
        let sybils: Vec<NodeInfo> = if fake {
            (0..SYBILS)
                .map(|k| {
                    let secret = *blake3::hash(format!("sybil {k} of seed {seed}").as_bytes()).as_bytes();
                    let peer = KeySigner::from_secret(secret).peer().clone();
                    let prefix = Prefix::V4([66, 0, k as u8 % SYBIL_PREFIXES]);
                    let ticket = if worked { super::sim_ticket(&peer, prefix) } else { unworked(&peer, prefix) };
                    NodeInfo::new(peer, ticket, Vec::new())
                })
                .collect()
        } else {
            Vec::new()
        };
        let sybil_peers = sybils.iter().map(|s| s.peer.clone()).collect();
        let secret = *blake3::hash(format!("planter of seed {seed}").as_bytes()).as_bytes();
        let equivocators = attacks
            .iter()
            .filter(|(_, a)| *a == Attack::Equivocate)
            .map(|(i, _)| (*i, KeySigner::from_secret(super::node_secret(*i, seed))))
            .collect();
        Attacker {
            attacks: attacks.to_vec(),
            sybils,
            sybil_peers,
            key: KeySigner::from_secret(secret),
            equivocators,
            sent: 0,
            asked: HashMap::new(),
        }
    }

    /// Does node `i` follow any strategy?
    pub fn is_attacker(&self, i: usize) -> bool {
        self.attacks.iter().any(|(j, _)| *j == i)
    }

    fn has(&self, node: usize, attack: Attack) -> bool {
        self.attacks.contains(&(node, attack))
    }

    /// The made-up identities.
    pub fn sybils(&self) -> impl Iterator<Item = &PeerRef> {
        self.sybil_peers.iter()
    }

    /// The node that answers for the made-up identities.
    pub fn owner(&self) -> Option<usize> {
        self.attacks.iter().find(|(_, a)| a.lies_in_lookups()).map(|(i, _)| *i)
    }

    fn lies_in_lookups(&self, node: usize) -> bool {
        self.attacks.iter().any(|(i, a)| *i == node && a.lies_in_lookups())
    }

    /// A made-up identity's answer to a Chord request from `asker`, if they
    /// confirm lies: to `GetNeighbours`, the liar `owner` (adaptive: the
    /// asker) as its predecessor and the other made-up identities after it
    /// as its successors; adaptive ones also acknowledge pings and notifies
    /// and answer lookups with the other identities.
    pub fn chord_as_sybil(
        &self,
        peer: &PeerRef,
        request: &Request,
        owner: &NodeInfo,
        asker: &NodeInfo,
    ) -> Option<(Ticket, Response)> {
        let me = self.sybils.iter().find(|s| &s.peer == peer)?;
        let confirming = self.attacks.iter().any(|(_, a)| *a == Attack::SybilSuccessors);
        let adaptive = self.attacks.iter().any(|(_, a)| *a == Attack::AdaptiveSybils);
        let others = |from: &dhtr_protocol::RingId| {
            let mut l: Vec<NodeInfo> = self.sybils.iter().filter(|s| s.peer != me.peer).cloned().collect();
            l.sort_by_key(|s| from.distance_to(&s.id));
            l
        };
        let response = match request {
            Request::GetNeighbours if adaptive => {
                Response::Neighbours { predecessor: Some(asker.clone()), successors: others(&me.id) }
            }
            Request::GetNeighbours if confirming => {
                Response::Neighbours { predecessor: Some(owner.clone()), successors: others(&me.id) }
            }
            Request::Ping | Request::Notify if adaptive => Response::Ack,
            Request::FindSuccessor { key } if adaptive => Response::Successors { successors: others(key) },
            _ => return None,
        };
        Some((me.ticket, response))
    }

    /// Does node `i` lie in reads?
    pub fn lies_in_reads(&self, i: usize) -> bool {
        self.has(i, Attack::LieInReads)
    }

    /// A made-up identity's answer to a read: the forged record, fresh at `unix`.
    pub fn answer_as_sybil(&self, peer: &PeerRef, request: &RecordsRequest, unix: u64) -> Option<RecordsResponse> {
        if !self.sybil_peers.contains(peer) {
            return None;
        }
        let rrset = Some(forged(&request.name, unix));
        Some(RecordsResponse::State(MemberState { height: 1, rrset, cname: None, history: None }))
    }

    /// The nodes flooding submissions.
    pub fn flooders(&self) -> Vec<usize> {
        self.attacks.iter().filter(|(_, a)| *a == Attack::FloodSubmissions).map(|(i, _)| *i).collect()
    }

    /// One round of a flood: for every name, a forged `Put` (fresh at
    /// `unix`) and a `Put` for a name nobody serves, to each of `members`
    /// of its chunk (`committee(chunk)`: the ring's committee).
    pub fn flood(
        &self,
        from: usize,
        names: usize,
        unix: u64,
        params: &NetworkParams,
        committee: impl Fn(dhtr_protocol::ChunkId) -> Vec<usize>,
    ) -> Vec<Envelope<Msg>> {
        let mut out = Vec::new();
        for k in 0..names {
            for name in [Oracle::name(k), format!("nowhere{k}-{unix}.example.")] {
                let Ok(key) = name_key(&name) else { continue };
                let chunk = params.chunk_of(&key);
                let tx = Tx::Put(forged(&name, unix));
                for m in committee(chunk) {
                    out.push(Envelope::new(from, m, Msg::Ledger(Message { chunk, body: Body::Submit(tx.clone()) })));
                }
            }
        }
        out
    }

    /// An equivocator's second version of a proposal or vote: another
    /// block hash, validly signed with its key.
    fn equivocate(&mut self, env: &mut Envelope<Msg>) {
        let Some(key) = self.equivocators.get(&env.from) else { return };
        let Msg::Ledger(Message { chunk, body }) = &mut env.msg else { return };
        self.sent += 1;
        if self.sent.is_multiple_of(2) {
            return;
        }
        match body {
            Body::Proposal(p) => {
                p.block.time = p.block.time.wrapping_add(1);
                let d = vote_digest("sim", *chunk, p.view, p.block.height, Phase::PrePrepare, &p.block.hash());
                p.sig = ByteBuf::from(key.sign(&d));
            }
            Body::Vote(v) => {
                v.block = dhtr_ledger::Digest(*blake3::hash(&v.block.0).as_bytes());
                let d = vote_digest("sim", *chunk, v.view, v.height, v.phase, &v.block);
                v.sig = ByteBuf::from(key.sign(&d));
            }
            _ => {}
        }
    }

    /// The planted chains: for every name's chunk, a genesis naming the
    /// planter alone and a block with a forged `Put` and a `Reconfigure` to
    /// the victim and three others, certified by the planter; sent with a
    /// vote, one message each, to every victim.
    pub fn plant(&self, from: usize, victims: &[usize], names: usize, params: &NetworkParams) -> Vec<Envelope<Msg>> {
        let mut out = Vec::new();
        for k in 0..names {
            let name = Oracle::name(k);
            let Ok(key) = name_key(&name) else { continue };
            let chunk = params.chunk_of(&key);
            let committee = Committee { epoch: 0, members: vec![self.key.peer().clone()] };
            let genesis = genesis_block(chunk, &committee);
            let gcert = Certificate { chunk, height: 0, view: 0, block: genesis.hash(), sigs: Vec::new() };
            let block = Block {
                chunk,
                height: 1,
                prev: genesis.hash(),
                view: 0,
                proposer: self.key.peer().clone(),
                epoch: 0,
                committee: committee.digest(),
                time: super::UNIX_START,
                txs: vec![Tx::Put(forged(&name, super::UNIX_START)), Tx::Reconfigure { committee: Vec::new() }],
            };
            let d = vote_digest("sim", chunk, 0, 1, Phase::Commit, &block.hash());
            let sigs = vec![(self.key.peer().clone(), ByteBuf::from(self.key.sign(&d)))];
            let cert = Certificate { chunk, height: 1, view: 0, block: block.hash(), sigs };
            let vd = vote_digest("sim", chunk, 0, 2, Phase::Prepare, &block.hash());
            let vote = Vote {
                phase: Phase::Prepare,
                chunk,
                view: 0,
                height: 2,
                block: block.hash(),
                voter: self.key.peer().clone(),
                sig: ByteBuf::from(self.key.sign(&vd)),
            };
            for v in victims {
                let blocks = Body::Blocks(vec![(genesis.clone(), gcert.clone()), (block.clone(), cert.clone())]);
                out.push(Envelope::new(from, *v, Msg::Ledger(Message { chunk, body: blocks })));
                out.push(Envelope::new(from, *v, Msg::Ledger(Message { chunk, body: Body::Vote(vote.clone()) })));
            }
        }
        out
    }
}

impl Adversary<Msg> for Attacker {
    fn on_send(&mut self, mut env: Envelope<Msg>, wire: &mut Wire<'_, Msg>) {
        if self.has(env.from, Attack::WithholdVotes) && matches!(env.msg, Msg::Ledger(_)) {
            return;
        }
        self.equivocate(&mut env);
        if self.lies_in_lookups(env.to)
            && let Msg::ChordReq { id, request: Request::FindSuccessor { key }, .. } = &env.msg
        {
            if self.asked.len() >= MAX_ASKED {
                self.asked.clear();
            }
            self.asked.insert((env.from, *id), *key);
        }
        if self.lies_in_lookups(env.from)
            && let Msg::ChordResp { id, response: WireResponse { body: response, .. } } = &mut env.msg
            && matches!(response, Response::Successors { .. } | Response::Closer { .. })
            && let Some(key) = self.asked.remove(&(env.to, *id))
        {
            // Whatever the hop was asked, the lookup ends here, at made-up
            // identities in ring order after the key.
            let mut sybils = self.sybils.clone();
            sybils.sort_by_key(|s| key.distance_to(&s.id));
            *response = Response::Successors { successors: sybils };
        }
        wire.send(env);
    }
}
