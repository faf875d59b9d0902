//! What `sitepulse validate` prints for a valid config: what `run` would
//! do with it, section by section, and the warnings worth a look before
//! starting it (no sources, sources that match nothing yet).

use std::fmt::{Debug, Write as _};

use sitepulse_pipeline::FormatChoice;
use sitepulse_pipeline::snapshot::WINDOW_NAMES;
use sitepulse_tail::Discovery;

use super::Config;
use crate::listen::Listen;

/// A config's warnings: not errors, but likely not what was meant.
pub fn warnings(cfg: &Config) -> Vec<String> {
    let mut out = Vec::new();
    if cfg.tail.sources.is_empty() {
        out.push(NO_SOURCES.to_owned());
    }
    out
}

/// The warning for a config without sources, as `run` logs it too.
pub const NO_SOURCES: &str = "tail.sources is empty: `run` will read no file and every per-site number stays at zero (add a source, or use --demo to try it out)";

fn name(v: impl Debug) -> String {
    format!("{v:?}").to_lowercase()
}

fn when_full(w: sitepulse_sinks::spool::WhenFull) -> &'static str {
    match w {
        sitepulse_sinks::spool::WhenFull::Block => "block",
        sitepulse_sinks::spool::WhenFull::DropOldest => "drop_oldest",
    }
}

fn format_name(f: FormatChoice) -> &'static str {
    f.source().map_or("auto", |s| s.name())
}

fn list(items: &[String]) -> String {
    if items.is_empty() {
        "-".into()
    } else {
        items.join(", ")
    }
}

/// The summary. `env` lists the variables the file references with
/// whether each is set; files are counted with the globs as they match
/// now.
pub fn summary(cfg: &Config, env: &[(String, bool)]) -> String {
    let mut s = String::new();
    if !env.is_empty() {
        let names: Vec<String> = env
            .iter()
            .map(|(n, set)| format!("{n}{}", if *set { "" } else { " (unset: default used)" }))
            .collect();
        let _ = writeln!(s, "environment: {}", names.join(", "));
    }
    let t = &cfg.tail;
    let _ = writeln!(s, "sources: {}", t.sources.len());
    for (i, src) in t.sources.iter().enumerate() {
        let mut exclude = src.exclude.clone();
        exclude.extend(t.exclude.iter().cloned());
        let found = Discovery::new(&src.include, &exclude)
            .map(|d| d.scan().0.len())
            .unwrap_or(0);
        let multiline = src
            .multiline
            .as_ref()
            .map_or("parse.multiline".to_owned(), |m| name(m.mode));
        let _ = writeln!(
            s,
            "  [{i}] format {}, multiline {multiline}, {found} file{} match now\n      include: {}\n      exclude: {}",
            format_name(src.format),
            if found == 1 { "" } else { "s" },
            list(&src.include),
            list(&src.exclude),
        );
    }
    let _ = writeln!(
        s,
        "  exclude (every source): {}\n  existing files at the first start: from the {}; files older than {} s skipped (0: none)",
        list(&t.exclude),
        name(t.read_existing),
        t.ignore_older_secs,
    );
    let ckpt = if t.checkpoint_path == "auto" {
        "auto (/var/lib/sitepulse/checkpoints.json when writable, else $XDG_STATE_HOME/sitepulse/checkpoints.json)".to_owned()
    } else {
        t.checkpoint_path.clone()
    };
    let _ = writeln!(
        s,
        "  checkpoint: {ckpt}, saved every {} ms; corrupt file: {}",
        t.checkpoint_interval_ms,
        name(t.checkpoint_corrupt),
    );
    let p = &cfg.parse;
    let _ = writeln!(
        s,
        "parse: format {}, framing {}, lines cut at {} bytes, multiline {}",
        format_name(p.format),
        name(p.framing),
        p.max_line_bytes,
        name(p.multiline.mode),
    );
    let st = &cfg.sites;
    let order: Vec<String> = st.resolve_order.iter().map(name).collect();
    let _ = writeln!(
        s,
        "sites: named by {}; farm domains: {}; {} static site{}; new sites {} (at most {})",
        order.join(" > "),
        list(&st.domains),
        st.static_sites.len(),
        if st.static_sites.len() == 1 { "" } else { "s" },
        if st.auto_create {
            "created"
        } else {
            "not created (_unknown)"
        },
        st.max_sites,
    );
    let a = &cfg.aggregate;
    let counted: Vec<&str> = a.request_sources.iter().map(|f| f.name()).collect();
    let _ = writeln!(
        s,
        "windows: {} (kept {} s, 1 s counters for {} s, {} s slots); requests counted from: {}",
        WINDOW_NAMES.join(", "),
        a.retention_secs,
        a.fine_secs,
        a.slot_secs,
        counted.join(", "),
    );
    let sv = &cfg.server;
    let resolved = Listen::parse(&sv.listen)
        .and_then(|l| l.resolve())
        .map(|a| {
            let a: Vec<String> = a.iter().map(ToString::to_string).collect();
            a.join(" or ")
        })
        .unwrap_or_else(|e| format!("cannot resolve: {e}"));
    let _ = writeln!(
        s,
        "server: listen {} ({resolved}); at most {} connections; shutdown grace {} s",
        sv.listen, sv.max_connections, sv.shutdown_grace_secs,
    );
    autoscale_summary(&mut s, cfg);
    slo_summary(&mut s, cfg);
    alerting_summary(&mut s, cfg);
    let k = &cfg.sinks;
    if !k.any() {
        let _ = writeln!(s, "sinks: none");
        return s;
    }
    let spool = if k.spool_dir.is_empty() || k.spool_dir == "auto" {
        "auto (spool/ beside the checkpoint)".to_owned()
    } else {
        k.spool_dir.clone()
    };
    let _ = writeln!(s, "sinks: spools in {spool}");
    let mib = |b: u64| b as f64 / f64::from(1u32 << 20);
    if let Some(l) = &k.loki {
        let _ = writeln!(
            s,
            "  loki: {} ({}), labels {}, metadata {}; batches of {} KiB or {} ms; spool {:.0} MiB, when full {}",
            l.endpoint,
            name(l.encoding),
            list(&l.labels),
            list(&l.structured_metadata),
            l.batch_bytes / 1024,
            l.batch_wait_ms,
            mib(l.spool.max_bytes),
            when_full(l.spool.when_full),
        );
    }
    if let Some(r) = &k.prometheus_remote_write {
        let _ = writeln!(
            s,
            "  prometheus_remote_write: {} every {} s; spool {:.0} MiB, when full {}",
            r.endpoint,
            r.interval_secs,
            mib(r.spool.max_bytes),
            when_full(r.spool.when_full),
        );
    }
    if let Some(o) = &k.otlp {
        let _ = writeln!(
            s,
            "  otlp: {} (logs {}, metrics {} every {} s); spool {:.0} MiB, when full {}",
            o.endpoint,
            if o.logs { "on" } else { "off" },
            if o.metrics { "on" } else { "off" },
            o.metrics_interval_secs,
            mib(o.spool.max_bytes),
            when_full(o.spool.when_full),
        );
    }
    s
}

