//! PHP-FPM master error log and slow log: pool events whose mix follows
//! load (busy sites hit `pm.max_children`, incident sites time out), with the
//! follow-up lines FPM really writes (a timed-out child is killed, then a new
//! one starts).

use std::collections::VecDeque;

use crate::rng::{Rng, mix64};
use crate::site::Site;
use crate::stats::FpmCounts;
use crate::text::{push_dmy_time, push_fixed, push_hex, push_padded, push_u64, split_ns};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ev {
    Started,
    Exited,
    Signaled,
    MaxChildren,
    SeemsBusy,
    Slow,
    TimedOut,
    Stderr,
    Lifecycle,
    Debug,
}

const EVENTS: &[(Ev, u32)] = &[
    (Ev::Started, 22),
    (Ev::Exited, 22),
    (Ev::Signaled, 2),
    (Ev::MaxChildren, 12),
    (Ev::SeemsBusy, 10),
    (Ev::Slow, 15),
    (Ev::TimedOut, 4),
    (Ev::Stderr, 8),
    (Ev::Lifecycle, 1),
    (Ev::Debug, 4),
];

const INCIDENT_EVENTS: &[(Ev, u32)] = &[
    (Ev::MaxChildren, 5),
    (Ev::SeemsBusy, 2),
    (Ev::Slow, 4),
    (Ev::TimedOut, 2),
];

/// (script_filename, method, request URI) of requests that run long.
const SCRIPTS: &[(&str, &str, &str)] = &[
    ("/var/www/html/index.php", "GET", "/index.php"),
    ("/var/www/html/index.php", "GET", "/index.php?p=123"),
    (
        "/var/www/html/index.php",
        "GET",
        "/index.php?s=coffee+guide",
    ),
    (
        "/var/www/html/wp-admin/admin-ajax.php",
        "POST",
        "/wp-admin/admin-ajax.php",
    ),
    (
        "/var/www/html/wp-cron.php",
        "POST",
        "/wp-cron.php?doing_wp_cron=1795341600.1234560012817382812500",
    ),
    ("/var/www/html/xmlrpc.php", "POST", "/xmlrpc.php"),
    ("/var/www/html/wp-login.php", "POST", "/wp-login.php"),
];

const STDERR_MESSAGES: &[&str] = &[
    "NOTICE: PHP message: PHP Warning:  Undefined array key \"page\" in /var/www/html/wp-content/plugins/acme-sliders/includes/class-slider.php on line 88",
    "NOTICE: PHP message: PHP Deprecated:  strpos(): Passing null to parameter #1 ($haystack) of type string is deprecated in /var/www/html/wp-includes/functions.php on line 7374",
    "NOTICE: PHP message: PHP Fatal error:  Allowed memory size of 268435456 bytes exhausted (tried to allocate 20480 bytes) in /var/www/html/wp-includes/class-wpdb.php on line 2351",
    "NOTICE: PHP message: WordPress database error MySQL server has gone away for query SELECT option_value FROM wp_options WHERE option_name = 'cron' LIMIT 1 made by require('wp-blog-header.php'), get_option",
];

const LIFECYCLE: &[&str] = &[
    "NOTICE: fpm is running, pid 1",
    "NOTICE: ready to handle connections",
    "NOTICE: Reloading in progress ...",
    "NOTICE: reloading: execvp(\"/usr/local/sbin/php-fpm\", {\"php-fpm\", \"--nodaemonize\"})",
    "NOTICE: using inherited socket fd=7, \"[::]:9000\"",
];

