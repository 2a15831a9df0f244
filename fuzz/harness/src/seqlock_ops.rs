//! A deterministic, single-threaded model check of `seqlock-core`, driven by a byte string.
//!
//! One thread plays readers and writers by interleaving them by hand: a read is begun,
//! copied (possibly in pieces), and checked with `read_retry` in separate operations, with
//! any number of writes, open write sections, invalidations and barriers in between. Every
//! value stored is a *version*: a payload whose words are all derived from one write
//! counter (a bijective mix of version and word index), so a copy that mixes two writes, or
//! a stale one, is recognised word by word. Three protected values run side by side, each
//! against a plain model of its current version:
//!
//! - a [`SeqCount`] guarding words owned by the harness (relaxed atomics, as the counter's
//!   documentation requires): readers copy them one word at a time, so a write can land in
//!   the middle of a copy and a torn copy really exists;
//! - a [`SeqLock`]: `set`, `update`, the four readers, and readers validated against the
//!   lock's own counter ([`SeqLock::count`]) across later writes;
//! - a [`SeqLatch`]: writes, reads, and reads at every step inside a write.
//!
//! The first byte picks the payload size: 8, 24, 64 or 256 bytes (bits 0-1). Every further
//! byte is one operation: `op = (byte & 0x1F) % 22`, `arg = byte >> 5`.
//!
//! | op | what | arg |
//! |----|------|-----|
//! | 0, 1, 2 | counter: begin a read with `read_begin` (skipped during a write), `raw_begin`, `try_begin` | reader slot (bits 0-1) |
//! | 3 | counter: copy words of a begun read | slot (bits 0-1); bit 2: one word / all the rest |
//! | 4 | counter: finish a read (copy the rest, `read_retry`) | slot |
//! | 5 | counter: a whole write | - |
//! | 6 | counter: open a write section | - |
//! | 7 | counter: store words in the open section | `arg + 1` words |
//! | 8 | counter: complete and close the open section | - |
//! | 9, 10 | counter: `invalidate`, `write_barrier` | - |
//! | 11 | lock: `set` | - |
//! | 12 | lock: `update` | bit 0: also `try_read` inside the closure |
//! | 13 | lock: read now | bits 0-1: `read`, `try_read`, `read_locked`, `read_or_lock` |
//! | 14 | lock: begin a read on its counter | slot (bit 0); bits 1-2: `read_begin`, `raw_begin`, `try_begin`, `raw_begin` |
//! | 15 | lock: copy for a begun read | slot (bit 0); bits 1-2: `try_read`, `read_locked`, `read_or_lock`, `read` |
//! | 16 | lock: finish a begun read (`read_retry`) | slot (bit 0) |
//! | 17 | lock: open or close a write section on its counter (no data change) | - |
//! | 18 | lock: `invalidate` / `write_barrier` on its counter | bit 0 |
//! | 19 | latch: `write` | - |
//! | 20 | latch: a write that a reader interrupts at each step | - |
//! | 21 | latch: `read` | - |
//!
//! Operations that would spin forever on one thread (`read_begin` or `read` while a write
//! section is open) or break the writers' serialisation (a second write section, `set`
//! inside the open one) are skipped. A begun read in a busy slot is replaced by the new one;
//! reads still in flight at the end are finished then.
//!
//! # What is checked
//!
//! - A read is accepted by `read_retry` exactly when no write section, invalidation or
//!   barrier overlapped it (it began before and ended after, or it began during one); an
//!   accepted copy equals the version the model had when the read began (else the panic
//!   says whether the copy was torn or whole but of the wrong version, word by word).
//! - `try_begin` and `try_read` refuse exactly while a write section is open; the begin
//!   functions return even counts.
//! - Every `SeqLock` reader returns the model's version; `update` hands its closure the
//!   current version and returns the closure's result.
//! - A latch read inside a write returns the old version while the count is odd and the
//!   new one once it is even (never a mix), and the count advances by two per write.
//!
//! Used by the `seqlock_ops` fuzz target and, with pseudo-random inputs, by a stable test.

use std::sync::atomic::{AtomicU64, Ordering};

