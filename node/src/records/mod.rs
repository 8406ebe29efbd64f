//! Network reads as the HTTP API reports them (`/records`, `/history`).
//! The reads themselves are the node core's (`dhtr_node_core::reads`).

use dhtr_ledger::RRset;
use dhtr_node_core::majority;
use dhtr_node_core::reads::ReadOutcome;

/// A history read as JSON for `/history` and `dhtr history`.
pub fn history_report(name: String, rtype: u16, read: ReadOutcome) -> dhtr_monitoring::HistoryReport {
    let (verdict, votes, entries) = match read.verdict {
        majority::Verdict::Agreed(a) => ("agreed", a.votes, a.history.unwrap_or_default()),
        majority::Verdict::NoMajority { .. } => ("no_majority", 0, Vec::new()),
    };
    let versions = entries
        .into_iter()
        .map(|e| {
            let rtype_name = hickory_proto::rr::RecordType::from(e.rtype).to_string();
            let (op, ttl, records) = match &e.rrset {
                Some(rr) => {
                    let records = dhtr_resolver::pipeline::convert::records_of(rr, rr.ttl)
                        .map(|rs| rs.iter().map(|r| r.data.to_string()).collect())
                        .unwrap_or_else(|_| rr.rdata.iter().map(hex::encode).collect());
                    ("put", rr.ttl, records)
                }
                None => ("delete", 0, Vec::new()),
            };
            dhtr_monitoring::VersionReport {
                height: e.height,
                time: e.time,
                view: e.view,
                op: op.into(),
                rtype: rtype_name,
                ttl,
                records,
                signers: e.signers.iter().map(crate::report::peer_label_bytes).collect(),
            }
        })
        .collect();
    dhtr_monitoring::HistoryReport {
        name,
        rtype,
        chunk: read.chunk.0,
        members: read.members,
        verdict: verdict.into(),
        votes,
        versions,
    }
}

/// A network read as JSON for `/records`.
pub fn report(name: String, rtype: u16, read: ReadOutcome) -> dhtr_monitoring::RecordsReport {
    let put = |rr: &RRset| crate::ledger::tx_report(&dhtr_ledger::Tx::Put(rr.clone()));
    let (verdict, votes, dissent, rrset, cname) = match &read.verdict {
        majority::Verdict::Agreed(a) => {
            ("agreed", a.votes, a.dissent, a.rrset.as_ref().map(put), a.cname.as_ref().map(put))
        }
        majority::Verdict::NoMajority { answered, .. } => ("no_majority", 0, *answered, None, None),
    };
    dhtr_monitoring::RecordsReport {
        name,
        rtype,
        chunk: read.chunk.0,
        members: read.members,
        verdict: verdict.into(),
        votes,
        dissent,
        rrset,
        cname,
    }
}