/// What a slow child was doing, innermost frame first; the last frame is
/// where the script entered WordPress.
const STACKS: &[(&str, &[&str])] = &[
    (
        "/var/www/html/index.php",
        &[
            "mysqli_query() /var/www/html/wp-includes/class-wpdb.php:2351",
            "_do_query() /var/www/html/wp-includes/class-wpdb.php:2265",
            "query() /var/www/html/wp-includes/class-wpdb.php:3136",
            "get_results() /var/www/html/wp-includes/class-wp-query.php:3343",
            "get_posts() /var/www/html/wp-includes/class-wp-query.php:3956",
            "query() /var/www/html/wp-includes/class-wp-query.php:4098",
            "query() /var/www/html/wp-includes/class-wp.php:696",
            "query_posts() /var/www/html/wp-includes/class-wp.php:816",
            "main() /var/www/html/wp-includes/functions.php:1342",
            "wp() /var/www/html/wp-blog-header.php:16",
            "require_once() /var/www/html/wp-blog-header.php:16",
            "require() /var/www/html/index.php:17",
        ],
    ),
    (
        "/var/www/html/index.php",
        &[
            "curl_exec() /var/www/html/wp-includes/Requests/src/Transport/Curl.php:205",
            "request() /var/www/html/wp-includes/Requests/src/Requests.php:469",
            "request() /var/www/html/wp-includes/class-wp-http.php:407",
            "get() /var/www/html/wp-includes/class-wp-http.php:626",
            "wp_remote_get() /var/www/html/wp-includes/http.php:170",
            "fetch_rates() /var/www/html/wp-content/plugins/currency-switcher/includes/class-rates.php:88",
            "render() /var/www/html/wp-content/plugins/currency-switcher/includes/class-widget.php:41",
            "apply_filters() /var/www/html/wp-includes/class-wp-hook.php:324",
            "apply_filters() /var/www/html/wp-includes/plugin.php:205",
            "the_content() /var/www/html/wp-includes/post-template.php:256",
            "include() /var/www/html/wp-content/themes/astra/single.php:28",
            "require_once() /var/www/html/wp-includes/template-loader.php:106",
            "require_once() /var/www/html/wp-blog-header.php:19",
            "require() /var/www/html/index.php:17",
        ],
    ),
    (
        "/var/www/html/index.php",
        &[
            "preg_replace_callback() /var/www/html/wp-includes/formatting.php:3518",
            "wptexturize() /var/www/html/wp-includes/formatting.php:302",
            "apply_filters() /var/www/html/wp-includes/class-wp-hook.php:324",
            "apply_filters() /var/www/html/wp-includes/plugin.php:205",
            "render_block() /var/www/html/wp-includes/blocks.php:2322",
            "do_blocks() /var/www/html/wp-includes/blocks.php:2390",
            "apply_filters() /var/www/html/wp-includes/class-wp-hook.php:324",
            "apply_filters() /var/www/html/wp-includes/plugin.php:205",
            "the_content() /var/www/html/wp-includes/post-template.php:256",
            "include() /var/www/html/wp-content/themes/twentytwentyfive/index.php:12",
            "require_once() /var/www/html/wp-includes/template-loader.php:106",
            "require_once() /var/www/html/wp-blog-header.php:19",
            "require() /var/www/html/index.php:17",
        ],
    ),
    (
        "/var/www/html/wp-admin/admin-ajax.php",
        &[
            "file_get_contents() /var/www/html/wp-content/plugins/instagram-feed/inc/class-sb-instagram-api-connect.php:231",
            "connect() /var/www/html/wp-content/plugins/instagram-feed/inc/class-sb-instagram-api-connect.php:118",
            "get_posts() /var/www/html/wp-content/plugins/instagram-feed/inc/class-sb-instagram-feed.php:402",
            "ajax_load_more() /var/www/html/wp-content/plugins/instagram-feed/inc/class-sb-instagram-ajax.php:77",
            "apply_filters() /var/www/html/wp-includes/class-wp-hook.php:324",
            "do_action() /var/www/html/wp-includes/class-wp-hook.php:348",
            "do_action() /var/www/html/wp-includes/plugin.php:517",
            "do_action() /var/www/html/wp-admin/admin-ajax.php:192",
        ],
    ),
    (
        "/var/www/html/wp-cron.php",
        &[
            "curl_exec() /var/www/html/wp-includes/Requests/src/Transport/Curl.php:205",
            "request() /var/www/html/wp-includes/Requests/src/Requests.php:469",
            "request() /var/www/html/wp-includes/class-wp-http.php:407",
            "post() /var/www/html/wp-includes/class-wp-http.php:639",
            "wp_remote_post() /var/www/html/wp-includes/http.php:189",
            "send_batch() /var/www/html/wp-content/plugins/mailpoet/lib/Mailer/Methods/MailPoet.php:64",
            "process() /var/www/html/wp-content/plugins/mailpoet/lib/Cron/Workers/SendingQueue/SendingQueue.php:211",
            "run() /var/www/html/wp-content/plugins/mailpoet/lib/Cron/Daemon.php:48",
            "apply_filters() /var/www/html/wp-includes/class-wp-hook.php:324",
            "do_action() /var/www/html/wp-includes/class-wp-hook.php:348",
            "do_action_ref_array() /var/www/html/wp-includes/plugin.php:570",
            "do_action_ref_array() /var/www/html/wp-cron.php:191",
        ],
    ),
    (
        "/var/www/html/wp-admin/async-upload.php",
        &[
            "resizeimage() /var/www/html/wp-includes/class-wp-image-editor-imagick.php:495",
            "thumbnail_image() /var/www/html/wp-includes/class-wp-image-editor-imagick.php:425",
            "resize() /var/www/html/wp-includes/class-wp-image-editor-imagick.php:356",
            "make_subsize() /var/www/html/wp-includes/class-wp-image-editor-imagick.php:604",
            "_wp_make_subsizes() /var/www/html/wp-admin/includes/image.php:460",
            "wp_create_image_subsizes() /var/www/html/wp-admin/includes/image.php:357",
            "wp_generate_attachment_metadata() /var/www/html/wp-admin/includes/image.php:572",
            "media_handle_upload() /var/www/html/wp-admin/includes/media.php:470",
            "media_handle_upload() /var/www/html/wp-admin/async-upload.php:122",
        ],
    ),
];

