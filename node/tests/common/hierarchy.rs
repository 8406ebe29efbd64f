//! The NSD hierarchy of `resolver/tests/hierarchy/` (root, `test.` and its
//! zones on 127.0.0.101–104 port 53; needs root and `nsd`), for the tests
//! that query dhtr with `dig` against real authoritative servers.

use std::path::PathBuf;
use std::process::Command;

/// The NSD hierarchy, stopped when dropped.
pub struct Hierarchy {
    pub dir: tempfile::TempDir,
    pub scripts: PathBuf,
}

impl Hierarchy {
    pub fn start() -> Hierarchy {
        let scripts = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../resolver/tests/hierarchy");
        let dir = tempfile::Builder::new().prefix("dhtr-hier-").tempdir().unwrap();
        let h = Hierarchy { dir, scripts };
        let out = Command::new("bash").arg(h.scripts.join("start.sh")).arg(h.dir.path()).output().unwrap();
        assert!(
            out.status.success(),
            "cannot start the NSD hierarchy (needs root and nsd):\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        h
    }

    pub fn stop(&self, which: &[&str]) {
        let _ = Command::new("bash").arg(self.scripts.join("stop.sh")).arg(self.dir.path()).args(which).output();
    }

    pub fn hints(&self) -> PathBuf {
        let p = self.dir.path().join("root.hints");
        std::fs::write(&p, "; the test hierarchy's root\n. 3600000 IN NS a.root-servers.hier.\na.root-servers.hier. 3600000 IN A 127.0.0.101\n").unwrap();
        p
    }
}

impl Drop for Hierarchy {
    fn drop(&mut self) {
        self.stop(&[]);
    }
}