use seqlock::{Seq, SeqCount, SeqLatch, SeqLock, SeqValue, WriteGuard};

/// Reader slots of the counter part.
const COUNT_READERS: usize = 4;

/// Reader slots of the lock part.
const LOCK_READERS: usize = 2;

/// Operation codes (`(byte & 0x1F) % OPS`).
const OPS: u8 = 22;

/// Runs the operations in `data` (see the module documentation). Panics on any violation.
pub fn run(data: &[u8]) {
    let Some((&size, ops)) = data.split_first() else {
        return;
    };
    match size & 3 {
        0 => Harness::<1>::run(ops),
        1 => Harness::<3>::run(ops),
        2 => Harness::<8>::run(ops),
        _ => Harness::<32>::run(ops),
    }
}

/// Word `index` of version `version`: the splitmix64 finaliser of both, a bijection, so
/// that words of different versions (or places) never coincide.
fn word(version: u64, index: usize) -> u64 {
    let mut z = (version << 8 | index as u64).wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The payload of `version`.
fn payload<const W: usize>(version: u64) -> [u64; W] {
    std::array::from_fn(|i| word(version, i))
}

/// Panics with a description of `copy` unless it is the payload of `expected`.
fn assert_version<const W: usize>(copy: &[u64; W], expected: u64, newest: u64, what: &str) {
    if *copy == payload::<W>(expected) {
        return;
    }
    // Which version each word came from (None: no version up to `newest`).
    let versions: Vec<Option<u64>> = copy
        .iter()
        .enumerate()
        .map(|(i, &w)| (0..=newest).find(|&v| word(v, i) == w))
        .collect();
    let verdict = if versions.windows(2).all(|pair| pair[0] == pair[1]) {
        "a whole copy of the wrong version"
    } else {
        "a torn copy"
    };
    panic!("{what} accepted {verdict}: words of versions {versions:?}, expected {expected}");
}

/// Words guarded by a bare sequence counter, accessed only with relaxed atomics.
struct Counted<const W: usize> {
    count: SeqCount,
    words: [AtomicU64; W],
}

/// A read of the counter part in flight.
struct CountRead<const W: usize> {
    seq: Seq,
    /// The model's version when the read began.
    version: u64,
    copy: [u64; W],
    /// Words copied so far.
    copied: usize,
    /// Whether any write activity overlapped the read (so `read_retry` must refuse it).
    overlapped: bool,
}

/// The counter part's open write section.
struct CountWrite<'a> {
    _guard: WriteGuard<'a>,
    version: u64,
    /// Words of `version` stored so far.
    stored: usize,
}

/// A read of the lock part, validated against the lock's counter.
struct LockRead<const W: usize> {
    seq: Seq,
    version: u64,
    /// `None` until copied; `Some(None)` when `try_read` refused.
    copy: Option<Option<[u64; W]>>,
    overlapped: bool,
}

/// Everything one run drives, with the model next to each part.
struct Harness<'a, const W: usize> {
    /// The last version written anywhere (versions are never reused).
    newest: u64,

    counted: &'a Counted<W>,
    count_version: u64,
    count_write: Option<CountWrite<'a>>,
    count_reads: [Option<CountRead<W>>; COUNT_READERS],

    lock: &'a SeqLock<[u64; W]>,
    lock_version: u64,
    /// A write section opened on the lock's counter by hand (the data stays as it is).
    lock_section: Option<WriteGuard<'a>>,
    lock_reads: [Option<LockRead<W>>; LOCK_READERS],

    latch: &'a SeqLatch<[u64; W]>,
    latch_version: u64,
    /// Writes so far, in the count's own type.
    latch_writes: SeqValue,
}

impl<'a, const W: usize> Harness<'a, W> {
    fn run(ops: &[u8]) {
        let counted = Counted {
            count: SeqCount::new(),
            words: payload::<W>(0).map(AtomicU64::new),
        };
        let lock = SeqLock::new(payload::<W>(0));
        let latch = SeqLatch::new(payload::<W>(0));
        let mut harness = Harness {
            newest: 0,
            counted: &counted,
            count_version: 0,
            count_write: None,
            count_reads: Default::default(),
            lock: &lock,
            lock_version: 0,
            lock_section: None,
            lock_reads: Default::default(),
            latch: &latch,
            latch_version: 0,
            latch_writes: 0,
        };
        for &byte in ops {
            harness.step((byte & 0x1F) % OPS, byte >> 5);
        }
        harness.finish();
    }