/// A line FPM writes as a consequence of an earlier one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Follow {
    /// The killed child's exit, then its replacement.
    SignalExit {
        site: usize,
        pid: u32,
        sig: u32,
    },
    Started {
        site: usize,
    },
}

/// State carried between FPM error-log records (queued follow-up lines).
#[derive(Debug, Default)]
pub(crate) struct FpmModel {
    pending: VecDeque<Follow>,
}

fn max_children(site: usize) -> u64 {
    [5, 8, 10, 12, 16, 20][(mix64(site as u64 ^ 0x9A6C) % 6) as usize]
}

fn pid(rng: &mut Rng) -> u32 {
    rng.range(100, 65_000) as u32
}

fn push_header(buf: &mut Vec<u8>, secs: i64, level: &[u8]) {
    buf.push(b'[');
    push_dmy_time(buf, secs);
    buf.extend_from_slice(b"] ");
    buf.extend_from_slice(level);
    buf.extend_from_slice(b": ");
}

fn push_pool(buf: &mut Vec<u8>, site: &Site) {
    buf.extend_from_slice(b"[pool ");
    buf.extend_from_slice(&site.slug);
    buf.extend_from_slice(b"] ");
}

/// `S.uuuuuu` seconds, FPM's `%ld.%06d`.
fn push_secs(buf: &mut Vec<u8>, secs: f64) {
    push_fixed(buf, (secs * 1e6) as u64, 6);
}

