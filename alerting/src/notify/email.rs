//! The e-mail notifier: one message per [`Notification`] over SMTP
//! (RFC 5321) with lettre, STARTTLS (RFC 3207), implicit TLS (RFC 8314)
//! or plain, optional AUTH; a `multipart/alternative` body (RFC 2046)
//! with a text and an HTML part, both rendered by [`render`].
//!
//! The subject follows Alertmanager's default (`template/default.tmpl`,
//! `__subject`): `[FIRING:2] <group label values>`. The body lists each
//! alert with its site, SLO, severity, burn rates, error budget left,
//! summary and links (the dashboard from `dashboard_url` with `{site}`
//! replaced, else the alert's `dashboard` annotation).

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::message::{Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde::{Deserialize, Serialize};

use super::error::{NotifyError, chain, excerpt, is_tls};
use super::model::{Alert, AlertStatus, Notification, format_go_time};
use super::read_secret;

/// How the SMTP connection is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SmtpTls {
    /// Plain connection upgraded with STARTTLS, which must be offered
    /// (port 587).
    Starttls,
    /// TLS from the first byte (port 465).
    Tls,
    /// No TLS at all: only for a relay on the same host or network.
    None,
}

/// An e-mail receiver.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailConfig {
    /// The SMTP server's host name (checked against its certificate).
    pub host: String,
    /// Its port; by default 587 for `starttls`, 465 for `tls`, 25 for
    /// `none`.
    #[serde(default)]
    pub port: Option<u16>,
    /// `starttls`, `tls` (implicit) or `none`.
    #[serde(default = "default_tls")]
    pub tls: SmtpTls,
    /// The user to authenticate as; no AUTH when absent.
    #[serde(default)]
    pub username: Option<String>,
    /// A file whose content (trimmed) is the password; read when the
    /// notifier is built. Required with `username`.
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    /// The sender, `Name <addr>` or `addr`.
    pub from: String,
    /// The recipients.
    pub to: Vec<String>,
    /// A dashboard link per alert, `{site}` replaced by the site
    /// (empty: use the alert's `dashboard` annotation, if any).
    #[serde(default)]
    pub dashboard_url: String,
    /// A PEM file of CA certificates trusted besides the system's (a
    /// private CA, a test server); read when the notifier is built.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// The limit on each SMTP command, connect included, in seconds.
    #[serde(default = "default_timeout_secs")]
    pub timeout_secs: u64,
}

fn default_tls() -> SmtpTls {
    SmtpTls::Starttls
}

fn default_timeout_secs() -> u64 {
    30
}

/// A built e-mail notifier.
pub struct Email {
    who: String,
    target: String,
    from: Mailbox,
    to: Vec<Mailbox>,
    dashboard_url: String,
    timeout_secs: u64,
    transport: AsyncSmtpTransport<Tokio1Executor>,
}

impl std::fmt::Debug for Email {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Email")
            .field("who", &self.who)
            .field("target", &self.target)
            .field("to", &self.to)
            .finish_non_exhaustive()
    }
}

