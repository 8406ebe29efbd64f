//! Root hints: the built-in list and the file format.

use std::io::Write;
use std::net::SocketAddr;

use crate::iterative::hints::{HintsError, iana_roots, load_root_hints, parse_root_hints};

fn addrs(list: &[&str]) -> Vec<SocketAddr> {
    list.iter().map(|s| s.parse().unwrap()).collect()
}

#[test]
fn built_in_roots_are_the_13_iana_servers_on_both_families() {
    let roots = iana_roots();
    assert_eq!(roots.len(), 26);
    assert_eq!(roots.iter().filter(|a| a.is_ipv4()).count(), 13);
    assert!(roots.iter().all(|a| a.port() == 53));
    assert!(roots.contains(&"198.41.0.4:53".parse().unwrap()), "a.root-servers.net");
    assert!(roots.contains(&"[2001:7fe::53]:53".parse().unwrap()), "i.root-servers.net");
    assert!(roots.contains(&"170.247.170.2:53".parse().unwrap()), "b.root-servers.net, renumbered 2023");
}

#[test]
fn accepted_lines() {
    let text = "\
; IANA named.root style
.                        3600000      NS    A.ROOT-SERVERS.NET.
A.ROOT-SERVERS.NET.      3600000      A     198.41.0.4
A.ROOT-SERVERS.NET.      3600000      AAAA  2001:503:ba3e::2:30
a.root-servers.net. 3600000 IN A 198.41.0.4   ; a duplicate, kept once
b.root-servers.net. IN 3600000 a 170.247.170.2
c.root-servers.net. AAAA 2001:500:2::c
# plain addresses
127.0.0.101
127.0.0.102:5301   # with a port
[::1]:5302
::2

";
    let want = addrs(&[
        "198.41.0.4:53",
        "[2001:503:ba3e::2:30]:53",
        "170.247.170.2:53",
        "[2001:500:2::c]:53",
        "127.0.0.101:53",
        "127.0.0.102:5301",
        "[::1]:5302",
        "[::2]:53",
    ]);
    assert_eq!(parse_root_hints(text, "test").unwrap(), want);
}

#[test]
fn garbage_lines_are_errors_naming_the_line() {
    let cases = [
        ("127.0.0.1\nhello\n", 2, "not an address or a zone-file record"),
        ("; c\n\n300.1.1.1\n", 3, "not an address"),
        ("a.root. 3600 IN A ::1\n", 1, "bad IPv4 address"),
        ("a.root. 3600 IN AAAA 1.2.3.4\n", 1, "bad IPv6 address"),
        ("a.root. 3600 IN MX 10 mail.\n", 1, "trailing fields"),
        ("a.root. 3600 IN CNAME b.root.\n", 1, "unexpected record type"),
        ("a.root. 3600 IN A\n", 1, "A record without data"),
        ("127.0.0.1:99999\n", 1, "not an address"),
    ];
    for (text, line, reason) in cases {
        match parse_root_hints(text, "test") {
            Err(HintsError::BadLine { line: l, reason: r, .. }) => {
                assert_eq!(l, line, "{text:?}");
                assert!(r.contains(reason), "{text:?}: {r}");
            }
            other => panic!("{text:?}: {other:?}"),
        }
    }
    let err = parse_root_hints("x\n", "f").unwrap_err().to_string();
    assert!(err.contains("line 1") && err.contains("\"x\""), "{err}");
}

#[test]
fn empty_and_missing_files() {
    assert!(matches!(parse_root_hints("; nothing\n\n. 3600 NS a.root.\n", "f"), Err(HintsError::Empty(_))));
    let missing = std::path::Path::new("/nonexistent/dhtr/root.hints");
    assert!(matches!(load_root_hints(missing), Err(HintsError::Io { .. })));
    let mut file = tempfile::NamedTempFile::new().unwrap();
    writeln!(file, "a.root-servers.net. 3600000 IN A 198.41.0.4\n127.0.0.101:53").unwrap();
    assert_eq!(load_root_hints(file.path()).unwrap(), addrs(&["198.41.0.4:53", "127.0.0.101:53"]));
}
