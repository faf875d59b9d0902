//! The request model behind every access-log format: which site, path,
//! client, status, body size and duration one WordPress request has. One
//! model feeds Traefik, nginx and PHP-FPM renderers, each seeing the request
//! from its own [`View`].

use crate::agents::{self, WORDS};
use crate::rng::{Rng, Zipf, mix64};
use crate::text::{push_padded, push_u64, push_urlencoded};

/// What a request asks for; decides path, method, status mix and cost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Home,
    Post,
    PostById,
    Archive,
    Search,
    Feed,
    Sitemap,
    Robots,
    Favicon,
    Image,
    Style,
    Script,
    Font,
    Ajax,
    Rest,
    Admin,
    LoginForm,
    LoginPost,
    Xmlrpc,
    Cron,
    Scanner,
}

impl Kind {
    fn is_static(self) -> bool {
        matches!(
            self,
            Kind::Image | Kind::Style | Kind::Script | Kind::Font | Kind::Favicon
        )
    }
}

/// Which server writes the line: what it sees of the request differs
/// (Traefik sees every Host, nginx only its site, PHP-FPM only PHP).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum View {
    Traefik,
    Nginx,
    Fpm,
}

/// Who sends a request; decides user agent, referer and protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Class {
    Browser,
    Bot,
    Tool,
    Monitor,
    Hostile,
    /// WordPress calling itself (`wp-cron.php`).
    WordPress,
}

/// A client address with its usual user agent.
#[derive(Debug, Clone)]
pub(crate) struct Client {
    pub ip: Box<[u8]>,
    pub v6: bool,
    pub class: Class,
    pub ua: u32,
}

/// One generated request. Text parts live in [`HttpModel`]'s buffers.
#[derive(Debug, Clone)]
pub(crate) struct Request {
    /// `None` when the Host matched no Traefik router.
    pub site: Option<usize>,
    pub client: u32,
    pub port: u16,
    pub method: &'static [u8],
    pub proto: &'static [u8],
    /// Status sent to the client.
    pub status: u16,
    /// Response body bytes sent to the client.
    pub bytes: u64,
    /// Request body bytes.
    pub req_bytes: u64,
    /// Total duration.
    pub dur_ns: u64,
    /// Whether a backend answered (Traefik's `Origin*` fields exist). False
    /// for unmatched hosts and for responses made by a Traefik middleware.
    pub origin: bool,
    pub retries: u8,
    /// Response `Content-Type`; empty when none.
    pub content_type: &'static [u8],
    /// Script PHP-FPM ran (`/index.php`), for FPM views.
    pub script: &'static [u8],
}

const KINDS_EDGE: &[(Kind, u32)] = &[
    (Kind::Home, 80),
    (Kind::Post, 170),
    (Kind::PostById, 15),
    (Kind::Archive, 30),
    (Kind::Search, 10),
    (Kind::Feed, 15),
    (Kind::Sitemap, 5),
    (Kind::Robots, 8),
    (Kind::Favicon, 10),
    (Kind::Image, 220),
    (Kind::Style, 110),
    (Kind::Script, 120),
    (Kind::Font, 30),
    (Kind::Ajax, 60),
    (Kind::Rest, 40),
    (Kind::Admin, 12),
    (Kind::LoginForm, 10),
    (Kind::LoginPost, 12),
    (Kind::Xmlrpc, 12),
    (Kind::Cron, 8),
    (Kind::Scanner, 23),
];

const KINDS_FPM: &[(Kind, u32)] = &[
    (Kind::Home, 80),
    (Kind::Post, 170),
    (Kind::PostById, 15),
    (Kind::Archive, 30),
    (Kind::Search, 10),
    (Kind::Feed, 15),
    (Kind::Sitemap, 5),
    (Kind::Robots, 8),
    (Kind::Ajax, 60),
    (Kind::Rest, 40),
    (Kind::Admin, 12),
    (Kind::LoginForm, 10),
    (Kind::LoginPost, 12),
    (Kind::Xmlrpc, 12),
    (Kind::Cron, 8),
    (Kind::Scanner, 10),
];

