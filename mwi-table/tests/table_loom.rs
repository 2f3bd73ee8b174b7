//! Model checks (loom) of the shared table's lock-free protocols: the slot seqlock, the crash
//! repair of a slot, the notice ring and the futex wake-up handshake. Run with
//! `RUSTFLAGS="--cfg loom" cargo test -p mwi-core --release --test table_loom`
//! (scripts/test.d/20-loom.sh). Without `--cfg loom` this file is empty.
//!
//! Each model runs its writer and its reader on two spawned threads while the main thread only
//! joins them: loom 0.7 explores too few interleavings when the main thread itself races a
//! spawned thread that loads (tokio-rs/loom#392).
#![allow(unexpected_cfgs)]
#![cfg(loom)]

use loom::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use loom::sync::Arc;
use loom::thread;
use mwi_table::protocol::{
    ring_push, ring_read, wake_register, wake_signal, wake_unregister, Notice, RingRead, SlotCell,
    SlotRead, SLOT_WORDS,
};

fn model(f: impl Fn() + Sync + Send + 'static) {
    let mut b = loom::model::Builder::new();
    if b.preemption_bound.is_none() {
        b.preemption_bound = Some(3);
    }
    b.check(f);
}

/// Run `a` and `b` on two threads; return their results.
fn both<A, B>(
    a: impl FnOnce() -> A + Send + 'static,
    b: impl FnOnce() -> B + Send + 'static,
) -> (A, B)
where
    A: Send + 'static,
    B: Send + 'static,
{
    let ta = thread::spawn(a);
    let tb = thread::spawn(b);
    (ta.join().unwrap(), tb.join().unwrap())
}

/// A reader racing two writes sees the slot empty, busy, or exactly one complete write.
#[test]
fn slot_reads_are_never_torn() {
    model(|| {
        let slot = Arc::new(SlotCell::default());
        let (w, r) = (Arc::clone(&slot), Arc::clone(&slot));
        both(
            move || {
                w.write(&[1; SLOT_WORDS]);
                w.write(&[2; SLOT_WORDS]);
            },
            move || {
                for _ in 0..2 {
                    match r.try_read() {
                        SlotRead::Empty | SlotRead::Busy => {}
                        SlotRead::Stable { seq, words } => {
                            let k = seq / 2;
                            assert!(k == 1 || k == 2, "seq {seq}");
                            assert_eq!(words, [k; SLOT_WORDS], "torn read at seq {seq}");
                        }
                    }
                }
            },
        );
        assert_eq!(
            slot.try_read(),
            SlotRead::Stable {
                seq: 4,
                words: [2; SLOT_WORDS]
            }
        );
    });
}

/// A slot completed by a restarted writer (after a killed write left it odd, half new) reads
/// as the journalled payload, and a concurrent reader sees busy or that payload, never a mix.
#[test]
fn completing_an_odd_slot_is_atomic_for_readers() {
    model(|| {
        let slot = Arc::new(SlotCell::default());
        slot.write(&[1; SLOT_WORDS]);
        let mut torn = [1; SLOT_WORDS];
        torn[0] = 2;
        slot.complete(&torn, 3);
        let (w, r) = (Arc::clone(&slot), Arc::clone(&slot));
        both(
            move || w.complete(&[2; SLOT_WORDS], 4),
            move || match r.try_read() {
                SlotRead::Busy => {}
                SlotRead::Stable { seq, words } => assert_eq!((seq, words), (4, [2; SLOT_WORDS])),
                SlotRead::Empty => panic!("slot emptied"),
            },
        );
    });
}

/// Ring of capacity 2, three notices pushed while a reader reads twice: every notice the
/// reader accepts is the one pushed at that position, in order, and a lap is reported as an
/// overflow, never as wrong notices.
#[test]
fn ring_delivers_in_order_or_reports_overflow() {
    model(|| {
        let head = Arc::new(AtomicU64::new(0));
        let entries: Arc<Vec<AtomicU64>> = Arc::new((0..2).map(|_| AtomicU64::new(0)).collect());
        let (h, e) = (Arc::clone(&head), Arc::clone(&entries));
        let (rh, re) = (Arc::clone(&head), Arc::clone(&entries));
        both(
            move || {
                for p in 0..3u32 {
                    ring_push(
                        &h,
                        &e,
                        Notice {
                            slot: p,
                            version: p + 1,
                        },
                    );
                }
            },
            move || {
                let mut tail = 0;
                let mut out = Vec::new();
                for _ in 0..2 {
                    match ring_read(&rh, &re, tail, &mut out) {
                        RingRead::Notices { next } => {
                            assert_eq!(out.len() as u64, next - tail);
                            for (i, n) in out.iter().enumerate() {
                                let p = (tail + i as u64) as u32;
                                assert_eq!(
                                    *n,
                                    Notice {
                                        slot: p,
                                        version: p + 1
                                    }
                                );
                            }
                            tail = next;
                        }
                        RingRead::Overflow { next } => {
                            assert!(out.is_empty());
                            assert!(next >= tail + 2);
                            tail = next;
                        }
                    }
                }
            },
        );
    });
}

/// The sleeper/wake-sequence handshake never loses a wake-up: if the reader goes to sleep (the
/// futex's compare succeeds) without having seen the news, the writer saw it and wakes it.
#[test]
fn wake_up_is_never_lost() {
    model(|| {
        let news = Arc::new(AtomicU64::new(0));
        let seq = Arc::new(AtomicU32::new(0));
        let sleepers = Arc::new(AtomicU32::new(0));
        let (n, s, sl) = (Arc::clone(&news), Arc::clone(&seq), Arc::clone(&sleepers));
        let (rn, rs, rsl) = (Arc::clone(&news), Arc::clone(&seq), Arc::clone(&sleepers));
        let (woke, (slept, v)) = both(
            move || {
                n.store(1, Ordering::Release);
                wake_signal(&s, &sl)
            },
            move || {
                let v = wake_register(&rs, &rsl);
                let saw_news = rn.load(Ordering::Acquire) == 1;
                // FUTEX_WAIT compares the word with `v` atomically with going to sleep; a
                // sleeper stays registered until woken, i.e. past the writer's check.
                let slept = !saw_news && rs.load(Ordering::SeqCst) == v;
                if !slept {
                    wake_unregister(&rsl);
                }
                (slept, v)
            },
        );
        assert!(
            !slept || woke,
            "reader slept on {v} and the writer did not wake it"
        );
    });
}
