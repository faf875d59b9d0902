//! Multi-line stack traces as the runtimes print them, each appended to
//! the record's first line: Java's `Throwable.printStackTrace` (header,
//! tab-indented `at` frames, `Caused by:` and `... N more`), Python's
//! `traceback.print_exc` (3.11+ carets, chained exceptions) and Go's
//! runtime (`panic:` / `fatal error:`, `goroutine N [state]:`, frames with
//! tab-indented `file:line +0xNN`, `created by`), or net/http's recovered
//! panic through the `log` package.

use super::push_time;
use crate::rng::Rng;
use crate::text::push_u64;

/// A Spring MVC request on Tomcat, innermost first.
const JAVA_FRAMES: &[&str] = &[
    "com.acme.orders.service.OrderService.total(OrderService.java:88)",
    "com.acme.orders.web.OrderController.get(OrderController.java:42)",
    "java.base/jdk.internal.reflect.DirectMethodHandleAccessor.invoke(DirectMethodHandleAccessor.java:103)",
    "java.base/java.lang.reflect.Method.invoke(Method.java:580)",
    "org.springframework.web.method.support.InvocableHandlerMethod.doInvoke(InvocableHandlerMethod.java:255)",
    "org.springframework.web.method.support.InvocableHandlerMethod.invokeForRequest(InvocableHandlerMethod.java:188)",
    "org.springframework.web.servlet.mvc.method.annotation.ServletInvocableHandlerMethod.invokeAndHandle(ServletInvocableHandlerMethod.java:118)",
    "org.springframework.web.servlet.mvc.method.annotation.RequestMappingHandlerAdapter.invokeHandlerMethod(RequestMappingHandlerAdapter.java:926)",
    "org.springframework.web.servlet.mvc.method.annotation.RequestMappingHandlerAdapter.handleInternal(RequestMappingHandlerAdapter.java:831)",
    "org.springframework.web.servlet.mvc.method.AbstractHandlerMethodAdapter.handle(AbstractHandlerMethodAdapter.java:87)",
    "org.springframework.web.servlet.DispatcherServlet.doDispatch(DispatcherServlet.java:1089)",
    "org.springframework.web.servlet.DispatcherServlet.doService(DispatcherServlet.java:979)",
    "org.springframework.web.servlet.FrameworkServlet.processRequest(FrameworkServlet.java:1014)",
    "org.springframework.web.servlet.FrameworkServlet.doGet(FrameworkServlet.java:903)",
    "jakarta.servlet.http.HttpServlet.service(HttpServlet.java:564)",
    "org.springframework.web.servlet.FrameworkServlet.service(FrameworkServlet.java:885)",
    "jakarta.servlet.http.HttpServlet.service(HttpServlet.java:658)",
    "org.apache.catalina.core.ApplicationFilterChain.internalDoFilter(ApplicationFilterChain.java:205)",
    "org.apache.catalina.core.ApplicationFilterChain.doFilter(ApplicationFilterChain.java:149)",
    "org.apache.tomcat.websocket.server.WsFilter.doFilter(WsFilter.java:51)",
    "org.springframework.web.filter.RequestContextFilter.doFilterInternal(RequestContextFilter.java:100)",
    "org.springframework.web.filter.OncePerRequestFilter.doFilter(OncePerRequestFilter.java:116)",
    "org.apache.catalina.core.StandardWrapperValve.invoke(StandardWrapperValve.java:167)",
    "org.apache.catalina.core.StandardContextValve.invoke(StandardContextValve.java:90)",
    "org.apache.catalina.core.StandardHostValve.invoke(StandardHostValve.java:115)",
    "org.apache.catalina.valves.ErrorReportValve.invoke(ErrorReportValve.java:93)",
    "org.apache.catalina.core.StandardEngineValve.invoke(StandardEngineValve.java:74)",
    "org.apache.catalina.connector.CoyoteAdapter.service(CoyoteAdapter.java:344)",
    "org.apache.coyote.http11.Http11Processor.service(Http11Processor.java:391)",
    "org.apache.coyote.AbstractProcessorLight.process(AbstractProcessorLight.java:63)",
    "org.apache.coyote.AbstractProtocol$ConnectionHandler.process(AbstractProtocol.java:896)",
    "org.apache.tomcat.util.net.NioEndpoint$SocketProcessor.doRun(NioEndpoint.java:1744)",
    "org.apache.tomcat.util.net.SocketProcessorBase.run(SocketProcessorBase.java:52)",
    "org.apache.tomcat.util.threads.ThreadPoolExecutor.runWorker(ThreadPoolExecutor.java:1191)",
    "org.apache.tomcat.util.threads.ThreadPoolExecutor$Worker.run(ThreadPoolExecutor.java:659)",
    "org.apache.tomcat.util.threads.TaskThread$WrappingRunnable.run(TaskThread.java:61)",
    "java.base/java.lang.Thread.run(Thread.java:1583)",
];

