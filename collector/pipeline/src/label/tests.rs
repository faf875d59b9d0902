//! Labeler unit tests.

use super::table::Namer;
use super::*;

fn rec<'a>(router: &'a [u8], host: &'a [u8], pool: &'a [u8]) -> Record<'a> {
    Record {
        router,
        host,
        pool,
        ..Record::default()
    }
}

#[test]
fn router_then_host_then_file() {
    let mut l = Labeler::new(&SitesConfig::default()).unwrap();
    let none = FileSites::default();
    let a = l.label(
        &rec(b"websecure-site042-example-com@kubernetes", b"", b""),
        &none,
    );
    assert_eq!(l.sites().name(a), "site042-example-com");
    let b = l.label(&rec(b"", b"WWW.Site7.Example.com:443", b""), &none);
    assert_eq!(l.sites().name(b), "site7-example-com");
    let c = l.label(&rec(b"", b"", b"site9"), &none);
    assert_eq!(l.sites().name(c), "site9");
    let file = l.file_sites(&FileKeys {
        namespace: Some("shop".into()),
        path: None,
    });
    let d = l.label(&rec(b"", b"10.0.0.1", b""), &file);
    assert_eq!(l.sites().name(d), "shop");
    let e = l.label(&rec(b"", b"", b""), &none);
    assert_eq!(e, SiteId::UNKNOWN);
    assert_eq!(l.stats().unknown_records, 1);
    // Cached: same id again.
    assert_eq!(
        l.label(
            &rec(b"websecure-site042-example-com@kubernetes", b"", b""),
            &none
        ),
        a
    );
}

#[test]
fn router_and_host_spellings_are_one_site() {
    let mut l = Labeler::new(&SitesConfig::default()).unwrap();
    let none = FileSites::default();
    let a = l.label(
        &rec(b"websecure-site042-example-com@kubernetes", b"", b""),
        &none,
    );
    let b = l.label(&rec(b"", b"site042.example.com", b""), &none);
    assert_eq!(a, b);
    assert_eq!(l.sites().name(a), "site042-example-com");
    assert_eq!(l.sites().get("site042.example.com"), Some(a));
    let cfg = SitesConfig {
        merge_dots_and_dashes: false,
        ..SitesConfig::default()
    };
    let mut l = Labeler::new(&cfg).unwrap();
    let a = l.label(
        &rec(b"websecure-site042-example-com@kubernetes", b"", b""),
        &none,
    );
    let b = l.label(&rec(b"", b"site042.example.com", b""), &none);
    assert_ne!(a, b);
}

#[test]
fn excluded_namespaces_name_no_site() {
    let mut l = Labeler::new(&SitesConfig::default()).unwrap();
    let file = l.file_sites(&FileKeys {
        namespace: Some("kube-system".into()),
        path: None,
    });
    assert_eq!(l.label(&rec(b"", b"", b""), &file), SiteId::UNKNOWN);
}

#[test]
fn cap_bounds_sites_and_cache() {
    let cfg = SitesConfig {
        max_sites: 10,
        ..SitesConfig::default()
    };
    let mut l = Labeler::new(&cfg).unwrap();
    let none = FileSites::default();
    for i in 0..10_000 {
        let host = format!("random{i}.example.org");
        l.label(&rec(b"", host.as_bytes(), b""), &none);
    }
    assert_eq!(l.sites().len(), 10);
    assert_eq!(l.stats().sites_refused, 9_991);
    assert_eq!(l.stats().unknown_records, 9_991);
    assert!(l.cache[KeyKind::Host.slot()].len() <= 40);
    assert_eq!(l.stats().cache_resets, 10_000 / 40 - 1);
    // A site created before the flood still resolves (and is cached again).
    let id = l.label(&rec(b"", b"random3.example.org", b""), &none);
    assert_eq!(l.sites().name(id), "random3-example-org");
}