const ST_PAGE: &[(u16, u32)] = &[
    (200, 8900),
    (304, 250),
    (301, 300),
    (302, 60),
    (404, 250),
    (403, 20),
    (429, 30),
    (499, 60),
    (500, 50),
    (502, 30),
    (503, 30),
    (504, 20),
];
const ST_BY_ID: &[(u16, u32)] = &[(301, 8000), (200, 1500), (404, 500)];
const ST_ROBOTS: &[(u16, u32)] = &[(200, 9900), (304, 100)];
const ST_FAVICON: &[(u16, u32)] = &[(200, 6000), (304, 2000), (404, 2000)];
const ST_STATIC: &[(u16, u32)] = &[
    (200, 7000),
    (304, 2600),
    (404, 300),
    (206, 30),
    (499, 40),
    (403, 10),
    (502, 10),
    (503, 10),
];
const ST_AJAX: &[(u16, u32)] = &[
    (200, 9300),
    (400, 250),
    (403, 100),
    (499, 80),
    (500, 80),
    (502, 60),
    (503, 30),
    (504, 60),
    (429, 40),
];
const ST_REST: &[(u16, u32)] = &[
    (200, 8600),
    (201, 100),
    (304, 100),
    (400, 150),
    (401, 300),
    (403, 150),
    (404, 350),
    (429, 50),
    (500, 80),
    (502, 40),
    (503, 30),
    (504, 30),
    (499, 20),
];
const ST_ADMIN: &[(u16, u32)] = &[
    (200, 6500),
    (302, 3200),
    (403, 150),
    (500, 50),
    (502, 40),
    (504, 40),
    (499, 20),
];
const ST_LOGIN_FORM: &[(u16, u32)] = &[(200, 9300), (302, 300), (403, 200), (429, 200)];
const ST_LOGIN_POST: &[(u16, u32)] = &[
    (200, 6000),
    (302, 1500),
    (403, 1200),
    (429, 1200),
    (503, 100),
];
const ST_XMLRPC: &[(u16, u32)] = &[
    (200, 7000),
    (403, 2000),
    (429, 800),
    (500, 100),
    (502, 50),
    (504, 50),
];
const ST_XMLRPC_GET: &[(u16, u32)] = &[(405, 1)];
const ST_CRON: &[(u16, u32)] = &[(200, 9600), (499, 100), (500, 100), (502, 50), (504, 150)];
const ST_SCANNER: &[(u16, u32)] = &[(404, 8500), (403, 800), (301, 200), (429, 400), (200, 100)];
const ST_INCIDENT: &[(u16, u32)] = &[(502, 5), (504, 3), (503, 2)];

const V4_FIRST_OCTETS: &[u8] = &[
    5, 23, 31, 37, 45, 46, 62, 77, 78, 79, 80, 81, 82, 84, 85, 86, 87, 88, 89, 91, 93, 94, 95, 104,
    109, 141, 151, 176, 178, 185, 188, 193, 195, 212, 213, 217,
];
const V4_HOSTILE_OCTETS: &[u8] = &[
    20, 34, 35, 45, 64, 103, 138, 146, 159, 167, 185, 193, 194, 206,
];
const V6_PREFIXES: &[&str] = &[
    "2a02", "2a01", "2001", "2600", "2a00", "2003", "2406", "2804",
];

/// Clients in the ordinary pool (browsers, bots, tools, monitors).
const NORMAL_CLIENTS: usize = 20_000;
/// Clients in the hostile pool (scanners, brute-forcers).
const HOSTILE_CLIENTS: usize = 500;
/// Posts per site that requests pick from, Zipf-distributed.
const POSTS: usize = 2_000;
/// A few requests in a million carry a multi-KiB user agent.
const HUGE_UA_P: f64 = 1.0 / 20_000.0;
/// Fewer still carry a path long enough for nginx to answer 414.
const HUGE_PATH_P: f64 = 1.0 / 200_000.0;
/// Share of Traefik requests whose Host matches no router.
const STRAY_HOST_P: f64 = 0.003;

/// Clients, user agents and the scratch buffers one request is written into.
pub(crate) struct HttpModel {
    uas: Vec<Box<[u8]>>,
    huge_uas: Vec<u32>,
    pub clients: Vec<Client>,
    normal: Zipf,
    hostile: Zipf,
    posts: Zipf,
    egress: u32,
    /// Request target (path and query).
    pub path: Vec<u8>,
    /// Referer; empty when none.
    pub referer: Vec<u8>,
    /// User-Agent; empty when none.
    pub ua: Vec<u8>,
    /// Host header when `site` is `None`.
    pub stray_host: &'static [u8],
}

impl HttpModel {
    /// Builds the client pools and user-agent table from `rng`.
    pub fn new(rng: &mut Rng) -> HttpModel {
        let mut uas: Vec<Box<[u8]>> = Vec::new();
        let mut ua_ranges = Vec::new();
        for class in [
            Class::Browser,
            Class::Bot,
            Class::Tool,
            Class::Monitor,
            Class::Hostile,
        ] {
            let start = uas.len() as u32;
            for (ua, _) in agents::agents(class) {
                uas.push(ua.as_bytes().into());
            }
            ua_ranges.push((class, start));
        }
        let mut huge_uas = Vec::new();
        for _ in 0..4 {
            huge_uas.push(uas.len() as u32);
            uas.push(huge_ua(rng).into_bytes().into_boxed_slice());
        }
        let ua_for = |rng: &mut Rng, class: Class| -> u32 {
            let table = agents::agents(class);
            let idx: Vec<(usize, u32)> = table
                .iter()
                .enumerate()
                .map(|(i, &(_, w))| (i, w))
                .collect();
            let start = ua_ranges
                .iter()
                .find(|(c, _)| *c == class)
                .map_or(0, |&(_, s)| s);
            start + rng.weighted(&idx) as u32
        };

        let mut clients = Vec::with_capacity(NORMAL_CLIENTS + HOSTILE_CLIENTS + 1);
        for _ in 0..NORMAL_CLIENTS {
            let class = rng.weighted(&[
                (Class::Browser, 70),
                (Class::Bot, 22),
                (Class::Tool, 4),
                (Class::Monitor, 2),
            ]);
            let ua = ua_for(rng, class);
            let v6 = class != Class::Monitor && rng.chance(0.10);
            let ip = if v6 {
                v6_addr(rng)
            } else if uas[ua as usize].windows(9).any(|w| w == b"Googlebot") {
                format!("66.249.{}.{}", rng.range(64, 79), rng.range(1, 254))
            } else if uas[ua as usize].windows(7).any(|w| w == b"bingbot") {
                format!("40.77.{}.{}", rng.range(160, 191), rng.range(1, 254))
            } else {
                v4_addr(rng, V4_FIRST_OCTETS)
            };
            clients.push(Client {
                ip: ip.into_bytes().into(),
                v6,
                class,
                ua,
            });
        }
        for _ in 0..HOSTILE_CLIENTS {
            let ua = ua_for(rng, Class::Hostile);
            let v6 = rng.chance(0.05);
            let ip = if v6 {
                v6_addr(rng)
            } else {
                v4_addr(rng, V4_HOSTILE_OCTETS)
            };
            clients.push(Client {
                ip: ip.into_bytes().into(),
                v6,
                class: Class::Hostile,
                ua,
            });
        }
        let egress = clients.len() as u32;
        clients.push(Client {
            ip: b"198.51.100.10"[..].into(),
            v6: false,
            class: Class::WordPress,
            ua: 0,
        });
        HttpModel {
            uas,
            huge_uas,
            clients,
            normal: Zipf::new(NORMAL_CLIENTS, 0.8),
            hostile: Zipf::new(HOSTILE_CLIENTS, 1.2),
            posts: Zipf::new(POSTS, 1.0),
            egress,
            path: Vec::with_capacity(256),
            referer: Vec::with_capacity(256),
            ua: Vec::with_capacity(512),
            stray_host: b"",
        }
    }

