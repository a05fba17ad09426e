//! The CSV answer of `POST /v1/score`, written while it is sent: a response body that
//! formats the next rows only when the connection is ready for them, so a large CSV
//! request never holds its whole answer in memory.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::Bytes;
use http_body::{Body, Frame, SizeHint};

use super::state::Loaded;
use crate::table::Ids;

/// Rows are formatted into chunks of about this many bytes.
const CHUNK_BYTES: usize = 64 << 10;

/// The rows of a CSV answer still to send, formatted a chunk at a time.
pub struct CsvAnswer {
    loaded: Arc<Loaded>,
    ids: Ids,
    labels: Vec<Option<u32>>,
    distances: Vec<(f64, f64)>,
    next: usize,
    header_sent: bool,
}

impl CsvAnswer {
    /// An answer for the customers `ids` of a request scored with `loaded`.
    pub fn new(
        loaded: Arc<Loaded>,
        ids: Ids,
        labels: Vec<Option<u32>>,
        distances: Vec<(f64, f64)>,
    ) -> Self {
        CsvAnswer {
            loaded,
            ids,
            labels,
            distances,
            next: 0,
            header_sent: false,
        }
    }

    /// The next chunk of the answer, or None when everything was sent.
    pub fn next_chunk(&mut self) -> Option<Vec<u8>> {
        if self.header_sent && self.next >= self.labels.len() {
            return None;
        }
        let model = &self.loaded.model;
        let mut buf = Vec::with_capacity(CHUNK_BYTES + 1024);
        {
            // Each row is one CSV record, quoted exactly as `predict`'s labels file.
            let mut w = csv::WriterBuilder::new().from_writer(&mut buf);
            if !self.header_sent {
                let id = model.id_header();
                let id = crate::csvcell::neutralise(id);
                let _ = w.write_record([
                    id.as_ref(),
                    "segment",
                    "segment_name",
                    "distance",
                    "second_distance",
                    "distance_percentile",
                    "outlier",
                ]);
                self.header_sent = true;
            }
            let mut seg = itoa::Buffer::new();
            let mut num = [String::new(), String::new(), String::new(), String::new()];
            while self.next < self.labels.len() {
                let i = self.next;
                self.next += 1;
                let id = crate::csvcell::neutralise(self.ids.get(i));
                let id = id.as_ref();
                let _ = match self.labels[i] {
                    Some(l) => {
                        let s = &model.segments[l as usize];
                        let (d1, d2) = self.distances[i];
                        // Shortest text that reads back as the same f64.
                        num[0] = d1.to_string();
                        num[1] = if d2.is_finite() {
                            d2.to_string()
                        } else {
                            String::new()
                        };
                        let o = crate::lifecycle::outliers::Outlier::of(model, l as usize, d1);
                        let [_, p, f] = o.cells();
                        (num[2], num[3]) = (p, f);
                        let name = crate::csvcell::neutralise(&s.name);
                        w.write_record([
                            id,
                            seg.format(s.id),
                            &name,
                            &num[0],
                            &num[1],
                            &num[2],
                            &num[3],
                        ])
                    }
                    None => w.write_record([id, "", "", "", "", "", ""]),
                };
                // The writer hands its buffer over in pieces of 8 KiB.
                if w.get_ref().len() >= CHUNK_BYTES {
                    break;
                }
            }
            let _ = w.flush();
        }
        Some(buf)
    }
}

impl Body for CsvAnswer {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        Poll::Ready(
            self.get_mut()
                .next_chunk()
                .map(|b| Ok(Frame::data(Bytes::from(b)))),
        )
    }

    fn is_end_stream(&self) -> bool {
        self.header_sent && self.next >= self.labels.len()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::default()
    }
}