#[test]
fn static_sites_alias_keys() {
    let cfg = SitesConfig {
        auto_create: false,
        static_sites: vec![StaticSite {
            name: "shop".into(),
            hosts: vec!["shop.example.com".into()],
            routers: vec!["shop-example-com".into()],
            ..StaticSite::default()
        }],
        ..SitesConfig::default()
    };
    let mut l = Labeler::new(&cfg).unwrap();
    let none = FileSites::default();
    let a = l.label(
        &rec(b"websecure-shop-example-com@kubernetescrd", b"", b""),
        &none,
    );
    let b = l.label(&rec(b"", b"www.shop.example.com", b""), &none);
    let c = l.label(&rec(b"", b"other.example.com", b""), &none);
    assert_eq!(l.sites().name(a), "shop");
    assert_eq!(a, b);
    assert_eq!(c, SiteId::UNKNOWN);
    assert_eq!(l.stats().unknown_records, 1);
    // An unknown Host falls through to the next key: the pool.
    let cfg = SitesConfig {
        static_sites: vec![StaticSite {
            name: "shop".into(),
            pools: vec!["shop".into()],
            ..StaticSite::default()
        }],
        ..cfg
    };
    let mut l = Labeler::new(&cfg).unwrap();
    let d = l.label(&rec(b"", b"other.example.com", b"shop"), &none);
    assert_eq!(l.sites().name(d), "shop");
}

#[test]
fn bad_patterns_name_the_field() {
    let cfg = SitesConfig {
        router_pattern: "(unclosed".into(),
        ..SitesConfig::default()
    };
    let e = Labeler::new(&cfg).unwrap_err().to_string();
    assert!(e.starts_with("sites.router_pattern:"), "{e}");
    let cfg = SitesConfig {
        path_pattern: "/var/www/([^/]+)/".into(),
        ..SitesConfig::default()
    };
    let e = Labeler::new(&cfg).unwrap_err().to_string();
    assert!(e.contains("path_pattern") && e.contains("site"), "{e}");
}

#[test]
fn stock_document_roots_name_no_site() {
    let mut l = Labeler::new(&SitesConfig::default()).unwrap();
    let f = l.file_sites(&FileKeys {
        namespace: None,
        path: Some("/var/www/html/wp-content/debug.log".into()),
    });
    assert_eq!(l.label(&rec(b"", b"", b""), &f), SiteId::UNKNOWN);
    let f = l.file_sites(&FileKeys {
        namespace: None,
        path: Some("/srv/sites/shop.example.com/logs/debug.log".into()),
    });
    let id = l.label(&rec(b"", b"", b""), &f);
    assert_eq!(l.sites().name(id), "shop-example-com");
}

#[test]
fn hosts_that_are_not_sites() {
    for h in [
        &b"10.1.2.3"[..],
        b"[2001:db8::1]:443",
        b"localhost",
        b"bad host",
        b"-",
    ] {
        assert_eq!(
            normalise_host(h, true),
            None,
            "{:?}",
            String::from_utf8_lossy(h)
        );
    }
}