impl Email {
    /// Checks `cfg`, reads the password file and sets up the transport
    /// (no connection is made yet).
    ///
    /// # Errors
    /// An address that does not parse, no recipient, a username without
    /// password file (or the reverse), an unreadable password file, a
    /// zero timeout, or a TLS setup failure.
    pub fn build(who: &str, cfg: &EmailConfig) -> Result<Self, NotifyError> {
        let bad = |field, detail: String| NotifyError::Config {
            notifier: who.to_owned(),
            field,
            detail,
        };
        let from: Mailbox = cfg
            .from
            .parse()
            .map_err(|e| bad("from", format!("{:?}: {e}", cfg.from)))?;
        if cfg.to.is_empty() {
            return Err(bad("to", "name at least one recipient".into()));
        }
        let to = cfg
            .to
            .iter()
            .map(|t| t.parse().map_err(|e| bad("to", format!("{t:?}: {e}"))))
            .collect::<Result<Vec<Mailbox>, _>>()?;
        if cfg.timeout_secs == 0 {
            return Err(bad("timeout_secs", "must be at least 1".into()));
        }
        if cfg.host.is_empty() {
            return Err(bad("host", "must not be empty".into()));
        }
        let port = cfg.port.unwrap_or(match cfg.tls {
            SmtpTls::Starttls => 587,
            SmtpTls::Tls => 465,
            SmtpTls::None => 25,
        });
        let tls = match cfg.tls {
            SmtpTls::None => Tls::None,
            SmtpTls::Starttls => Tls::Required(tls_parameters(who, cfg)?),
            SmtpTls::Tls => Tls::Wrapper(tls_parameters(who, cfg)?),
        };
        let builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&cfg.host).tls(tls);
        let mut builder = builder
            .port(port)
            .timeout(Some(Duration::from_secs(cfg.timeout_secs)));
        match (&cfg.username, &cfg.password_file) {
            (Some(user), Some(p)) => {
                let pw = read_secret(who, "password_file", p)?;
                builder = builder.credentials(Credentials::new(user.clone(), pw));
            }
            (None, None) => {}
            (Some(_), None) => return Err(bad("password_file", "required with username".into())),
            (None, Some(_)) => return Err(bad("username", "required with password_file".into())),
        }
        Ok(Email {
            who: who.to_owned(),
            target: format!("{}:{port}", cfg.host),
            from,
            to,
            dashboard_url: cfg.dashboard_url.clone(),
            timeout_secs: cfg.timeout_secs,
            transport: builder.build(),
        })
    }

    /// One SMTP delivery of `n`, no retry.
    ///
    /// # Errors
    /// Connection, timeout, TLS, or a refusal with its SMTP code.
    pub async fn send_once(&self, n: &Notification) -> Result<(), NotifyError> {
        let r = render(n, &self.dashboard_url);
        let mut b = Message::builder()
            .from(self.from.clone())
            .subject(r.subject);
        for t in &self.to {
            b = b.to(t.clone());
        }
        let msg = b
            .multipart(
                MultiPart::alternative()
                    .singlepart(
                        SinglePart::builder()
                            .header(ContentType::TEXT_PLAIN)
                            .body(r.text),
                    )
                    .singlepart(
                        SinglePart::builder()
                            .header(ContentType::TEXT_HTML)
                            .body(r.html),
                    ),
            )
            .map_err(|e| NotifyError::Config {
                notifier: self.who.clone(),
                field: "to",
                detail: e.to_string(),
            })?;
        self.transport
            .send(msg)
            .await
            .map(|_| ())
            .map_err(|e| self.smtp_error(&e))
    }

    fn smtp_error(&self, e: &lettre::transport::smtp::Error) -> NotifyError {
        let (notifier, target) = (self.who.clone(), self.target.clone());
        if let Some(code) = e.status() {
            return NotifyError::Smtp {
                notifier,
                target,
                code: u16::from(code),
                message: excerpt(chain(e).as_bytes()),
            };
        }
        if e.is_timeout() {
            return NotifyError::Timeout {
                notifier,
                target,
                timeout_secs: self.timeout_secs,
            };
        }
        if e.is_tls() || is_tls(e) {
            return NotifyError::Tls {
                notifier,
                target,
                detail: chain(e),
            };
        }
        if e.is_response() || e.is_client() {
            return NotifyError::Other {
                notifier,
                target,
                detail: chain(e),
            };
        }
        NotifyError::Connect {
            notifier,
            target,
            detail: chain(e),
        }
    }
}

/// TLS for `cfg.host`, trusting the system's roots and `cfg.ca_file`.
fn tls_parameters(who: &str, cfg: &EmailConfig) -> Result<TlsParameters, NotifyError> {
    super::install_provider();
    let bad = |field, e: lettre::transport::smtp::Error| NotifyError::Config {
        notifier: who.to_owned(),
        field,
        detail: chain(&e),
    };
    let mut b = TlsParameters::builder(cfg.host.clone());
    if let Some(p) = &cfg.ca_file {
        let pem = std::fs::read(p).map_err(|source| NotifyError::SecretFile {
            notifier: who.to_owned(),
            field: "ca_file",
            path: p.clone(),
            source,
        })?;
        b = b.add_root_certificate(Certificate::from_pem(&pem).map_err(|e| bad("ca_file", e))?);
    }
    b.build_rustls().map_err(|e| bad("tls", e))
}

/// A rendered message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    /// The subject line.
    pub subject: String,
    /// The `text/plain` part.
    pub text: String,
    /// The `text/html` part.
    pub html: String,
}