const JAVA_EXCEPTIONS: &[(&str, &str)] = &[
    ("java.lang.IllegalStateException", "Order has no lines"),
    (
        "java.lang.NullPointerException",
        "Cannot invoke \"com.acme.orders.model.Customer.getEmail()\" because \"customer\" is null",
    ),
    (
        "org.springframework.dao.DataAccessResourceFailureException",
        "Unable to acquire JDBC Connection",
    ),
];

/// (cause, its message, its own frames).
const JAVA_CAUSES: &[(&str, &str, &[&str])] = &[
    (
        "org.postgresql.util.PSQLException",
        "ERROR: relation \"order_lines\" does not exist",
        &[
            "org.postgresql.core.v3.QueryExecutorImpl.receiveErrorResponse(QueryExecutorImpl.java:2725)",
            "org.postgresql.core.v3.QueryExecutorImpl.processResults(QueryExecutorImpl.java:2412)",
            "org.postgresql.jdbc.PgStatement.executeInternal(PgStatement.java:517)",
            "com.zaxxer.hikari.pool.ProxyPreparedStatement.executeQuery(ProxyPreparedStatement.java:52)",
            "com.acme.orders.repository.OrderRepository.findLines(OrderRepository.java:61)",
        ],
    ),
    (
        "java.sql.SQLTransientConnectionException",
        "HikariPool-1 - Connection is not available, request timed out after 30000ms.",
        &[
            "com.zaxxer.hikari.pool.HikariPool.createTimeoutException(HikariPool.java:696)",
            "com.zaxxer.hikari.pool.HikariPool.getConnection(HikariPool.java:181)",
            "com.zaxxer.hikari.HikariDataSource.getConnection(HikariDataSource.java:128)",
        ],
    ),
    (
        "java.net.SocketTimeoutException",
        "Read timed out",
        &[
            "java.base/sun.nio.ch.NioSocketImpl.timedRead(NioSocketImpl.java:278)",
            "java.base/sun.nio.ch.NioSocketImpl.implRead(NioSocketImpl.java:304)",
            "java.base/java.net.Socket$SocketInputStream.read(Socket.java:1099)",
        ],
    ),
];

/// A Java exception with 5 to 30 frames and its cause.
pub(super) fn java(buf: &mut Vec<u8>, rng: &mut Rng) {
    let (exc, msg) = *rng.pick(JAVA_EXCEPTIONS);
    buf.push(b'\n');
    buf.extend_from_slice(exc.as_bytes());
    buf.extend_from_slice(b": ");
    buf.extend_from_slice(msg.as_bytes());
    let n = rng.range(5, 30) as usize;
    // The innermost frames, then the thread's entry point.
    let frames = JAVA_FRAMES[..n - 1].iter().chain(JAVA_FRAMES.last());
    for f in frames {
        buf.extend_from_slice(b"\n\tat ");
        buf.extend_from_slice(f.as_bytes());
    }
    let (cause, msg, own) = *rng.pick(JAVA_CAUSES);
    buf.extend_from_slice(b"\nCaused by: ");
    buf.extend_from_slice(cause.as_bytes());
    buf.extend_from_slice(b": ");
    buf.extend_from_slice(msg.as_bytes());
    for f in own {
        buf.extend_from_slice(b"\n\tat ");
        buf.extend_from_slice(f.as_bytes());
    }
    // Frames in common with the enclosing trace are elided.
    buf.extend_from_slice(b"\n\t... ");
    push_u64(buf, rng.range(1, n as u64 - 1));
    buf.extend_from_slice(b" more");
}

