//! WordPress `debug.log` (PHP's `error_log` with `[dd-Mon-yyyy hh:mm:ss UTC]`
//! stamps): warnings, notices and deprecations from plugins and themes,
//! database errors, and fatals, uncaught ones with a multi-line stack trace.

use crate::rng::{Rng, mix64};
use crate::stats::PhpCounts;
use crate::text::{push_dmy_time, push_u64, split_ns};

const PLUGINS: &[&str] = &[
    "woocommerce",
    "elementor",
    "contact-form-7",
    "wordpress-seo",
    "jetpack",
    "wpforms-lite",
    "acme-sliders",
    "legacy-gallery",
    "custom-snippets",
    "currency-switcher",
];
const THEMES: &[&str] = &["astra", "twentytwentyfive", "generatepress", "old-magazine"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Entry {
    Uncaught,
    Memory,
    TimeLimit,
    Parse,
    Warning,
    Notice,
    Deprecated,
    Database,
}

const ENTRIES: &[(Entry, u32)] = &[
    (Entry::Uncaught, 70),
    (Entry::Memory, 20),
    (Entry::TimeLimit, 15),
    (Entry::Parse, 5),
    (Entry::Warning, 300),
    (Entry::Notice, 240),
    (Entry::Deprecated, 250),
    (Entry::Database, 100),
];

/// Frames from a hook callback out to `index.php`, outermost last.
const OUTER_FRAMES: &[&str] = &[
    "/var/www/html/wp-includes/class-wp-hook.php(348): WP_Hook->apply_filters(NULL, Array)",
    "/var/www/html/wp-includes/plugin.php(517): WP_Hook->do_action(Array)",
    "/var/www/html/wp-settings.php(727): do_action('init')",
    "/var/www/html/wp-config.php(98): require_once('/var/www/html/w...')",
    "/var/www/html/wp-load.php(50): require_once('/var/www/html/w...')",
    "/var/www/html/wp-blog-header.php(13): require_once('/var/www/html/w...')",
    "/var/www/html/index.php(17): require('/var/www/html/w...')",
];

fn plugin(site: usize, rng: &mut Rng) -> &'static str {
    // Each site runs a few plugins; errors come from those.
    PLUGINS[(mix64(site as u64 ^ rng.below(3)) % PLUGINS.len() as u64) as usize]
}

fn put(buf: &mut Vec<u8>, parts: &[&str]) {
    for part in parts {
        buf.extend_from_slice(part.as_bytes());
    }
}

fn theme(site: usize) -> &'static str {
    THEMES[(mix64(site as u64 ^ 0x7E3E) % THEMES.len() as u64) as usize]
}

/// The stock install root the entries are written with; [`relocate`]
/// moves an entry to its site's own root.
const STOCK_ROOT: &[u8] = b"/var/www/html/";

/// Rewrites the stock root in `buf[from..]` as `/var/www/<slug>/`: a
/// shared-hosting layout (one install per directory, one PHP error log for
/// all), where the script paths in a message name the site.
pub(crate) fn relocate(buf: &mut Vec<u8>, from: usize, slug: &[u8]) {
    let tail = &buf[from..];
    if !tail.windows(STOCK_ROOT.len()).any(|w| w == STOCK_ROOT) {
        return;
    }
    let mut out = Vec::with_capacity(tail.len() + 16);
    let mut i = 0;
    while i < tail.len() {
        if tail[i..].starts_with(STOCK_ROOT) {
            out.extend_from_slice(b"/var/www/");
            out.extend_from_slice(slug);
            out.push(b'/');
            i += STOCK_ROOT.len();
        } else {
            out.push(tail[i]);
            i += 1;
        }
    }
    buf.truncate(from);
    buf.extend_from_slice(&out);
}

