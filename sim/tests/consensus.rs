//! Seeded simulations of one committee running the unchanged replica, with
//! network faults and Byzantine members. Every run checks agreement and
//! validity; runs with at most f faulty members and a healing network also
//! check liveness. `DHTR_LEDGER_SEEDS=a,b,c` replaces the fixed seeds.

use std::time::Duration;

use dhtr_sim::committee::{Behaviour, Report, Sim, SimConfig};

fn seeds() -> Vec<u64> {
    std::env::var("DHTR_LEDGER_SEEDS")
        .ok()
        .map(|s| s.split(',').filter_map(|x| x.trim().parse().ok()).collect())
        .unwrap_or_else(|| (1..=6).collect())
}

/// Run a scenario for every seed; returns how many runs were checked.
fn run(
    name: &str,
    live: bool,
    make: impl Fn(u64) -> SimConfig,
    extra: impl Fn(&Report) -> Result<(), String>,
) -> usize {
    let seeds = seeds();
    for &seed in &seeds {
        let (sim, report) = Sim::new(make(seed)).run();
        if let Err(e) = sim.check(live).and_then(|_| extra(&report)) {
            panic!("scenario {name}, seed {seed}: {e}\n{report:?}{}", sim.describe());
        }
        println!(
            "{name} seed {seed}: heights {:?}, view changes {}, rejected {:?}, undecodable {}, equivocations {}",
            report.heights, report.view_changes, report.rejected, report.undecodable, report.equivocations
        );
    }
    seeds.len()
}

fn none(_: &Report) -> Result<(), String> {
    Ok(())
}

#[test]
fn calm_committee_commits_everything() {
    run("calm", true, |s| SimConfig::new(s, 4), none);
}

#[test]
fn lossy_duplicating_reordering_network() {
    run(
        "lossy",
        true,
        |s| SimConfig {
            loss: 0.05,
            duplicate: 0.05,
            delay: (Duration::from_millis(1), Duration::from_millis(120)),
            ..SimConfig::new(s, 4)
        },
        none,
    );
}

#[test]
fn silent_primary_is_replaced_by_a_view_change() {
    run(
        "silent-primary",
        true,
        |s| SimConfig { byzantine: vec![(0, Behaviour::Silent)], ..SimConfig::new(s, 4) },
        |r| if r.view_changes > 0 { Ok(()) } else { Err("expected a view change".into()) },
    );
}

#[test]
fn equivocating_primary_cannot_split_the_committee() {
    run(
        "equivocating-primary",
        true,
        |s| SimConfig { byzantine: vec![(0, Behaviour::Equivocate)], ..SimConfig::new(s, 4) },
        |r| if r.equivocations > 0 { Ok(()) } else { Err("conflicting votes were not kept as evidence".into()) },
    );
}

#[test]
fn member_voting_for_invalid_blocks_is_outvoted() {
    run(
        "approve-all",
        true,
        |s| SimConfig { byzantine: vec![(1, Behaviour::ApproveAll)], invalid_txs: 6, ..SimConfig::new(s, 4) },
        none,
    );
}

#[test]
fn forged_and_replayed_votes_are_rejected() {
    run(
        "forger",
        true,
        |s| SimConfig { byzantine: vec![(2, Behaviour::Forger)], ..SimConfig::new(s, 4) },
        |r| {
            let bad = r.rejected.get("bad_signature").copied().unwrap_or(0)
                + r.rejected.get("not_member").copied().unwrap_or(0);
            if bad > 0 { Ok(()) } else { Err("forged votes were not rejected as badly signed".into()) }
        },
    );
}

#[test]
fn garbage_is_dropped() {
    run(
        "garbage",
        true,
        |s| SimConfig { byzantine: vec![(3, Behaviour::Garbage)], ..SimConfig::new(s, 4) },
        |r| if r.undecodable > 0 { Ok(()) } else { Err("no garbage was seen".into()) },
    );
}

#[test]
fn partition_heals_and_work_completes() {
    run(
        "partition",
        true,
        |s| SimConfig {
            partition: Some((Duration::from_secs(1), Duration::from_secs(20), vec![0, 1])),
            ..SimConfig::new(s, 4)
        },
        none,
    );
}

#[test]
fn crashed_members_restart_from_their_store() {
    run(
        "restart",
        true,
        |s| SimConfig {
            restarts: vec![
                (0, Duration::from_secs(2), Duration::from_secs(6)),
                (2, Duration::from_secs(3), Duration::from_secs(9)),
            ],
            valid_txs: 40,
            submit_window: Duration::from_secs(12),
            ..SimConfig::new(s, 4)
        },
        none,
    );
}

#[test]
fn seven_members_with_two_byzantine() {
    run(
        "n7-f2",
        true,
        |s| SimConfig {
            byzantine: vec![(0, Behaviour::Equivocate), (3, Behaviour::Forger)],
            invalid_txs: 4,
            loss: 0.02,
            ..SimConfig::new(s, 7)
        },
        none,
    );
}

