#!/usr/bin/env bash
# Regenerates the PHP corpora in this folder from the real programs: Debian's
# php-fpm (8.2) behind nginx writes its error log (log_level = debug and
# notice), its slow log, and PHP's own error_log files (debug.log, in UTC,
# Europe/Berlin and America/New_York). Every file here is program output,
# never edited by hand; the tests assert what these programs wrote.
#
#   collector/pipeline/src/parse/testdata/php/generate.sh
#
# Needs /usr/sbin/php-fpm*, /usr/sbin/nginx and curl. Takes ~20 s. Set XDEBUG_SO to add the Xdebug corpus.
set -euo pipefail
out=$(cd "$(dirname "$0")" && pwd)
root=/tmp/sitepulse-php-corpus
rm -rf "$root"
mkdir -p "$root"/{www,logs,tmp}
fpm=$(ls /usr/sbin/php-fpm* | sort | tail -1)
port=18931

cat >"$root/www/all.php" <<'PHP'
<?php
function wait_for_api($s) { usleep($s); }
class Importer { public function run() { wait_for_api(1300000); } }
(new Importer())->run();
trigger_error("user warning from test", E_USER_WARNING);
trigger_error("user notice from test", E_USER_NOTICE);
trigger_error("user deprecated from test", E_USER_DEPRECATED);
echo $undefined_var;
strlen(null);
error_log("line one of a message\nline two of it\nline three");
// wpdb::print_error()'s format (wp-includes/class-wpdb.php).
error_log(sprintf('WordPress database error %1$s for query %2$s made by %3$s', "Table 'wp.wp_nope' doesn't exist", "SELECT option_value FROM wp_nope WHERE option_name = 'siteurl'", "require('wp-blog-header.php'), require_once('wp-load.php'), require_once('wp-config.php')"));
file_put_contents('php://stderr', str_repeat("x", 3000) . "\nsecond stderr line\n");
function deep($n) { if ($n == 0) throw new RuntimeException("boom from test"); deep($n - 1); }
deep(3);
PHP
cat >"$root/www/usererror.php" <<'PHP'
<?php
trigger_error("user error from test", E_USER_ERROR);
PHP
cat >"$root/www/parse.php" <<'PHP'
<?php
include __DIR__ . '/broken.inc';
PHP
printf '<?php\nfunction broken( {\n' >"$root/www/broken.inc"
cat >"$root/www/timeout.php" <<'PHP'
<?php
sleep(4);
PHP

pools() { # $1: pool suffix settings shared by both runs
cat <<CONF
[www]
listen = $root/fpm-www.sock
pm = static
pm.max_children = 1
catch_workers_output = yes
slowlog = $root/logs/fpm-slow.log
request_slowlog_timeout = 1s
php_admin_value[error_log] = $root/logs/debug-utc.log
php_admin_flag[log_errors] = on
php_admin_value[error_reporting] = E_ALL
php_admin_value[date.timezone] = UTC
[berlin]
listen = $root/fpm-berlin.sock
pm = static
pm.max_children = 1
php_admin_value[error_log] = $root/logs/debug-berlin.log
php_admin_flag[log_errors] = on
php_admin_value[error_reporting] = E_ALL
php_admin_value[date.timezone] = Europe/Berlin
[newyork]
listen = $root/fpm-newyork.sock
pm = static
pm.max_children = 1
php_admin_value[error_log] = $root/logs/debug-new-york.log
php_admin_flag[log_errors] = on
php_admin_value[error_reporting] = E_ALL
php_admin_value[date.timezone] = America/New_York
[stderr]
listen = $root/fpm-stderr.sock
pm = static
pm.max_children = 1
catch_workers_output = yes
request_terminate_timeout = 3s
php_admin_flag[log_errors] = on
php_admin_value[error_reporting] = E_ALL
CONF
}

nginx_conf() {
cat <<CONF
daemon off;
master_process off;
pid $root/nginx.pid;
error_log $root/logs/nginx-error.log;
events {}
http {
  access_log $root/logs/nginx-access.log;
  client_body_temp_path $root/tmp; proxy_temp_path $root/tmp; fastcgi_temp_path $root/tmp;
  uwsgi_temp_path $root/tmp; scgi_temp_path $root/tmp;
  server {
    listen 127.0.0.1:$port;
    root $root/www;
    location ~ ^/(www|berlin|newyork|stderr)/(.*\.php)$ {
      include /etc/nginx/fastcgi_params;
      fastcgi_param SCRIPT_FILENAME $root/www/\$2;
      fastcgi_pass unix:$root/fpm-\$1.sock;
    }
  }
}
CONF
}

run() { # $1: log_level, $2: error log name
  { printf '[global]\nerror_log = %s\nlog_level = %s\ndaemonize = no\npid = %s\n' \
      "$root/logs/$2" "$1" "$root/fpm.pid"; pools; } >"$root/php-fpm.conf"
  TZ=UTC "$fpm" -R -y "$root/php-fpm.conf" >/dev/null 2>&1 &
  local fpm_pid=$!
  for _ in $(seq 50); do [ -S "$root/fpm-stderr.sock" ] && break; sleep 0.1; done
  nginx_conf >"$root/nginx.conf"
  /usr/sbin/nginx -c "$root/nginx.conf" -p "$root" >/dev/null 2>&1 &
  local nginx_pid=$!
  sleep 0.5
  for pool in www berlin newyork stderr; do
    curl -s -o /dev/null "http://127.0.0.1:$port/$pool/all.php" || true
  done
  for page in usererror parse; do
    curl -s -o /dev/null "http://127.0.0.1:$port/www/$page.php" || true
  done
  curl -s -o /dev/null "http://127.0.0.1:$port/stderr/timeout.php" || true
  sleep 1.5
  kill "$nginx_pid"; kill -QUIT "$fpm_pid"; wait "$fpm_pid" || true; wait "$nginx_pid" || true
}

run debug fpm-error-debug.log
run notice fpm-error-notice.log

# A pool that cannot start: FPM's ERROR lines (written to stderr before the
# error log is open).
printf '[global]\nerror_log = %s\n[bad]\nlisten = %s\npm = static\npm.max_children = 0\n' \
  "$root/logs/unused.log" "$root/bad.sock" >"$root/bad.conf"
TZ=UTC "$fpm" -R -y "$root/bad.conf" 2>"$root/logs/fpm-error-config.log" >/dev/null || true

# Xdebug's develop mode logs its own stack trace, one time-stamped `PHP
# Stack trace:` / `PHP   1. ...` line per frame (xdebug_log_stack()). Only
# when XDEBUG_SO names an xdebug.so (`apt-get download php8.2-xdebug` and
# `dpkg -x` it: nothing is installed).
if [ -n "${XDEBUG_SO:-}" ]; then
  cat >"$root/www/xdebug.php" <<'PHP'
<?php
function helper($a) { return $a['missing']; }
function outer() { helper([1]); undefined_fn(); }
outer();
PHP
  php -n -d zend_extension="$XDEBUG_SO" -d xdebug.mode=develop -d log_errors=1 \
    -d error_log="$root/logs/debug-xdebug.log" -d display_errors=0 -d date.timezone=UTC \
    -d error_reporting=-1 "$root/www/xdebug.php" || true
  cp "$root/logs/debug-xdebug.log" "$out/"
fi

for f in fpm-error-debug.log fpm-error-notice.log fpm-error-config.log fpm-slow.log \
         debug-utc.log debug-berlin.log debug-new-york.log; do
  cp "$root/logs/$f" "$out/$f"
done
echo "wrote: $(cd "$out" && wc -l ./*.log | tail -1)"