    fn next_version(&mut self) -> u64 {
        self.newest += 1;
        self.newest
    }

    /// One operation; see the table in the module documentation.
    fn step(&mut self, op: u8, arg: u8) {
        let slot = usize::from(arg & 3);
        let lock_slot = usize::from(arg & 1);
        match op {
            0 if self.count_write.is_none() => {
                let seq = self.counted.count.read_begin();
                self.begin_count_read(slot, seq, false);
            }
            1 => {
                let seq = self.counted.count.raw_begin();
                // Begun inside a write section: the copy may be torn and must be refused.
                let writing = self.count_write.is_some();
                self.begin_count_read(slot, seq, writing);
            }
            2 => {
                let seq = self.counted.count.try_begin();
                assert_eq!(
                    seq.is_none(),
                    self.count_write.is_some(),
                    "try_begin must refuse exactly while a write section is open"
                );
                if let Some(seq) = seq {
                    self.begin_count_read(slot, seq, false);
                }
            }
            3 => {
                let words = if arg & 4 == 0 { 1 } else { W };
                if let Some(read) = &mut self.count_reads[slot] {
                    copy_words(self.counted, read, words);
                }
            }
            4 => self.finish_count_read(slot),
            5 if self.count_write.is_none() => {
                self.open_count_write();
                self.close_count_write();
            }
            6 if self.count_write.is_none() => self.open_count_write(),
            7 => self.store_count_words(usize::from(arg) + 1),
            8 => self.close_count_write(),
            9 if self.count_write.is_none() => {
                self.counted.count.invalidate();
                self.count_overlapped();
            }
            10 if self.count_write.is_none() => {
                self.counted.count.write_barrier();
                self.count_overlapped();
            }

            11 if self.lock_section.is_none() => {
                let version = self.next_version();
                self.lock.set(payload(version));
                self.lock_written(version);
            }
            12 if self.lock_section.is_none() => self.update_lock(arg & 1 != 0),
            13 => self.read_lock_now(arg & 3),
            14 => self.begin_lock_read(lock_slot, arg >> 1),
            15 => self.copy_for_lock_read(lock_slot, arg >> 1),
            16 => self.finish_lock_read(lock_slot),
            17 => self.toggle_lock_section(),
            18 if self.lock_section.is_none() => {
                if arg & 1 == 0 {
                    self.lock.count().invalidate();
                } else {
                    self.lock.count().write_barrier();
                }
                self.lock_overlapped();
            }

            19 => {
                let version = self.next_version();
                self.latch.write(payload(version));
                self.latch_written(version);
            }
            20 => self.write_latch_interrupted(),
            21 => assert_version(
                &self.latch.read(),
                self.latch_version,
                self.newest,
                "SeqLatch::read",
            ),
            _ => {}
        }
        assert_eq!(
            self.counted.count.is_write_locked(),
            self.count_write.is_some(),
            "SeqCount::is_write_locked"
        );
    }

    fn begin_count_read(&mut self, slot: usize, seq: Seq, overlapped: bool) {
        assert_eq!(seq.value() & 1, 0, "a begun read has an odd count");
        self.count_reads[slot] = Some(CountRead {
            seq,
            version: self.count_version,
            copy: [0; W],
            copied: 0,
            overlapped,
        });
    }

    /// Copies the rest of the read in `slot` and validates it.
    fn finish_count_read(&mut self, slot: usize) {
        let Some(mut read) = self.count_reads[slot].take() else {
            return;
        };
        copy_words(self.counted, &mut read, W);
        let retry = self.counted.count.read_retry(read.seq);
        if read.overlapped {
            if !retry {
                assert_version(&read.copy, read.version, self.newest, "SeqCount read");
                panic!("SeqCount: a read overlapping a write was accepted");
            }
        } else {
            assert!(
                !retry,
                "SeqCount: a read that no write overlapped was refused"
            );
            assert_version(&read.copy, read.version, self.newest, "SeqCount read");
        }
    }