#[test]
fn more_than_f_faulty_stays_safe() {
    // Two silent members of four: no quorum, so nothing may commit, and
    // nothing wrong ever does.
    run(
        "beyond-f",
        false,
        |s| SimConfig {
            byzantine: vec![(1, Behaviour::Silent), (2, Behaviour::ApproveAll)],
            invalid_txs: 4,
            ..SimConfig::new(s, 4)
        },
        none,
    );
}

#[test]
fn slow_network_racing_the_view_timer_stays_safe() {
    // Delays around the view timeout: votes of an old view arrive after
    // view changes were sent, the race of PBFT §4.4.
    run(
        "slow",
        true,
        |s| SimConfig {
            delay: (Duration::from_millis(20), Duration::from_millis(900)),
            loss: 0.02,
            valid_txs: 30,
            submit_window: Duration::from_secs(20),
            ..SimConfig::new(s, 4)
        },
        none,
    );
}

#[test]
fn restarts_in_quick_succession_stay_safe() {
    run(
        "restart-storm",
        true,
        |s| SimConfig {
            delay: (Duration::from_millis(5), Duration::from_millis(400)),
            restarts: vec![
                (0, Duration::from_millis(1500), Duration::from_millis(1700)),
                (1, Duration::from_millis(1800), Duration::from_millis(2000)),
                (2, Duration::from_millis(2600), Duration::from_millis(2700)),
                (3, Duration::from_millis(3100), Duration::from_millis(3300)),
                (0, Duration::from_millis(4000), Duration::from_millis(4100)),
            ],
            valid_txs: 40,
            submit_window: Duration::from_secs(6),
            ..SimConfig::new(s, 4)
        },
        none,
    );
}

#[test]
fn chaos_of_random_faults_within_f() {
    use rand::{Rng, SeedableRng};
    // Each seed draws its own mixture: up to f Byzantine members of random
    // kinds, random loss, duplication and delays, maybe a partition and
    // crash-restarts of honest members, all over before the last 60 s.
    run(
        "chaos",
        true,
        |s| {
            let mut rng = rand::rngs::StdRng::seed_from_u64(s ^ 0xc4a05);
            let members = if rng.random_bool(0.3) { 7 } else { 4 };
            let f = (members - 1) / 3;
            let kinds = [
                Behaviour::Silent,
                Behaviour::Equivocate,
                Behaviour::ApproveAll,
                Behaviour::Forger,
                Behaviour::Garbage,
            ];
            let mut byzantine = Vec::new();
            for _ in 0..rng.random_range(0..=f) {
                let who = rng.random_range(0..members);
                if !byzantine.iter().any(|(w, _)| *w == who) {
                    byzantine.push((who, kinds[rng.random_range(0..kinds.len())]));
                }
            }
            let honest: Vec<usize> = (0..members).filter(|i| !byzantine.iter().any(|(w, _)| w == i)).collect();
            let partition = rng.random_bool(0.4).then(|| {
                let start = Duration::from_millis(rng.random_range(0..10_000));
                let cut: Vec<usize> = (0..members).filter(|_| rng.random_bool(0.5)).collect();
                (start, start + Duration::from_millis(rng.random_range(1_000..20_000)), cut)
            });
            let restarts = (0..rng.random_range(0..3))
                .map(|_| {
                    let who = honest[rng.random_range(0..honest.len())];
                    let down = Duration::from_millis(rng.random_range(500..20_000));
                    (who, down, down + Duration::from_millis(rng.random_range(100..5_000)))
                })
                .collect();
            if std::env::var("DHTR_CHAOS_DEBUG").is_ok() {
                println!("seed {s}: n={members} byzantine {byzantine:?} partition {partition:?} restarts {restarts:?}");
            }
            SimConfig {
                byzantine,
                invalid_txs: rng.random_range(0..5),
                loss: rng.random_range(0.0..0.05),
                duplicate: rng.random_range(0.0..0.05),
                delay: (Duration::from_millis(1), Duration::from_millis(rng.random_range(5..400))),
                partition,
                restarts,
                submit_window: Duration::from_secs(rng.random_range(1..20)),
                ..SimConfig::new(s, members)
            }
        },
        none,
    );
}

#[test]
fn a_seed_replays_the_same_run() {
    let cfg = |s| SimConfig {
        byzantine: vec![(2, Behaviour::Forger)],
        loss: 0.05,
        duplicate: 0.05,
        partition: Some((Duration::from_secs(1), Duration::from_secs(5), vec![0])),
        ..SimConfig::new(s, 4)
    };
    let run = |s| {
        let (sim, r) = Sim::new(cfg(s)).run();
        let mut rejected: Vec<_> = r.rejected.into_iter().collect();
        rejected.sort_unstable();
        (r.heights, r.messages, r.view_changes, r.equivocations, rejected, sim.describe())
    };
    assert_eq!(run(3), run(3));
}
