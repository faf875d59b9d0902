//! PHP-FPM master error log (`error_log` in `php-fpm.conf`): one line per
//! record, `[22-Nov-2026 10:00:00] WARNING: [pool www] server reached
//! pm.max_children setting (5), consider raising it`. Messages are matched
//! against the texts php-src writes (`sapi/fpm/fpm/*.c`) and typed as
//! [`Event`]s the aggregator counts.

use std::sync::LazyLock;

use memchr::memmem;

use crate::parse::ParseError;
use crate::parse::php::{self, bracketed_time};
use crate::parse::trim_eol;
use crate::record::{Event, Level, LogFormat, Record};
use crate::time;

/// `child N, script '...' (request: "...") ...` (`fpm_request.c`): the
/// script ends where the request starts.
static REQUEST_OPEN: LazyLock<memmem::Finder<'static>> =
    LazyLock::new(|| memmem::Finder::new(b"' (request: \""));

/// The end of `zlog_buf_prefix()`'s `%s(), line %d: ` (debug level).
static FUNC_LINE: LazyLock<memmem::Finder<'static>> =
    LazyLock::new(|| memmem::Finder::new(b"(), line "));

/// Parses one FPM error-log line. A trailing `\r` or `\n` is ignored.
///
/// Sets `ts_ns`, `level` and `level_raw` (zlog's `DEBUG`, `NOTICE`,
/// `WARNING`, `ERROR`, `ALERT`, as written), `pool`, `pid` (the child's,
/// else the master's from `fpm is running, pid N` or the `log_level =
/// debug` prefix), `message` (the text after the level, the debug prefix
/// and `[pool ...]`) and `event`. Slow and timed-out requests also set
/// `script`, `method`, `path` and `duration_ns`.
///
/// What a child wrote to stderr or stdout (`child N said into stderr:
/// "..."`) has `message` without the quotes (and without `, pipe is
/// closed`); a PHP error in it (`NOTICE: PHP message: PHP Warning:  ...`,
/// with or without the child's debug prefix) keeps PHP's own level, type
/// (`level_raw` `Warning`), event, message and `script`; other text takes
/// the child's level when it wrote one (`NOTICE: PHP message: ...`). FPM
/// writes each line of a multi-line message, and each `log_limit` slice of
/// a long one, as a line of its own: each is a record with the pool and
/// pid, and a `#N` stack-frame line counts one frame. Well-formed lines
/// with an unrecognised message get [`Event::None`].
///
/// # Errors
/// [`ParseError::Empty`] for a blank line, [`ParseError::Format`] when the
/// line does not start with `[time] LEVEL:`, and [`ParseError::BadField`]
/// for an unreadable time.
///
/// # Performance
/// Prefix comparisons and `memchr`; no allocation.
pub fn parse(line: &[u8]) -> Result<Record<'_>, ParseError> {
    let line = trim_eol(line);
    if line.trim_ascii().is_empty() {
        return Err(ParseError::Empty);
    }
    let (ts, _zoned, rest) = bracketed_time(line)?;
    let rest = rest.strip_prefix(b" ").ok_or(ParseError::Format)?;
    let (level, level_raw, mut msg) = split_level(rest).ok_or(ParseError::Format)?;
    let mut rec = Record {
        source: LogFormat::FpmError,
        ts_ns: Some(ts),
        level,
        level_raw,
        ..Record::default()
    };
    // zlog_buf_prefix() with log_level = debug: "pid %d, %s(), line %d: ".
    if let Some((pid, after)) = debug_prefix(msg) {
        rec.pid = pid;
        msg = after;
    }
    if let Some(after) = msg.strip_prefix(b"[pool ")
        && let Some(end) = memchr::memchr(b']', after)
    {
        rec.pool = &after[..end];
        let after = &after[end + 1..];
        msg = after.strip_prefix(b" ").unwrap_or(after);
    }
    rec.message = msg;
    classify(&mut rec, msg);
    Ok(rec)
}

/// `zlog.c` `level_names[]`, each followed by `": "` (or ending the line):
/// the level, the word as written, and the rest.
fn split_level(rest: &[u8]) -> Option<(Level, &[u8], &[u8])> {
    const LEVELS: [(&[u8], Level); 5] = [
        (b"DEBUG", Level::Debug),
        (b"NOTICE", Level::Notice),
        (b"WARNING", Level::Warning),
        (b"ERROR", Level::Error),
        (b"ALERT", Level::Alert),
    ];
    LEVELS.iter().find_map(|&(name, level)| {
        let after = rest.strip_prefix(name)?.strip_prefix(b":")?;
        let raw = &rest[..name.len()];
        match after {
            [] => Some((level, raw, after)),
            [b' ', msg @ ..] => Some((level, raw, msg)),
            _ => None,
        }
    })
}