    /// Marks every counter read in flight as overlapped by a write.
    fn count_overlapped(&mut self) {
        for read in self.count_reads.iter_mut().flatten() {
            read.overlapped = true;
        }
    }

    fn open_count_write(&mut self) {
        let version = self.next_version();
        self.count_write = Some(CountWrite {
            _guard: self.counted.count.write_begin(),
            version,
            stored: 0,
        });
        self.count_overlapped();
    }

    /// Stores up to `words` more words of the open section's version.
    fn store_count_words(&mut self, words: usize) {
        let Some(write) = &mut self.count_write else {
            return;
        };
        let end = (write.stored + words).min(W);
        for (i, slot) in self.counted.words[write.stored..end].iter().enumerate() {
            // Relaxed: ordered by the section's fences (see `SeqCount`).
            slot.store(word(write.version, write.stored + i), Ordering::Relaxed);
        }
        write.stored = end;
    }

    /// Stores the rest of the open section's words and closes it.
    fn close_count_write(&mut self) {
        self.store_count_words(W);
        if let Some(write) = self.count_write.take() {
            self.count_version = write.version;
        }
    }

    fn lock_written(&mut self, version: u64) {
        self.lock_version = version;
        self.lock_overlapped();
    }

    fn lock_overlapped(&mut self) {
        for read in self.lock_reads.iter_mut().flatten() {
            read.overlapped = true;
        }
    }

    /// `SeqLock::update`: the closure sees the current version (and so does a lockless
    /// reader inside it: no write section is open yet) and its result comes back.
    fn update_lock(&mut self, read_inside: bool) {
        let (old, new) = (self.lock_version, self.next_version());
        let (lock, newest) = (self.lock, self.newest);
        let seen = lock.update(|value| {
            assert_version(value, old, newest, "SeqLock::update's closure");
            if read_inside {
                let copy = lock
                    .try_read()
                    .expect("try_read inside update: no write section is open yet");
                assert_version(&copy, old, newest, "SeqLock::try_read inside update");
            }
            let seen = value[0];
            *value = payload(new);
            seen
        });
        assert_eq!(seen, word(old, 0), "update returned another result");
        self.lock_written(new);
    }

    /// One of the four readers, now; all must see the model's version (`try_read` may
    /// refuse, exactly while a write section is open).
    fn read_lock_now(&mut self, how: u8) {
        let (version, newest) = (self.lock_version, self.newest);
        let copy = match how {
            0 if self.lock_section.is_some() => return,
            0 => ("SeqLock::read", self.lock.read()),
            1 => match self.lock.try_read() {
                Some(copy) => ("SeqLock::try_read", copy),
                None => {
                    assert!(
                        self.lock_section.is_some(),
                        "try_read refused with no write section open"
                    );
                    return;
                }
            },
            2 => ("SeqLock::read_locked", self.lock.read_locked()),
            _ => ("SeqLock::read_or_lock", self.lock.read_or_lock(|v| *v)),
        };
        if how == 1 {
            assert!(
                self.lock_section.is_none(),
                "try_read accepted a copy inside a write section"
            );
        }
        assert_version(&copy.1, version, newest, copy.0);
    }

    fn begin_lock_read(&mut self, slot: usize, how: u8) {
        let count = self.lock.count();
        let writing = self.lock_section.is_some();
        let seq = match how {
            0 if writing => return,
            0 => count.read_begin(),
            2 => {
                let seq = count.try_begin();
                assert_eq!(seq.is_none(), writing, "try_begin on the lock's counter");
                match seq {
                    Some(seq) => seq,
                    None => return,
                }
            }
            _ => count.raw_begin(),
        };
        assert_eq!(seq.value() & 1, 0, "a begun read has an odd count");
        self.lock_reads[slot] = Some(LockRead {
            seq,
            version: self.lock_version,
            copy: None,
            overlapped: writing,
        });
    }