/// One alert's facts, as both parts show them.
struct Facts<'a> {
    status: AlertStatus,
    site: &'a str,
    slo: &'a str,
    severity: &'a str,
    alertname: &'a str,
    summary: &'a str,
    description: &'a str,
    burn_long: &'a str,
    burn_short: &'a str,
    budget: String,
    since: String,
    links: Vec<(&'static str, String)>,
}

impl<'a> Facts<'a> {
    fn new(a: &'a Alert, dashboard_url: &str) -> Self {
        let l = |k: &str| a.labels.get(k).map_or("", String::as_str);
        let an = |k: &str| a.annotations.get(k).map_or("", String::as_str);
        // `budget_remaining` is a ratio; show it as a percentage.
        let budget = match an("budget_remaining").parse::<f64>() {
            Ok(r) => format!("{:.1}%", r * 100.0),
            Err(_) => an("budget_remaining").to_owned(),
        };
        let mut links = Vec::new();
        let site = l("site");
        let dash = if !dashboard_url.is_empty() && !site.is_empty() {
            dashboard_url.replace("{site}", site)
        } else {
            an("dashboard").to_owned()
        };
        if !dash.is_empty() {
            links.push(("Dashboard", dash));
        }
        if !a.generator_url.is_empty() {
            links.push(("Source", a.generator_url.clone()));
        }
        Facts {
            status: a.status,
            site,
            slo: l("slo"),
            severity: l("severity"),
            alertname: l("alertname"),
            summary: an("summary"),
            description: an("description"),
            burn_long: an("burn_rate_long"),
            burn_short: an("burn_rate_short"),
            budget,
            since: format_go_time(a.starts_at),
            links,
        }
    }

    /// (label, value) rows that have a value.
    fn rows(&self) -> Vec<(&'static str, String)> {
        let burn = match (self.burn_long, self.burn_short) {
            ("", "") => String::new(),
            (l, s) => format!("{l}x (long window), {s}x (short window)"),
        };
        [
            ("Site", self.site.to_owned()),
            ("SLO", self.slo.to_owned()),
            ("Severity", self.severity.to_owned()),
            ("Burn rate", burn),
            ("Error budget remaining", self.budget.clone()),
            ("Since", self.since.clone()),
            ("Description", self.description.to_owned()),
        ]
        .into_iter()
        .filter(|(_, v)| !v.is_empty())
        .collect()
    }

    fn title(&self) -> String {
        let head = if self.summary.is_empty() {
            self.alertname
        } else {
            self.summary
        };
        format!("[{}] {head}", self.status.as_str().to_uppercase())
    }
}

/// Renders `n` as a subject, a text part and an HTML part; values in the
/// HTML are escaped. `dashboard_url` is the config's template (`{site}`).
pub fn render(n: &Notification, dashboard_url: &str) -> Rendered {
    let firing = n
        .alerts
        .iter()
        .filter(|a| a.status == AlertStatus::Firing)
        .count();
    let status = n.status();
    let mut subject = match status {
        AlertStatus::Firing => format!("[FIRING:{firing}]"),
        AlertStatus::Resolved => "[RESOLVED]".to_owned(),
    };
    let names = if n.group_labels.is_empty() {
        &n.common_labels
    } else {
        &n.group_labels
    };
    for v in names.values() {
        subject.push(' ');
        subject.push_str(v);
    }
    let facts: Vec<Facts<'_>> = n
        .alerts
        .iter()
        .map(|a| Facts::new(a, dashboard_url))
        .collect();
    let resolved = n.alerts.len() - firing;
    let intro = format!(
        "{firing} firing, {resolved} resolved, for receiver {}.",
        n.receiver
    );

    let mut text = format!("{intro}\n");
    for f in &facts {
        let _ = write!(text, "\n{}\n", f.title());
        for (k, v) in f.rows() {
            let _ = writeln!(text, "  {k}: {v}");
        }
        for (k, v) in &f.links {
            let _ = writeln!(text, "  {k}: {v}");
        }
    }
    if n.truncated_alerts > 0 {
        let _ = write!(text, "\n{} more alerts not shown.\n", n.truncated_alerts);
    }
    if !n.external_url.is_empty() {
        let _ = write!(text, "\nAlerts: {}\n", n.external_url);
    }

    let mut html = format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{}</title></head>\
         <body style=\"font-family:sans-serif\">\n<p>{}</p>\n",
        esc(&subject),
        esc(&intro)
    );
    for f in &facts {
        let colour = match f.status {
            AlertStatus::Firing => "#b00020",
            AlertStatus::Resolved => "#1b7f3a",
        };
        let _ = write!(
            html,
            "<h3 style=\"color:{colour}\">{}</h3>\n<table>\n",
            esc(&f.title())
        );
        for (k, v) in f.rows() {
            let _ = writeln!(
                html,
                "<tr><th align=\"left\">{k}</th><td>{}</td></tr>",
                esc(&v)
            );
        }
        for (k, v) in &f.links {
            let _ = writeln!(
                html,
                "<tr><th align=\"left\">{k}</th><td><a href=\"{0}\">{0}</a></td></tr>",
                esc(v)
            );
        }
        html.push_str("</table>\n");
    }
    if n.truncated_alerts > 0 {
        let _ = writeln!(html, "<p>{} more alerts not shown.</p>", n.truncated_alerts);
    }
    if !n.external_url.is_empty() {
        let _ = writeln!(html, "<p><a href=\"{0}\">{0}</a></p>", esc(&n.external_url));
    }
    html.push_str("</body></html>\n");
    Rendered {
        subject,
        text,
        html,
    }
}

