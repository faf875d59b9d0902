//! Renders one [`Request`] as an access-log line: Traefik CLF and JSON,
//! nginx combined with `$request_time $host`, PHP-FPM `access.format`.

use crate::http::{HttpModel, Request};
use crate::rng::Rng;
use crate::site::Site;
use crate::text::{
    Frac, push_clf_time, push_fixed, push_json_escaped, push_nginx_escaped, push_rfc3339, push_u64,
    split_ns,
};

/// `"value"` or `"-"` when empty, unescaped (Traefik CLF writes header
/// values raw, quotes included).
fn push_quoted_or_dash(buf: &mut Vec<u8>, v: &[u8]) {
    buf.push(b'"');
    if v.is_empty() {
        buf.push(b'-');
    } else {
        buf.extend_from_slice(v);
    }
    buf.push(b'"');
}

/// Traefik `CommonLogFormatter`:
/// `client - user [time] "method path proto" status size "referer" "ua"
/// count "router" "service_url" Nms`. Status and size are `-` when no
/// backend answered. Returns the status written (0 for `-`).
pub(crate) fn traefik_clf(
    buf: &mut Vec<u8>,
    req: &Request,
    m: &HttpModel,
    site: Option<&Site>,
    start_ns: i64,
    count: u64,
) -> u16 {
    buf.extend_from_slice(&m.clients[req.client as usize].ip);
    buf.extend_from_slice(b" - - [");
    push_clf_time(buf, split_ns(start_ns).0);
    buf.extend_from_slice(b"] \"");
    buf.extend_from_slice(req.method);
    buf.push(b' ');
    buf.extend_from_slice(&m.path);
    buf.push(b' ');
    buf.extend_from_slice(req.proto);
    buf.extend_from_slice(b"\" ");
    let written = if req.origin {
        push_u64(buf, u64::from(req.status));
        buf.push(b' ');
        push_u64(buf, req.bytes);
        req.status
    } else {
        buf.extend_from_slice(b"- -");
        0
    };
    buf.push(b' ');
    push_quoted_or_dash(buf, &m.referer);
    buf.push(b' ');
    push_quoted_or_dash(buf, &m.ua);
    buf.push(b' ');
    push_u64(buf, count);
    buf.push(b' ');
    push_quoted_or_dash(buf, site.map_or(&b""[..], |s| &s.router));
    buf.push(b' ');
    push_quoted_or_dash(
        buf,
        site.filter(|_| req.origin).map_or(&b""[..], |s| &s.url),
    );
    buf.push(b' ');
    push_u64(buf, req.dur_ns / 1_000_000);
    buf.extend_from_slice(b"ms\n");
    written
}

fn json_key(buf: &mut Vec<u8>, key: &[u8]) {
    buf.extend_from_slice(b",\"");
    buf.extend_from_slice(key);
    buf.extend_from_slice(b"\":");
}

fn json_str(buf: &mut Vec<u8>, key: &[u8], v: &[u8]) {
    json_key(buf, key);
    buf.push(b'"');
    push_json_escaped(buf, v);
    buf.push(b'"');
}

fn json_num(buf: &mut Vec<u8>, key: &[u8], v: u64) {
    json_key(buf, key);
    push_u64(buf, v);
}

/// Traefik JSON access log: logrus's `JSONFormatter`, keys sorted as Go's
/// `encoding/json` sorts map keys, strings HTML-escaped, `ServiceURL` a
/// marshalled `url.URL` object. `Origin*` and service fields are absent when
/// no backend answered.
pub(crate) fn traefik_json(
    buf: &mut Vec<u8>,
    rng: &mut Rng,
    req: &Request,
    m: &HttpModel,
    site: Option<&Site>,
    start_ns: i64,
    count: u64,
) {
    let client = &m.clients[req.client as usize];
    let host: &[u8] = site.map_or(m.stray_host, |s| &s.host);
    buf.extend_from_slice(b"{\"ClientAddr\":\"");
    if client.v6 {
        buf.push(b'[');
        buf.extend_from_slice(&client.ip);
        buf.push(b']');
    } else {
        buf.extend_from_slice(&client.ip);
    }
    buf.push(b':');
    push_u64(buf, u64::from(req.port));
    buf.push(b'"');
    json_str(buf, b"ClientHost", &client.ip);
    json_key(buf, b"ClientPort");
    buf.push(b'"');
    push_u64(buf, u64::from(req.port));
    buf.push(b'"');
    json_str(buf, b"ClientUsername", b"-");
    json_num(buf, b"DownstreamContentSize", req.bytes);
    json_num(buf, b"DownstreamStatus", u64::from(req.status));
    json_num(buf, b"Duration", req.dur_ns);
    let overhead = if req.origin {
        let o = (rng.lognormal(300_000.0, 0.6) as u64).min(req.dur_ns / 2);
        json_num(buf, b"OriginContentSize", req.bytes);
        json_num(buf, b"OriginDuration", req.dur_ns - o);
        json_num(buf, b"OriginStatus", u64::from(req.status));
        o
    } else {
        req.dur_ns
    };
    json_num(buf, b"Overhead", overhead);
    json_str(buf, b"RequestAddr", host);
    json_num(buf, b"RequestContentSize", req.req_bytes);
    json_num(buf, b"RequestCount", count);
    let bare_host = host.split(|&b| b == b':').next().unwrap_or(host);
    json_str(buf, b"RequestHost", bare_host);
    json_str(buf, b"RequestMethod", req.method);
    json_str(buf, b"RequestPath", &m.path);
    json_str(buf, b"RequestPort", b"-");
    json_str(buf, b"RequestProtocol", req.proto);
    json_str(buf, b"RequestScheme", b"https");
    json_num(buf, b"RetryAttempts", u64::from(req.retries));
    if let Some(s) = site {
        json_str(buf, b"RouterName", &s.router);
        if req.origin {
            json_str(buf, b"ServiceAddr", &s.addr);
            json_str(buf, b"ServiceName", &s.service);
            json_key(buf, b"ServiceURL");
            buf.extend_from_slice(
                b"{\"Scheme\":\"http\",\"Opaque\":\"\",\"User\":null,\"Host\":\"",
            );
            buf.extend_from_slice(&s.addr);
            buf.extend_from_slice(
                b"\",\"Path\":\"\",\"RawPath\":\"\",\"OmitHost\":false,\"ForceQuery\":false,\"RawQuery\":\"\",\"Fragment\":\"\",\"RawFragment\":\"\"}",
            );
        }
    }
    json_key(buf, b"StartLocal");
    buf.push(b'"');
    push_rfc3339(buf, start_ns, Frac::GoNano);
    buf.push(b'"');
    json_key(buf, b"StartUTC");
    buf.push(b'"');
    push_rfc3339(buf, start_ns, Frac::GoNano);
    buf.push(b'"');
    if !req.content_type.is_empty() {
        json_str(buf, b"downstream_Content-Type", req.content_type);
    }
    json_str(buf, b"entryPointName", b"websecure");
    json_str(buf, b"level", b"info");
    json_str(buf, b"msg", b"");
    if !m.referer.is_empty() {
        json_str(buf, b"request_Referer", &m.referer);
    }
    if !m.ua.is_empty() {
        json_str(buf, b"request_User-Agent", &m.ua);
    }
    json_key(buf, b"time");
    buf.push(b'"');
    push_rfc3339(buf, start_ns + req.dur_ns as i64, Frac::None);
    buf.extend_from_slice(b"\"}\n");
}

