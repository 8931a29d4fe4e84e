//! How a write's input batches reach its encoders. The first batch of each
//! encoder is dealt to it in turn, so every encoder starts at once (and a
//! write of at least as many batches as encoders uses all of them); every
//! later batch goes to whichever encoder is free first, from one bounded
//! queue. An encoder slowed down (a large row group to finish, a full
//! upload queue, a descheduled thread) then takes fewer batches instead of
//! holding the others up: with a queue per encoder dealt in turn, the
//! dealer waits on the slow encoder's full queue while the others run dry.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Mutex};

use arrow_array::RecordBatch;

/// The sending side, driven by the thread reading the input.
pub(crate) struct Dealer {
    /// Each encoder's first batch, in encoder order; emptied once dealt.
    firsts: std::vec::IntoIter<SyncSender<RecordBatch>>,
    shared: SyncSender<RecordBatch>,
    stopped: Arc<AtomicBool>,
}

/// Why a batch could not be handed on.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct EncoderStopped;

impl Dealer {
    /// Hands `batch` to an encoder, waiting while every queue is full.
    /// Fails once an encoder has stopped before the end of the input (it
    /// failed; its error is what the write reports).
    pub(crate) fn send(&mut self, batch: RecordBatch) -> Result<(), EncoderStopped> {
        if self.stopped.load(Ordering::Acquire) {
            return Err(EncoderStopped);
        }
        let sent = match self.firsts.next() {
            Some(first) => first.send(batch),
            None => self.shared.send(batch),
        };
        sent.map_err(|_| EncoderStopped)
    }
}

/// One encoder's input: its first batch, then whatever the shared queue
/// holds when it asks, until the dealer is dropped.
pub(crate) struct EncoderInput {
    first: Option<Receiver<RecordBatch>>,
    shared: Arc<Mutex<Receiver<RecordBatch>>>,
    stopped: Arc<AtomicBool>,
    ended: bool,
}

impl Iterator for EncoderInput {
    type Item = RecordBatch;

    fn next(&mut self) -> Option<RecordBatch> {
        if let Some(first) = self.first.take()
            && let Ok(batch) = first.recv()
        {
            return Some(batch);
        }
        // The lock is held while waiting, so the next batch goes to the
        // encoder that has waited longest; the others wait for the lock.
        // A panic elsewhere while holding it cannot leave the receiver in a
        // half state, so a poisoned lock is still usable.
        let next = self
            .shared
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .recv()
            .ok();
        self.ended = next.is_none();
        next
    }
}

impl Drop for EncoderInput {
    fn drop(&mut self) {
        // Dropped before the input ended: the encoder failed or panicked,
        // so the rest of the input need not be read.
        if !self.ended {
            self.stopped.store(true, Ordering::Release);
        }
    }
}

/// A dealer and the inputs of `encoders` encoders, with room for `depth`
/// batches waiting in the shared queue.
pub(crate) fn encoder_queue(encoders: usize, depth: usize) -> (Dealer, Vec<EncoderInput>) {
    let (shared_tx, shared_rx) = sync_channel(depth);
    let shared = Arc::new(Mutex::new(shared_rx));
    let stopped = Arc::new(AtomicBool::new(false));
    let (firsts, inputs): (Vec<_>, Vec<_>) = (0..encoders.max(1))
        .map(|_| {
            let (tx, rx) = sync_channel(1);
            let input = EncoderInput {
                first: Some(rx),
                shared: shared.clone(),
                stopped: stopped.clone(),
                ended: false,
            };
            (tx, input)
        })
        .unzip();
    let dealer = Dealer {
        firsts: firsts.into_iter(),
        shared: shared_tx,
        stopped,
    };
    (dealer, inputs)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // tests: a panic is the failure report

    use std::sync::atomic::AtomicUsize;
    use std::time::Duration;

    use arrow_array::{ArrayRef, Int64Array};

    use super::*;

    fn batch(i: i64) -> RecordBatch {
        let col: ArrayRef = Arc::new(Int64Array::from(vec![i]));
        RecordBatch::try_from_iter([("i", col)]).unwrap()
    }

    fn value(b: &RecordBatch) -> i64 {
        b.column(0)
            .as_any()
            .downcast_ref::<Int64Array>()
            .unwrap()
            .value(0)
    }

    #[test]
    fn each_encoder_gets_one_of_the_first_batches() {
        let (mut dealer, inputs) = encoder_queue(3, 2);
        std::thread::scope(|s| {
            let handles: Vec<_> = inputs
                .into_iter()
                .map(|mut input| {
                    s.spawn(move || {
                        let first = value(&input.next().unwrap());
                        // Read to the end, as an encoder does: an input
                        // dropped early means its encoder failed, and the
                        // dealer would refuse the next batch.
                        assert_eq!(input.by_ref().count(), 0);
                        first
                    })
                })
                .collect();
            for i in 0..3 {
                dealer.send(batch(i)).unwrap();
            }
            drop(dealer);
            let firsts: Vec<i64> = handles.into_iter().map(|h| h.join().unwrap()).collect();
            assert_eq!(firsts, vec![0, 1, 2]);
        });
    }

    #[test]
    fn a_stalled_encoder_does_not_hold_up_the_others() {
        // Encoder 0 stalls after its first batch until encoder 1 has taken
        // 50 more, giving up after 10 s. Dealt in turn with a queue per
        // encoder, the dealer would wait on encoder 0's full queue and
        // encoder 1 would run dry after a few batches, so encoder 0 would
        // give up.
        let (mut dealer, inputs) = encoder_queue(2, 2);
        let taken_by_1 = AtomicUsize::new(0);
        std::thread::scope(|s| {
            let mut inputs = inputs.into_iter();
            let (mut in0, mut in1) = (inputs.next().unwrap(), inputs.next().unwrap());
            let taken = &taken_by_1;
            let h0 = s.spawn(move || {
                let mut mine = vec![value(&in0.next().unwrap())];
                let start = std::time::Instant::now();
                let mut gave_up = false;
                while taken.load(Ordering::Acquire) < 50 {
                    if start.elapsed() > Duration::from_secs(10) {
                        gave_up = true;
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(1));
                }
                mine.extend(in0.by_ref().map(|b| value(&b)));
                (mine, gave_up)
            });
            let h1 = s.spawn(move || {
                let mut mine = Vec::new();
                for b in in1.by_ref() {
                    mine.push(value(&b));
                    taken.fetch_add(1, Ordering::AcqRel);
                }
                mine
            });
            for i in 0..100 {
                dealer.send(batch(i)).unwrap();
            }
            drop(dealer);
            let ((a, gave_up), b) = (h0.join().unwrap(), h1.join().unwrap());
            assert!(
                !gave_up,
                "encoder 1 ran dry while encoder 0 stalled: encoder 0 waited 10 s"
            );
            let mut all: Vec<i64> = a.into_iter().chain(b).collect();
            all.sort_unstable();
            assert_eq!(all, (0..100).collect::<Vec<_>>());
        });
    }

    #[test]
    fn the_dealer_stops_once_an_encoder_gives_up() {
        let (mut dealer, mut inputs) = encoder_queue(2, 2);
        let survivor = inputs.pop().unwrap();
        drop(inputs); // encoder 0 failed before taking anything
        assert_eq!(dealer.send(batch(0)), Err(EncoderStopped));
        drop(survivor);
    }
}