/// `s` with HTML's special characters escaped.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {

    use super::*;
    use crate::test_util::labels as map;

    fn notification() -> Notification {
        let a = Alert {
            labels: map(&[
                ("alertname", "SitepulseSLOBurnRate"),
                ("site", "shop<1>"),
                ("slo", "availability"),
                ("severity", "page"),
            ]),
            annotations: map(&[
                ("summary", "shop<1>: SLO availability burning"),
                ("burn_rate_long", "14.9"),
                ("burn_rate_short", "15.2"),
                ("budget_remaining", "0.8123"),
            ]),
            starts_at: 1_795_428_000_000,
            ends_at: None,
            generator_url: String::new(),
            status: AlertStatus::Firing,
        };
        Notification::new(
            "ops",
            "{}:{}",
            map(&[("alertname", "SitepulseSLOBurnRate"), ("site", "shop<1>")]),
            "http://sp:9000",
            vec![a],
        )
    }

    #[test]
    fn renders_facts_in_both_parts() {
        let r = render(&notification(), "https://grafana/d/site?var-site={site}");
        assert_eq!(r.subject, "[FIRING:1] SitepulseSLOBurnRate shop<1>");
        for want in [
            "Site: shop<1>",
            "SLO: availability",
            "Burn rate: 14.9x (long window), 15.2x (short window)",
            "Error budget remaining: 81.2%",
            "Dashboard: https://grafana/d/site?var-site=shop<1>",
            "Since: 2026-11-23T10:00:00Z",
        ] {
            assert!(r.text.contains(want), "{want:?} not in\n{}", r.text);
        }
        assert!(r.html.contains("<td>shop&lt;1&gt;</td>"), "{}", r.html);
        assert!(r.html.contains("<td>81.2%</td>"));
        assert!(r.html.contains("14.9x (long window)"));
        assert!(!r.html.contains("shop<1>"));
    }

    #[test]
    fn resolved_subject() {
        let mut n = notification();
        n.alerts[0].status = AlertStatus::Resolved;
        n.alerts[0].ends_at = Some(1_795_428_060_000);
        let r = render(&n, "");
        assert!(r.subject.starts_with("[RESOLVED] "), "{}", r.subject);
        assert!(
            r.text
                .contains("[RESOLVED] shop<1>: SLO availability burning")
        );
        assert!(!r.text.contains("Dashboard"));
    }

    #[test]
    fn build_checks_config() {
        let cfg = EmailConfig {
            host: "127.0.0.1".into(),
            port: Some(2525),
            tls: SmtpTls::None,
            username: Some("u".into()),
            password_file: None,
            from: "sitepulse <sp@example.org>".into(),
            to: vec!["ops@example.org".into()],
            dashboard_url: String::new(),
            ca_file: None,
            timeout_secs: 5,
        };
        let e = Email::build("email \"ops\"", &cfg).unwrap_err();
        assert!(e.to_string().contains("password_file"), "{e}");
        let bad_to = EmailConfig {
            username: None,
            to: vec!["not an address".into()],
            ..cfg
        };
        let e = Email::build("email \"ops\"", &bad_to).unwrap_err();
        assert!(e.to_string().contains("to:"), "{e}");
    }
}
