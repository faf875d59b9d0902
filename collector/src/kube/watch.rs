//! List then watch one kind of object into a local store, as the API
//! concepts page describes for keeping a cache in step
//! (<https://kubernetes.io/docs/reference/using-api/api-concepts/#efficient-detection-of-changes>):
//!
//! - **list** in pages (`limit`, then `continue` until none is returned);
//!   the list's `metadata.resourceVersion` is where the watch starts;
//! - **watch** (`watch=1&resourceVersion=…&allowWatchBookmarks=true&timeoutSeconds=…`):
//!   one JSON `WatchEvent` per line, `ADDED`/`MODIFIED`/`DELETED` with the
//!   object, `BOOKMARK` with only a newer resource version, `ERROR` with a
//!   `Status`; each event's version is remembered;
//! - **410 Gone** (an `ERROR` event with code 410, or an HTTP 410 for an
//!   expired `continue` token): the version is no longer in the server's
//!   history, so list again. The store is replaced when the new list is
//!   complete rather than cleared first: readers never see a wrong 0;
//! - a watch the server ends (`timeoutSeconds`) or a dropped connection:
//!   watch again from the last version, losing nothing;
//! - other errors: wait with exponential backoff and full jitter
//!   (`sitepulse_sinks::retry`), then the same step again.
//!
//! Only the fields a caller reads are declared; every other field is
//! ignored, which is how clients stay compatible with newer servers.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Deserialize;
use serde::de::DeserializeOwned;
use sitepulse_sinks::retry::{Backoff, RetryConfig};

use super::client::{Client, KubeError, Status, error_chain};

/// A kind of object the API serves at
/// `{API_PATH}[/namespaces/{ns}]/{PLURAL}`.
pub trait Resource: DeserializeOwned + Send + 'static {
    /// The group version's path: `/api/v1` (core), `/apis/apps/v1`.
    const API_PATH: &'static str;
    /// The resource as URLs name it: `pods`, `deployments`.
    const PLURAL: &'static str;
    /// Its metadata.
    fn metadata(&self) -> &ObjectMeta;
}

/// `meta/v1` `ObjectMeta`, the fields we read.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ObjectMeta {
    /// Unique in its namespace.
    pub name: String,
    /// Empty for cluster-scoped objects.
    pub namespace: String,
    /// Labels.
    #[serde(deserialize_with = "null_as_default")]
    pub labels: BTreeMap<String, String>,
    /// Annotations.
    #[serde(deserialize_with = "null_as_default")]
    pub annotations: BTreeMap<String, String>,
    /// The version of this object (opaque: compared only for equality).
    pub resource_version: String,
    /// Set when deletion was asked for (a pod is then terminating).
    pub deletion_timestamp: Option<String>,
    /// The generation of the desired state (bumped by every spec change).
    pub generation: i64,
}

/// A field that may be `null` as well as absent (servers omit empty
/// fields, but a `null` is valid JSON for them too).
///
/// # Errors
/// When the value is neither `null` nor a `T`.
pub fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// `meta/v1` `ListMeta`.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct ListMeta {
    resource_version: String,
    #[serde(rename = "continue")]
    continue_token: String,
}

/// A `…List` object: one page of a list.
#[derive(Debug, Deserialize)]
#[serde(bound = "T: DeserializeOwned")]
struct ObjectList<T> {
    #[serde(default)]
    metadata: ListMeta,
    /// `null` from some servers when empty.
    #[serde(default)]
    items: Option<Vec<T>>,
}

/// `meta/v1` `WatchEvent`: one line of a watch.
#[derive(Debug, Deserialize)]
struct RawEvent {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    object: serde_json::Value,
}

/// Only the metadata of an object (a `DELETED` or `BOOKMARK` event).
#[derive(Debug, Default, Deserialize)]
struct MetaOnly {
    #[serde(default)]
    metadata: ObjectMeta,
}

/// An object's key in a store: namespace, name.
pub type ObjectKey = (String, String);

/// The objects a watcher knows, by namespace and name.
pub type Store<T> = BTreeMap<ObjectKey, T>;

/// What a watcher tells its caller; after each the store is current.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Notice {
    /// A list replaced the store (the first, or after a 410).
    Listed,
    /// An event added, changed or removed an object.
    Changed,
    /// Nothing changed but the store is known current: a bookmark, or a
    /// watch (re)opened from the last version.
    Current,
}