/// `pid 1, fpm_scoreboard_init(), line 45: ` → (1, rest). The function is
/// `(null)` for what children said.
fn debug_prefix(msg: &[u8]) -> Option<(u32, &[u8])> {
    let rest = msg.strip_prefix(b"pid ")?;
    let (pid, rest) = leading_u32(rest)?;
    let rest = rest.strip_prefix(b", ")?;
    Some((pid, func_line_prefix(rest)?))
}

/// `fpm_init(), line 83: ` → the rest: what `zlog_buf_prefix()` writes at
/// debug level after the pid (the master) or after the level (a child).
fn func_line_prefix(msg: &[u8]) -> Option<&[u8]> {
    let head = msg.get(..128).unwrap_or(msg);
    let at = FUNC_LINE.find(head)?;
    if at == 0 || head[..at].contains(&b' ') {
        return None;
    }
    let rest = &msg[at + FUNC_LINE.needle().len()..];
    let (_, rest) = leading_u32(rest)?;
    let rest = rest.strip_prefix(b":")?;
    Some(rest.strip_prefix(b" ").unwrap_or(rest))
}

/// Leading decimal digits as a `u32`, and the rest.
fn leading_u32(b: &[u8]) -> Option<(u32, &[u8])> {
    let n = b.iter().take_while(|c| c.is_ascii_digit()).count();
    let (digits, rest) = (b.get(..n)?, b.get(n..)?);
    let v = u32::try_from(time::parse_u64(digits)?).ok()?;
    Some((v, rest))
}

/// Sets `event` (and the fields some messages carry) from the message text
/// after the pool.
fn classify<'b>(rec: &mut Record<'b>, msg: &'b [u8]) {
    // fpm_process_ctl.c: "[pool %s] server reached pm.max_children setting
    // (%d), consider raising it" (dynamic) and "... server reached
    // max_children setting (%d) ..." (ondemand).
    if msg.starts_with(b"server reached pm.max_children setting")
        || msg.starts_with(b"server reached max_children setting")
    {
        rec.event = Event::MaxChildrenReached;
    // fpm_process_ctl.c: "[pool %s] seems busy (you may need to increase
    // pm.start_servers, or pm.min/max_spare_servers), spawning %d children,
    // there are %d idle, and %d total children".
    } else if msg.starts_with(b"seems busy") {
        rec.event = Event::SeemsBusy;
    } else if let Some(rest) = msg.strip_prefix(b"child ") {
        classify_child(rec, rest);
    // fpm.c: "fpm is running, pid %d".
    } else if let Some(rest) = msg.strip_prefix(b"fpm is running, pid ") {
        rec.event = Event::Lifecycle;
        if let Some((pid, _)) = leading_u32(rest) {
            rec.pid = pid;
        }
    } else if is_lifecycle(msg) {
        rec.event = Event::Lifecycle;
    }
}

/// Master state changes: fpm_events.c (`ready to handle connections`,
/// `Reloading in progress ...`, `Terminating ...`, `Finishing ...`, log
/// re-opens on SIGUSR1), fpm_process_ctl.c (`reloading: execvp(...)`,
/// `exiting, bye-bye!`) and fpm_children.c (`failed processes threshold
/// (%d in %d sec) is reached, initiating reload`).
fn is_lifecycle(msg: &[u8]) -> bool {
    const LIFECYCLE: [&[u8]; 9] = [
        b"ready to handle connections",
        b"Reloading in progress",
        b"reloading: execvp(",
        b"Terminating ...",
        b"Finishing ...",
        b"exiting, bye-bye!",
        b"error log file re-opened",
        b"access log file re-opened",
        b"failed processes threshold",
    ];
    LIFECYCLE.iter().any(|p| msg.starts_with(p))
}