impl FpmModel {
    /// Writes one error-log line for a site drawn by `pick` (which returns
    /// the site and whether it is in an incident) and returns the site the
    /// line names (`None` for master lifecycle lines).
    pub fn error_line(
        &mut self,
        buf: &mut Vec<u8>,
        rng: &mut Rng,
        sites: &[Site],
        pick: impl FnOnce(&mut Rng) -> (usize, bool),
        ts_ns: i64,
        counts: &mut FpmCounts,
    ) -> Option<usize> {
        let (secs, nanos) = split_ns(ts_ns);
        if let Some(f) = self.pending.pop_front() {
            match f {
                Follow::SignalExit { site, pid: p, sig } => {
                    push_header(buf, secs, b"WARNING");
                    push_pool(buf, &sites[site]);
                    buf.extend_from_slice(b"child ");
                    push_u64(buf, u64::from(p));
                    buf.extend_from_slice(b" exited on signal ");
                    push_u64(buf, u64::from(sig));
                    buf.extend_from_slice(if sig == 9 {
                        b" (SIGKILL)"
                    } else {
                        b" (SIGTERM)"
                    });
                    buf.extend_from_slice(b" after ");
                    push_secs(buf, rng.lognormal(400.0, 1.0));
                    buf.extend_from_slice(b" seconds from start\n");
                    counts.signaled += 1;
                    self.pending.push_back(Follow::Started { site });
                    return Some(site);
                }
                Follow::Started { site } => {
                    push_header(buf, secs, b"NOTICE");
                    push_pool(buf, &sites[site]);
                    buf.extend_from_slice(b"child ");
                    push_u64(buf, u64::from(pid(rng)));
                    buf.extend_from_slice(b" started\n");
                    counts.started += 1;
                    return Some(site);
                }
            }
        }
        let (site, incident) = pick(rng);
        let table = if incident && rng.chance(0.6) {
            INCIDENT_EVENTS
        } else {
            EVENTS
        };
        let ev = rng.weighted(table);
        let s = &sites[site];
        match ev {
            Ev::Started => {
                push_header(buf, secs, b"NOTICE");
                push_pool(buf, s);
                buf.extend_from_slice(b"child ");
                push_u64(buf, u64::from(pid(rng)));
                buf.extend_from_slice(b" started\n");
                counts.started += 1;
            }
            Ev::Exited => {
                push_header(buf, secs, b"NOTICE");
                push_pool(buf, s);
                buf.extend_from_slice(b"child ");
                push_u64(buf, u64::from(pid(rng)));
                buf.extend_from_slice(b" exited with code 0 after ");
                push_secs(buf, rng.lognormal(600.0, 1.0));
                buf.extend_from_slice(b" seconds from start\n");
                counts.exited += 1;
            }
            Ev::Signaled => {
                // The OOM killer: SIGKILL, then a replacement child.
                push_header(buf, secs, b"WARNING");
                push_pool(buf, s);
                buf.extend_from_slice(b"child ");
                push_u64(buf, u64::from(pid(rng)));
                buf.extend_from_slice(b" exited on signal 9 (SIGKILL) after ");
                push_secs(buf, rng.lognormal(30.0, 1.2));
                buf.extend_from_slice(b" seconds from start\n");
                counts.signaled += 1;
                self.pending.push_back(Follow::Started { site });
            }
            Ev::MaxChildren => {
                push_header(buf, secs, b"WARNING");
                push_pool(buf, s);
                buf.extend_from_slice(b"server reached pm.max_children setting (");
                push_u64(buf, max_children(site));
                buf.extend_from_slice(b"), consider raising it\n");
                counts.max_children += 1;
            }
            Ev::SeemsBusy => {
                push_header(buf, secs, b"WARNING");
                push_pool(buf, s);
                buf.extend_from_slice(
                    b"seems busy (you may need to increase pm.start_servers, or pm.min/max_spare_servers), spawning ",
                );
                push_u64(buf, *rng.pick(&[8, 16, 32]));
                buf.extend_from_slice(b" children, there are ");
                push_u64(buf, rng.below(2));
                buf.extend_from_slice(b" idle, and ");
                push_u64(buf, rng.range(2, max_children(site)));
                buf.extend_from_slice(b" total children\n");
                counts.seems_busy += 1;
            }
            Ev::Slow | Ev::TimedOut => {
                let (script, method, uri) = *rng.pick(SCRIPTS);
                let p = pid(rng);
                push_header(buf, secs, b"WARNING");
                push_pool(buf, s);
                buf.extend_from_slice(b"child ");
                push_u64(buf, u64::from(p));
                buf.extend_from_slice(b", script '");
                buf.extend_from_slice(script.as_bytes());
                buf.extend_from_slice(b"' (request: \"");
                buf.extend_from_slice(method.as_bytes());
                buf.push(b' ');
                buf.extend_from_slice(uri.as_bytes());
                if ev == Ev::Slow {
                    buf.extend_from_slice(b"\") executing too slow (");
                    push_secs(buf, 5.0 + rng.f64() * 1.2);
                    buf.extend_from_slice(b" sec), logging\n");
                    counts.slow += 1;
                } else {
                    buf.extend_from_slice(b"\") execution timed out (");
                    push_secs(buf, 30.0 + rng.f64() * 1.5);
                    buf.extend_from_slice(b" sec), terminating\n");
                    counts.timed_out += 1;
                    self.pending.push_back(Follow::SignalExit {
                        site,
                        pid: p,
                        sig: 15,
                    });
                }
            }
            Ev::Stderr => {
                push_header(buf, secs, b"WARNING");
                push_pool(buf, s);
                buf.extend_from_slice(b"child ");
                push_u64(buf, u64::from(pid(rng)));
                buf.extend_from_slice(b" said into stderr: \"");
                buf.extend_from_slice(rng.pick(STDERR_MESSAGES).as_bytes());
                buf.extend_from_slice(b"\"\n");
                counts.stderr += 1;
            }
            Ev::Lifecycle => {
                buf.push(b'[');
                push_dmy_time(buf, secs);
                buf.extend_from_slice(b"] ");
                buf.extend_from_slice(rng.pick(LIFECYCLE).as_bytes());
                buf.push(b'\n');
                counts.lifecycle += 1;
                return None;
            }
            Ev::Debug => {
                // A master running with log_level = debug stamps microseconds.
                buf.push(b'[');
                push_dmy_time(buf, secs);
                buf.push(b'.');
                push_padded(buf, u64::from(nanos / 1000), 6);
                buf.extend_from_slice(b"] DEBUG: pid 1, ");
                match rng.below(3) {
                    0 => {
                        buf.extend_from_slice(
                            b"fpm_pctl_perform_idle_server_maintenance(), line 378: ",
                        );
                        push_pool(buf, s);
                        buf.extend_from_slice(b"currently ");
                        push_u64(buf, rng.below(4));
                        buf.extend_from_slice(b" active children, ");
                        push_u64(buf, rng.range(1, 3));
                        buf.extend_from_slice(b" spare children, ");
                        push_u64(buf, rng.range(2, 6));
                        buf.extend_from_slice(b" running children. Spawning rate 1\n");
                    }
                    1 => buf.extend_from_slice(
                        b"fpm_event_loop(), line 373: event module triggered 1 events\n",
                    ),
                    _ => buf.extend_from_slice(b"fpm_got_signal(), line 75: received SIGCHLD\n"),
                }
                counts.debug += 1;
            }
        }
        Some(site)
    }
}