/// Writes one debug.log entry for `site` (one line, or a fatal with its
/// stack trace) and counts it.
pub(crate) fn entry(
    buf: &mut Vec<u8>,
    rng: &mut Rng,
    site: usize,
    ts_ns: i64,
    counts: &mut PhpCounts,
) {
    buf.push(b'[');
    push_dmy_time(buf, split_ns(ts_ns).0);
    buf.extend_from_slice(b" UTC] ");
    let p = plugin(site, rng);
    let t = theme(site);
    let line = rng.range(12, 2400);
    match rng.weighted(ENTRIES) {
        Entry::Uncaught => {
            counts.fatal += 1;
            let (file, msg, callee): (String, String, String) = match rng.below(4) {
                0 => (
                    format!("/var/www/html/wp-content/plugins/{p}/{p}.php"),
                    format!("Uncaught Error: Call to undefined function {}_init_legacy()", p.replace('-', "_")),
                    format!("{}_bootstrap('')", p.replace('-', "_")),
                ),
                1 => (
                    format!("/var/www/html/wp-content/themes/{t}/functions.php"),
                    "Uncaught TypeError: count(): Argument #1 ($value) must be of type Countable|array, null given".into(),
                    format!("{}_setup_menus('')", t.replace('-', "_")),
                ),
                2 => (
                    format!("/var/www/html/wp-content/plugins/{p}/includes/class-{p}.php"),
                    "Uncaught Error: Class \"WC_Legacy_Cart\" not found".into(),
                    format!("{}_load_cart(Object(WP))", p.replace('-', "_")),
                ),
                _ => (
                    "/var/www/html/wp-includes/class-wpdb.php".into(),
                    "Uncaught mysqli_sql_exception: Deadlock found when trying to get lock; try restarting transaction"
                        .into(),
                    "mysqli_query(Object(mysqli), 'UPDATE `wp_optio...')".into(),
                ),
            };
            put(buf, &["PHP Fatal error:  ", &msg, " in ", &file, ":"]);
            push_u64(buf, line);
            buf.extend_from_slice(b"\nStack trace:\n");
            let inner = rng.below(3) as usize;
            let outer = rng.range(2, OUTER_FRAMES.len() as u64) as usize;
            let mut n = 0u64;
            let mut frame = |buf: &mut Vec<u8>, text: &str| {
                buf.push(b'#');
                push_u64(buf, n);
                buf.push(b' ');
                buf.extend_from_slice(text.as_bytes());
                buf.push(b'\n');
                n += 1;
            };
            frame(
                buf,
                &format!("/var/www/html/wp-includes/class-wp-hook.php(324): {callee}"),
            );
            for k in 0..inner {
                frame(
                    buf,
                    &format!(
                        "/var/www/html/wp-content/plugins/{p}/includes/loader.php({}): {p}_hook_{k}()",
                        40 + k * 17
                    ),
                );
            }
            for f in &OUTER_FRAMES[OUTER_FRAMES.len() - outer..] {
                frame(buf, f);
            }
            frame(buf, "{main}");
            buf.extend_from_slice(b"  thrown in ");
            buf.extend_from_slice(file.as_bytes());
            buf.extend_from_slice(b" on line ");
            push_u64(buf, line);
            buf.push(b'\n');
            return;
        }
        Entry::Memory => {
            counts.fatal += 1;
            buf.extend_from_slice(b"PHP Fatal error:  Allowed memory size of 268435456 bytes exhausted (tried to allocate ");
            push_u64(buf, 4096 << rng.below(8));
            buf.extend_from_slice(
                b" bytes) in /var/www/html/wp-includes/class-wpdb.php on line 2351",
            );
        }
        Entry::TimeLimit => {
            counts.fatal += 1;
            buf.extend_from_slice(
                b"PHP Fatal error:  Maximum execution time of 30 seconds exceeded in /var/www/html/wp-includes/Requests/src/Transport/Curl.php on line 205",
            );
        }
        Entry::Parse => {
            counts.fatal += 1;
            put(
                buf,
                &[
                    "PHP Parse error:  syntax error, unexpected token \"}\", expecting \";\" in /var/www/html/wp-content/themes/",
                    t,
                    "/functions.php on line ",
                ],
            );
            push_u64(buf, line);
        }
        Entry::Warning => {
            counts.warning += 1;
            match rng.below(5) {
                0 => put(
                    buf,
                    &[
                        "PHP Warning:  Undefined array key \"",
                        *rng.pick(&["page", "id", "slide", "currency", "nonce"]),
                        "\" in /var/www/html/wp-content/plugins/",
                        p,
                        "/includes/class-",
                        p,
                        ".php on line ",
                    ],
                ),
                1 => put(
                    buf,
                    &[
                        "PHP Warning:  Attempt to read property \"ID\" on null in /var/www/html/wp-content/themes/",
                        t,
                        "/functions.php on line ",
                    ],
                ),
                2 => {
                    put(
                        buf,
                        &[
                            "PHP Warning:  Cannot modify header information - headers already sent by (output started at /var/www/html/wp-content/plugins/",
                            p,
                            "/",
                            p,
                            ".php:",
                        ],
                    );
                    push_u64(buf, line);
                    put(
                        buf,
                        &[") in /var/www/html/wp-includes/pluggable.php on line 1450\n"],
                    );
                    return;
                }
                3 => put(
                    buf,
                    &[
                        "PHP Warning:  file_get_contents(https://api.example.org/v1/rates): Failed to open stream: HTTP request failed! HTTP/1.1 503 Service Unavailable in /var/www/html/wp-content/plugins/",
                        p,
                        "/includes/class-api.php on line ",
                    ],
                ),
                _ => put(
                    buf,
                    &[
                        "PHP Warning:  foreach() argument must be of type array|object, null given in /var/www/html/wp-content/themes/",
                        t,
                        "/template-parts/content.php on line ",
                    ],
                ),
            }
            push_u64(buf, line);
        }
        Entry::Notice => {
            counts.notice += 1;
            if rng.chance(0.7) {
                put(
                    buf,
                    &[
                        "PHP Notice:  Function _load_textdomain_just_in_time was called <strong>incorrectly</strong>. Translation loading for the <code>",
                        p,
                        "</code> domain was triggered too early. This is usually an indicator for some code in the plugin or theme running too early. Translations should be loaded at the <code>init</code> action or later. Please see <a href=\"https://developer.wordpress.org/advanced-administration/debug/debug-wordpress/\">Debugging in WordPress</a> for more information. (This message was added in version 6.7.0.) in /var/www/html/wp-includes/functions.php on line 6121",
                    ],
                );
            } else {
                put(
                    buf,
                    &[
                        "PHP Notice:  Function wp_enqueue_script was called <strong>incorrectly</strong>. Scripts and styles should not be registered or enqueued until the <code>wp_enqueue_scripts</code>, <code>admin_enqueue_scripts</code>, or <code>login_enqueue_scripts</code> hooks. This notice was triggered by the <code>",
                        p,
                        "</code> handle. Please see <a href=\"https://developer.wordpress.org/advanced-administration/debug/debug-wordpress/\">Debugging in WordPress</a> for more information. (This message was added in version 3.3.0.) in /var/www/html/wp-includes/functions.php on line 6121",
                    ],
                );
            }
        }
        Entry::Deprecated => {
            counts.deprecated += 1;
            match rng.below(4) {
                0 => {
                    put(
                        buf,
                        &[
                            "PHP Deprecated:  Creation of dynamic property ",
                            *rng.pick(&[
                                "Acme_Slider",
                                "Legacy_Gallery_Widget",
                                "WPCS_Rates",
                                "Snippet_Runner",
                            ]),
                            "::$",
                            *rng.pick(&["options", "settings", "cache", "instance"]),
                            " is deprecated in /var/www/html/wp-content/plugins/",
                            p,
                            "/includes/class-",
                            p,
                            ".php on line ",
                        ],
                    );
                    push_u64(buf, line);
                }
                1 => put(
                    buf,
                    &[
                        "PHP Deprecated:  strpos(): Passing null to parameter #1 ($haystack) of type string is deprecated in /var/www/html/wp-includes/functions.php on line 7374",
                    ],
                ),
                2 => put(
                    buf,
                    &[
                        "PHP Deprecated:  str_replace(): Passing null to parameter #3 ($subject) of type array|string is deprecated in /var/www/html/wp-includes/formatting.php on line 4494",
                    ],
                ),
                _ => {
                    put(
                        buf,
                        &[
                            "PHP Deprecated:  Optional parameter $args declared before required parameter $id is implicitly treated as a required parameter in /var/www/html/wp-content/themes/",
                            t,
                            "/inc/template-tags.php on line ",
                        ],
                    );
                    push_u64(buf, line);
                }
            }
        }
        Entry::Database => {
            counts.database += 1;
            match rng.below(4) {
                0 => put(
                    buf,
                    &[
                        "WordPress database error Table 'wp.wp_options' doesn't exist for query SELECT option_value FROM wp_options WHERE option_name = 'siteurl' LIMIT 1 made by require('wp-blog-header.php'), require_once('wp-load.php'), require_once('wp-config.php'), require_once('wp-settings.php'), wp_plugin_directory_constants, get_option",
                    ],
                ),
                1 => {
                    put(
                        buf,
                        &[
                            "WordPress database error Deadlock found when trying to get lock; try restarting transaction for query UPDATE `wp_options` SET `option_value` = '",
                        ],
                    );
                    push_u64(buf, split_ns(ts_ns).0.max(0) as u64);
                    put(
                        buf,
                        &[
                            "' WHERE `option_name` = '_transient_timeout_wc_count_comments' made by do_action_ref_array('action_scheduler_run_queue'), WP_Hook->do_action, WP_Hook->apply_filters, ActionScheduler_QueueRunner->run, ActionScheduler_QueueRunner->do_batch",
                        ],
                    );
                }
                2 => {
                    put(
                        buf,
                        &[
                            "WordPress database error MySQL server has gone away for query SELECT * FROM wp_posts WHERE ID = ",
                        ],
                    );
                    push_u64(buf, rng.range(1, 9999));
                    put(
                        buf,
                        &[
                            " LIMIT 1 made by require('wp-blog-header.php'), wp, WP->main, WP->query_posts, WP_Query->query, WP_Query->get_posts",
                        ],
                    );
                }
                _ => put(
                    buf,
                    &[
                        "WordPress database error Lock wait timeout exceeded; try restarting transaction for query INSERT INTO `wp_actionscheduler_logs` (`action_id`, `message`, `log_date_gmt`, `log_date_local`) VALUES (4711, 'action started via WP Cron', '2026-11-22 10:00:00', '2026-11-22 10:00:00') made by do_action_ref_array('action_scheduler_run_queue'), WP_Hook->do_action, ActionScheduler_Logger->log",
                    ],
                ),
            }
        }
    }
    buf.push(b'\n');
}
