//! The DNS oracle that stands in for the authoritative servers: `names`
//! A records whose rdata changes at scheduled times, and authorities that can
//! be unreachable for a while. It answers the nodes' resolutions (validation,
//! refresh, client fallbacks) and judges what clients were told.

use std::time::Duration;

use dhtr_ledger::RRset;
use serde_bytes::ByteBuf;

/// TTL of every oracle record (above the default TTL floor of 30 s).
pub const TTL: u32 = 60;

/// The authorities of a simulated run.
#[derive(Clone, Debug)]
pub struct Oracle {
    names: usize,
    /// (time, name index): the record of that name changes at that time.
    changes: Vec<(Duration, usize)>,
    /// When the authorities cannot be reached.
    down: Option<(Duration, Duration)>,
}

impl Oracle {
    /// `names` names; `changes` scheduled rdata changes; authorities down in `down`.
    pub fn new(names: usize, mut changes: Vec<(Duration, usize)>, down: Option<(Duration, Duration)>) -> Oracle {
        changes.sort();
        Oracle { names, changes, down }
    }

    /// How many names there are.
    pub fn names(&self) -> usize {
        self.names
    }

    /// The canonical owner name of name `k`.
    pub fn name(k: usize) -> String {
        format!("n{k}.sim.test.")
    }

    /// Which name an owner is, if it is one of ours.
    pub fn index_of(name: &str) -> Option<usize> {
        name.strip_prefix('n')?.strip_suffix(".sim.test.")?.parse().ok()
    }

    /// Can the authorities be reached at `t`?
    pub fn up(&self, t: Duration) -> bool {
        self.down.is_none_or(|(from, to)| t < from || t >= to)
    }

    /// The version of name `k` the authorities serve at `t`.
    pub fn version_at(&self, k: usize, t: Duration) -> u32 {
        self.changes.iter().filter(|(at, n)| *n == k && *at <= t).count() as u32
    }

    /// When version `v` of name `k` stopped being served (`None`: it still is).
    pub fn version_end(&self, k: usize, v: u32) -> Option<Duration> {
        self.changes.iter().filter(|(_, n)| *n == k).nth(v as usize).map(|(at, _)| *at)
    }

    /// The rdata of version `v` of name `k`.
    pub fn rdata(k: usize, v: u32) -> Vec<u8> {
        vec![10, (k >> 8) as u8, k as u8, v as u8]
    }

    /// The RRset of name `k` the authorities serve at `t`, stamped `fetched_at`.
    pub fn rrset(&self, k: usize, t: Duration, fetched_at: u64) -> RRset {
        let v = self.version_at(k, t);
        RRset {
            name: Oracle::name(k),
            rtype: 1,
            class: 1,
            ttl: TTL,
            rdata: vec![ByteBuf::from(Oracle::rdata(k, v))],
            fetched_at,
        }
        .canonical()
    }

    /// Which version of name `k` an rdata set is, if the authorities ever
    /// served it (up to `t`).
    pub fn version_of(&self, k: usize, rdata: &[ByteBuf], t: Duration) -> Option<u32> {
        let latest = self.version_at(k, t);
        (0..=latest).find(|v| rdata.len() == 1 && rdata[0].as_ref() == Oracle::rdata(k, *v).as_slice())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_follow_the_schedule() {
        let s = Duration::from_secs;
        let o = Oracle::new(3, vec![(s(50), 1), (s(10), 1)], Some((s(20), s(30))));
        assert_eq!(o.version_at(1, s(5)), 0);
        assert_eq!(o.version_at(1, s(10)), 1);
        assert_eq!(o.version_at(1, s(60)), 2);
        assert_eq!(o.version_at(0, s(60)), 0);
        assert_eq!(o.version_end(1, 0), Some(s(10)));
        assert_eq!(o.version_end(1, 2), None);
        assert!(o.up(s(19)) && !o.up(s(20)) && o.up(s(30)));
        let rr = o.rrset(1, s(60), 7);
        assert_eq!(o.version_of(1, &rr.rdata, s(60)), Some(2));
        assert_eq!(o.version_of(1, &rr.rdata, s(40)), None, "not served yet at 40 s");
        assert_eq!(Oracle::index_of(&Oracle::name(42)), Some(42));
    }
}
