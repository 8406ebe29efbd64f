//! Five real `dhtr` processes (with `--test-hooks`) commit records through
//! the per-chunk ledger over libp2p, and a committee follows the ring when
//! one of its members is killed.
//!
//! Node i (1..=5) runs on 127.0.0.(60+i), libp2p TCP port 4301, HTTP port
//! 9484. Records are submitted with `POST /test/submit` (the test validator
//! accepts exactly a name's deterministic test record). The test reads the
//! chains back through `GET /chain` on every committee member and checks
//! them as an outside auditor would: identical blocks everywhere, hash links,
//! and every certificate verified against the committee of its epoch.
//!
//! Times are printed, never asserted; every wait is bounded.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::str::FromStr as _;
use std::time::{Duration, Instant};

use common::{Cluster, Identity, Layout, NETWORK, wait_until};
use dhtr_ledger::{Certificate, Committee, Digest};
use dhtr_monitoring::{ChainReport, TxReport, get_chain, get_records, post_test_submit};
use dhtr_protocol::key::{NetworkParams, name_key};
use dhtr_protocol::{ChunkId, PeerRef};
use serde_bytes::ByteBuf;

const NODES: usize = 5;
/// Records submitted.
const NAMES: usize = 12;
/// Bound for records to be committed on every member.
const COMMIT_TIMEOUT: Duration = Duration::from_secs(90);
/// Bound for a committee to follow the ring after a crash (the ring check
/// runs every 30 s and acts on two agreeing looks).
const RECONFIGURE_TIMEOUT: Duration = Duration::from_secs(180);

#[test]
fn records_commit_on_every_member_and_committees_follow_the_ring() {
    let mut layout = Layout::new(60, 4301, 9484);
    layout.extra_args = vec!["--test-hooks".into()];
    let mut cluster = Cluster::new(NODES, layout);
    println!("test files in {}", cluster.root().display());
    let took = cluster.start_ring("5 nodes joining");
    println!("ring of {NODES} converged in {:.1} s", took.as_secs_f64());

    // Submit records through different nodes.
    let params = NetworkParams::default();
    let names: Vec<String> = (0..NAMES).map(|k| format!("rec{k}.ledger.test.")).collect();
    let submitted = Instant::now();
    let mut by_chunk: BTreeMap<u32, Vec<String>> = BTreeMap::new();
    for (k, name) in names.iter().enumerate() {
        let via = cluster.node(1 + k % NODES).http_addr();
        let report = wait_until(Instant::now() + Duration::from_secs(30), || {
            post_test_submit(&via, name).map_err(|e| e.to_string())
        })
        .unwrap_or_else(|e| panic!("submitting {name} through {via}: {e}"));
        let chunk = params.chunk_of(&name_key(name).unwrap()).0;
        assert_eq!(report.chunk, chunk, "the node computes the same chunk for {name}");
        by_chunk.entry(chunk).or_default().push(name.clone());
    }

    // Every member of each chunk's committee ends with the same chain
    // holding every record; the chain verifies as an audit trail.
    let deadline = Instant::now() + COMMIT_TIMEOUT;
    for (chunk, want) in &by_chunk {
        let ring = cluster.live_ring();
        let members = oracle_committee(&ring, &params, *chunk);
        let chain = wait_until(deadline, || {
            cluster.assert_alive();
            agreed_chain(&cluster, &members, *chunk, want)
        })
        .unwrap_or_else(|e| panic!("chunk {chunk}: records not committed on every member: {e}"));
        verify_audit_trail(&chain);
        println!("chunk {chunk}: {} records at height {} on all {} members", want.len(), chain.height, members.len());
    }
    println!(
        "{NAMES} records committed on every member {:.1} s after the first submission",
        submitted.elapsed().as_secs_f64()
    );

    // Any node reads a committed record from the network: a strict
    // majority of the committee returns the identical RRset.
    for (k, name) in names.iter().enumerate() {
        let via = cluster.node(1 + (k + 2) % NODES).http_addr();
        let read = get_records(&via, name, 16).unwrap_or_else(|e| panic!("network read of {name} via {via}: {e}"));
        assert_eq!(read.verdict, "agreed", "{name}: {read:?}");
        assert!(read.votes * 2 > read.members && read.members == 4, "{name}: {read:?}");
        match &read.rrset {
            Some(TxReport::Put { name: n, rtype: 16, .. }) => assert_eq!(n, name),
            other => panic!("{name}: the agreed RRset is the test record, got {other:?}"),
        }
    }
    let absent = get_records(&cluster.node(1).http_addr(), "never-submitted.ledger.test.", 16).unwrap();
    assert!(absent.rrset.is_none(), "a name nobody submitted is not in the network: {absent:?}");
    println!("network reads of {NAMES} records agreed by a strict majority through every node");

    // Kill a member of the first chunk's committee (not n1, our bootstrap):
    // the ring repairs, the committee commits a Reconfigure naming the
    // remaining node, which fetches and verifies the chain.
    let (&chunk, want) = by_chunk.iter().next().unwrap();
    let ring = cluster.live_ring();
    let members = oracle_committee(&ring, &params, chunk);
    let victim = cluster
        .nodes
        .iter()
        .find(|n| n.index != 1 && members.iter().any(|m| m.peer_id == n.identity.peer_id))
        .map(|n| n.index)
        .unwrap();
    let killed = Instant::now();
    cluster.kill(victim);
    cluster.wait_for_ring("repair after killing a committee member", killed);
    let ring = cluster.live_ring();
    let new_members = oracle_committee(&ring, &params, chunk);
    println!(
        "killed n{victim}; chunk {chunk} committee should become {}",
        cluster.labels(&new_members.iter().map(|m| m.peer_id.as_str()).collect::<Vec<_>>())
    );
    let chain = wait_until(Instant::now() + RECONFIGURE_TIMEOUT, || {
        cluster.assert_alive();
        let chain = agreed_chain(&cluster, &new_members, chunk, want)?;
        let committee: Vec<&str> = chain.committee.iter().map(String::as_str).collect();
        let wanted: Vec<&str> = new_members.iter().map(|m| m.peer_id.as_str()).collect();
        if committee != wanted {
            return Err(format!("committee at the tip is {}", cluster.labels(&committee)));
        }
        Ok(chain)
    })
    .unwrap_or_else(|e| panic!("chunk {chunk}: committee did not follow the ring: {e}"));
    verify_audit_trail(&chain);
    println!(
        "chunk {chunk}: committee reconfigured to epoch {} {:.1} s after the kill; the new member holds the same chain",
        chain.epoch,
        killed.elapsed().as_secs_f64()
    );

    // Metrics say what happened.
    let metrics = ureq::get(format!("http://{}/metrics", cluster.node(1).http_addr()))
        .call()
        .and_then(|mut r| r.body_mut().read_to_string())
        .unwrap();
    for series in ["dhtr_ledger_commits_total", "dhtr_ledger_messages_total"] {
        assert!(metrics.contains(series), "{series} missing from /metrics");
    }
}