/// Every tier of one site, as (record keys, file keys): Traefik's CLF
/// (router and service), Traefik's JSON (router, service and Host), an
/// nginx sidecar in the site's pod (no `$host` in nginx's `combined`
/// format: only the pod's namespace), FPM's error log (pool) and slow log
/// (pool and script) in the pod, WordPress' `debug.log` under the install
/// path, and a PHP error log shared by every site (the script path only).
fn tiers(ns: &str, host: &str, dir: &str, pool: &str) -> Vec<(Record<'static>, FileKeys)> {
    let leak = |s: String| -> &'static [u8] { Box::leak(s.into_bytes().into_boxed_slice()) };
    let dashed = host.replace('.', "-");
    let router = leak(format!("websecure-{dashed}@kubernetes"));
    let service = leak(format!("{dashed}-php-80@kubernetes"));
    let pod = FileKeys {
        namespace: Some(ns.to_owned()),
        path: Some(format!(
            "/var/log/pods/{ns}_{ns}-php-7d9f8c6b5-q4m2x_0b1c/php/0.log"
        )),
    };
    let traefik = FileKeys {
        namespace: Some("traefik".into()),
        path: Some("/var/log/pods/traefik_traefik-5d8f_1a2b/traefik/0.log".into()),
    };
    let shared = FileKeys {
        namespace: None,
        path: Some("/var/log/php/error.log".into()),
    };
    let script = leak(format!("/var/www/{dir}/wp-content/plugins/x/x.php"));
    vec![
        (
            Record {
                router,
                service,
                ..Record::default()
            },
            traefik.clone(),
        ),
        (
            Record {
                router,
                service,
                host: leak(host.to_owned()),
                ..Record::default()
            },
            traefik,
        ),
        (Record::default(), pod.clone()),
        (
            Record {
                pool: leak(pool.to_owned()),
                ..Record::default()
            },
            pod.clone(),
        ),
        (
            Record {
                pool: leak(pool.to_owned()),
                script: leak(format!("/var/www/{dir}/index.php")),
                ..Record::default()
            },
            pod,
        ),
        (
            Record {
                script,
                ..Record::default()
            },
            FileKeys {
                namespace: None,
                path: Some(format!("/var/www/{dir}/wp-content/debug.log")),
            },
        ),
        (
            Record::default(),
            FileKeys {
                namespace: None,
                path: Some(format!("/var/www/{dir}/wp-content/debug.log")),
            },
        ),
        (
            Record {
                script,
                ..Record::default()
            },
            shared,
        ),
    ]
}

/// Labels every tier of `n` sites in an order given by `seed`; returns,
/// per site, the names its tiers were labelled with.
fn label_shuffled(
    cfg: &SitesConfig,
    n: usize,
    seed: u64,
    scheme: impl Fn(usize) -> (String, String, String, String),
) -> (Labeler, Vec<Vec<String>>) {
    let mut items: Vec<(usize, Record<'static>, FileKeys)> = (0..n)
        .flat_map(|i| {
            let (ns, host, dir, pool) = scheme(i);
            tiers(&ns, &host, &dir, &pool)
                .into_iter()
                .map(move |(r, f)| (i, r, f))
        })
        .collect();
    let mut x = seed | 1;
    for k in (1..items.len()).rev() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        items.swap(k, (x % (k as u64 + 1)) as usize);
    }
    let mut l = Labeler::new(cfg).unwrap();
    let mut got = vec![Vec::new(); n];
    for (i, rec, keys) in &items {
        let file = l.file_sites(keys);
        let id = l.label(rec, &file);
        got[*i].push(l.sites().name(id).to_owned());
    }
    (l, got)
}

proptest::proptest! {
    /// Namespace, pool and install directory `site007`, Host
    /// `site007.example.com`, Traefik router and service after the Host: with
    /// the farm domain configured every tier of a site is one site called
    /// `site007`, in any order.
    #[test]
    fn every_tier_of_a_site_is_one_site_in_any_order(seed in proptest::prelude::any::<u64>()) {
        let cfg = SitesConfig {
            domains: vec!["example.com".into()],
            ..SitesConfig::default()
        };
        let n = 25;
        let (l, got) = label_shuffled(&cfg, n, seed, |i| {
            let slug = format!("site{:03}", i + 1);
            (slug.clone(), format!("{slug}.example.com"), slug.clone(), slug)
        });
        proptest::prop_assert_eq!(l.sites().len(), n + 1);
        for (i, names) in got.iter().enumerate() {
            let want = format!("site{:03}", i + 1);
            proptest::prop_assert!(names.iter().all(|n| *n == want), "{}: {:?}", want, names);
        }
        proptest::prop_assert_eq!(l.stats().unknown_records, 0);
        proptest::prop_assert_eq!(l.stats().conflicts, 0);
    }

    /// The other common scheme, with no configuration: namespace, pool and
    /// install directory named after the whole domain
    /// (`shop-example-org`, `/var/www/shop.example.org/`).
    #[test]
    fn domain_named_namespaces_need_no_configuration(seed in proptest::prelude::any::<u64>()) {
        let n = 12;
        let (l, got) = label_shuffled(&SitesConfig::default(), n, seed, |i| {
            let host = format!("shop{i}.example.org");
            (host.replace('.', "-"), host.clone(), host.clone(), host.replace('.', "_"))
        });
        proptest::prop_assert_eq!(l.sites().len(), n + 1, "{:?}", got);
        for (i, names) in got.iter().enumerate() {
            let want = format!("shop{i}-example-org");
            proptest::prop_assert!(names.iter().all(|n| *n == want), "{}: {:?}", want, names);
        }
    }
}

