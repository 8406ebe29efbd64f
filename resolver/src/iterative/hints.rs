//! Root hints: the IANA root servers built in, or a hints file (`--root-hints FILE`).
//!
//! RFC 8109 (priming) says a resolver starts from a configured list of root
//! server addresses; we use the list as given and do not prime (the roots'
//! NS set changes about once a decade, and a stale address just fails over).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};

/// The IANA root servers (named.root of 2023-11, after b.root's renumbering):
/// name, IPv4 address, IPv6 address.
const IANA_ROOTS: [(&str, Ipv4Addr, Ipv6Addr); 13] = [
    ("a.root-servers.net.", Ipv4Addr::new(198, 41, 0, 4), Ipv6Addr::new(0x2001, 0x503, 0xba3e, 0, 0, 0, 0x2, 0x30)),
    ("b.root-servers.net.", Ipv4Addr::new(170, 247, 170, 2), Ipv6Addr::new(0x2801, 0x1b8, 0x10, 0, 0, 0, 0, 0xb)),
    ("c.root-servers.net.", Ipv4Addr::new(192, 33, 4, 12), Ipv6Addr::new(0x2001, 0x500, 0x2, 0, 0, 0, 0, 0xc)),
    ("d.root-servers.net.", Ipv4Addr::new(199, 7, 91, 13), Ipv6Addr::new(0x2001, 0x500, 0x2d, 0, 0, 0, 0, 0xd)),
    ("e.root-servers.net.", Ipv4Addr::new(192, 203, 230, 10), Ipv6Addr::new(0x2001, 0x500, 0xa8, 0, 0, 0, 0, 0xe)),
    ("f.root-servers.net.", Ipv4Addr::new(192, 5, 5, 241), Ipv6Addr::new(0x2001, 0x500, 0x2f, 0, 0, 0, 0, 0xf)),
    ("g.root-servers.net.", Ipv4Addr::new(192, 112, 36, 4), Ipv6Addr::new(0x2001, 0x500, 0x12, 0, 0, 0, 0, 0xd0d)),
    ("h.root-servers.net.", Ipv4Addr::new(198, 97, 190, 53), Ipv6Addr::new(0x2001, 0x500, 0x1, 0, 0, 0, 0, 0x53)),
    ("i.root-servers.net.", Ipv4Addr::new(192, 36, 148, 17), Ipv6Addr::new(0x2001, 0x7fe, 0, 0, 0, 0, 0, 0x53)),
    ("j.root-servers.net.", Ipv4Addr::new(192, 58, 128, 30), Ipv6Addr::new(0x2001, 0x503, 0xc27, 0, 0, 0, 0x2, 0x30)),
    ("k.root-servers.net.", Ipv4Addr::new(193, 0, 14, 129), Ipv6Addr::new(0x2001, 0x7fd, 0, 0, 0, 0, 0, 0x1)),
    ("l.root-servers.net.", Ipv4Addr::new(199, 7, 83, 42), Ipv6Addr::new(0x2001, 0x500, 0x9f, 0, 0, 0, 0, 0x42)),
    ("m.root-servers.net.", Ipv4Addr::new(202, 12, 27, 33), Ipv6Addr::new(0x2001, 0xdc3, 0, 0, 0, 0, 0, 0x35)),
];

/// The default DNS port (RFC 1035 §4.2).
pub const DNS_PORT: u16 = 53;

/// The built-in root hints: the 13 IANA root servers, IPv4 first, then IPv6, port 53.
pub fn iana_roots() -> Vec<SocketAddr> {
    let v4 = IANA_ROOTS.iter().map(|(_, v4, _)| SocketAddr::new(IpAddr::V4(*v4), DNS_PORT));
    let v6 = IANA_ROOTS.iter().map(|(_, _, v6)| SocketAddr::new(IpAddr::V6(*v6), DNS_PORT));
    v4.chain(v6).collect()
}

