//! The README's two-node example, run as written: the fenced block after
//! `<!-- readme-test: two-nodes -->` in `README.md` is read, each command is
//! run by bash in a fresh directory with the `dhtr` under test first on the
//! PATH (`dhtr run` lines in the background, the others until they succeed),
//! and `<peer id>` is replaced by what `dhtr id` printed. Then node 2 must
//! have joined node 1, and node 1 must shrug off a SIGHUP (logged, ignored)
//! and still leave gracefully on SIGTERM.
//!
//! The block uses the default ports (libp2p 4001, HTTP 127.0.0.1:9464, DNS
//! 127.0.0.1:5335) and 4002/9465/5336; no other test uses those on
//! 127.0.0.1 or the wildcard address.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The marker before the block in README.md.
const MARKER: &str = "<!-- readme-test: two-nodes -->";
/// How long each command may take to succeed (a node joining, a lookup).
const STEP_TIMEOUT: Duration = Duration::from_secs(60);

/// The commands of the block: continuation lines joined, comments kept (bash
/// drops them).
fn readme_commands() -> Vec<String> {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md")).expect("read README.md");
    let after = readme.split_once(MARKER).expect("README.md has the two-node marker").1;
    let block = after.split_once("```sh\n").expect("a ```sh block follows the marker").1;
    let block = block.split_once("```").expect("the block ends").0;
    let mut commands = Vec::new();
    let mut current = String::new();
    for line in block.lines() {
        match line.trim_end().strip_suffix('\\') {
            Some(part) => current.push_str(part),
            None => {
                current.push_str(line);
                commands.push(std::mem::take(&mut current));
            }
        }
    }
    commands.into_iter().filter(|c| !c.trim().is_empty()).collect()
}

/// Background node processes, SIGKILLed when dropped.
struct Nodes {
    children: Vec<(Child, PathBuf)>,
}

impl Drop for Nodes {
    fn drop(&mut self) {
        for (child, log) in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
            if std::thread::panicking() {
                eprintln!("---- {} ----\n{}", log.display(), std::fs::read_to_string(&*log).unwrap_or_default());
            }
        }
    }
}

fn bash(dir: &Path, path: &str, command: &str) -> Command {
    let mut c = Command::new("bash");
    c.arg("-c").arg(command).current_dir(dir).env("PATH", path).env("RUST_LOG", "info,libp2p=warn");
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("DHTR_") {
            c.env_remove(name);
        }
    }
    c
}

#[test]
fn the_readme_two_node_example_works_as_written() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_dhtr"));
    let bin_dir = bin.parent().expect("the binary's directory");
    let path = format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap_or_default());
    let mut nodes = Nodes { children: Vec::new() };
    let mut peer_id: Option<String> = None;
    for command in readme_commands() {
        let command = match &peer_id {
            Some(id) => command.replace("<peer id>", id),
            None => command,
        };
        assert!(!command.contains("<peer id>"), "no peer id known yet for: {command}");
        if command.trim_start().starts_with("dhtr run") {
            let log = dir.path().join(format!("node{}.log", nodes.children.len() + 1));
            let out = std::fs::File::create(&log).expect("log file");
            let err = out.try_clone().expect("log file");
            let child = bash(dir.path(), &path, &format!("exec {command}"))
                .stdin(Stdio::null())
                .stdout(out)
                .stderr(err)
                .spawn()
                .expect("start dhtr run");
            nodes.children.push((child, log));
            continue;
        }
        // Everything else must succeed once the nodes are up.
        let deadline = Instant::now() + STEP_TIMEOUT;
        let output = loop {
            for (child, log) in &mut nodes.children {
                if let Ok(Some(status)) = child.try_wait() {
                    panic!("a node exited ({status}) before `{command}`; its log {}", log.display());
                }
            }
            let output = bash(dir.path(), &path, &command).output().expect("run bash");
            if output.status.success() || Instant::now() > deadline {
                break output;
            }
            std::thread::sleep(Duration::from_millis(500));
        };
        let stdout = String::from_utf8_lossy(&output.stdout).to_string();
        assert!(
            output.status.success(),
            "`{command}` failed ({}):\n{stdout}\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
        if let Some(id) = stdout.lines().find_map(|l| l.trim().strip_prefix("peer_id:")) {
            peer_id = Some(id.trim().to_string());
        }
    }
    assert_eq!(nodes.children.len(), 2, "the block starts two nodes");
    let first = peer_id.expect("the block prints node 1's peer id");

    // Node 2 joined node 1: each is the other's successor.
    let deadline = Instant::now() + STEP_TIMEOUT;
    let joined = loop {
        let s = dhtr_monitoring::get_status("127.0.0.1:9465");
        if let Ok(status) = &s
            && status.joined
            && status.successors.iter().any(|p| p.peer_id == first)
        {
            break status.clone();
        }
        assert!(Instant::now() < deadline, "node 2 never joined node 1: {s:?}");
        std::thread::sleep(Duration::from_millis(500));
    };
    assert_ne!(joined.peer_id, first);

    // SIGHUP: logged and ignored (no configuration reload yet).
    let pid = nodes.children[0].0.id().to_string();
    let kill = |sig: &str| Command::new("kill").args([sig, &pid]).status().expect("kill");
    assert!(kill("-HUP").success());
    std::thread::sleep(Duration::from_secs(1));
    assert!(matches!(nodes.children[0].0.try_wait(), Ok(None)), "node 1 must survive a SIGHUP");
    assert!(dhtr_monitoring::get_status("127.0.0.1:9464").is_ok(), "node 1 still serves after a SIGHUP");
    let log = std::fs::read_to_string(&nodes.children[0].1).unwrap_or_default();
    assert!(log.contains("SIGHUP"), "the SIGHUP is logged:\n{log}");

    // SIGTERM still leaves gracefully.
    assert!(kill("-TERM").success());
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Ok(Some(s)) = nodes.children[0].0.try_wait() {
            break s;
        }
        assert!(Instant::now() < deadline, "node 1 did not stop after SIGTERM");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(status.success(), "node 1 exits cleanly after SIGTERM: {status}");
    let log = std::fs::read_to_string(&nodes.children[0].1).unwrap_or_default();
    assert!(log.contains("leaving the ring"), "a graceful leave:\n{log}");
}
