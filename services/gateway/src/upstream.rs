//! The services behind the gateway, as one [`Backend`]: the gRPC clients, the office list and
//! the availability answers they share, kept right by construction.
//!
//! Every call to quota and booking goes through [`Invalidating`], which marks the availability
//! answers stale when a call that may change seats or capacity completes (any method that is
//! not a `Get…`, `List…`, `Watch…` or `NextAvailable…` read), whatever its outcome. So no
//! handler can forget: a booking, a cancellation, a walk-in, a closed date or a capacity
//! change made through this gateway shows in the next availability answer, on every channel.
use crate::GatewayConfig;
use antrean_platform::grpc::{TracedChannel, traced_channel};
use antrean_proto::v1 as pb;
use antrean_proto::v1::booking_service_client::BookingServiceClient;
use antrean_proto::v1::identity_service_client::IdentityServiceClient;
use antrean_proto::v1::notification_service_client::NotificationServiceClient;
use antrean_proto::v1::quota_service_client::QuotaServiceClient;
use bytes::Bytes;
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tonic::Status;

/// A channel to quota or booking that invalidates availability answers after writes.
pub type Upstream = Invalidating<TracedChannel>;

/// The gRPC services, and what the gateway keeps of their answers.
#[derive(Debug)]
pub struct Backend {
    identity: IdentityServiceClient<TracedChannel>,
    quota: QuotaServiceClient<Upstream>,
    booking: BookingServiceClient<Upstream>,
    notification: NotificationServiceClient<TracedChannel>,
    offices: Mutex<Vec<Arc<pb::Office>>>,
    availability: Arc<AvailabilityReads>,
}

impl Backend {
    /// Channels to every service (connected lazily: services may start in any order).
    pub fn connect(
        config: &GatewayConfig,
        tls: Option<&antrean_platform::tls::Tls>,
    ) -> anyhow::Result<Self> {
        let availability = Arc::new(AvailabilityReads::new(Duration::from_millis(
            config.availability_max_age_ms,
        )));
        let invalidating = |url: &str| -> anyhow::Result<Upstream> {
            Ok(Invalidating {
                inner: traced_channel(url, tls)?,
                reads: availability.clone(),
            })
        };
        Ok(Self {
            identity: IdentityServiceClient::new(traced_channel(&config.identity_url, tls)?),
            quota: QuotaServiceClient::new(invalidating(&config.quota_url)?),
            booking: BookingServiceClient::new(invalidating(&config.booking_url)?),
            notification: NotificationServiceClient::new(traced_channel(
                &config.notification_url,
                tls,
            )?),
            offices: Mutex::default(),
            availability,
        })
    }

    pub fn identity(&self) -> IdentityServiceClient<TracedChannel> {
        self.identity.clone()
    }

    pub fn quota(&self) -> QuotaServiceClient<Upstream> {
        self.quota.clone()
    }

    pub fn booking(&self) -> BookingServiceClient<Upstream> {
        self.booking.clone()
    }

    pub fn notification(&self) -> NotificationServiceClient<TracedChannel> {
        self.notification.clone()
    }

    /// Every office, from quota, loaded once (offices change only with a deployment).
    pub async fn offices(&self) -> Result<Vec<Arc<pb::Office>>, Status> {
        {
            let list = self
                .offices
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if !list.is_empty() {
                return Ok(list.clone());
            }
        }
        let offices = self
            .quota()
            .list_offices(pb::ListOfficesRequest {})
            .await?
            .into_inner()
            .offices
            .into_iter()
            .map(Arc::new)
            .collect::<Vec<_>>();
        *self
            .offices
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = offices.clone();
        Ok(offices)
    }

    /// The office a WhatsApp number belongs to.
    pub async fn office_by_phone_number_id(
        &self,
        id: &str,
    ) -> Result<Option<Arc<pb::Office>>, Status> {
        Ok(self
            .offices()
            .await?
            .into_iter()
            .find(|o| o.whatsapp.as_ref().is_some_and(|w| w.phone_number_id == id)))
    }

