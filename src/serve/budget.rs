//! The request memory budget of `cardseg serve`: a semaphore weighted by bytes that request
//! bodies reserve before they are read and scored, so concurrent large batches wait (or are
//! refused) instead of exhausting memory. Reservations update the metrics' in-use gauge.

use std::pin::Pin;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::{Body, Bytes};
use axum::http::StatusCode;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::errors::ApiError;
use super::metrics::Metrics;
use super::BODY_TIMEOUT;

/// Budget unit: 1 KiB (keeps permit counts far below the semaphore's maximum).
const UNIT: usize = 1024;

/// The request memory budget: a semaphore weighted by bytes.
pub struct Budget {
    sem: Arc<Semaphore>,
    units: usize,
}

/// Bytes of the budget held by one request; returned when dropped.
pub struct Reservation {
    permit: Option<OwnedSemaphorePermit>,
    units: usize,
    app_in_use: Option<Arc<AtomicU64Ref>>,
}

/// The in-use gauge, shared so a reservation can update it when dropped.
pub struct AtomicU64Ref(Arc<Metrics>);

impl Drop for Reservation {
    fn drop(&mut self) {
        if let (Some(_), Some(a)) = (self.permit.take(), &self.app_in_use) {
            a.0.budget_in_use
                .fetch_sub((self.units * UNIT) as u64, Relaxed);
        }
    }
}

impl Budget {
    /// A budget of `bytes` (`--memory-budget`), counted in KiB units.
    pub fn new(bytes: usize) -> Budget {
        let units = bytes.div_ceil(UNIT).clamp(1, Semaphore::MAX_PERMITS);
        Budget {
            sem: Arc::new(Semaphore::new(units)),
            units,
        }
    }

    fn too_big(&self, bytes: usize) -> ApiError {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "this request needs about {} MB to score, more than the server's whole request memory budget of {} MB (--memory-budget); split the batch",
                bytes.div_ceil(1 << 20),
                (self.units * UNIT) >> 20
            ),
        )
    }

    /// Waits (at most [`BODY_TIMEOUT`]) for `bytes` of the budget.
    async fn acquire(&self, bytes: usize, metrics: &Arc<Metrics>) -> Result<Reservation, ApiError> {
        let units = bytes.div_ceil(UNIT).max(1);
        if units > self.units {
            metrics.budget_refused.fetch_add(1, Relaxed);
            return Err(self.too_big(bytes));
        }
        let permit = match self.sem.clone().try_acquire_many_owned(units as u32) {
            Ok(p) => p,
            Err(_) => {
                metrics.budget_waited.fetch_add(1, Relaxed);
                match tokio::time::timeout(
                    BODY_TIMEOUT,
                    self.sem.clone().acquire_many_owned(units as u32),
                )
                .await
                {
                    Ok(Ok(p)) => p,
                    _ => {
                        metrics.budget_refused.fetch_add(1, Relaxed);
                        return Err(ApiError::new(
                            StatusCode::SERVICE_UNAVAILABLE,
                            format!("the server is busy: its request memory budget stayed full for {} s; retry later", BODY_TIMEOUT.as_secs()),
                        ));
                    }
                }
            }
        };
        metrics
            .budget_in_use
            .fetch_add((units * UNIT) as u64, Relaxed);
        Ok(Reservation {
            permit: Some(permit),
            units,
            app_in_use: Some(Arc::new(AtomicU64Ref(metrics.clone()))),
        })
    }

    /// Reserves room for a body about to be read.
    pub async fn reserve(
        &self,
        bytes: usize,
        metrics: &Arc<Metrics>,
    ) -> Result<Reservation, ApiError> {
        self.acquire(bytes, metrics).await
    }

    /// Grows a reservation to `bytes` (never shrinks it). When the extra room is not free
    /// at once, the reservation is given back and the whole amount awaited, so requests
    /// holding part of the budget can never wait for each other forever.
    pub async fn grow(
        &self,
        r: &mut Reservation,
        bytes: usize,
        metrics: &Arc<Metrics>,
    ) -> Result<(), ApiError> {
        let want = bytes.div_ceil(UNIT).max(1);
        if want <= r.units {
            return Ok(());
        }
        if want > self.units {
            metrics.budget_refused.fetch_add(1, Relaxed);
            return Err(self.too_big(bytes));
        }
        let extra = want - r.units;
        if let Ok(p) = self.sem.clone().try_acquire_many_owned(extra as u32) {
            if let Some(held) = r.permit.as_mut() {
                held.merge(p);
            }
            r.units = want;
            metrics
                .budget_in_use
                .fetch_add((extra * UNIT) as u64, Relaxed);
            return Ok(());
        }
        *r = Reservation {
            permit: None,
            units: 0,
            app_in_use: None,
        };
        *r = self.acquire(bytes, metrics).await?;
        Ok(())
    }
}

/// A response body that keeps its request's budget reservation until it is sent.
pub struct ReservedBody {
    inner: Body,
    _reservation: Reservation,
}

impl ReservedBody {
    /// Ties `reservation` to `inner`: the room is given back when the body is dropped.
    pub fn new(inner: Body, reservation: Reservation) -> Self {
        ReservedBody {
            inner,
            _reservation: reservation,
        }
    }
}

impl http_body::Body for ReservedBody {
    type Data = Bytes;
    type Error = axum::Error;
    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }
    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }
    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}
