//! The iterative resolver against the real root servers. Needs Internet
//! access, so it is ignored by default:
//! `cargo test -p dhtr-resolver --test iterative_internet -- --ignored --nocapture`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::str::FromStr;
use std::time::{Duration, Instant};

use dhtr_resolver::iterative::{IterConfig, Iterative};
use dhtr_resolver::{Question, Resolution};
use hickory_proto::rr::{Name, RecordType};

#[tokio::test]
#[ignore = "needs Internet access to the root servers"]
async fn resolves_real_names_from_the_iana_roots() {
    let r = Iterative::new(IterConfig::default());
    let names = [
        ("www.iana.org.", RecordType::A),
        ("www.iana.org.", RecordType::AAAA),
        ("example.com.", RecordType::MX),
        ("www.wikipedia.org.", RecordType::A),
        ("www.github.com.", RecordType::A),
        ("gmail.com.", RecordType::MX),
        ("nonexistent-name-for-dhtr-tests.example.com.", RecordType::A),
        ("www.bbc.co.uk.", RecordType::A),
        ("com.", RecordType::DS),
    ];
    let mut failures = Vec::new();
    for (name, qtype) in names {
        let started = Instant::now();
        let q = Question::new(Name::from_str(name).unwrap(), qtype);
        let result = tokio::time::timeout(Duration::from_secs(15), r.resolve(&q)).await.expect("bounded");
        let took = started.elapsed().as_millis();
        match &result {
            Ok(Resolution::Answer { records }) => {
                println!(
                    "{took:>5} ms {name} {qtype}: {} records, last {}",
                    records.len(),
                    records.last().unwrap().data
                )
            }
            Ok(other) => println!("{took:>5} ms {name} {qtype}: {other:?}"),
            Err(e) => {
                println!("{took:>5} ms {name} {qtype}: ERROR {e}");
                failures.push(format!("{name} {qtype}: {e}"));
            }
        }
    }
    println!("delegation cache: {} zones", r.cached_zones());
    assert!(failures.is_empty(), "{failures:?}");
}