    /// Draws one request for `site` (`None`: let Traefik see a stray Host)
    /// as seen from `view`, ending at `end_ns`. `incident` marks the site as
    /// failing right now: more 5xx, slower answers.
    pub fn next(
        &mut self,
        rng: &mut Rng,
        site: usize,
        host: &[u8],
        view: View,
        end_ns: i64,
        incident: bool,
    ) -> Request {
        self.path.clear();
        self.referer.clear();
        self.ua.clear();

        if view == View::Traefik && rng.chance(STRAY_HOST_P) {
            return self.stray(rng);
        }

        let mut kind = rng.weighted(if view == View::Fpm {
            KINDS_FPM
        } else {
            KINDS_EDGE
        });
        let huge_path = view != View::Fpm && rng.chance(HUGE_PATH_P);
        if huge_path {
            kind = Kind::Scanner;
        }
        let hostile = match kind {
            Kind::Scanner | Kind::Xmlrpc => true,
            Kind::LoginPost => rng.chance(0.7),
            _ => false,
        };
        let client = if kind == Kind::Cron {
            self.egress
        } else if hostile {
            (NORMAL_CLIENTS + self.hostile.sample(rng)) as u32
        } else {
            self.normal.sample(rng) as u32
        };
        let class = self.clients[client as usize].class;

        let method = self.method(rng, kind);
        let (content_type, script, scanner_static) = self.write_path(rng, kind, site, view, end_ns);
        if huge_path {
            self.path.clear();
            self.path
                .extend_from_slice(b"/wp-admin/admin-ajax.php?action=fetch&data=");
            let n = rng.range(17_000, 24_000);
            for _ in 0..n {
                self.path.push(
                    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
                        [rng.below(64) as usize],
                );
            }
        }

        // User agent.
        if class == Class::WordPress {
            if rng.chance(0.8) {
                self.ua.extend_from_slice(b"WordPress/6.8.3; https://");
                self.ua.extend_from_slice(host);
            } else {
                self.ua.extend_from_slice(b"curl/8.5.0");
            }
        } else if rng.chance(HUGE_UA_P) {
            let i = *rng.pick(&self.huge_uas);
            self.ua.extend_from_slice(&self.uas[i as usize]);
        } else {
            let i = self.clients[client as usize].ua;
            self.ua.extend_from_slice(&self.uas[i as usize]);
        }

        self.write_referer(rng, kind, class, site, host);

        let proto: &'static [u8] = match view {
            View::Nginx => b"HTTP/1.1",
            View::Fpm => b"",
            View::Traefik => match class {
                Class::Browser => {
                    rng.weighted(&[(&b"HTTP/2.0"[..], 80), (b"HTTP/3.0", 5), (b"HTTP/1.1", 15)])
                }
                Class::Bot => rng.weighted(&[(&b"HTTP/1.1"[..], 60), (b"HTTP/2.0", 40)]),
                Class::Hostile => rng.weighted(&[(&b"HTTP/1.1"[..], 85), (b"HTTP/1.0", 15)]),
                _ => b"HTTP/1.1",
            },
        };

        // Status, then the duration and size that go with it.
        let mut status = if huge_path {
            414
        } else {
            rng.weighted(match kind {
                Kind::Home
                | Kind::Post
                | Kind::Archive
                | Kind::Search
                | Kind::Feed
                | Kind::Sitemap => ST_PAGE,
                Kind::PostById => ST_BY_ID,
                Kind::Robots => ST_ROBOTS,
                Kind::Favicon => ST_FAVICON,
                Kind::Image | Kind::Style | Kind::Script | Kind::Font => ST_STATIC,
                Kind::Ajax => ST_AJAX,
                Kind::Rest => ST_REST,
                Kind::Admin => ST_ADMIN,
                Kind::LoginForm => ST_LOGIN_FORM,
                Kind::LoginPost => ST_LOGIN_POST,
                Kind::Xmlrpc if method == b"GET" => ST_XMLRPC_GET,
                Kind::Xmlrpc => ST_XMLRPC,
                Kind::Cron => ST_CRON,
                Kind::Scanner => ST_SCANNER,
            })
        };
        if kind == Kind::Home && status == 404 {
            status = 200;
        }
        let fail_p = if kind.is_static() { 0.15 } else { 0.5 };
        if incident && !huge_path && rng.chance(fail_p) {
            status = rng.weighted(ST_INCIDENT);
        }
        if view == View::Fpm && status == 429 {
            status = 200; // rate limits act before PHP
        }