/// The first n live nodes clockwise from the chunk's start.
fn oracle_committee(ring: &[Identity], params: &NetworkParams, chunk: u32) -> Vec<Identity> {
    let start = params.chunk_start(ChunkId(chunk));
    let first = ring.iter().position(|i| i.ring_id >= start).unwrap_or(0);
    (0..params.committee_size().min(ring.len())).map(|k| ring[(first + k) % ring.len()].clone()).collect()
}

/// Fetch the chain from every member: `Ok` if all hold the same blocks and
/// the chain contains every wanted record.
fn agreed_chain(cluster: &Cluster, members: &[Identity], chunk: u32, want: &[String]) -> Result<ChainReport, String> {
    let mut first: Option<ChainReport> = None;
    for m in members {
        let node = cluster.nodes.iter().find(|n| n.identity.peer_id == m.peer_id).unwrap();
        let chain = get_chain(&node.http_addr(), chunk, 0, 256).map_err(|e| format!("{}: {e}", node.label()))?;
        let names: Vec<&str> = chain
            .blocks
            .iter()
            .flat_map(|b| &b.txs)
            .filter_map(|t| match t {
                TxReport::Put { name, .. } => Some(name.as_str()),
                _ => None,
            })
            .collect();
        if let Some(missing) = want.iter().find(|w| !names.contains(&w.as_str())) {
            return Err(format!("{} (height {}) lacks {missing}", node.label(), chain.height));
        }
        match &first {
            None => first = Some(chain),
            Some(f) => {
                let hashes = |c: &ChainReport| c.blocks.iter().map(|b| b.hash.clone()).collect::<Vec<_>>();
                if hashes(f) != hashes(&chain) {
                    return Err(format!(
                        "{} holds a different chain (height {} vs {})",
                        node.label(),
                        chain.height,
                        f.height
                    ));
                }
            }
        }
    }
    first.ok_or_else(|| "no members".into())
}

fn peer(s: &str) -> PeerRef {
    PeerRef(dhtr_bootstrap::PeerId::from_str(s).unwrap().to_bytes())
}

fn digest(hex: &str) -> Digest {
    Digest(hex::decode(hex).unwrap().try_into().unwrap())
}

/// Check a chain as an auditor: hash links, and every certificate's 2f+1
/// signatures against the committee of the block's epoch (the genesis names
/// the first committee, each `reconfigure` the next).
fn verify_audit_trail(chain: &ChainReport) {
    let chunk = ChunkId(chain.chunk);
    let mut committee: Option<Committee> = None;
    let mut prev = Digest::default();
    for b in &chain.blocks {
        assert_eq!(digest(&b.prev), prev, "block {} links to the previous block", b.height);
        if let Some(c) = &committee {
            let cert = Certificate {
                chunk,
                height: b.height,
                view: b.certificate.view,
                block: digest(&b.hash),
                sigs: b
                    .certificate
                    .signatures
                    .iter()
                    .map(|s| (peer(&s.signer), ByteBuf::from(hex::decode(&s.signature).unwrap())))
                    .collect(),
            };
            assert_eq!(b.epoch, c.epoch, "block {} names the epoch of its committee", b.height);
            dhtr_ledger::verify::check_certificate(NETWORK, chunk, c, &cert)
                .unwrap_or_else(|r| panic!("block {}: certificate does not verify: {r:?}", b.height));
        }
        for t in &b.txs {
            if let TxReport::Reconfigure { committee: m } = t {
                let epoch = committee.as_ref().map_or(0, |c| c.epoch + 1);
                committee = Some(Committee { epoch, members: m.iter().map(|p| peer(p)).collect() });
            }
        }
        prev = digest(&b.hash);
    }
}