    pub async fn office(&self, code: &str) -> Result<Option<Arc<pb::Office>>, Status> {
        Ok(self.offices().await?.into_iter().find(|o| o.code == code))
    }

    /// The availability of `office` from `from` to `to` (dates, empty for quota's default
    /// range), rendered by `render`, shared as [`AvailabilityReads`] says.
    pub async fn availability(
        &self,
        office: String,
        from: String,
        to: String,
        render: fn(&pb::GetAvailabilityResponse) -> Bytes,
    ) -> Result<Bytes, Status> {
        let mut quota = self.quota();
        self.availability
            .read((office, from, to), |(office_code, from, to)| async move {
                let r = quota
                    .get_availability(pb::GetAvailabilityRequest {
                        office_code,
                        from,
                        to,
                    })
                    .await?
                    .into_inner();
                Ok(render(&r))
            })
            .await
    }

    /// The next five dates of `office` with a seat in either session, shared as
    /// [`AvailabilityReads`] says (a release-minute crowd asking the same office shares one
    /// quota call).
    pub async fn next_dates(
        &self,
        office: String,
    ) -> Result<Arc<Vec<pb::DayAvailability>>, Status> {
        let mut quota = self.quota();
        self.availability
            .next_dates(office, |office_code| async move {
                let r = quota
                    .next_available_dates(pb::NextAvailableDatesRequest {
                        office_code,
                        seats: 1,
                        limit: 5,
                        session: 0,
                        from: String::new(),
                    })
                    .await?;
                Ok(Arc::new(r.into_inner().days))
            })
            .await
    }
}

/// Whether a gRPC method (`/package.Service/Method`) only reads.
fn reads_only(path: &str) -> bool {
    let method = path.rsplit('/').next().unwrap_or_default();
    ["Get", "List", "Watch", "NextAvailable"]
        .iter()
        .any(|p| method.starts_with(p))
}

/// A channel that marks availability answers stale once a call that may write completes.
#[derive(Debug, Clone)]
pub struct Invalidating<S> {
    inner: S,
    reads: Arc<AvailabilityReads>,
}

impl<S, B> tower::Service<http::Request<B>> for Invalidating<S>
where
    S: tower::Service<http::Request<B>>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let writes = !reads_only(request.uri().path());
        let call = self.inner.call(request);
        let reads = self.reads.clone();
        Box::pin(async move {
            let outcome = call.await;
            if writes {
                reads.changed();
            }
            outcome
        })
    }
}

type AvailabilityKey = (String, String, String);

type Slots<K, V> = Mutex<HashMap<K, Arc<Slot<V>>>>;

/// One office and range: the latest good answer, and the call in flight.
#[derive(Debug)]
struct Slot<V> {
    /// The latest successful answer, for reads within the maximum age.
    fresh: Mutex<Option<Fresh<V>>>,
    /// Held while a quota call is out; the last answer (good or not) and when its call started.
    call: tokio::sync::Mutex<Option<(Instant, Result<V, Status>)>>,
}

impl<V> Default for Slot<V> {
    fn default() -> Self {
        Self {
            fresh: Mutex::new(None),
            call: tokio::sync::Mutex::new(None),
        }
    }
}

#[derive(Debug)]
struct Fresh<V> {
    started: Instant,
    generation: u64,
    value: V,
}

/// Availability reads share quota calls: the JSON API's availability of one office and
/// range, and the next free dates of one office that WhatsApp's `#TGLLAYANAN` answers with.
///
/// A read takes the latest answer if its quota call started at most `max_age` ago and no
/// change went through this gateway since (a booking created, confirmed or cancelled, on any
/// channel, or a capacity change by staff: [`Invalidating`] calls [`AvailabilityReads::changed`] after each).
/// Otherwise it takes the answer of a call that started after it arrived, or makes one:
/// while a call is out, the reads arriving meanwhile queue on the slot and the first of them
/// makes the next call for all. So a seat taken through this gateway is never shown free
/// after, changes made elsewhere (another replica, staff RPCs, holds expiring) show within
/// `max_age`, and a release-minute crowd asking for one office's dates costs one quota call
/// per `max_age` instead of one per request. With `max_age` zero every read is at least as
/// new as the request.
#[derive(Debug)]
pub struct AvailabilityReads {
    max_age: Duration,
    generation: AtomicU64,
    json: Slots<AvailabilityKey, Bytes>,
    next_dates: Slots<String, Arc<Vec<pb::DayAvailability>>>,
}