        let mut slow_502 = false;
        let mut dur_ms = match status {
            504 => 60_000.0 + rng.f64() * 40.0,
            502 => {
                if rng.chance(0.35) {
                    slow_502 = true;
                    30_000.0 + rng.f64() * 300.0
                } else {
                    rng.lognormal(2.0, 0.8)
                }
            }
            503 => rng.lognormal(8.0, 0.8),
            429 => rng.lognormal(0.4, 0.5),
            499 => rng.lognormal(3_000.0, 1.0),
            414 => rng.lognormal(0.5, 0.4),
            _ => base_duration_ms(rng, kind, status, scanner_static),
        };
        if incident && !matches!(status, 502..=504) {
            dur_ms *= 3.0;
        }
        let tail_p = if kind == Kind::Ajax { 0.01 } else { 0.004 };
        if !kind.is_static() && status < 300 && rng.chance(tail_p) {
            dur_ms *= (rng.f64() * 100f64.ln()).exp();
        }
        // Proxies cut everything else off before their 60 s timeout.
        let dur_ms = if status == 504 {
            dur_ms
        } else {
            dur_ms.clamp(0.05, 59_900.0)
        };
        let dur_ns = (dur_ms * 1e6) as u64;

        let origin = !(view == View::Traefik && status == 429);
        if view == View::Fpm && matches!(status, 499 | 502 | 504) {
            status = 200; // PHP finished (or was killed) without seeing the proxy's verdict
        }

