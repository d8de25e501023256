//! Live feeds (server-sent events) that cannot be multiplied into load: the queue displays
//! (`/layar/{office}/events`) and the dashboard's live counters.
//!
//! - One poll per feed key (an office's board) shared by every viewer: a thousand screens on
//!   one office cost the booking service one call a second, not a thousand.
//! - A cap on open streams per replica (`LIVE_STREAMS_MAX`): beyond it a new stream is 503.
//! - Unknown offices are refused before any stream opens.
//! - On shutdown every stream ends, so the graceful drain is not held open by them.
use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};

/// The live feeds of one gateway replica.
pub struct Feeds {
    /// One poller per key; its sender says the latest value to every viewer. The map's own
    /// receiver is not a viewer: a poller whose other receivers are all gone removes itself.
    pollers: Arc<Mutex<HashMap<String, watch::Receiver<String>>>>,
    streams: Arc<Semaphore>,
    /// Flips to true on shutdown: every stream ends.
    closing: watch::Sender<bool>,
}

/// Why a stream was not opened.
#[derive(Debug, PartialEq, Eq)]
pub enum Refused {
    /// The cap on open streams is reached.
    Full,
    /// The replica is shutting down.
    Closing,
}

/// An open stream: the latest value of its feed, and its place under the cap.
pub struct Subscription {
    values: watch::Receiver<String>,
    closing: watch::Receiver<bool>,
    _permit: OwnedSemaphorePermit,
}

impl Feeds {
    pub fn new(max_streams: usize) -> Self {
        Self {
            pollers: Arc::default(),
            streams: Arc::new(Semaphore::new(max_streams)),
            closing: watch::Sender::new(false),
        }
    }

    /// Ends every stream (on shutdown) and refuses new ones.
    pub fn close(&self) {
        self.closing.send_replace(true);
    }

    /// Subscribes to `key`, starting its poller if no one watches it yet: `poll` answers the
    /// feed's current value (None: keep the last), asked every `every` while anyone watches.
    pub fn subscribe<P, F>(
        &self,
        key: &str,
        every: Duration,
        poll: P,
    ) -> Result<Subscription, Refused>
    where
        P: Fn() -> F + Send + 'static,
        F: Future<Output = Option<String>> + Send,
    {
        if *self.closing.borrow() {
            return Err(Refused::Closing);
        }
        let permit = self
            .streams
            .clone()
            .try_acquire_owned()
            .map_err(|_| Refused::Full)?;
        let mut pollers = self.pollers.lock().unwrap_or_else(|p| p.into_inner());
        let values = match pollers.get(key) {
            // A poller whose last viewer left ends; a new viewer starts another.
            Some(rx) => rx.clone(),
            None => {
                let (tx, rx) = watch::channel(String::new());
                let map = self.pollers.clone();
                let key = key.to_owned();
                pollers.insert(key.clone(), rx.clone());
                tokio::spawn(async move {
                    loop {
                        if let Some(v) = poll().await {
                            tx.send_if_modified(|old| {
                                let changed = *old != v;
                                if changed {
                                    *old = v;
                                }
                                changed
                            });
                        }
                        tokio::time::sleep(every).await;
                        // Under the map's lock, so no viewer can join between look and leave.
                        let mut map = map.lock().unwrap_or_else(|p| p.into_inner());
                        if tx.receiver_count() <= 1 {
                            map.remove(&key);
                            return;
                        }
                    }
                });
                rx
            }
        };
        Ok(Subscription {
            values,
            closing: self.closing.subscribe(),
            _permit: permit,
        })
    }
}

impl Subscription {
    /// The feed as server-sent event data: each new value (the current one first, once the
    /// poller has one), until the replica closes or the poller stops.
    pub fn stream(
        self,
    ) -> impl futures::Stream<Item = Result<axum::response::sse::Event, std::convert::Infallible>>
    {
        // `changed()` marks the value it woke for as seen: it is read right after.
        futures::stream::unfold((self, true), |(mut s, mut fresh)| async move {
            loop {
                if *s.closing.borrow() {
                    return None;
                }
                if fresh {
                    let v = s.values.borrow_and_update().clone();
                    if !v.is_empty() {
                        let event = axum::response::sse::Event::default().data(v);
                        return Some((Ok(event), (s, false)));
                    }
                }
                tokio::select! {
                    changed = s.values.changed() => {
                        if changed.is_err() {
                            return None;
                        }
                        fresh = true;
                    }
                    _ = s.closing.changed() => return None,
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::StreamExt;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test]
    async fn viewers_share_one_poll_within_a_cap_and_end_on_close() {
        let feeds = Feeds::new(3);
        let polls = Arc::new(AtomicUsize::new(0));
        let subscribe = |feeds: &Feeds| {
            let polls = polls.clone();
            feeds.subscribe("BOGOR", Duration::from_millis(50), move || {
                let polls = polls.clone();
                async move {
                    let n = polls.fetch_add(1, Ordering::SeqCst);
                    Some(format!("papan {}", n / 4))
                }
            })
        };
        let a = subscribe(&feeds).unwrap().stream();
        let b = subscribe(&feeds).unwrap().stream();
        let c = subscribe(&feeds).unwrap();
        assert_eq!(subscribe(&feeds).err(), Some(Refused::Full));
        tokio::pin!(a);
        tokio::pin!(b);
        assert!(a.next().await.is_some());
        assert!(b.next().await.is_some());
        // Later values reach every viewer too.
        assert!(a.next().await.is_some());
        assert!(b.next().await.is_some());
        tokio::time::sleep(Duration::from_millis(500)).await;
        // One poller for three viewers: about ten polls in half a second, not thirty.
        let n = polls.load(Ordering::SeqCst);
        assert!((5..=15).contains(&n), "{n} polls");
        // A viewer leaving frees its place.
        drop(c);
        let d = subscribe(&feeds).unwrap();
        feeds.close();
        assert!(a.next().await.is_none());
        let d = d.stream();
        tokio::pin!(d);
        assert!(d.next().await.is_none());
        assert_eq!(subscribe(&feeds).err(), Some(Refused::Closing));
    }

    #[tokio::test]
    async fn a_feed_without_viewers_stops_polling() {
        let feeds = Feeds::new(10);
        let polls = Arc::new(AtomicUsize::new(0));
        let p = polls.clone();
        let s = feeds
            .subscribe("MAKASSAR", Duration::from_millis(20), move || {
                let p = p.clone();
                async move {
                    p.fetch_add(1, Ordering::SeqCst);
                    Some("x".to_owned())
                }
            })
            .unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        drop(s);
        tokio::time::sleep(Duration::from_millis(100)).await;
        let after = polls.load(Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(polls.load(Ordering::SeqCst), after);
        assert!(feeds.pollers.lock().unwrap().is_empty());
    }
}