/// nginx `combined` plus ` $request_time $host`; `"`, `\` and non-printable
/// bytes escaped as `\xHH`. `end_ns` is when nginx logged the request.
pub(crate) fn nginx(buf: &mut Vec<u8>, req: &Request, m: &HttpModel, site: &Site, end_ns: i64) {
    buf.extend_from_slice(&m.clients[req.client as usize].ip);
    buf.extend_from_slice(b" - - [");
    push_clf_time(buf, split_ns(end_ns).0);
    buf.extend_from_slice(b"] \"");
    buf.extend_from_slice(req.method);
    buf.push(b' ');
    push_nginx_escaped(buf, &m.path);
    buf.push(b' ');
    buf.extend_from_slice(req.proto);
    buf.extend_from_slice(b"\" ");
    push_u64(buf, u64::from(req.status));
    buf.push(b' ');
    push_u64(buf, req.bytes);
    for v in [&m.referer, &m.ua] {
        buf.extend_from_slice(b" \"");
        if v.is_empty() {
            buf.push(b'-');
        } else {
            push_nginx_escaped(buf, v);
        }
        buf.push(b'"');
    }
    buf.push(b' ');
    push_fixed(buf, req.dur_ns / 1_000_000, 3);
    buf.push(b' ');
    buf.extend_from_slice(&site.host);
    buf.push(b'\n');
}

/// PHP-FPM `access.format = "%R - %u %t \"%m %r%Q%q\" %s %f %{mili}d
/// %{kilo}M %C%%"`: `%r` is the script (`/index.php`), `%Q%q` the query
/// string nginx passed, `%u` empty.
pub(crate) fn fpm_access(
    buf: &mut Vec<u8>,
    rng: &mut Rng,
    req: &Request,
    m: &HttpModel,
    start_ns: i64,
) {
    buf.extend_from_slice(&m.clients[req.client as usize].ip);
    buf.extend_from_slice(b" -  ");
    push_clf_time(buf, split_ns(start_ns).0);
    buf.extend_from_slice(b" \"");
    buf.extend_from_slice(req.method);
    buf.push(b' ');
    buf.extend_from_slice(req.script);
    if let Some(q) = m.path.iter().position(|&b| b == b'?') {
        buf.extend_from_slice(&m.path[q..]);
    }
    buf.extend_from_slice(b"\" ");
    push_u64(buf, u64::from(req.status));
    buf.extend_from_slice(b" /var/www/html");
    buf.extend_from_slice(req.script);
    buf.push(b' ');
    let php_us = (req.dur_ns / 1000)
        .saturating_sub(rng.range(100, 500))
        .max(50);
    push_fixed(buf, php_us, 3);
    buf.push(b' ');
    let mem_kb = match req.script {
        b"/wp-admin/admin-ajax.php" | b"/wp-admin/post.php" | b"/wp-admin/index.php" => {
            rng.lognormal(36_864.0, 0.4)
        }
        b"/wp-cron.php" => rng.lognormal(49_152.0, 0.5),
        _ => rng.lognormal(16_384.0, 0.4),
    };
    push_u64(buf, (mem_kb as u64).clamp(2048, 524_288));
    buf.push(b' ');
    // CPU share falls as wall time is spent waiting on MySQL or HTTP.
    let cpu = if req.dur_ns > 2_000_000_000 {
        rng.lognormal(8.0, 0.8)
    } else {
        rng.lognormal(55.0, 0.5)
    };
    push_fixed(buf, ((cpu.min(100.0)) * 100.0) as u64, 2);
    buf.extend_from_slice(b"%\n");
}