        let bytes = if method == b"HEAD" {
            0
        } else {
            body_bytes(rng, kind, status, view, slow_502, scanner_static)
        };
        let content_type = content_type_for(kind, status, slow_502, scanner_static, content_type);
        let req_bytes = match (method, kind) {
            (b"POST", Kind::LoginPost) => rng.range(90, 160),
            (b"POST", Kind::Xmlrpc) => rng.lognormal(420.0, 0.8) as u64,
            (b"POST", Kind::Cron) => 0,
            (b"POST" | b"PUT", _) => rng.lognormal(300.0, 1.2) as u64,
            _ => 0,
        };
        let retries = if status == 502 && !slow_502 && rng.chance(0.3) {
            1
        } else {
            0
        };
        Request {
            site: Some(site),
            client,
            port: rng.range(1024, 65535) as u16,
            method,
            proto,
            status,
            bytes,
            req_bytes,
            dur_ns,
            origin,
            retries,
            content_type,
            script,
        }
    }

    /// A scanner request for a Host no router matches: Traefik answers 404
    /// itself.
    fn stray(&mut self, rng: &mut Rng) -> Request {
        let client = (NORMAL_CLIENTS + self.hostile.sample(rng)) as u32;
        self.stray_host = rng.pick(agents::STRAY_HOSTS).as_bytes();
        let probes = if rng.chance(0.5) {
            agents::SCANNER_STATIC
        } else {
            agents::SCANNER_PHP
        };
        let p = *rng.pick(probes);
        self.path.extend_from_slice(p.as_bytes());
        let ua = self.clients[client as usize].ua;
        self.ua.extend_from_slice(&self.uas[ua as usize]);
        Request {
            site: None,
            client,
            port: rng.range(1024, 65535) as u16,
            method: b"GET",
            proto: b"HTTP/1.1",
            status: 404,
            bytes: 19,
            req_bytes: 0,
            dur_ns: (rng.lognormal(0.15, 0.5) * 1e6) as u64,
            origin: false,
            retries: 0,
            content_type: b"text/plain; charset=utf-8",
            script: b"",
        }
    }

    /// The user agent table entry `i` (for tests of the vocabulary).
    #[cfg(test)]
    pub fn ua_count(&self) -> usize {
        self.uas.len()
    }

    fn method(&self, rng: &mut Rng, kind: Kind) -> &'static [u8] {
        match kind {
            Kind::Home => rng.weighted(&[(&b"GET"[..], 96), (b"HEAD", 4)]),
            Kind::Post => rng.weighted(&[(&b"GET"[..], 99), (b"HEAD", 1)]),
            Kind::Ajax => rng.weighted(&[(&b"POST"[..], 90), (b"GET", 10)]),
            Kind::Rest => rng.weighted(&[
                (&b"GET"[..], 85),
                (b"POST", 12),
                (b"OPTIONS", 2),
                (b"PUT", 1),
            ]),
            Kind::LoginPost => b"POST",
            Kind::Xmlrpc => rng.weighted(&[(&b"POST"[..], 95), (b"GET", 5)]),
            Kind::Cron => rng.weighted(&[(&b"POST"[..], 80), (b"GET", 20)]),
            Kind::Scanner => rng.weighted(&[(&b"GET"[..], 85), (b"POST", 10), (b"HEAD", 5)]),
            _ => b"GET",
        }
    }

    /// Writes the request target into `self.path`; returns the success
    /// content type, the PHP script that serves it, and whether nginx answers
    /// without PHP (a scanner probe for a non-PHP file).
    fn write_path(
        &mut self,
        rng: &mut Rng,
        kind: Kind,
        site: usize,
        view: View,
        end_ns: i64,
    ) -> (&'static [u8], &'static [u8], bool) {
        const HTML: &[u8] = b"text/html; charset=UTF-8";
        const INDEX: &[u8] = b"/index.php";
        let p = &mut self.path;
        match kind {
            Kind::Home => p.push(b'/'),
            Kind::Post => {
                let post = self.posts.sample(rng) as u64;
                push_post_path(p, site, post);
                if rng.chance(0.06) {
                    if rng.chance(0.5) {
                        p.extend_from_slice(
                            b"?utm_source=newsletter&utm_medium=email&utm_campaign=weekly",
                        );
                    } else {
                        p.extend_from_slice(b"?fbclid=IwAR");
                        push_alnum(p, rng, 22);
                    }
                }
            }
            Kind::PostById => {
                p.extend_from_slice(b"/?p=");
                push_u64(p, self.posts.sample(rng) as u64 + 1);
            }
            Kind::Archive => {
                let w = *rng.pick(WORDS);
                match rng.below(5) {
                    0 => {
                        p.extend_from_slice(b"/category/");
                        p.extend_from_slice(w.as_bytes());
                        p.push(b'/');
                    }
                    1 => {
                        p.extend_from_slice(b"/tag/");
                        p.extend_from_slice(w.as_bytes());
                        p.push(b'/');
                    }
                    2 => {
                        p.extend_from_slice(b"/page/");
                        push_u64(p, rng.range(2, 20));
                        p.push(b'/');
                    }
                    3 => p.extend_from_slice(b"/author/admin/"),
                    _ => {
                        p.extend_from_slice(b"/2026/");
                        push_padded(p, rng.range(1, 11), 2);
                        p.push(b'/');
                    }
                }
            }
            Kind::Search => {
                p.extend_from_slice(b"/?s=");
                p.extend_from_slice(rng.pick(WORDS).as_bytes());
                p.push(b'+');
                p.extend_from_slice(rng.pick(WORDS).as_bytes());
            }
            Kind::Feed => {
                match rng.below(3) {
                    0 => p.extend_from_slice(b"/feed/"),
                    1 => p.extend_from_slice(b"/comments/feed/"),
                    _ => {
                        push_post_path(p, site, self.posts.sample(rng) as u64);
                        p.extend_from_slice(b"feed/");
                    }
                }
                return (b"application/rss+xml; charset=UTF-8", INDEX, false);
            }
            Kind::Sitemap => {
                let sitemaps: [&[u8]; 4] = [
                    b"/wp-sitemap.xml",
                    b"/wp-sitemap-posts-post-1.xml",
                    b"/sitemap_index.xml",
                    b"/post-sitemap.xml",
                ];
                let &sitemap = rng.pick(&sitemaps);
                p.extend_from_slice(sitemap);
                return (b"application/xml; charset=UTF-8", INDEX, false);
            }
            Kind::Robots => {
                p.extend_from_slice(b"/robots.txt");
                return (b"text/plain; charset=utf-8", INDEX, false);
            }
            Kind::Favicon => {
                p.extend_from_slice(b"/favicon.ico");
                return (b"image/vnd.microsoft.icon", b"", false);
            }
            Kind::Image => {
                let img = self.posts.sample(rng) as u64 * 3 + rng.below(3);
                let h = mix64((site as u64) << 32 ^ img ^ 0x1A6E);
                p.extend_from_slice(b"/wp-content/uploads/");
                push_year_month(p, h);
                p.extend_from_slice(b"img-");
                push_u64(p, 1000 + h % 9000);
                p.extend_from_slice(
                    [
                        &b""[..],
                        b"-scaled",
                        b"-1024x683",
                        b"-300x200",
                        b"-150x150",
                        b"-768x512",
                    ][(h >> 40) as usize % 6],
                );
                let (ext, ct): (&[u8], &'static [u8]) = match (h >> 48) % 20 {
                    0..=11 => (b".jpg", b"image/jpeg"),
                    12..=16 => (b".webp", b"image/webp"),
                    _ => (b".png", b"image/png"),
                };
                p.extend_from_slice(ext);
                return (ct, b"", false);
            }
            Kind::Style => {
                p.extend_from_slice(rng.pick(agents::STYLES).as_bytes());
                return (b"text/css", b"", false);
            }
            Kind::Script => {
                p.extend_from_slice(rng.pick(agents::SCRIPTS).as_bytes());
                return (b"application/javascript", b"", false);
            }
            Kind::Font => {
                p.extend_from_slice(rng.pick(agents::FONTS).as_bytes());
                return (b"font/woff2", b"", false);
            }
            Kind::Ajax => {
                if rng.chance(0.9) {
                    p.extend_from_slice(b"/wp-admin/admin-ajax.php");
                } else {
                    p.extend_from_slice(rng.pick(agents::AJAX_GET).as_bytes());
                }
                return (HTML, b"/wp-admin/admin-ajax.php", false);
            }
            Kind::Rest => {
                if rng.chance(0.15) {
                    p.extend_from_slice(rng.pick(agents::REST_POST).as_bytes());
                } else if rng.chance(0.05) {
                    p.extend_from_slice(b"/wp-json/oembed/1.0/embed?url=");
                    let mut url = Vec::with_capacity(96);
                    url.extend_from_slice(b"https://");
                    url.extend_from_slice(crate::site::site_name(site).as_bytes());
                    push_post_path(&mut url, site, self.posts.sample(rng) as u64);
                    push_urlencoded(p, &url);
                } else {
                    p.extend_from_slice(rng.pick(agents::REST_GET).as_bytes());
                }
                return (b"application/json; charset=UTF-8", INDEX, false);
            }
            Kind::Admin => {
                if rng.chance(0.3) {
                    p.extend_from_slice(b"/wp-admin/post.php?post=");
                    push_u64(p, self.posts.sample(rng) as u64 + 1);
                    p.extend_from_slice(b"&action=edit");
                    return (HTML, b"/wp-admin/post.php", false);
                }
                let a = *rng.pick(agents::ADMIN);
                p.extend_from_slice(a.as_bytes());
                let script: &'static [u8] = match a {
                    "/wp-admin/" => b"/wp-admin/index.php",
                    _ => {
                        let end = a.find('?').unwrap_or(a.len());
                        &a.as_bytes()[..end]
                    }
                };
                return (HTML, script, false);
            }
            Kind::LoginForm => {
                match rng.below(4) {
                    0 => p.extend_from_slice(b"/wp-login.php?action=lostpassword"),
                    1 => {
                        p.extend_from_slice(b"/wp-login.php?redirect_to=https%3A%2F%2F");
                        p.extend_from_slice(crate::site::site_name(site).as_bytes());
                        p.extend_from_slice(b"%2Fwp-admin%2F&reauth=1");
                    }
                    _ => p.extend_from_slice(b"/wp-login.php"),
                }
                return (HTML, b"/wp-login.php", false);
            }
            Kind::LoginPost => {
                p.extend_from_slice(b"/wp-login.php");
                return (HTML, b"/wp-login.php", false);
            }
            Kind::Xmlrpc => {
                p.extend_from_slice(b"/xmlrpc.php");
                return (b"text/xml; charset=UTF-8", b"/xmlrpc.php", false);
            }
            Kind::Cron => {
                p.extend_from_slice(b"/wp-cron.php");
                if rng.chance(0.8) {
                    // WordPress's own spawn: sprintf('%.22F', microtime(true)).
                    p.extend_from_slice(b"?doing_wp_cron=");
                    let (secs, nanos) = crate::text::split_ns(end_ns);
                    push_u64(p, secs.max(0) as u64);
                    p.push(b'.');
                    push_padded(p, u64::from(nanos / 1000), 6);
                    for _ in 0..16 {
                        p.push(b'0' + rng.below(10) as u8);
                    }
                }
                return (HTML, b"/wp-cron.php", false);
            }
            Kind::Scanner => {
                let php = view == View::Fpm || rng.chance(0.55);
                if php {
                    let s = *rng.pick(agents::SCANNER_PHP);
                    p.extend_from_slice(s.as_bytes());
                    let script: &'static [u8] = if s.starts_with("/wp-admin/install.php") {
                        b"/wp-admin/install.php"
                    } else if s.starts_with("/wp-admin/setup-config.php") {
                        b"/wp-admin/setup-config.php"
                    } else if s.starts_with("/wp-login.php") {
                        b"/wp-login.php"
                    } else if s.starts_with("/xmlrpc.php") {
                        b"/xmlrpc.php"
                    } else {
                        INDEX
                    };
                    return (HTML, script, false);
                }
                p.extend_from_slice(rng.pick(agents::SCANNER_STATIC).as_bytes());
                return (b"text/html", b"", true);
            }
        }
        (HTML, INDEX, false)
    }

    fn write_referer(&mut self, rng: &mut Rng, kind: Kind, class: Class, site: usize, host: &[u8]) {
        let r = &mut self.referer;
        let internal = |r: &mut Vec<u8>, rng: &mut Rng, posts: &Zipf| {
            r.extend_from_slice(b"https://");
            r.extend_from_slice(host);
            if rng.chance(0.3) {
                r.push(b'/');
            } else {
                push_post_path(r, site, posts.sample(rng) as u64);
            }
        };
        if class != Class::Browser {
            if class == Class::Hostile && kind == Kind::LoginPost && rng.chance(0.5) {
                r.extend_from_slice(b"https://");
                r.extend_from_slice(host);
                r.extend_from_slice(b"/wp-login.php");
            }
            return;
        }
        match kind {
            Kind::Image | Kind::Style | Kind::Script | Kind::Font | Kind::Favicon => {
                if rng.chance(0.9) {
                    internal(r, rng, &self.posts);
                }
            }
            Kind::Home | Kind::Post | Kind::PostById | Kind::Archive | Kind::Search => {
                let x = rng.below(100);
                match x {
                    0..35 => {}
                    35..65 => r.extend_from_slice(b"https://www.google.com/"),
                    65..69 => r.extend_from_slice(b"https://www.bing.com/"),
                    69..72 => r.extend_from_slice(b"https://duckduckgo.com/"),
                    72..76 => r.extend_from_slice(b"https://m.facebook.com/"),
                    76..78 => {
                        r.extend_from_slice(b"https://t.co/");
                        push_alnum(r, rng, 10);
                    }
                    78..80 => r.extend_from_slice(b"android-app://com.google.android.gm/"),
                    _ => internal(r, rng, &self.posts),
                }
            }
            Kind::Ajax | Kind::Rest | Kind::Admin => {
                if rng.chance(0.4) {
                    r.extend_from_slice(b"https://");
                    r.extend_from_slice(host);
                    r.extend_from_slice(b"/wp-admin/post.php?post=");
                    push_u64(r, self.posts.sample(rng) as u64 + 1);
                    r.extend_from_slice(b"&action=edit");
                } else {
                    internal(r, rng, &self.posts);
                }
            }
            Kind::LoginPost => {
                r.extend_from_slice(b"https://");
                r.extend_from_slice(host);
                r.extend_from_slice(b"/wp-login.php");
            }
            _ => {
                if rng.chance(0.5) {
                    internal(r, rng, &self.posts);
                }
            }
        }
    }
}