    /// Takes the copy of the read in `slot` through one of the lock's readers. Those
    /// validate themselves; the read in the slot validates them once more, across whatever
    /// happens until it finishes.
    fn copy_for_lock_read(&mut self, slot: usize, how: u8) {
        let writing = self.lock_section.is_some();
        let lock = self.lock;
        let Some(read) = &mut self.lock_reads[slot] else {
            return;
        };
        if read.copy.is_some() {
            return;
        }
        read.copy = Some(match how {
            0 => lock.try_read(),
            1 => Some(lock.read_locked()),
            2 => Some(lock.read_or_lock(|v| *v)),
            _ if writing => lock.try_read(),
            _ => Some(lock.read()),
        });
    }

    fn finish_lock_read(&mut self, slot: usize) {
        let Some(read) = self.lock_reads[slot].take() else {
            return;
        };
        let retry = self.lock.count().read_retry(read.seq);
        assert_eq!(
            retry, read.overlapped,
            "SeqLock: read_retry on the lock's counter must refuse exactly the reads a write \
             overlapped"
        );
        if retry {
            return;
        }
        match read.copy {
            Some(Some(copy)) => assert_version(&copy, read.version, self.newest, "SeqLock read"),
            Some(None) => panic!("SeqLock: try_read refused inside a read that was accepted"),
            None => {}
        }
    }

    fn toggle_lock_section(&mut self) {
        if self.lock_section.take().is_none() {
            self.lock_section = Some(self.lock.count().write_begin());
        }
        self.lock_overlapped();
    }

    fn latch_written(&mut self, version: u64) {
        self.latch_version = version;
        self.latch_writes += 1;
        assert_eq!(
            self.latch.count(),
            2 * self.latch_writes,
            "the latch count advances by two per write"
        );
    }

    /// A latch write with a reader at each step in between: the old version while the count
    /// is odd (copy 1), the new one once it is even (copy 0), never a mix.
    fn write_latch_interrupted(&mut self) {
        let (old, new) = (self.latch_version, self.next_version());
        let (latch, newest) = (self.latch, self.newest);
        let mut steps = 0;
        latch.write_interrupted(payload(new), || {
            steps += 1;
            let (count, copy) = (latch.count(), latch.read());
            let expected = if count & 1 == 1 { old } else { new };
            assert_version(
                &copy,
                expected,
                newest,
                &format!("SeqLatch::read in step {steps} of a write, count {count}"),
            );
        });
        assert_eq!(steps, 4, "a latch write has four points between steps");
        self.latch_written(new);
    }

    /// Closes the open sections, finishes every read in flight, and checks the final values.
    fn finish(mut self) {
        self.close_count_write();
        if self.lock_section.is_some() {
            self.toggle_lock_section();
        }
        for slot in 0..COUNT_READERS {
            self.finish_count_read(slot);
        }
        for slot in 0..LOCK_READERS {
            self.finish_lock_read(slot);
        }
        let seq = self.counted.count.read_begin();
        let mut last = CountRead {
            seq,
            version: self.count_version,
            copy: [0; W],
            copied: 0,
            overlapped: false,
        };
        copy_words(self.counted, &mut last, W);
        assert!(
            !self.counted.count.read_retry(seq),
            "a quiet read was refused"
        );
        assert_version(
            &last.copy,
            self.count_version,
            self.newest,
            "final SeqCount read",
        );
        assert_version(
            &self.lock.read(),
            self.lock_version,
            self.newest,
            "final SeqLock::read",
        );
        assert_version(
            &self.latch.read(),
            self.latch_version,
            self.newest,
            "final SeqLatch::read",
        );
    }
}

/// Copies up to `words` more words of the counter part into `read`.
fn copy_words<const W: usize>(counted: &Counted<W>, read: &mut CountRead<W>, words: usize) {
    let end = (read.copied + words).min(W);
    for i in read.copied..end {
        // Relaxed: validated by `read_retry`'s Acquire fence (see `SeqCount`).
        read.copy[i] = counted.words[i].load(Ordering::Relaxed);
    }
    read.copied = end;
}