/// (file, line, function, source line, 3.11 carets under it).
type PyFrame = (&'static str, u32, &'static str, &'static str, &'static str);

const PY_FRAMES: &[PyFrame] = &[
    (
        "/app/worker/tasks.py",
        88,
        "run",
        "result = handler(payload)",
        "         ^^^^^^^^^^^^^^^^",
    ),
    (
        "/app/worker/inventory.py",
        41,
        "sync_inventory",
        "for item in fetch_items(batch):",
        "            ^^^^^^^^^^^^^^^^^^",
    ),
    (
        "/usr/local/lib/python3.12/site-packages/starlette/routing.py",
        74,
        "app",
        "response = await f(request)",
        "",
    ),
    (
        "/app/api/orders.py",
        57,
        "get_order",
        "return serialize(order)",
        "       ^^^^^^^^^^^^^^^^",
    ),
];

/// (innermost frame, exception line).
const PY_ERRORS: &[(PyFrame, &str)] = &[
    (
        (
            "/app/worker/inventory.py",
            63,
            "parse_item",
            "sku = item[\"sku\"]",
            "      ~~~~^^^^^^^",
        ),
        "KeyError: 'sku'",
    ),
    (
        (
            "/app/api/orders.py",
            22,
            "serialize",
            "total = int(order.total)",
            "        ^^^^^^^^^^^^^^^^",
        ),
        "ValueError: invalid literal for int() with base 10: 'abc'",
    ),
    (
        (
            "/usr/local/lib/python3.12/socket.py",
            852,
            "create_connection",
            "sock.connect(sa)",
            "",
        ),
        "ConnectionRefusedError: [Errno 111] Connection refused",
    ),
];

fn py_frame(buf: &mut Vec<u8>, f: PyFrame) {
    let (file, line, func, src, carets) = f;
    buf.extend_from_slice(b"\n  File \"");
    buf.extend_from_slice(file.as_bytes());
    buf.extend_from_slice(b"\", line ");
    push_u64(buf, u64::from(line));
    buf.extend_from_slice(b", in ");
    buf.extend_from_slice(func.as_bytes());
    buf.extend_from_slice(b"\n    ");
    buf.extend_from_slice(src.as_bytes());
    if !carets.is_empty() {
        buf.extend_from_slice(b"\n    ");
        buf.extend_from_slice(carets.as_bytes());
    }
}

/// A Python traceback, now and then chained to a second one.
pub(super) fn python(buf: &mut Vec<u8>, rng: &mut Rng) {
    buf.extend_from_slice(b"\nTraceback (most recent call last):");
    let depth = rng.range(1, PY_FRAMES.len() as u64) as usize;
    for &f in &PY_FRAMES[..depth] {
        py_frame(buf, f);
    }
    let (inner, exc) = *rng.pick(PY_ERRORS);
    py_frame(buf, inner);
    buf.push(b'\n');
    buf.extend_from_slice(exc.as_bytes());
    if rng.chance(0.3) {
        buf.extend_from_slice(if rng.chance(0.5) {
            &b"\n\nDuring handling of the above exception, another exception occurred:\n"[..]
        } else {
            b"\n\nThe above exception was the direct cause of the following exception:\n"
        });
        buf.extend_from_slice(b"\nTraceback (most recent call last):");
        py_frame(
            buf,
            (
                "/app/worker/tasks.py",
                92,
                "run",
                "raise TaskError(name) from exc",
                "",
            ),
        );
        buf.extend_from_slice(b"\nworker.errors.TaskError: sync_inventory");
    }
}