/// What a watcher asks for.
#[derive(Debug, Clone)]
pub struct WatchParams {
    /// One namespace, or `None` for all.
    pub namespace: Option<String>,
    /// `labelSelector` (empty: none).
    pub label_selector: String,
    /// `fieldSelector` (empty: none).
    pub field_selector: String,
    /// `limit` of each list page.
    pub page_size: u32,
    /// `timeoutSeconds` of each watch.
    pub timeout_secs: u64,
    /// Events in a burst are told at most this often: the first at once,
    /// the rest as one [`Notice::Changed`] when this much time has passed
    /// since (the store then has them all). A caller that recomputes
    /// everything per notice (O(objects)) does so at most this often.
    /// Zero: every event at once.
    pub coalesce: Duration,
}

/// When to tell a caller about events ([`WatchParams::coalesce`]).
#[derive(Debug, Clone, Copy)]
pub struct Coalesce {
    every: Duration,
    /// The last [`Notice::Changed`] told.
    last: Option<tokio::time::Instant>,
    /// Events applied but not yet told.
    pending: bool,
}

impl Coalesce {
    /// Nothing told yet: the first event is told at once.
    pub fn new(every: Duration) -> Self {
        Coalesce {
            every,
            last: None,
            pending: false,
        }
    }

    /// An event was applied at `now`: whether to tell it now (else it is
    /// pending until [`Coalesce::due`]).
    pub fn changed(&mut self, now: tokio::time::Instant) -> bool {
        if self.last.is_none_or(|l| now >= l + self.every) {
            self.told(now);
            true
        } else {
            self.pending = true;
            false
        }
    }

    /// When the pending events are to be told; `None` when none are.
    pub fn due(&self) -> Option<tokio::time::Instant> {
        match (self.pending, self.last) {
            (true, Some(l)) => Some(l + self.every),
            (true, None) => Some(tokio::time::Instant::now()),
            _ => None,
        }
    }

    /// Whether events are pending.
    pub fn is_pending(&self) -> bool {
        self.pending
    }

    /// A [`Notice::Changed`] was told at `now`.
    pub fn told(&mut self, now: tokio::time::Instant) {
        self.last = Some(now);
        self.pending = false;
    }
}

/// A watch that has delivered this long, or any line, was healthy: the
/// next failure waits from the shortest backoff again.
const HEALTHY_WATCH: Duration = Duration::from_secs(5);

/// A watch with no byte for `timeoutSeconds` + this is dead (the server
/// would have ended it).
const IDLE_GRACE_SECS: u64 = 30;

/// Longest watch event line (etcd refuses objects over 1.5 MiB; their
/// JSON is larger, but not this large).
const MAX_EVENT_BYTES: usize = 16 << 20;

/// Backoff between failed requests: from 250 ms up to 30 s, as the sinks
/// retry.
const RETRY: RetryConfig = RetryConfig {
    initial_backoff_ms: 250,
    max_backoff_ms: 30_000,
};

/// Keeps a [`Store`] of one kind of object in step with the API server.
#[derive(Debug)]
pub struct Watcher<T: Resource> {
    client: Arc<Client>,
    params: WatchParams,
    store: Store<T>,
    /// Where the next watch starts; `None`: list first.
    rv: Option<String>,
    backoff: Backoff,
    /// Failures in a row, and the last one's text (logged when it changes).
    failures: u32,
    last_error: String,
    /// For logs: `pods in namespace wp`.
    what: String,
}

impl<T: Resource> Watcher<T> {
    /// A watcher that has listed nothing yet.
    pub fn new(client: Arc<Client>, params: WatchParams) -> Watcher<T> {
        let what = match &params.namespace {
            Some(ns) => format!("{} in namespace {ns}", T::PLURAL),
            None => format!("{} in all namespaces", T::PLURAL),
        };
        Watcher {
            client,
            params,
            store: Store::new(),
            rv: None,
            backoff: Backoff::new(&RETRY),
            failures: 0,
            last_error: String::new(),
            what,
        }
    }

    /// The objects known now.
    pub fn store(&self) -> &Store<T> {
        &self.store
    }