/// Why a root hints file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum HintsError {
    /// The file could not be read.
    #[error("cannot read root hints {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A line is neither an address nor a zone-file A/AAAA/NS record.
    #[error("root hints line {line}: {reason}: {text:?}")]
    BadLine {
        /// 1-based line number.
        line: usize,
        /// The line as written.
        text: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The file holds no address at all.
    #[error("root hints {0} hold no server address")]
    Empty(String),
}

/// Reads root hints from a file: see [`parse_root_hints`] for the format.
pub fn load_root_hints(path: &Path) -> Result<Vec<SocketAddr>, HintsError> {
    let text = std::fs::read_to_string(path).map_err(|source| HintsError::Io { path: path.to_path_buf(), source })?;
    parse_root_hints(&text, &path.display().to_string())
}

/// Parses root hints. One entry a line; `;` or `#` starts a comment; blank
/// lines are skipped. A line is either an address — `IP`, `IP:port` or
/// `[IPv6]:port` (port 53 if none) — or a zone-file record as in IANA's
/// named.root: `NAME [TTL] [IN] A|AAAA ADDRESS` (port 53); `NS` records are
/// accepted and ignored. `origin` names the source in errors.
pub fn parse_root_hints(text: &str, origin: &str) -> Result<Vec<SocketAddr>, HintsError> {
    let mut out = Vec::new();
    for (index, raw) in text.lines().enumerate() {
        let line = raw.find([';', '#']).map_or(raw, |cut| &raw[..cut]).trim();
        if line.is_empty() {
            continue;
        }
        let bad = |reason: String| HintsError::BadLine { line: index + 1, text: raw.to_string(), reason };
        if let Some(addr) = parse_address(line) {
            push_unique(&mut out, addr);
            continue;
        }
        if let Some(addr) = parse_record(line).map_err(bad)? {
            push_unique(&mut out, addr);
        }
    }
    if out.is_empty() {
        return Err(HintsError::Empty(origin.to_string()));
    }
    Ok(out)
}

fn push_unique(out: &mut Vec<SocketAddr>, addr: SocketAddr) {
    if !out.contains(&addr) {
        out.push(addr);
    }
}

/// `IP`, `IP:port`, `[IPv6]:port`.
fn parse_address(line: &str) -> Option<SocketAddr> {
    if let Ok(ip) = line.parse::<IpAddr>() {
        return Some(SocketAddr::new(ip, DNS_PORT));
    }
    line.parse::<SocketAddr>().ok()
}

/// A zone-file record: Ok(Some) for A/AAAA, Ok(None) for NS, Err otherwise.
fn parse_record(line: &str) -> Result<Option<SocketAddr>, String> {
    let fields: Vec<&str> = line.split_whitespace().collect();
    if fields.len() < 3 {
        return Err("not an address or a zone-file record".to_string());
    }
    // Skip the owner, then an optional TTL and class in either order (RFC 1035 §5.1).
    let mut rest = fields.iter().skip(1).skip_while(|f| f.parse::<u32>().is_ok() || f.eq_ignore_ascii_case("IN"));
    let (Some(rtype), value, extra) = (rest.next(), rest.next(), rest.next()) else {
        return Err("not an address or a zone-file record".to_string());
    };
    let Some(value) = value else { return Err(format!("{rtype} record without data")) };
    if extra.is_some() {
        return Err("trailing fields after the record data".to_string());
    }
    match rtype.to_ascii_uppercase().as_str() {
        "NS" => Ok(None),
        "A" => match value.parse::<Ipv4Addr>() {
            Ok(ip) => Ok(Some(SocketAddr::new(IpAddr::V4(ip), DNS_PORT))),
            Err(_) => Err(format!("A record with a bad IPv4 address {value:?}")),
        },
        "AAAA" => match value.parse::<Ipv6Addr>() {
            Ok(ip) => Ok(Some(SocketAddr::new(IpAddr::V6(ip), DNS_PORT))),
            Err(_) => Err(format!("AAAA record with a bad IPv6 address {value:?}")),
        },
        other => Err(format!("unexpected record type {other:?} (want A, AAAA or NS)")),
    }
}