/// `/2025/03/best-coffee-guide/`: the permalink of `post` on `site`, stable
/// across calls.
pub(crate) fn push_post_path(buf: &mut Vec<u8>, site: usize, post: u64) {
    let h = mix64((site as u64) << 32 ^ post);
    buf.push(b'/');
    push_year_month(buf, h);
    let n = 2 + (h >> 16) % 4;
    for j in 0..n {
        if j > 0 {
            buf.push(b'-');
        }
        let w = mix64(h.wrapping_add(j)) as usize % WORDS.len();
        buf.extend_from_slice(WORDS[w].as_bytes());
    }
    buf.push(b'/');
}

/// `2025/03/` from a hash: years 2019..=2026, no month past November 2026.
fn push_year_month(buf: &mut Vec<u8>, h: u64) {
    let year = 2019 + h % 8;
    let month = if year == 2026 {
        1 + (h >> 8) % 11
    } else {
        1 + (h >> 8) % 12
    };
    push_u64(buf, year);
    buf.push(b'/');
    push_padded(buf, month, 2);
    buf.push(b'/');
}

fn push_alnum(buf: &mut Vec<u8>, rng: &mut Rng, n: usize) {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    for _ in 0..n {
        buf.push(A[rng.below(A.len() as u64) as usize]);
    }
}

