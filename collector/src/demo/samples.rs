//! The sample logs under `collector/samples/` (every format; some
//! CRI-framed under `/var/log/pods/...` and Docker `json-file` paths),
//! embedded in the binary so `run --demo` works from any copy of it.

use std::io;
use std::path::Path;

/// Each sample: its path below the samples directory, and its bytes.
pub const SAMPLES: &[(&str, &[u8])] = &[
    (
        "fpm_access.log",
        include_bytes!("../../samples/fpm_access.log"),
    ),
    (
        "fpm_error.log",
        include_bytes!("../../samples/fpm_error.log"),
    ),
    ("fpm_slow.log", include_bytes!("../../samples/fpm_slow.log")),
    ("nginx.log", include_bytes!("../../samples/nginx.log")),
    (
        "traefik_clf.log",
        include_bytes!("../../samples/traefik_clf.log"),
    ),
    (
        "traefik_json.log",
        include_bytes!("../../samples/traefik_json.log"),
    ),
    (
        "wordpress/debug.log",
        include_bytes!("../../samples/wordpress/debug.log"),
    ),
    (
        "var/lib/docker/containers/3f4e5d6c7b8a99a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4/3f4e5d6c7b8a99a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4-json.log",
        include_bytes!(
            "../../samples/var/lib/docker/containers/3f4e5d6c7b8a99a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4/3f4e5d6c7b8a99a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4-json.log"
        ),
    ),
    (
        "var/log/pods/site007_site007-php-7d9f8c6b5-q4m2x_0b1c2d3e-4f5a-4b6c-8d7e-9f0a1b2c3d4e/php/0.log",
        include_bytes!(
            "../../samples/var/log/pods/site007_site007-php-7d9f8c6b5-q4m2x_0b1c2d3e-4f5a-4b6c-8d7e-9f0a1b2c3d4e/php/0.log"
        ),
    ),
    (
        "var/log/pods/site007_site007-php-7d9f8c6b5-q4m2x_0b1c2d3e-4f5a-4b6c-8d7e-9f0a1b2c3d4e/nginx/0.log",
        include_bytes!(
            "../../samples/var/log/pods/site007_site007-php-7d9f8c6b5-q4m2x_0b1c2d3e-4f5a-4b6c-8d7e-9f0a1b2c3d4e/nginx/0.log"
        ),
    ),
    (
        "var/log/pods/kube-system_traefik-6d8f7b9c5-x7k2p_8f3e1c2a-5b4d-4e6f-9a8b-7c6d5e4f3a2b/traefik/0.log",
        include_bytes!(
            "../../samples/var/log/pods/kube-system_traefik-6d8f7b9c5-x7k2p_8f3e1c2a-5b4d-4e6f-9a8b-7c6d5e4f3a2b/traefik/0.log"
        ),
    ),
];

/// Writes every sample under `dir` (creating directories).
///
/// # Errors
/// The first file that cannot be written.
pub fn write_samples(dir: &Path) -> io::Result<()> {
    for (rel, bytes) in SAMPLES {
        let path = dir.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&path, bytes)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every file under `collector/samples/` is embedded, and as it is on
    /// disk: a sample added there without a line here fails this.
    #[test]
    fn every_sample_file_is_embedded() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("samples");
        let mut on_disk = Vec::new();
        let mut stack = vec![root.clone()];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    stack.push(p);
                } else {
                    on_disk.push(p.strip_prefix(&root).unwrap().display().to_string());
                }
            }
        }
        on_disk.sort();
        let mut embedded: Vec<String> = SAMPLES.iter().map(|(p, _)| (*p).to_owned()).collect();
        embedded.sort();
        assert_eq!(embedded, on_disk);
        for (rel, bytes) in SAMPLES {
            assert_eq!(std::fs::read(root.join(rel)).unwrap(), *bytes, "{rel}");
        }
    }
}