impl AvailabilityReads {
    /// Keys shared at most per kind (clients choose the ranges); past it, a request makes
    /// its own call.
    const MAX_SLOTS: usize = 4096;

    pub fn new(max_age: Duration) -> Self {
        Self {
            max_age,
            generation: AtomicU64::new(0),
            json: Mutex::default(),
            next_dates: Mutex::default(),
        }
    }

    /// Seats or capacity changed through this gateway: no later read takes an earlier answer.
    fn changed(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    async fn read<F, Fut>(&self, key: AvailabilityKey, call: F) -> Result<Bytes, Status>
    where
        F: FnOnce(AvailabilityKey) -> Fut,
        Fut: std::future::Future<Output = Result<Bytes, Status>>,
    {
        self.shared(&self.json, key, call).await
    }

    /// The next free dates of `office` (one seat, either session), as `call` answers them.
    async fn next_dates<F, Fut>(
        &self,
        office: String,
        call: F,
    ) -> Result<Arc<Vec<pb::DayAvailability>>, Status>
    where
        F: FnOnce(String) -> Fut,
        Fut: std::future::Future<Output = Result<Arc<Vec<pb::DayAvailability>>, Status>>,
    {
        self.shared(&self.next_dates, office, call).await
    }

    async fn shared<K, V, F, Fut>(&self, slots: &Slots<K, V>, key: K, call: F) -> Result<V, Status>
    where
        K: Eq + std::hash::Hash + Clone,
        V: Clone,
        F: FnOnce(K) -> Fut,
        Fut: std::future::Future<Output = Result<V, Status>>,
    {
        let arrived = Instant::now();
        let generation = self.generation.load(Ordering::Acquire);
        let slot = {
            let mut slots = slots
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if slots.len() >= Self::MAX_SLOTS && !slots.contains_key(&key) {
                // Slots nobody waits on are cheap to drop; the answers in them are old.
                slots.retain(|_, s| Arc::strong_count(s) > 1);
            }
            if slots.len() >= Self::MAX_SLOTS && !slots.contains_key(&key) {
                None
            } else {
                Some(slots.entry(key.clone()).or_default().clone())
            }
        };
        let Some(slot) = slot else {
            return call(key).await;
        };
        if let Some(f) = slot
            .fresh
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .as_ref()
            && f.generation == generation
            && arrived.saturating_duration_since(f.started) <= self.max_age
            && !self.max_age.is_zero()
        {
            return Ok(f.value.clone());
        }
        let mut last = slot.call.lock().await;
        if let Some((started, answer)) = last.as_ref()
            && *started >= arrived
        {
            return answer.clone();
        }
        let started = Instant::now();
        let generation = self.generation.load(Ordering::Acquire);
        let answer = call(key).await;
        if let Ok(value) = &answer {
            *slot
                .fresh
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(Fresh {
                started,
                generation,
                value: value.clone(),
            });
        }
        *last = Some((started, answer.clone()));
        answer
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tonic::Code;

    fn key() -> AvailabilityKey {
        ("BOGOR".into(), String::new(), String::new())
    }

    #[test]
    fn only_reads_keep_availability_answers() {
        for read in [
            "GetAvailability",
            "ListOffices",
            "WatchQueue",
            "NextAvailableDates",
            "GetBooking",
        ] {
            assert!(
                reads_only(&format!("/antrean.v1.QuotaService/{read}")),
                "{read}"
            );
        }
        for write in [
            "CreateBooking",
            "CancelBooking",
            "CloseDate",
            "OpenSpecialDate",
            "SetCapacity",
            "SetReleaseRule",
            "CreateWalkIn",
            "ConfirmBooking",
            "Hold",
        ] {
            assert!(
                !reads_only(&format!("/antrean.v1.BookingService/{write}")),
                "{write}"
            );
        }
    }

    #[tokio::test]
    async fn reads_arriving_during_a_call_share_the_next_call_never_the_one_out() {
        let reads = Arc::new(AvailabilityReads::new(Duration::ZERO));
        let calls = Arc::new(AtomicUsize::new(0));
        let (release, held) = tokio::sync::oneshot::channel::<()>();
        let call = |calls: Arc<AtomicUsize>, gate: Option<tokio::sync::oneshot::Receiver<()>>| {
            move |_k: AvailabilityKey| async move {
                let n = calls.fetch_add(1, Ordering::SeqCst) + 1;
                if let Some(g) = gate {
                    let _ = g.await;
                }
                Ok(Bytes::from(n.to_string()))
            }
        };
        let first = tokio::spawn({
            let (reads, calls) = (reads.clone(), calls.clone());
            async move { reads.read(key(), call(calls, Some(held))).await }
        });
        while calls.load(Ordering::SeqCst) == 0 {
            tokio::task::yield_now().await;
        }
        // Two reads arrive while the first call is out: its answer may be older than them.
        let later: Vec<_> = (0..2)
            .map(|_| {
                let (reads, calls) = (reads.clone(), calls.clone());
                tokio::spawn(async move { reads.read(key(), call(calls, None)).await })
            })
            .collect();
        // The test runtime has one thread: the two run up to their wait before this goes on.
        for _ in 0..3 {
            tokio::task::yield_now().await;
        }
        release.send(()).unwrap();
        assert_eq!(first.await.unwrap().unwrap(), "1");
        for r in later {
            assert_eq!(r.await.unwrap().unwrap(), "2");
        }
        assert_eq!(calls.load(Ordering::SeqCst), 2);
        // A read after everything settled makes its own call.
        let again = reads.read(key(), call(calls.clone(), None)).await;
        assert_eq!(again.unwrap(), "3");
    }

    #[tokio::test]
    async fn failed_calls_are_not_served_to_later_reads() {
        let reads = AvailabilityReads::new(Duration::ZERO);
        let down = reads
            .read(key(), |_| async { Err(Status::unavailable("quota down")) })
            .await;
        assert_eq!(down.unwrap_err().code(), Code::Unavailable);
        let up = reads
            .read(key(), |_| async { Ok(Bytes::from_static(b"{}")) })
            .await;
        assert_eq!(up.unwrap(), "{}");
    }
    #[tokio::test]
    async fn answers_are_reused_within_the_maximum_age_until_a_change() {
        let reads = AvailabilityReads::new(Duration::from_secs(3600));
        let calls = AtomicUsize::new(0);
        let call = |_k: AvailabilityKey| async {
            let n = calls.fetch_add(1, Ordering::SeqCst) + 1;
            Ok(Bytes::from(n.to_string()))
        };
        assert_eq!(reads.read(key(), call).await.unwrap(), "1");
        assert_eq!(reads.read(key(), call).await.unwrap(), "1");
        reads.changed();
        assert_eq!(reads.read(key(), call).await.unwrap(), "2");
        assert_eq!(reads.read(key(), call).await.unwrap(), "2");
        let other = ("JAKARTA".to_owned(), String::new(), String::new());
        assert_eq!(reads.read(other, call).await.unwrap(), "3");
        // A failed call is never reused.
        reads.changed();
        let down = reads
            .read(key(), |_| async { Err(Status::unavailable("quota down")) })
            .await;
        assert_eq!(down.unwrap_err().code(), Code::Unavailable);
        assert_eq!(reads.read(key(), call).await.unwrap(), "4");
        assert_eq!(calls.load(Ordering::SeqCst), 4);
    }
}
