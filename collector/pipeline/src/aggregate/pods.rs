//! Which pods served a site lately: Traefik's upstream address of each
//! request (`ServiceURL`, `http://10.42.1.17:80`) names the pod that
//! answered, so the distinct addresses of the last minute are the pods
//! serving the site. The autoscaler APIs divide a site's rate by it when
//! the Kubernetes API is not enabled.
//!
//! Only Traefik's addresses count: an nginx sidecar's `$upstream_addr` is
//! the pod's own PHP-FPM (`127.0.0.1:9000`), the same in every pod.

/// Distinct addresses remembered per site at most: a site behind more
/// pods than this reports this many.
pub const MAX_PODS: usize = 64;

/// How long an address counts after its last request, seconds.
pub const POD_WINDOW_SECS: i64 = 60;

/// A site's recent upstream addresses, by hash, with the last second each
/// was seen. Starts empty and allocates on the first address only.
#[derive(Debug, Clone, Default)]
pub(crate) struct PodSet {
    /// (address hash, last second seen).
    seen: Vec<(u64, i64)>,
    /// The index of the last address matched: a busy site's requests go
    /// to a few pods, so most lines stop here.
    last: usize,
}

impl PodSet {
    /// Notes a request to `addr` at second `sec`.
    ///
    /// # Performance
    /// One hash of the address and, usually, one comparison.
    #[inline]
    pub(crate) fn note(&mut self, addr: &[u8], sec: i64) {
        if addr.is_empty() {
            return;
        }
        let h = hash(addr);
        if let Some(e) = self.seen.get_mut(self.last)
            && e.0 == h
        {
            e.1 = e.1.max(sec);
            return;
        }
        self.note_slow(h, sec);
    }

    #[cold]
    fn note_slow(&mut self, h: u64, sec: i64) {
        if let Some(i) = self.seen.iter().position(|e| e.0 == h) {
            self.seen[i].1 = self.seen[i].1.max(sec);
            self.last = i;
            return;
        }
        if self.seen.len() < MAX_PODS {
            self.seen.push((h, sec));
            self.last = self.seen.len() - 1;
            return;
        }
        // Full: the address seen longest ago makes room.
        let (i, _) = self
            .seen
            .iter()
            .enumerate()
            .min_by_key(|(_, e)| e.1)
            .unwrap_or((0, &(0, 0)));
        if self.seen[i].1 <= sec {
            self.seen[i] = (h, sec);
            self.last = i;
        }
    }

    /// Addresses seen in the [`POD_WINDOW_SECS`] ending at `now`.
    pub(crate) fn count(&self, now: i64) -> u32 {
        self.seen
            .iter()
            .filter(|e| e.1 > now - POD_WINDOW_SECS)
            .count() as u32
    }
}

fn hash(addr: &[u8]) -> u64 {
    use std::hash::BuildHasher;
    foldhash::fast::FixedState::with_seed(0x5173_7075_6c73_6500).hash_one(addr)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_distinct_recent_addresses() {
        let mut p = PodSet::default();
        assert_eq!(p.count(100), 0);
        for s in 0..50 {
            p.note(b"http://10.42.1.17:80", 100 + s);
            p.note(b"http://10.42.1.18:80", 100 + s);
        }
        p.note(b"", 120);
        p.note(b"http://10.42.1.19:80", 110);
        assert_eq!(p.count(149), 3);
        // .19 was last seen at 110: gone from the minute ending at 170.
        assert_eq!(p.count(170), 2);
        assert_eq!(p.count(300), 0);
    }

    #[test]
    fn capped_and_the_oldest_make_room() {
        let mut p = PodSet::default();
        for i in 0..(MAX_PODS as i64 + 10) {
            p.note(format!("http://10.0.0.{i}:80").as_bytes(), 1000 + i / 10);
        }
        assert_eq!(p.seen.len(), MAX_PODS);
        assert_eq!(p.count(1010), MAX_PODS as u32);
        // The newest address is remembered, the oldest ones are not.
        let newest = hash(format!("http://10.0.0.{}:80", MAX_PODS + 9).as_bytes());
        assert!(p.seen.iter().any(|e| e.0 == newest));
        let oldest = hash(b"http://10.0.0.0:80");
        assert!(!p.seen.iter().any(|e| e.0 == oldest));
    }
}