/// SLO evaluation: which specs, where the counts are kept.
fn slo_summary(s: &mut String, cfg: &Config) {
    let c = &cfg.slo;
    if !c.enabled {
        let _ = writeln!(s, "slo: off");
        return;
    }
    let specs = match c.spec_files() {
        Ok(f) if f.is_empty() => "the embedded rules/slos.yaml".to_owned(),
        Ok(f) => f
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", "),
        Err(e) => format!("cannot read: {}", e.message),
    };
    let sites = c.load().map_or(0, |set| set.named_sites().count());
    let state = if c.state_path.is_empty() || c.state_path == "auto" {
        "slo-counts beside the checkpoint".to_owned()
    } else {
        c.state_path.clone()
    };
    let _ = writeln!(
        s,
        "slo: specs {specs} ({sites} site(s) with their own entries); counts kept in {state}, saved every {} s",
        c.save_interval_secs
    );
}

/// Alerting: receivers, routes, who may change state.
fn alerting_summary(s: &mut String, cfg: &Config) {
    let a = &cfg.alerting;
    if !a.enabled {
        let _ = writeln!(s, "alerting: off");
        return;
    }
    let receivers: Vec<String> = a
        .receivers
        .iter()
        .map(|r| {
            let kind = r.notifier().map(|n| n.kind()).unwrap_or("?");
            format!("{} ({kind})", r.name)
        })
        .collect();
    let writers: Vec<&str> = a.api.writers.iter().map(|w| w.name.as_str()).collect();
    let _ = writeln!(
        s,
        "alerting: {} route(s) to {}; changes through the API {}",
        a.routes.len(),
        if receivers.is_empty() {
            "no receiver (alerts listed only)".to_owned()
        } else {
            receivers.join(", ")
        },
        if writers.is_empty() {
            "off (no writers)".to_owned()
        } else {
            format!("by {}", writers.join(", "))
        },
    );
}

/// The autoscaler interfaces and what feeds them.
fn autoscale_summary(s: &mut String, cfg: &Config) {
    let a = &cfg.autoscale;
    let off = |l: &str| {
        if l.is_empty() {
            "off".to_owned()
        } else {
            l.to_owned()
        }
    };
    let auth = match (
        &a.metrics_api.bearer_token_file,
        &a.metrics_api.api_key_file,
    ) {
        (None, None) => "open",
        (Some(_), None) => "bearer token",
        (None, Some(_)) => "API key",
        (Some(_), Some(_)) => "bearer token or API key",
    };
    let _ = writeln!(
        s,
        "autoscale: KEDA scaler (gRPC) {}; /api/v1/autoscale {auth}; external metrics API {}; data older than {} s refused",
        off(&a.keda.listen),
        off(&a.external_metrics.listen),
        a.freshness.max_snapshot_age_secs,
    );
    let k = &cfg.kubernetes;
    let _ = writeln!(
        s,
        "fpm_status: {} target(s) every {} ms{}",
        cfg.fpm_status.targets.len(),
        cfg.fpm_status.interval_ms,
        if k.enabled {
            format!(", more from pod annotation {}", k.fpm_annotation)
        } else {
            String::new()
        },
    );
    let _ = writeln!(
        s,
        "kubernetes: {}",
        if k.enabled {
            format!("on (pods labelled {})", k.site_label)
        } else {
            "off".to_owned()
        }
    );
}
