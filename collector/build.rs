//! Stamps the git revision the binary is built from into
//! `SITEPULSE_REVISION` (for `sitepulse_build_info`): the environment
//! variable of that name when set (a packager's), else `git rev-parse`,
//! else `unknown` (a source tarball, a copy without `.git`).

use std::path::PathBuf;
use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()?;
    let s = String::from_utf8(out.stdout).ok()?.trim().to_owned();
    (out.status.success() && !s.is_empty()).then_some(s)
}

fn main() {
    println!("cargo:rerun-if-env-changed=SITEPULSE_REVISION");
    let rev = std::env::var("SITEPULSE_REVISION")
        .ok()
        .filter(|r| !r.is_empty())
        .or_else(|| git(&["rev-parse", "--short=12", "HEAD"]))
        .unwrap_or_else(|| "unknown".into());
    // Rebuild when HEAD moves: HEAD itself (a checkout) and the branch it
    // names (a commit), loose or packed.
    if let Some(dir) = git(&["rev-parse", "--absolute-git-dir"]).map(PathBuf::from) {
        let branch = git(&["symbolic-ref", "-q", "HEAD"]);
        let files = ["HEAD", "packed-refs"].into_iter().map(String::from);
        // A path that does not exist would rerun this script every build.
        for f in files.chain(branch).map(|f| dir.join(f)) {
            if f.exists() {
                println!("cargo:rerun-if-changed={}", f.display());
            }
        }
    }
    println!("cargo:rustc-env=SITEPULSE_REVISION={rev}");
}
