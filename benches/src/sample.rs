//! A small, committed-size sample of every format and framing, laid out the
//! way the files sit on a node, for the README's first command and for
//! format-detection tests.

use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::{CorpusConfig, CorpusStats, Format, Framing, generate};

/// One written sample file.
#[derive(Debug, Clone)]
pub struct SampleFile {
    /// Path relative to the sample directory.
    pub path: PathBuf,
    /// What it contains.
    pub stats: CorpusStats,
}

/// Pod directory of the Traefik ingress controller.
const TRAEFIK_POD: &str =
    "var/log/pods/kube-system_traefik-6d8f7b9c5-x7k2p_8f3e1c2a-5b4d-4e6f-9a8b-7c6d5e4f3a2b";
/// Pod directory of site007's PHP deployment (nginx sidecar + php-fpm).
const SITE007_POD: &str =
    "var/log/pods/site007_site007-php-7d9f8c6b5-q4m2x_0b1c2d3e-4f5a-4b6c-8d7e-9f0a1b2c3d4e";
/// A Docker container id (json-file driver layout).
const CONTAINER: &str = "3f4e5d6c7b8a99a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4";

/// Writes the sample set into `dir` (created if missing), each file from its
/// own seed derived from `seed`:
///
/// | path | content |
/// |---|---|
/// | `traefik_clf.log` | 2,000 Traefik CLF lines, 500 sites |
/// | `traefik_json.log` | 500 Traefik JSON lines |
/// | `nginx.log` | 1,000 nginx lines |
/// | `fpm_access.log`, `fpm_error.log` | 200 lines each |
/// | `fpm_slow.log`, `wordpress/debug.log` | 200 records each |
/// | `var/log/pods/kube-system_traefik-…/traefik/0.log` | 500 Traefik CLF lines, CRI |
/// | `var/log/pods/site007_site007-php-…/nginx/0.log` | 300 nginx lines of site007, CRI |
/// | `var/log/pods/site007_site007-php-…/php/0.log` | 100 FPM error lines of site007, CRI stderr |
/// | `var/lib/docker/containers/<id>/<id>-json.log` | 100 Traefik JSON lines, Docker json-file |
///
/// # Errors
/// Any error creating directories or writing files.
pub fn write_samples(dir: &Path, seed: u64) -> io::Result<Vec<SampleFile>> {
    let site007 = 6;
    let docker_log = format!("var/lib/docker/containers/{CONTAINER}/{CONTAINER}-json.log");
    let plan: Vec<(String, Format, u64, Framing, Option<usize>)> = vec![
        (
            "traefik_clf.log".into(),
            Format::TraefikClf,
            2_000,
            Framing::None,
            None,
        ),
        (
            "traefik_json.log".into(),
            Format::TraefikJson,
            500,
            Framing::None,
            None,
        ),
        (
            "nginx.log".into(),
            Format::Nginx,
            1_000,
            Framing::None,
            None,
        ),
        (
            "fpm_access.log".into(),
            Format::FpmAccess,
            200,
            Framing::None,
            None,
        ),
        (
            "fpm_error.log".into(),
            Format::FpmError,
            200,
            Framing::None,
            None,
        ),
        (
            "fpm_slow.log".into(),
            Format::FpmSlow,
            200,
            Framing::None,
            None,
        ),
        (
            "wordpress/debug.log".into(),
            Format::WordPress,
            200,
            Framing::None,
            None,
        ),
        (
            format!("{TRAEFIK_POD}/traefik/0.log"),
            Format::TraefikClf,
            500,
            Framing::Cri,
            None,
        ),
        (
            format!("{SITE007_POD}/nginx/0.log"),
            Format::Nginx,
            300,
            Framing::Cri,
            Some(site007),
        ),
        (
            format!("{SITE007_POD}/php/0.log"),
            Format::FpmError,
            100,
            Framing::Cri,
            Some(site007),
        ),
        (docker_log, Format::TraefikJson, 100, Framing::Docker, None),
    ];
    let mut written = Vec::with_capacity(plan.len());
    for (k, (rel, format, lines, framing, only_site)) in plan.into_iter().enumerate() {
        let cfg = CorpusConfig {
            seed: seed.wrapping_add(k as u64),
            lines,
            format,
            framing,
            only_site,
            ..CorpusConfig::default()
        };
        let path = dir.join(&rel);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent)?;
        }
        let mut out = BufWriter::new(File::create(&path)?);
        let stats = generate(&cfg, &mut out)?;
        out.flush()?;
        written.push(SampleFile {
            path: PathBuf::from(rel),
            stats,
        });
    }
    Ok(written)
}