/// Writes one slow-log block for `site`: header, `script_filename`, 2-12
/// frames innermost first, blank line.
pub(crate) fn slow_block(buf: &mut Vec<u8>, rng: &mut Rng, site: &Site, ts_ns: i64) {
    let (script, frames) = *rng.pick(STACKS);
    buf.push(b'[');
    push_dmy_time(buf, split_ns(ts_ns).0);
    buf.extend_from_slice(b"]  [pool ");
    buf.extend_from_slice(&site.slug);
    buf.extend_from_slice(b"] pid ");
    push_u64(buf, rng.range(100, 65_000));
    buf.extend_from_slice(b"\nscript_filename = ");
    buf.extend_from_slice(script.as_bytes());
    buf.push(b'\n');
    let depth = (rng.range(2, 12) as usize).min(frames.len());
    let mut addr = 0x7f00_0000_0000 + (rng.below(0xf_ffff_ffff) << 4);
    let dump_failed = rng.chance(0.02);
    for (k, frame) in frames
        .iter()
        .take(depth - 1)
        .chain(frames.last())
        .enumerate()
    {
        buf.extend_from_slice(b"[0x");
        push_hex(buf, addr, 16);
        buf.extend_from_slice(b"] ");
        if dump_failed && k == depth - 1 {
            buf.extend_from_slice(b"+++ dump failed\n");
        } else {
            buf.extend_from_slice(frame.as_bytes());
            buf.push(b'\n');
        }
        addr -= (rng.range(4, 32)) << 4;
    }
    buf.push(b'\n');
}