/// `child N ...` messages; `rest` starts at the pid.
fn classify_child<'b>(rec: &mut Record<'b>, rest: &'b [u8]) {
    let Some((pid, rest)) = leading_u32(rest) else {
        return;
    };
    rec.pid = pid;
    // fpm_children.c: "[pool %s] child %d started".
    if rest == b" started" {
        rec.event = Event::ChildStarted;
    // fpm_children.c: "[pool %s] child %d exited %s after %ld.%06d seconds
    // from start" with "with code %d" or "on signal %d (%s%s)".
    } else if rest.starts_with(b" exited with code ")
        || rest.starts_with(b" has been killed by the process management")
    {
        rec.event = Event::ChildExited;
    } else if let Some(sig) = rest.strip_prefix(b" exited on signal ") {
        // SIGQUIT is FPM's graceful stop (reload, idle kill); fpm_children.c
        // logs it at NOTICE because no request is lost. Others kill work,
        // except while the master stops or reloads: it then logs every
        // exit at DEBUG (`if (!fpm_pctl_can_spawn_children()) severity =
        // ZLOG_DEBUG;` in fpm_children_bury()).
        rec.event = match leading_u32(sig) {
            Some((3, _)) => Event::ChildExited,
            _ if rec.level == Level::Debug => Event::ChildExited,
            _ => Event::ChildTerminated,
        };
    } else if let Some(rest) = rest.strip_prefix(b", script '") {
        slow_or_timeout(rec, rest);
    // fpm_stdio.c: "[pool %s] child %d said into %s: " + quoted output,
    // optionally followed by ", pipe is closed".
    } else if let Some(out) = rest
        .strip_prefix(b" said into stderr: ")
        .or_else(|| rest.strip_prefix(b" said into stdout: "))
    {
        child_said(rec, out);
    }
}

/// fpm_request.c: `script '%s' (request: "%s %s%s%s") executing too slow
/// (%d.%06d sec), logging` and `... execution timed out (%d.%06d sec),
/// terminating`. `rest` starts after `script '`.
fn slow_or_timeout<'b>(rec: &mut Record<'b>, rest: &'b [u8]) {
    let Some(end) = REQUEST_OPEN.find(rest) else {
        return;
    };
    rec.script = &rest[..end];
    let rest = &rest[end + REQUEST_OPEN.needle().len()..];
    let Some(close) = memchr::memrchr(b'"', rest) else {
        return;
    };
    let request = &rest[..close];
    let tail = &rest[close + 1..];
    (rec.method, rec.path) = match memchr::memchr(b' ', request) {
        Some(sp) => (&request[..sp], &request[sp + 1..]),
        None => (request, &b""[..]),
    };
    let (event, tail) = if let Some(t) = tail.strip_prefix(b") executing too slow (") {
        (Event::SlowRequest, t)
    } else if let Some(t) = tail.strip_prefix(b") execution timed out (") {
        (Event::RequestTimeout, t)
    } else {
        return;
    };
    rec.event = event;
    if let Some(sp) = memchr::memchr(b' ', tail) {
        rec.duration_ns = time::parse_scaled(&tail[..sp], 1_000_000_000);
    }
}

/// Worker output captured by the master (`fpm_stdio.c`): the quoted text,
/// optionally followed by `, pipe is closed`; older FPMs cut a long line
/// with `...` instead of the closing quote. PHP errors arrive through the
/// child's own logger (`sapi_cgi_log_message()`: `NOTICE: PHP message:
/// PHP Warning:  ...`, with `sapi_cgi_log_message(), line N: ` after the
/// level at debug level); those take PHP's level, type and event.
fn child_said<'b>(rec: &mut Record<'b>, out: &'b [u8]) {
    let out = out.strip_suffix(b", pipe is closed").unwrap_or(out);
    let out = out.strip_prefix(b"\"").unwrap_or(out);
    let out = out.strip_suffix(b"\"").unwrap_or(out);
    rec.message = out;
    let mut text = out;
    if let Ok((_, _, after)) = bracketed_time(text) {
        text = after.strip_prefix(b" ").unwrap_or(after);
    }
    if let Some((level, raw, after)) = split_level(text) {
        rec.level = level;
        rec.level_raw = raw;
        text = func_line_prefix(after).unwrap_or(after);
        rec.message = text;
    }
    if let Some(after) = text.strip_prefix(b"PHP message: ") {
        text = after;
        rec.message = text;
    }
    if let Some(php) = php::classify_php(text) {
        rec.level = php.level;
        rec.level_raw = php.level_raw;
        rec.event = php.event;
        rec.message = php.message;
        rec.script = php::php_script(php.message);
    } else if php::is_db_error(text) {
        rec.level = Level::Error;
        rec.event = Event::DatabaseError;
    }
    // One line of a multi-line PHP message: a `#N` frame of a stack trace.
    rec.frames = u32::from(php::is_frame_line(text));
}

#[cfg(test)]
pub(crate) mod tests;