fn v4_addr(rng: &mut Rng, first: &[u8]) -> String {
    format!(
        "{}.{}.{}.{}",
        rng.pick(first),
        rng.below(256),
        rng.below(256),
        rng.range(1, 254)
    )
}

fn v6_addr(rng: &mut Rng) -> String {
    let p = rng.pick(V6_PREFIXES);
    if rng.chance(0.5) {
        format!(
            "{p}:{:x}:{:x}:{:x}::{:x}",
            rng.below(0x10000),
            rng.below(0x10000),
            rng.below(0x10000),
            rng.range(1, 0xff)
        )
    } else {
        format!(
            "{p}:{:x}:{:x}:{:x}:{:x}:{:x}:{:x}:{:x}",
            rng.below(0x10000),
            rng.below(0x10000),
            rng.below(0x10000),
            rng.range(1, 0xffff),
            rng.range(1, 0xffff),
            rng.range(1, 0xffff),
            rng.range(1, 0xffff)
        )
    }
}

/// A 2-8 KiB Internet-Explorer-with-toolbars user agent.
fn huge_ua(rng: &mut Rng) -> String {
    let target = rng.range(2048, 8192) as usize;
    let mut s = String::from("Mozilla/4.0 (compatible; MSIE 8.0; Windows NT 6.1; Trident/4.0");
    while s.len() < target {
        s.push_str("; ");
        let &token = rng.pick(agents::HUGE_UA_TOKENS);
        s.push_str(token);
    }
    s.push(')');
    s
}

/// Median-and-shape duration for a successful-ish answer, in milliseconds.
fn base_duration_ms(rng: &mut Rng, kind: Kind, status: u16, scanner_static: bool) -> f64 {
    if status == 304 && kind.is_static() {
        return rng.lognormal(0.8, 0.5);
    }
    match kind {
        Kind::Image | Kind::Style | Kind::Script | Kind::Font | Kind::Favicon => {
            rng.lognormal(2.0, 0.7)
        }
        Kind::Home | Kind::Post | Kind::PostById | Kind::Archive | Kind::Feed | Kind::Sitemap => {
            // Page-cache hits are served in a few milliseconds.
            if status == 200 && rng.chance(0.45) {
                rng.lognormal(6.0, 0.5)
            } else if kind == Kind::Home {
                rng.lognormal(180.0, 0.7)
            } else {
                rng.lognormal(140.0, 0.7)
            }
        }
        Kind::Search => rng.lognormal(300.0, 0.7),
        Kind::Robots => rng.lognormal(40.0, 0.5),
        Kind::Ajax => rng.lognormal(280.0, 0.9),
        Kind::Rest => rng.lognormal(160.0, 0.8),
        Kind::Admin => rng.lognormal(450.0, 0.7),
        Kind::LoginForm => rng.lognormal(90.0, 0.5),
        Kind::LoginPost => {
            if status == 403 {
                rng.lognormal(2.0, 0.5)
            } else {
                rng.lognormal(350.0, 0.5)
            }
        }
        Kind::Xmlrpc => rng.lognormal(250.0, 0.8),
        Kind::Cron => rng.lognormal(900.0, 1.3),
        Kind::Scanner => {
            if scanner_static || status == 403 {
                rng.lognormal(0.8, 0.6)
            } else {
                rng.lognormal(70.0, 0.8)
            }
        }
    }
}