/// Go crashes: (first line, the lines after it).
const GO_PANICS: &[(&str, &str)] = &[
    (
        "panic: assignment to entry in nil map",
        "\n\ngoroutine 34 [running]:\n\
         github.com/acme/billing/internal/queue.(*Consumer).handle(0xc000220000, {0xc0001f6000, 0x1a4, 0x200})\n\
         \t/src/internal/queue/consumer.go:118 +0x2a5\n\
         github.com/acme/billing/internal/queue.(*Consumer).Run(0xc000220000, {0xb8c1e8, 0xc00019e0f0})\n\
         \t/src/internal/queue/consumer.go:74 +0x1b9\n\
         created by main.main in goroutine 1\n\
         \t/src/cmd/billing/main.go:52 +0x5e5",
    ),
    (
        "panic: runtime error: invalid memory address or nil pointer dereference",
        "\n[signal SIGSEGV: segmentation violation code=0x1 addr=0x18 pc=0x7a3f2c]\n\n\
         goroutine 1 [running]:\n\
         main.(*App).loadConfig(0x0)\n\
         \t/src/cmd/billing/main.go:88 +0x2c\n\
         main.main()\n\
         \t/src/cmd/billing/main.go:41 +0x1a5",
    ),
    (
        "fatal error: concurrent map writes",
        "\n\ngoroutine 52 [running]:\n\
         github.com/acme/billing/internal/cache.(*Store).Put(...)\n\
         \t/src/internal/cache/store.go:33\n\
         github.com/acme/billing/internal/api.(*Server).handle(0xc0000b4000, {0xb8f0a0, 0xc0002a01c0}, 0xc000312000)\n\
         \t/src/internal/api/server.go:97 +0x1c5\n\
         net/http.HandlerFunc.ServeHTTP(0x0?, {0xb8f0a0?, 0xc0002a01c0?}, 0xc000312000?)\n\
         \t/usr/local/go/src/net/http/server.go:2166 +0x29\n\
         \n\
         goroutine 1 [IO wait]:\n\
         internal/poll.runtime_pollWait(0x7f1c8c2a6e28, 0x72)\n\
         \t/usr/local/go/src/runtime/netpoll.go:351 +0x85",
    ),
];

/// net/http's recovered panic, after `2026/11/22 10:00:00 ` from `log`.
const GO_HTTP_PANIC: (&str, &str) = (
    "http: panic serving 10.42.0.7:43210: runtime error: index out of range [3] with length 3",
    "\ngoroutine 57 [running]:\n\
     net/http.(*conn).serve.func1()\n\
     \t/usr/local/go/src/net/http/server.go:1947 +0xbe\n\
     panic({0x8f6e40?, 0xc000016180?})\n\
     \t/usr/local/go/src/runtime/panic.go:785 +0x132\n\
     github.com/acme/billing/internal/api.(*Server).invoice(0xc0000b4000, {0xb8f0a0, 0xc0002a01c0}, 0xc000312000)\n\
     \t/src/internal/api/invoice.go:64 +0x2a5\n\
     net/http.HandlerFunc.ServeHTTP(0x0?, {0xb8f0a0?, 0xc0002a01c0?}, 0xc000312000?)\n\
     \t/usr/local/go/src/net/http/server.go:2166 +0x29\n\
     created by net/http.(*Server).Serve in goroutine 1\n\
     \t/usr/local/go/src/net/http/server.go:3360 +0x485",
);

/// A Go panic or fatal error: no time, and `panic`/`fatal` as its level.
pub(super) fn go_panic(buf: &mut Vec<u8>, rng: &mut Rng) {
    let (head, rest) = *rng.pick(GO_PANICS);
    buf.extend_from_slice(head.as_bytes());
    buf.extend_from_slice(rest.as_bytes());
}

/// net/http's recovered panic, logged by `log` with its date and no level.
pub(super) fn go_http_panic(buf: &mut Vec<u8>, at: i64) {
    push_time(buf, at, b'/', b' ', 0, b'.', b"");
    buf.push(b' ');
    buf.extend_from_slice(GO_HTTP_PANIC.0.as_bytes());
    buf.extend_from_slice(GO_HTTP_PANIC.1.as_bytes());
}