    /// Lists and watches forever, calling `notify` with the store after
    /// each list, event, bookmark and (re)opened watch. Abort its task to
    /// stop it.
    pub async fn run<F: FnMut(&Store<T>, Notice)>(mut self, mut notify: F) {
        loop {
            if self.rv.is_none() {
                match self.list().await {
                    Ok(()) => {
                        self.healthy();
                        tracing::debug!(what = %self.what, objects = self.store.len(), "kubernetes: listed");
                        notify(&self.store, Notice::Listed);
                    }
                    Err(e) => {
                        self.failed("list", &e).await;
                        continue;
                    }
                }
            }
            let opened = Instant::now();
            let mut lines = 0u64;
            let result = self.watch(&mut notify, &mut lines).await;
            if lines > 0 || opened.elapsed() >= HEALTHY_WATCH {
                self.healthy();
            }
            match result {
                // Ended by the server after `timeoutSeconds`: again from
                // the last version. One that ends at once with nothing
                // is a failure, so that it cannot spin.
                Ok(()) if lines == 0 && opened.elapsed() < HEALTHY_WATCH => {
                    let e = KubeError::Request {
                        path: self.collection_path(),
                        message: "the watch ended at once".into(),
                    };
                    self.failed("watch", &e).await;
                }
                Ok(()) => {}
                Err(KubeError::Gone { message }) => {
                    tracing::debug!(what = %self.what, "kubernetes: {message}; listing again");
                    self.rv = None;
                }
                Err(e) => self.failed("watch", &e).await,
            }
        }
    }

    fn collection_path(&self) -> String {
        match &self.params.namespace {
            Some(ns) => format!("{}/namespaces/{ns}/{}", T::API_PATH, T::PLURAL),
            None => format!("{}/{}", T::API_PATH, T::PLURAL),
        }
    }