#[test]
fn disagreeing_schemes_are_counted_with_their_names() {
    // Without `domains`, the Host names `site007-example-com` and the pod's
    // namespace `site007`: two sites, and the disagreement is reported.
    let mut l = Labeler::new(&SitesConfig::default()).unwrap();
    let file = l.file_sites(&FileKeys {
        namespace: Some("site007".into()),
        path: None,
    });
    let a = l.label(&rec(b"", b"site007.example.com", b""), &file);
    let b = l.label(&rec(b"", b"", b""), &file);
    assert_eq!(
        (l.sites().name(a), l.sites().name(b)),
        ("site007-example-com", "site007")
    );
    assert_eq!(l.stats().conflicts, 1);
    assert_eq!(l.conflicts(), [(a, b)]);
}

#[test]
fn the_mapping_table_joins_names_of_no_common_scheme() {
    let cfg = SitesConfig {
        domains: vec!["example.com".into()],
        static_sites: vec![StaticSite {
            name: "Acme Shop".into(),
            aliases: vec!["shop.acme.com".into()],
            namespaces: vec!["customer-4711".into()],
            pools: vec!["pool4711".into()],
            paths: vec!["acme".into()],
            ..StaticSite::default()
        }],
        ..SitesConfig::default()
    };
    let mut l = Labeler::new(&cfg).unwrap();
    let none = FileSites::default();
    let ids = [
        l.label(&rec(b"websecure-shop-acme-com@kubernetes", b"", b""), &none),
        l.label(&rec(b"", b"www.shop.acme.com", b""), &none),
        l.label(&rec(b"", b"", b"pool4711"), &none),
        l.label(
            &Record {
                script: b"/var/www/acme/index.php",
                ..Record::default()
            },
            &none,
        ),
    ];
    let ns = l.file_sites(&FileKeys {
        namespace: Some("customer-4711".into()),
        path: None,
    });
    let n = l.label(&rec(b"", b"", b""), &ns);
    assert!(ids.iter().all(|id| *id == n), "{ids:?} {n:?}");
    assert_eq!(l.sites().name(n), "Acme Shop");
    assert_eq!(l.sites().get("shop-acme-com"), Some(n));
    assert_eq!(l.sites().len(), 2);
    // A key listed for two sites is refused.
    let twice = SitesConfig {
        static_sites: vec![
            StaticSite {
                name: "a".into(),
                pools: vec!["p".into()],
                ..StaticSite::default()
            },
            StaticSite {
                name: "b".into(),
                pools: vec!["P".into()],
                ..StaticSite::default()
            },
        ],
        ..SitesConfig::default()
    };
    let e = Labeler::new(&twice).unwrap_err().to_string();
    assert!(
        e.starts_with("sites.static_sites:") && e.contains("\"p\""),
        "{e}"
    );
}

#[test]
fn canonical_names() {
    let n = Namer::new(&["example.com".into(), "farm.example.net".into()], true);
    for (raw, want) in [
        ("site042.example.com", Some("site042")),
        ("site042-example-com", Some("site042")),
        ("SITE042.Example.COM", Some("site042")),
        ("a.b.farm.example.net", Some("a-b")),
        ("example.com", Some("example-com")),
        ("shop.acme.co.uk", Some("shop-acme-co-uk")),
        ("shop_acme_co_uk", Some("shop-acme-co-uk")),
        ("", None),
    ] {
        assert_eq!(n.canonical(raw).as_deref(), want, "{raw}");
    }
    let keep = Namer::new(&[], false);
    assert_eq!(
        keep.canonical("Shop.Acme.com").as_deref(),
        Some("shop.acme.com")
    );
    let e = Labeler::new(&SitesConfig {
        domains: vec!["bad domain".into()],
        ..SitesConfig::default()
    })
    .unwrap_err()
    .to_string();
    assert!(e.starts_with("sites.domains:"), "{e}");
}

