// Throwaway timing harness (to be deleted).
use sitepulse::parse::{nginx, traefik_clf, traefik_json};
use std::hint::black_box;
use std::time::Instant;

fn time(name: &str, lines: &[Vec<u8>], f: impl Fn(&[u8]) -> bool) {
    let avg = lines.iter().map(|l| l.len()).sum::<usize>() / lines.len();
    for l in lines {
        assert!(f(l), "{}", String::from_utf8_lossy(l));
    }
    let mut best = f64::MAX;
    for _ in 0..7 {
        let t = Instant::now();
        let mut ok = 0usize;
        for _ in 0..200 {
            for l in lines {
                ok += f(black_box(l)) as usize;
            }
        }
        black_box(ok);
        let ns = t.elapsed().as_nanos() as f64 / (200 * lines.len()) as f64;
        best = best.min(ns);
    }
    println!("{name:14} {best:7.1} ns/line (avg {avg} bytes, best of 7)");
}

fn main() {
    let uas = [
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
        "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
        "WordPress/6.7.1; https://site042.example.com",
        "curl/8.5.0",
        "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    ];
    let paths = [
        "/wp-admin/admin-ajax.php",
        "/",
        "/wp-content/uploads/2026/11/header-image-1024x768.jpg",
        "/?p=1234&preview=true",
        "/wp-json/wp/v2/posts?per_page=10",
        "/wp-login.php",
    ];
    let mut clf = Vec::new();
    let mut ngx = Vec::new();
    let mut js = Vec::new();
    for i in 0..1000usize {
        let ua = uas[i % uas.len()];
        let path = paths[i % paths.len()];
        let site = i % 500;
        let status = [200, 200, 301, 404, 502][i % 5];
        let refr = if i % 3 == 0 {
            "-".to_string()
        } else {
            format!("https://site{site:03}.example.com/")
        };
        clf.push(format!("10.42.{}.{} - - [22/Nov/2026:10:{:02}:{:02} +0000] \"GET {path} HTTP/2.0\" {status} {} \"{refr}\" \"{ua}\" {} \"websecure-site{site:03}-example-com@kubernetes\" \"http://10.42.1.{}:80\" {}ms", i % 256, i % 200, i % 60, i % 60, i * 37 % 90000, i + 1000, i % 250, i % 900).into_bytes());
        ngx.push(format!("203.0.113.{} - - [22/Nov/2026:10:{:02}:{:02} +0000] \"GET {path} HTTP/1.1\" {status} {} \"{refr}\" \"{ua}\" 0.{:03} site{site:03}.example.com", i % 256, i % 60, i % 60, i * 37 % 90000, i % 1000).into_bytes());
        js.push(format!(r#"{{"ClientAddr":"10.42.0.{a}:51234","ClientHost":"10.42.0.{a}","ClientPort":"51234","ClientUsername":"-","DownstreamContentSize":{sz},"DownstreamStatus":{status},"Duration":{d},"OriginContentSize":{sz},"OriginDuration":{d},"OriginStatus":{status},"Overhead":13456,"RequestAddr":"site{site:03}.example.com","RequestContentSize":0,"RequestCount":{c},"RequestHost":"site{site:03}.example.com","RequestMethod":"GET","RequestPath":"{path}","RequestPort":"-","RequestProtocol":"HTTP/2.0","RequestScheme":"https","RetryAttempts":0,"RouterName":"websecure-site{site:03}-example-com@kubernetes","ServiceAddr":"10.42.1.17:80","ServiceName":"default-site{site:03}-80@kubernetes","ServiceURL":"http://10.42.1.17:80","StartLocal":"2026-11-22T10:00:00.123456789Z","StartUTC":"2026-11-22T10:00:00.123456789Z","entryPointName":"websecure","level":"info","msg":"","time":"2026-11-22T10:00:00Z"}}"#, a = i % 256, sz = i * 37 % 90000, d = i * 12345, c = i + 1000).into_bytes());
    }
    time("traefik_clf", &clf, |l| traefik_clf::parse(l).is_ok());
    time("nginx", &ngx, |l| nginx::parse(l).is_ok());
    time("traefik_json", &js, |l| traefik_json::parse(l).is_ok());
}