    fn selectors<'a>(&'a self, q: &mut Vec<(&'static str, &'a str)>) {
        if !self.params.label_selector.is_empty() {
            q.push(("labelSelector", &self.params.label_selector));
        }
        if !self.params.field_selector.is_empty() {
            q.push(("fieldSelector", &self.params.field_selector));
        }
    }

    /// Lists every page, then replaces the store and sets the version the
    /// watch starts from.
    async fn list(&mut self) -> Result<(), KubeError> {
        let path = self.collection_path();
        let limit = self.params.page_size.to_string();
        let mut store = Store::new();
        let mut cont = String::new();
        loop {
            let mut q = vec![("limit", limit.as_str())];
            self.selectors(&mut q);
            if !cont.is_empty() {
                q.push(("continue", &cont));
            }
            let url = self.client.url(&path, &q);
            let page: ObjectList<T> = self.client.get_json(url).await?;
            for obj in page.items.unwrap_or_default() {
                let m = obj.metadata();
                store.insert((m.namespace.clone(), m.name.clone()), obj);
            }
            if page.metadata.continue_token.is_empty() {
                if page.metadata.resource_version.is_empty() {
                    return Err(KubeError::Decode {
                        what: format!("GET {path}"),
                        message: "the list has no metadata.resourceVersion".into(),
                    });
                }
                self.store = store;
                self.rv = Some(page.metadata.resource_version);
                return Ok(());
            }
            cont = page.metadata.continue_token;
        }
    }

    /// One watch request, read until the server ends it; counts the lines
    /// it delivered in `lines`.
    async fn watch<F: FnMut(&Store<T>, Notice)>(
        &mut self,
        notify: &mut F,
        lines: &mut u64,
    ) -> Result<(), KubeError> {
        let path = self.collection_path();
        let rv = self.rv.clone().unwrap_or_default();
        let timeout = self.params.timeout_secs.to_string();
        let mut q = vec![
            ("watch", "1"),
            ("resourceVersion", rv.as_str()),
            ("allowWatchBookmarks", "true"),
            ("timeoutSeconds", timeout.as_str()),
        ];
        self.selectors(&mut q);
        let url = self.client.url(&path, &q);
        let resp = self.client.get(url, None).await?;
        notify(&self.store, Notice::Current);
        let mut coalesce = Coalesce::new(self.params.coalesce);
        let result = self
            .read_events(path, resp, notify, lines, &mut coalesce)
            .await;
        // Events applied before the end (or an error) are in the store:
        // told now rather than after a relist or a backoff.
        if coalesce.is_pending() {
            notify(&self.store, Notice::Changed);
        }
        result
    }

    /// Reads a watch's events into the store until the server ends it,
    /// telling them as `coalesce` says.
    async fn read_events<F: FnMut(&Store<T>, Notice)>(
        &mut self,
        path: String,
        mut resp: reqwest::Response,
        notify: &mut F,
        lines: &mut u64,
        coalesce: &mut Coalesce,
    ) -> Result<(), KubeError> {
        let idle_secs = self.params.timeout_secs + IDLE_GRACE_SECS;
        let idle = Duration::from_secs(idle_secs);
        let mut last_byte = tokio::time::Instant::now();
        let mut buf: Vec<u8> = Vec::new();
        loop {
            let idle_at = last_byte + idle;
            let wake = coalesce.due().map_or(idle_at, |d| d.min(idle_at));
            // `chunk` is cancel-safe: a chunk not yet returned stays in
            // the body for the next call.
            let chunk = match tokio::time::timeout_at(wake, resp.chunk()).await {
                Err(_) => {
                    let now = tokio::time::Instant::now();
                    if coalesce.due().is_some_and(|d| now >= d) {
                        notify(&self.store, Notice::Changed);
                        coalesce.told(now);
                        continue;
                    }
                    return Err(KubeError::Idle { secs: idle_secs });
                }
                Ok(Err(e)) => {
                    return Err(KubeError::Request {
                        path,
                        message: error_chain(&e),
                    });
                }
                // A partial line left in `buf` is dropped: its event
                // comes again from the last version.
                Ok(Ok(None)) => return Ok(()),
                Ok(Ok(Some(c))) => c,
            };
            last_byte = tokio::time::Instant::now();
            buf.extend_from_slice(&chunk);
            let mut start = 0;
            while let Some(i) = memchr::memchr(b'\n', &buf[start..]) {
                let line = &buf[start..start + i];
                start += i + 1;
                if line.trim_ascii().is_empty() {
                    continue;
                }
                *lines += 1;
                // Not collapsed into guards: a change held back must not
                // fall through to the bookmark arm below.
                #[allow(clippy::collapsible_match)]
                match self.apply(&path, line)? {
                    Some(Notice::Changed) => {
                        if coalesce.changed(tokio::time::Instant::now()) {
                            notify(&self.store, Notice::Changed);
                        }
                    }
                    // A bookmark says the store is current: with events
                    // pending, that is a change to tell.
                    Some(n) if coalesce.is_pending() => {
                        debug_assert_eq!(n, Notice::Current);
                        notify(&self.store, Notice::Changed);
                        coalesce.told(tokio::time::Instant::now());
                    }
                    Some(n) => notify(&self.store, n),
                    None => {}
                }
            }
            buf.drain(..start);
            if buf.len() > MAX_EVENT_BYTES {
                return Err(KubeError::TooLarge {
                    max_bytes: MAX_EVENT_BYTES,
                });
            }
        }
    }

    /// Applies one event line to the store.
    fn apply(&mut self, path: &str, line: &[u8]) -> Result<Option<Notice>, KubeError> {
        let decode = |e: serde_json::Error| KubeError::Decode {
            what: format!("watch event of GET {path}"),
            message: e.to_string(),
        };
        let ev: RawEvent = serde_json::from_slice(line).map_err(decode)?;
        let notice = match ev.kind.as_str() {
            "ADDED" | "MODIFIED" => {
                let obj: T = serde_json::from_value(ev.object).map_err(decode)?;
                let m = obj.metadata();
                let (key, rv) = (
                    (m.namespace.clone(), m.name.clone()),
                    m.resource_version.clone(),
                );
                self.store.insert(key, obj);
                self.advance(rv);
                Notice::Changed
            }
            "DELETED" => {
                let m = serde_json::from_value::<MetaOnly>(ev.object)
                    .map_err(decode)?
                    .metadata;
                self.store.remove(&(m.namespace, m.name));
                self.advance(m.resource_version);
                Notice::Changed
            }
            "BOOKMARK" => {
                let m = serde_json::from_value::<MetaOnly>(ev.object)
                    .map_err(decode)?
                    .metadata;
                self.advance(m.resource_version);
                Notice::Current
            }
            "ERROR" => {
                let st: Status = serde_json::from_value(ev.object).unwrap_or_default();
                return Err(st.into_error(path, 500));
            }
            other => {
                tracing::debug!(what = %self.what, "kubernetes: ignoring a watch event of type `{other}`");
                return Ok(None);
            }
        };
        Ok(Some(notice))
    }

    fn advance(&mut self, rv: String) {
        if !rv.is_empty() {
            self.rv = Some(rv);
        }
    }

    fn healthy(&mut self) {
        self.backoff.reset();
        if self.failures > 0 {
            tracing::info!(what = %self.what, failures = self.failures, "kubernetes: watching again");
            self.failures = 0;
            self.last_error.clear();
        }
    }

    /// Logs a failure when it differs from the previous one, then waits.
    async fn failed(&mut self, op: &str, e: &KubeError) {
        let text = e.to_string();
        self.failures += 1;
        let wait = self.backoff.next(None);
        if text != self.last_error {
            tracing::warn!(what = %self.what, "kubernetes: {op} failed: {text}; retrying (again in {} ms)", wait.as_millis());
            self.last_error = text;
        } else {
            tracing::debug!(what = %self.what, "kubernetes: {op} failed again: {text}");
        }
        tokio::time::sleep(wait).await;
    }
}