#[test]
fn stock_pools_and_plesk_paths() {
    let mut l = Labeler::new(&SitesConfig::default()).unwrap();
    let none = FileSites::default();
    // The php image's stock pool `[www]` names no site.
    assert_eq!(l.label(&rec(b"", b"", b"www"), &none), SiteId::UNKNOWN);
    let f = l.file_sites(&FileKeys {
        namespace: None,
        path: Some("/var/www/vhosts/shop.example.org/logs/error_log".into()),
    });
    let id = l.label(&rec(b"", b"", b""), &f);
    assert_eq!(l.sites().name(id), "shop-example-org");
}

#[test]
fn ingress_router_names_through_a_documented_pattern() {
    // docs/sites.md: Traefik's Ingress provider names routers
    // `<namespace>-<ingress>-<host>@kubernetes`; every site's Ingress is
    // called `wordpress` here.
    let cfg = SitesConfig {
        router_pattern: r"^(?:(?:web|websecure)-)?(?P<site>.+?)-wordpress-".into(),
        ..SitesConfig::default()
    };
    let mut l = Labeler::new(&cfg).unwrap();
    let none = FileSites::default();
    let a = l.label(
        &rec(
            b"websecure-site042-wordpress-site042-example-com@kubernetes",
            b"",
            b"",
        ),
        &none,
    );
    let ns = l.file_sites(&FileKeys {
        namespace: Some("site042".into()),
        path: None,
    });
    assert_eq!(l.label(&rec(b"", b"", b""), &ns), a);
    assert_eq!(l.sites().name(a), "site042");
}

#[test]
fn split_names_suggest_a_domain() {
    let mut l = Labeler::new(&SitesConfig::default()).unwrap();
    let none = FileSites::default();
    for key in [&b"site007"[..], b"site0070", b"shop", b"site007-blog"] {
        l.label(&rec(b"", b"", key), &none);
    }
    l.label(&rec(b"", b"site007.example.com", b""), &none);
    l.label(&rec(b"", b"shop.example.org", b""), &none);
    assert_eq!(
        l.split_names(16),
        [
            ("shop".to_owned(), "shop-example-org".to_owned()),
            ("site007".to_owned(), "site007-example-com".to_owned()),
        ]
    );
    assert_eq!(l.split_names(1).len(), 1);
}

#[test]
fn script_paths_are_cached_by_their_site_directory() {
    let mut l = Labeler::new(&SitesConfig::default()).unwrap();
    let none = FileSites::default();
    let script = |path: &str, l: &mut Labeler| {
        let rec = Record {
            script: path.as_bytes(),
            ..Record::default()
        };
        let id = l.label(&rec, &none);
        l.sites().name(id).to_owned()
    };
    for i in 0..10_000 {
        let site = i % 10;
        let got = script(
            &format!("/var/www/site{site}/wp-content/plugins/p{i}/p{i}.php"),
            &mut l,
        );
        assert_eq!(got, format!("site{site}"));
    }
    // One entry per site directory, not per path.
    assert_eq!(l.cache[KeyKind::Script.slot()].len(), 10);
    assert_eq!(l.stats().cache_resets, 0);
    // Stock roots, Plesk roots, paths the pattern does not match.
    for i in 0..100 {
        assert_eq!(
            script(&format!("/var/www/html/wp-content/x{i}.php"), &mut l),
            "_unknown"
        );
    }
    assert_eq!(
        script(
            "/var/www/vhosts/shop.example.org/httpdocs/index.php",
            &mut l
        ),
        "shop-example-org"
    );
    assert_eq!(script("/opt/app/index.php", &mut l), "_unknown");
    assert_eq!(script("/opt/app/index.php", &mut l), "_unknown");
    assert_eq!(l.cache[KeyKind::Script.slot()].len(), 13);
}
