//! Checks of signed messages against a committee. Each returns the reason a
//! message is refused, so the caller can count it.

use std::collections::HashSet;

use dhtr_protocol::ChunkId;

use crate::msg::{Prepared, Proposal, ViewChange};
use crate::sign::verify;
use crate::types::{Certificate, Committee, Phase, Vote, vote_digest};

/// Why a message was refused (the label of the rejected-votes metric).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Reject {
    /// The signature does not verify.
    BadSignature,
    /// The signer is not in the chunk's committee.
    NotMember,
    /// For a view or height already left behind.
    Stale,
    /// Seen before.
    Duplicate,
    /// For another chunk than the one it was sent for.
    WrongChunk,
    /// Proposed by someone who is not the primary of its view.
    WrongProposer,
    /// A block that does not extend the chain or names the wrong committee.
    BadBlock,
    /// A prepared or commit certificate, or a view change set, that does not verify.
    BadCertificate,
    /// Conflicts with an earlier signed message of the same member.
    Equivocation,
    /// The local validator refused the block's transactions.
    Invalid,
}

impl Reject {
    /// A short name for metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Reject::BadSignature => "bad_signature",
            Reject::NotMember => "not_member",
            Reject::Stale => "stale",
            Reject::Duplicate => "duplicate",
            Reject::WrongChunk => "wrong_chunk",
            Reject::WrongProposer => "wrong_proposer",
            Reject::BadBlock => "bad_block",
            Reject::BadCertificate => "bad_certificate",
            Reject::Equivocation => "equivocation",
            Reject::Invalid => "invalid",
        }
    }
}

/// A vote of a committee member with a valid signature.
pub fn check_vote(network: &str, chunk: ChunkId, committee: &Committee, v: &Vote) -> Result<(), Reject> {
    if v.chunk != chunk {
        return Err(Reject::WrongChunk);
    }
    if !committee.contains(&v.voter) {
        return Err(Reject::NotMember);
    }
    let d = vote_digest(network, chunk, v.view, v.height, v.phase, &v.block);
    if !verify(&v.voter, &d, &v.sig) {
        return Err(Reject::BadSignature);
    }
    Ok(())
}

/// A proposal signed by the primary of its view.
pub fn check_proposal(network: &str, chunk: ChunkId, committee: &Committee, p: &Proposal) -> Result<(), Reject> {
    if p.block.chunk != chunk {
        return Err(Reject::WrongChunk);
    }
    if committee.primary(p.view) != Some(&p.proposer) {
        return Err(Reject::WrongProposer);
    }
    if p.block.view > p.view || (p.block.view == p.view && p.block.proposer != p.proposer) {
        return Err(Reject::BadBlock);
    }
    let d = vote_digest(network, chunk, p.view, p.block.height, Phase::PrePrepare, &p.block.hash());
    if !verify(&p.proposer, &d, &p.sig) {
        return Err(Reject::BadSignature);
    }
    Ok(())
}

/// `quorum` valid votes of distinct members, all of one phase, view,
/// height and block.
fn check_quorum<'a>(
    network: &str,
    chunk: ChunkId,
    committee: &Committee,
    votes: impl Iterator<Item = &'a Vote>,
    want: (Phase, u64, u64, crate::types::Digest),
) -> Result<(), Reject> {
    let mut seen = HashSet::new();
    for v in votes {
        if (v.phase, v.view, v.height, v.block) != want {
            return Err(Reject::BadCertificate);
        }
        check_vote(network, chunk, committee, v).map_err(|_| Reject::BadCertificate)?;
        seen.insert(&v.voter);
    }
    if seen.len() < committee.quorum() {
        return Err(Reject::BadCertificate);
    }
    Ok(())
}

/// A prepared certificate for the block at `height` (PBFT's P set).
pub fn check_prepared(network: &str, chunk: ChunkId, committee: &Committee, p: &Prepared) -> Result<(), Reject> {
    let want = (Phase::Prepare, p.view, p.block.height, p.block.hash());
    check_quorum(network, chunk, committee, p.votes.iter(), want)
}

/// A commit certificate for `block_hash` at `height`.
pub fn check_certificate(network: &str, chunk: ChunkId, committee: &Committee, c: &Certificate) -> Result<(), Reject> {
    if c.chunk != chunk {
        return Err(Reject::WrongChunk);
    }
    let votes: Vec<Vote> = c
        .sigs
        .iter()
        .map(|(voter, sig)| Vote {
            phase: Phase::Commit,
            chunk,
            view: c.view,
            height: c.height,
            block: c.block,
            voter: voter.clone(),
            sig: sig.clone(),
        })
        .collect();
    check_quorum(network, chunk, committee, votes.iter(), (Phase::Commit, c.view, c.height, c.block))
}

/// A view change by a member, with a valid prepared certificate if any.
pub fn check_view_change(network: &str, chunk: ChunkId, committee: &Committee, vc: &ViewChange) -> Result<(), Reject> {
    if !committee.contains(&vc.sender) {
        return Err(Reject::NotMember);
    }
    if !verify(&vc.sender, &vc.digest(network, chunk), &vc.sig) {
        return Err(Reject::BadSignature);
    }
    if let Some(p) = &vc.prepared {
        if p.view >= vc.new_view || p.block.height != vc.height || p.block.prev != vc.last {
            return Err(Reject::BadCertificate);
        }
        check_prepared(network, chunk, committee, p)?;
    }
    Ok(())
}