fn body_bytes(
    rng: &mut Rng,
    kind: Kind,
    status: u16,
    view: View,
    slow_502: bool,
    scanner_static: bool,
) -> u64 {
    let ln = |rng: &mut Rng, m: f64, s: f64| rng.lognormal(m, s).max(1.0) as u64;
    match status {
        304 | 204 | 499 | 301 | 302 => 0,
        400 if kind == Kind::Ajax => 1,
        400 => 150,
        401 => 130,
        403 if kind == Kind::Rest => 146,
        403 => 153,
        404 if kind.is_static() || scanner_static => 153,
        404 if kind == Kind::Rest => 132,
        404 => ln(rng, 28_000.0, 0.3),
        405 => 42,
        414 => 170,
        429 => 17,
        500 => rng.range(2_550, 2_750),
        502 if view == View::Traefik && !slow_502 => 11,
        502 => 157,
        503 if view == View::Fpm => rng.range(2_200, 2_400),
        503 if view == View::Traefik => 19,
        503 => 197,
        504 => 167,
        206 => 65_536,
        _ => match kind {
            Kind::Home => ln(rng, 62_000.0, 0.25),
            Kind::Post | Kind::PostById => ln(rng, 48_000.0, 0.4),
            Kind::Archive => ln(rng, 55_000.0, 0.3),
            Kind::Search => ln(rng, 41_000.0, 0.3),
            Kind::Feed => ln(rng, 24_000.0, 0.5),
            Kind::Sitemap => ln(rng, 6_000.0, 0.8),
            Kind::Robots => ln(rng, 180.0, 0.5),
            Kind::Favicon => ln(rng, 6_000.0, 0.6),
            Kind::Image => ln(rng, 85_000.0, 1.1),
            Kind::Style => ln(rng, 22_000.0, 0.9),
            Kind::Script => ln(rng, 30_000.0, 1.0),
            Kind::Font => ln(rng, 45_000.0, 0.4),
            Kind::Ajax => ln(rng, 350.0, 1.6),
            Kind::Rest => ln(rng, 9_000.0, 1.1),
            Kind::Admin => ln(rng, 95_000.0, 0.4),
            Kind::LoginForm => rng.range(7_300, 7_600),
            Kind::LoginPost => rng.range(7_800, 8_100),
            Kind::Xmlrpc => rng.range(380, 440),
            Kind::Cron => 0,
            Kind::Scanner => ln(rng, 1_500.0, 1.0),
        },
    }
}

fn content_type_for(
    kind: Kind,
    status: u16,
    slow_502: bool,
    scanner_static: bool,
    success: &'static [u8],
) -> &'static [u8] {
    match status {
        304 | 204 | 499 => b"",
        301 | 302 => b"text/html; charset=UTF-8",
        200 | 201 | 206 => success,
        _ if kind == Kind::Rest => b"application/json; charset=UTF-8",
        429 => b"text/plain; charset=utf-8",
        502 if !slow_502 => b"text/plain; charset=utf-8",
        403 | 404 if kind.is_static() || scanner_static => b"text/html",
        414 | 502 | 504 => b"text/html",
        _ => b"text/html; charset=UTF-8",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn post_paths_are_stable_permalinks() {
        let mut a = Vec::new();
        let mut b = Vec::new();
        push_post_path(&mut a, 41, 7);
        push_post_path(&mut b, 41, 7);
        assert_eq!(a, b);
        let s = String::from_utf8(a).unwrap();
        assert!(s.starts_with("/20") && s.ends_with('/'), "{s}");
        assert_eq!(s.matches('/').count(), 4, "{s}");
    }

    #[test]
    fn huge_user_agents_are_several_kib() {
        let mut rng = Rng::new(1, 0);
        let m = HttpModel::new(&mut rng);
        assert_eq!(m.huge_uas.len(), 4);
        for &i in &m.huge_uas {
            let n = m.uas[i as usize].len();
            assert!((2048..9000).contains(&n), "{n}");
        }
        assert!(m.ua_count() > 40);
    }

    #[test]
    fn status_and_duration_agree() {
        let mut rng = Rng::new(5, 0);
        let mut m = HttpModel::new(&mut rng);
        for i in 0..20_000 {
            let r = m.next(
                &mut rng,
                i % 7,
                b"site001.example.com",
                View::Nginx,
                0,
                i % 50 == 0,
            );
            if r.status == 504 {
                assert!(r.dur_ns >= 60_000_000_000);
            }
            if r.status == 502 {
                assert!(r.dur_ns < 10_000_000_000 || r.dur_ns >= 30_000_000_000);
            }
            assert!(!m.path.is_empty() && m.path[0] == b'/');
            assert!(!m.path.contains(&b' ') && !m.path.contains(&b'"'));
        }
    }
}
