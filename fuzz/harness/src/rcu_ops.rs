//! A deterministic, single-threaded model check of `rcu-core`, driven by a byte string.
//!
//! One OS thread plays four CPUs: a thread-local index, switched before each operation, is
//! the platform's CPU id. Every input byte is one operation, run against both flavors
//! ([`Counter`] and [`Qsbr`]) in turn:
//!
//! ```text
//! bit  7 6 | 5 4 | 3 2 1 0
//!      arg | cpu | op
//! ```
//!
//! | op | what | arg |
//! |----|------|-----|
//! | 0 | enter a read-side section (nests up to three deep) | - |
//! | 1 | leave a read-side section | - |
//! | 2 | retire a never-published object | bit 0: `call_rcu` / `Rcu::defer_drop` |
//! | 3 | take a cookie | 0-2: `start_poll`, 3: `get_state` |
//! | 4 | poll a cookie | which one (modulo their number) |
//! | 5 | `process_callbacks` | - |
//! | 6 | report a quiescent state (QSBR) | - |
//! | 7 | go offline, or online again (QSBR) | - |
//! | 8 | `RcuPtr::replace` with a new object | 0: `defer_drop` the old one, 1: keep it for `try_reclaim`, 2: `synchronize` it (kept if waiting is not allowed), 3: publish `None` and keep the old one |
//! | 9 | `RawRcuPtr::publish`/`replace` | 0: old one to `call_rcu`, 1: to `Rcu::defer_drop`, 2: kept with a `start_poll` cookie, 3: publish null, old one to `call_rcu` |
//! | 10 | the CPU's open section takes a snapshot | 0, 2: of the `RcuPtr`, 1: `RawRcuPtr::load`, 3: `RawRcuPtr::load_ref` |
//! | 11 | dereference every snapshot of every open section | - |
//! | 12 | reclaim kept objects whose grace period is over | bit 0: the `Retired` values / the raw ones |
//! | 13 | `barrier` | - |
//! | 14 | wait for a grace period | 0: `synchronize`, 1: `cond_synchronize` on the oldest cookie, 2: `Retired::synchronize` on the oldest kept value, 3: drop the newest kept value |
//! | 15 | `RcuPtr::compare_exchange` | bit 0: expect the current value / a stale snapshot (or `None`); bit 1: `defer_drop` / keep what it retires |
//!
//! Operations whose precondition does not hold are skipped: a section is entered only on an
//! online CPU, a quiescent state or offline only outside sections, a snapshot only inside
//! one. The waiting operations (13, 14) run only when no simulated CPU has an open section
//! (all CPUs are one thread, so a section on another CPU would never end while we wait)
//! and, for QSBR, only when every other CPU is offline: the waiting CPU reports its own
//! quiescent states, the others report nothing while it waits. A wait that still does not
//! end within a bound panics (see [`SimCpus`]).
//!
//! # What is checked
//!
//! The model knows every object's life: unpublished, published, retired (with the read-side
//! sections open at the moment it was unpublished: exactly those that may still see it), or
//! freed. Objects record their own freeing from `Drop`, and the model panics if an object
//! is freed while published, freed twice, or freed while a section that may see it is still
//! open. A cookie reported done while a section open when it was taken is still open fails
//! the same way. Snapshots must be the object the model says is published, and they are
//! dereferenced again (id and canary checked) later while their section is open, and when
//! it closes, so that AddressSanitizer reports a premature free even if the model missed it.
//! `barrier` must leave no callback outstanding; after `synchronize` every older cookie must
//! be done. At the end every section is closed, every CPU goes quiet, and every object must
//! have been freed exactly once.
//!
//! Used by the `rcu_ops` fuzz target and, with pseudo-random inputs, by a stable test.

use std::cell::{Cell, RefCell};
use std::mem;
use std::ptr::{self, NonNull};

use rcu_core::{Cookie, Counter, Platform, Qsbr, RawRcuPtr, Rcu, RcuHead, RcuPtr, Retired};

/// Simulated CPUs.
pub const CPUS: usize = 4;

/// Maximum read-side nesting the model uses per CPU.
const MAX_DEPTH: usize = 3;

/// Snapshots an open section keeps at most.
const MAX_SNAPSHOTS: usize = 8;

/// Cookies, kept `Retired` values and kept raw objects, each at most.
const MAX_KEPT: usize = 16;

/// How often a wait may call `Platform::relax` before the model calls it endless. Every
/// wait the model starts can end after a few rounds (nothing else runs meanwhile).
const WAIT_LIMIT: u32 = 10_000;

std::thread_local! {
    static CPU: Cell<usize> = const { Cell::new(0) };
    static MODEL: RefCell<Model> = RefCell::new(Model::default());
}

/// CPUs simulated on one thread; see the module documentation.
///
/// `relax`, called between the rounds of a wait, panics after `WAIT_LIMIT` rounds: the
/// model only waits when nothing can hold the grace period up, so a long wait is a bug.
pub struct SimCpus;

// SAFETY: the index is set by the model to a value below CPUS and only changes between
// operations, never inside a platform call sequence; each simulated CPU's sections are
// entered and left with the same index. No preemption exists; no heavy barrier.
unsafe impl Platform for SimCpus {
    const MAX_CPUS: usize = CPUS;
    fn cpu_id() -> usize {
        CPU.with(|c| c.get())
    }
    fn preempt_disable() {}
    fn preempt_enable() {}
    fn relax(attempt: u32) {
        assert!(
            attempt < WAIT_LIMIT,
            "a grace-period wait did not end after {WAIT_LIMIT} rounds, although no simulated \
             CPU could hold it up"
        );
    }
}

/// A read-side section, named by its CPU and its serial number.
type Section = (usize, u64);

/// Where an object is in its life.
#[derive(Debug)]
enum Life {
    /// Made, not (yet) reachable by readers.
    Unpublished,
    /// Reachable through a pointer.
    Published,
    /// Unpublished again; the sections open at that moment may still see it.
    Retired(Vec<Section>),
    /// Dropped.
    Freed,
}

/// What the model knows about open sections and objects. Thread-local, because objects
/// report their freeing from `Drop`, wherever RCU runs it.
#[derive(Default)]
struct Model {
    /// Serial number of the outermost open section per CPU.
    open: [Option<u64>; CPUS],
    /// Nesting depth per CPU.
    depth: [usize; CPUS],
    next_serial: u64,
    /// The life of object `id` at index `id - 1`.
    objects: Vec<Life>,
}

impl Model {
    /// The sections open right now.
    fn open_sections(&self) -> Vec<Section> {
        (0..CPUS)
            .filter_map(|cpu| self.open[cpu].map(|s| (cpu, s)))
            .collect()
    }

    /// Panics if any of `sections` is still open.
    fn assert_all_closed(&self, sections: &[Section], what: &str) {
        for &(cpu, serial) in sections {
            assert_ne!(
                self.open[cpu],
                Some(serial),
                "{what} while read-side section {serial} on CPU {cpu}, open before it, is \
                 still open"
            );
        }
    }

    fn life(&mut self, id: u64) -> &mut Life {
        &mut self.objects[usize::try_from(id - 1).unwrap()]
    }

    fn publish(&mut self, id: u64) {
        let life = self.life(id);
        assert!(
            matches!(life, Life::Unpublished),
            "object {id} published from {life:?}"
        );
        *life = Life::Published;
    }

    /// The object is no longer reachable for sections that start from now on.
    fn retire(&mut self, id: u64) {
        let open = self.open_sections();
        let life = self.life(id);
        assert!(
            matches!(life, Life::Published | Life::Unpublished),
            "object {id} retired from {life:?}"
        );
        *life = Life::Retired(open);
    }

    fn free(&mut self, id: u64) {
        let life = mem::replace(self.life(id), Life::Freed);
        match life {
            Life::Unpublished => {}
            Life::Published => panic!("object {id} freed while still published"),
            Life::Freed => panic!("object {id} freed twice"),
            Life::Retired(sections) => {
                self.assert_all_closed(&sections, &format!("object {id} freed"));
            }
        }
    }
}

/// Runs `f` on the model. `f` must not call into RCU (a callback would find the model
/// borrowed).
fn model<R>(f: impl FnOnce(&mut Model) -> R) -> R {
    MODEL.with(|m| f(&mut m.borrow_mut()))
}

/// An RCU-protected object: published through the pointers or retired directly.
struct Object {
    id: u64,
    /// `CANARY ^ id` while alive; readers check it.
    canary: u64,
    /// For `call_rcu` (the `RcuPtr` nodes carry their own).
    head: RcuHead,
}

const CANARY: u64 = 0xC0FF_EE00_5AFE_D00D;

impl Object {
    /// A new, unpublished object with the next id.
    fn new() -> Self {
        let id = model(|m| {
            m.objects.push(Life::Unpublished);
            m.objects.len() as u64
        });
        Self {
            id,
            canary: CANARY ^ id,
            head: RcuHead::new(),
        }
    }

    /// Panics unless this is the live object `id`.
    fn check(&self, id: u64) {
        // Volatile reads: the point is to touch the memory, so that AddressSanitizer sees a
        // read of a freed object.
        // SAFETY: `self` is a reference, valid for reads.
        let (seen_id, canary) = unsafe {
            (
                ptr::read_volatile(&self.id),
                ptr::read_volatile(&self.canary),
            )
        };
        assert_eq!(
            seen_id, id,
            "a reader's snapshot of object {id} holds {seen_id}"
        );
        assert_eq!(
            canary,
            CANARY ^ id,
            "object {id} seen by a reader has lost its canary (freed?)"
        );
    }
}

impl Drop for Object {
    fn drop(&mut self) {
        // After a failed check the runner is unwinding and leaks what it holds; the model's
        // verdict is already out.
        if std::thread::panicking() {
            return;
        }
        model(|m| m.free(self.id));
        // SAFETY: `self.canary` is a live field; volatile so that the poison is written.
        unsafe { ptr::write_volatile(&mut self.canary, 0) };
    }
}

/// The `call_rcu` callback that frees an `Object`.
///
/// # Safety
///
/// `head` is the head of an `Object` leaked from a `Box`, and nothing uses the object
/// afterwards.
unsafe fn free_object(head: NonNull<RcuHead>) {
    let offset = mem::offset_of!(Object, head);
    // SAFETY: per the contract, stepping back by the field offset gives the boxed object.
    drop(unsafe { Box::from_raw(head.as_ptr().byte_sub(offset).cast::<Object>()) });
}

/// Hands the boxed object `object` to `call_rcu`.
///
/// # Safety
///
/// `object` came from `Box::into_raw`, its head is not queued, and nothing frees it
/// otherwise.
unsafe fn call_rcu_object<D: Rcu>(rcu: &D, object: *mut Object) {
    // SAFETY: 1. the head is in a leaked box that stays put until `free_object` frees it;
    // 2. `free_object` frees it once; 3. it does not call `barrier`.
    unsafe {
        let head = NonNull::new_unchecked(ptr::addr_of_mut!((*object).head));
        rcu.call_rcu(head, free_object);
    }
}

/// The flavor-specific duties the model needs.
trait Flavor: Rcu {
    const QSBR: bool;
    fn online(&self) {}
    fn is_online(&self) -> bool {
        true
    }
    /// # Safety
    /// The current CPU has no open section.
    unsafe fn quiesce(&self) {}
    /// # Safety
    /// The current CPU has no open section.
    unsafe fn offline(&self) {}
}

impl Flavor for Counter<SimCpus, CPUS> {
    const QSBR: bool = false;
}

impl Flavor for Qsbr<SimCpus, CPUS> {
    const QSBR: bool = true;
    fn online(&self) {
        Qsbr::online(self)
    }
    fn is_online(&self) -> bool {
        Qsbr::is_online(self)
    }
    unsafe fn quiesce(&self) {
        // SAFETY: forwarded.
        unsafe { self.quiescent_state() }
    }
    unsafe fn offline(&self) {
        // SAFETY: forwarded.
        unsafe { Qsbr::offline(self) }
    }
}

fn on_cpu(cpu: usize) {
    CPU.with(|c| c.set(cpu));
}

fn depth(cpu: usize) -> usize {
    model(|m| m.depth[cpu])
}

/// Runs `ops` against both flavors. Panics on any violation.
pub fn run(ops: &[u8]) {
    run_flavor(&Counter::<SimCpus, CPUS>::new(), ops);
    // SAFETY: the model reports quiescent states and goes offline only on CPUs with no open
    // section, reads only on online CPUs, and waits only outside sections.
    run_flavor(&unsafe { Qsbr::<SimCpus, CPUS>::new() }, ops);
}

fn run_flavor<D: Flavor>(rcu: &D, ops: &[u8]) {
    model(|m| *m = Model::default());
    for cpu in 0..CPUS {
        on_cpu(cpu);
        rcu.online();
    }
    let mut runner = Runner::new(rcu);
    for &byte in ops {
        let cpu = usize::from(byte >> 4) & 3;
        on_cpu(cpu);
        runner.step(cpu, byte & 0xF, byte >> 6);
    }
    runner.finish();
}

/// Which pointer a snapshot was loaded from.
#[derive(Clone, Copy, PartialEq)]
enum Source {
    Owned,
    Raw,
}

/// What an open section loaded: the object (null for `None`) and its id.
struct Snapshot {
    source: Source,
    object: *const Object,
    id: Option<u64>,
}

impl Snapshot {
    /// Dereferences the snapshot and checks the object.
    ///
    /// # Safety
    ///
    /// The section that took the snapshot is still open.
    unsafe fn check(&self) {
        if let Some(id) = self.id {
            // SAFETY: the object was published when the section loaded it and the section
            // is open, so RCU keeps the object alive (which is what is being checked).
            unsafe { (*self.object).check(id) };
        }
    }
}

/// One flavor's run: the pointers, what readers took, and what updaters keep.
struct Runner<'d, D: Flavor> {
    rcu: &'d D,
    /// `None` only after `finish`.
    owned: Option<RcuPtr<'d, Object, D>>,
    /// Objects from `Box::into_raw`, freed through `call_rcu`, `defer_drop` or a cookie.
    raw: RawRcuPtr<Object>,
    /// Ids of the objects published now.
    owned_id: Option<u64>,
    raw_id: Option<u64>,
    /// `Retired` values waiting for `try_reclaim` or a wait.
    retired: Vec<Retired<'d, Object, D>>,
    /// Raw objects waiting for their cookie.
    raw_retired: Vec<(*mut Object, Cookie)>,
    /// Cookies with the sections open when they were taken.
    cookies: Vec<(Cookie, Vec<Section>)>,
    /// What each CPU's open section loaded.
    snapshots: [Vec<Snapshot>; CPUS],
    /// Whether each CPU is online (always, for the counter flavor).
    online: [bool; CPUS],
}

impl<'d, D: Flavor> Runner<'d, D> {
    fn new(rcu: &'d D) -> Self {
        let first = Object::new();
        let id = first.id;
        let owned = RcuPtr::new(rcu, Some(first));
        model(|m| m.publish(id));
        Self {
            rcu,
            owned: Some(owned),
            raw: RawRcuPtr::null(),
            owned_id: Some(id),
            raw_id: None,
            retired: Vec::new(),
            raw_retired: Vec::new(),
            cookies: Vec::new(),
            snapshots: Default::default(),
            online: [true; CPUS],
        }
    }

    fn owned(&self) -> &RcuPtr<'d, Object, D> {
        self.owned.as_ref().expect("the pointer lives until finish")
    }

    /// One operation on `cpu` (the current one); see the table in the module documentation.
    fn step(&mut self, cpu: usize, op: u8, arg: u8) {
        let rcu = self.rcu;
        match op {
            0 if depth(cpu) < MAX_DEPTH && self.online[cpu] => self.enter_section(cpu),
            1 if depth(cpu) > 0 => self.leave_section(cpu),
            2 => self.retire_unpublished(arg),
            3 if self.cookies.len() < MAX_KEPT => {
                let cookie = if arg == 3 {
                    rcu.get_state()
                } else {
                    rcu.start_poll()
                };
                let open = model(|m| m.open_sections());
                self.cookies.push((cookie, open));
            }
            4 if !self.cookies.is_empty() => {
                let index = usize::from(arg) % self.cookies.len();
                self.poll_cookie(index);
            }
            5 if depth(cpu) == 0 || !D::QSBR => {
                let ran = rcu.process_callbacks();
                if depth(cpu) > 0 {
                    assert_eq!(ran, 0, "callbacks ran inside a read-side section");
                }
            }
            6 if depth(cpu) == 0 => {
                // SAFETY: no open section on this CPU.
                unsafe { rcu.quiesce() };
            }
            7 if depth(cpu) == 0 && D::QSBR => {
                if self.online[cpu] {
                    // SAFETY: no open section on this CPU.
                    unsafe { rcu.offline() };
                } else {
                    rcu.online();
                }
                self.online[cpu] = !self.online[cpu];
                assert_eq!(
                    rcu.is_online(),
                    self.online[cpu],
                    "online state of CPU {cpu}"
                );
            }
            8 => self.replace_owned(cpu, arg),
            9 => self.replace_raw(arg),
            10 if depth(cpu) > 0 && self.snapshots[cpu].len() < MAX_SNAPSHOTS => {
                self.take_snapshot(cpu, arg)
            }
            11 => self.check_snapshots(),
            12 if arg & 1 == 0 => self.reclaim_retired(),
            12 => self.reclaim_raw(),
            13 if self.may_wait(cpu) => {
                rcu.barrier();
                assert_eq!(
                    rcu.pending_callbacks(),
                    0,
                    "barrier returned with callbacks outstanding"
                );
            }
            14 if self.may_wait(cpu) => self.wait(arg),
            15 if self.online[cpu] => self.compare_exchange(arg),
            _ => {}
        }
    }

    fn enter_section(&mut self, cpu: usize) {
        // SAFETY: left by `leave_section` on the same CPU, which runs before the end of the
        // run; snapshots are dropped when the outermost section closes.
        unsafe { self.rcu.raw_read_lock() };
        model(|m| {
            if m.depth[cpu] == 0 {
                m.next_serial += 1;
                m.open[cpu] = Some(m.next_serial);
            }
            m.depth[cpu] += 1;
        });
    }

    fn leave_section(&mut self, cpu: usize) {
        if depth(cpu) == 1 {
            // The last chance for the section's snapshots to find a premature free.
            for snapshot in mem::take(&mut self.snapshots[cpu]) {
                // SAFETY: the section is still open.
                unsafe { snapshot.check() };
            }
        }
        // SAFETY: the model entered a section on this CPU that is still open.
        unsafe { self.rcu.raw_read_unlock() };
        model(|m| {
            m.depth[cpu] -= 1;
            if m.depth[cpu] == 0 {
                m.open[cpu] = None;
            }
        });
    }

    /// Retires an object that no pointer ever held: RCU still waits for every section open
    /// now, so the model holds it to that.
    fn retire_unpublished(&mut self, arg: u8) {
        let object = Box::new(Object::new());
        model(|m| m.retire(object.id));
        if arg & 1 == 0 {
            // SAFETY: a fresh box, freed only by the callback.
            unsafe { call_rcu_object(self.rcu, Box::into_raw(object)) };
        } else {
            self.rcu.defer_drop(object);
        }
    }

    fn poll_cookie(&mut self, index: usize) {
        if self.rcu.poll(self.cookies[index].0) {
            let (_, sections) = self.cookies.swap_remove(index);
            model(|m| m.assert_all_closed(&sections, "cookie reported done"));
        }
    }

    fn replace_owned(&mut self, cpu: usize, arg: u8) {
        let new = (arg != 3).then(Object::new);
        let new_id = new.as_ref().map(|o| o.id);
        let old = self.owned().replace(new);
        self.published(Source::Owned, new_id);
        match arg {
            0 => old.defer_drop(),
            2 if self.may_wait(cpu) => old.synchronize(),
            _ => self.keep(old),
        }
    }

    /// Keeps `old` for `try_reclaim` or a later wait, or defers its drop when enough are
    /// kept.
    fn keep(&mut self, old: Retired<'d, Object, D>) {
        if self.retired.len() < MAX_KEPT {
            self.retired.push(old);
        } else {
            old.defer_drop();
        }
    }

    /// Records in the model that `source` now holds `new_id` and that its previous object is
    /// retired.
    fn published(&mut self, source: Source, new_id: Option<u64>) {
        let slot = match source {
            Source::Owned => &mut self.owned_id,
            Source::Raw => &mut self.raw_id,
        };
        let old_id = mem::replace(slot, new_id);
        model(|m| {
            if let Some(id) = new_id {
                m.publish(id);
            }
            if let Some(id) = old_id {
                m.retire(id);
            }
        });
    }

    fn replace_raw(&mut self, arg: u8) {
        let rcu = self.rcu;
        let (new, new_id) = if arg == 3 {
            (ptr::null_mut(), None)
        } else {
            let object = Box::new(Object::new());
            let id = object.id;
            (Box::into_raw(object), Some(id))
        };
        let old = if self.raw.load_protected().is_null() {
            self.raw.publish(new);
            ptr::null_mut()
        } else {
            self.raw.replace(new)
        };
        self.published(Source::Raw, new_id);
        if old.is_null() {
            return;
        }
        match arg {
            // SAFETY: the old object is unpublished and owned by nobody else now.
            1 => rcu.defer_drop(unsafe { Box::from_raw(old) }),
            2 if self.raw_retired.len() < MAX_KEPT => {
                // The cookie is taken after the unpublishing swap, so its grace period covers
                // every reader that may have seen the object.
                self.raw_retired.push((old, rcu.start_poll()));
            }
            // SAFETY: the old object came from `Box::into_raw`, was never queued, and only
            // its callback frees it.
            _ => unsafe { call_rcu_object(rcu, old) },
        }
    }

    /// The section open on `cpu` loads one of the pointers; the result must be what the
    /// model says is published.
    fn take_snapshot(&mut self, cpu: usize, arg: u8) {
        let guard = self.rcu.read_lock();
        let (source, object, expected) = match arg {
            1 => (Source::Raw, self.raw.load(&guard).cast_const(), self.raw_id),
            3 => {
                // SAFETY: objects leave the raw pointer only through `call_rcu`,
                // `defer_drop` or a completed cookie, all after a grace period.
                let object = unsafe { self.raw.load_ref(&guard) };
                (
                    Source::Raw,
                    object.map_or(ptr::null(), ptr::from_ref),
                    self.raw_id,
                )
            }
            _ => {
                let object = self.owned().load(&guard);
                (
                    Source::Owned,
                    object.map_or(ptr::null(), ptr::from_ref),
                    self.owned_id,
                )
            }
        };
        drop(guard);
        let snapshot = Snapshot {
            source,
            object,
            id: expected,
        };
        assert_eq!(
            object.is_null(),
            expected.is_none(),
            "a reader loaded {object:?} where the model expected object {expected:?}"
        );
        // SAFETY: the outer section on this CPU is open (the caller checked its depth).
        unsafe { snapshot.check() };
        self.snapshots[cpu].push(snapshot);
    }

    fn check_snapshots(&self) {
        for snapshot in self.snapshots.iter().flatten() {
            // SAFETY: snapshots are dropped when their section closes, so every one left
            // belongs to an open section.
            unsafe { snapshot.check() };
        }
    }

    /// `try_reclaim` on every kept value: those whose grace period is over are dropped
    /// here, and the model checks the drop.
    fn reclaim_retired(&mut self) {
        for old in mem::take(&mut self.retired) {
            match old.try_reclaim() {
                Ok(value) => drop(value),
                Err(old) => self.retired.push(old),
            }
        }
    }

    /// Frees the raw objects whose cookie is done.
    fn reclaim_raw(&mut self) {
        let rcu = self.rcu;
        self.raw_retired.retain(|&(object, cookie)| {
            if !rcu.poll(cookie) {
                return true;
            }
            // SAFETY: a grace period has elapsed since the object was unpublished, and the
            // list held its only owner.
            drop(unsafe { Box::from_raw(object) });
            false
        });
    }

    /// Whether `cpu` may wait for a grace period now without waiting forever: no simulated
    /// CPU has a section open (it could never leave while we wait), and for QSBR every other
    /// CPU is offline (none of them reports a quiescent state while we wait).
    fn may_wait(&self, cpu: usize) -> bool {
        let no_sections = model(|m| m.open.iter().all(Option::is_none));
        let others_quiet = !D::QSBR || (0..CPUS).all(|other| other == cpu || !self.online[other]);
        no_sections && others_quiet
    }

    fn wait(&mut self, arg: u8) {
        let rcu = self.rcu;
        match arg {
            0 => {
                rcu.synchronize();
                // A full grace period has elapsed since every cookie taken before.
                for (cookie, _) in &self.cookies {
                    assert!(
                        rcu.poll(*cookie),
                        "cookie {cookie:?} not done after a later synchronize"
                    );
                }
                self.cookies.clear();
            }
            1 if !self.cookies.is_empty() => {
                let (cookie, _) = self.cookies.remove(0);
                rcu.cond_synchronize(cookie);
                assert!(
                    rcu.poll(cookie),
                    "cookie {cookie:?} not done after cond_synchronize"
                );
            }
            2 if !self.retired.is_empty() => self.retired.remove(0).synchronize(),
            3 => drop(self.retired.pop()),
            _ => {}
        }
    }

    /// `compare_exchange` on the owning pointer, expecting the value loaded now (succeeds)
    /// or a stale one (fails unless it is still current).
    fn compare_exchange(&mut self, arg: u8) {
        let new = Object::new();
        let new_id = new.id;
        let owned = self.owned.as_ref().expect("the pointer lives until finish");
        let guard = self.rcu.read_lock();
        let (expected, expected_id) = if arg & 1 == 0 {
            (owned.load(&guard), self.owned_id)
        } else {
            match self
                .snapshots
                .iter()
                .flatten()
                .find(|s| s.source == Source::Owned && s.id != self.owned_id)
            {
                Some(stale) => {
                    // SAFETY: the snapshot's section is open (snapshots are dropped when it
                    // closes), so the object is alive and stays so while we use it here.
                    (unsafe { stale.object.as_ref() }, stale.id)
                }
                None => (None, None),
            }
        };
        let result = owned.compare_exchange(expected, Some(new));
        drop(guard);
        match result {
            Ok(old) => {
                assert_eq!(
                    expected_id, self.owned_id,
                    "compare_exchange expecting object {expected_id:?} replaced {:?}",
                    self.owned_id
                );
                self.published(Source::Owned, Some(new_id));
                if arg & 2 == 0 {
                    old.defer_drop();
                } else {
                    self.keep(old);
                }
            }
            Err(new) => {
                assert_ne!(
                    expected_id, self.owned_id,
                    "compare_exchange expecting the current object {expected_id:?} failed"
                );
                let new = new.expect("the rejected value comes back");
                assert_eq!(new.id, new_id, "compare_exchange returned another value");
            }
        }
    }

    /// Winds down: closes every section, quiets every CPU, waits for everything kept, runs
    /// every callback, frees the objects still published; then every object must have been
    /// freed exactly once.
    fn finish(mut self) {
        let rcu = self.rcu;
        for cpu in 0..CPUS {
            on_cpu(cpu);
            while depth(cpu) > 0 {
                self.leave_section(cpu);
            }
            // SAFETY: no open section on this CPU.
            unsafe { rcu.offline() };
        }
        on_cpu(0);
        self.online = [!D::QSBR; CPUS];
        assert!(self.may_wait(0));

        drop(mem::take(&mut self.retired));
        for (object, cookie) in mem::take(&mut self.raw_retired) {
            rcu.cond_synchronize(cookie);
            // SAFETY: a grace period has elapsed since the object was unpublished.
            drop(unsafe { Box::from_raw(object) });
        }
        for (cookie, sections) in mem::take(&mut self.cookies) {
            rcu.cond_synchronize(cookie);
            assert!(
                rcu.poll(cookie),
                "cookie {cookie:?} not done after cond_synchronize"
            );
            model(|m| m.assert_all_closed(&sections, "cookie reported done"));
        }
        rcu.barrier();
        assert_eq!(
            rcu.pending_callbacks(),
            0,
            "barrier returned with callbacks outstanding"
        );

        // No section is open, so the published objects may go at once.
        self.published(Source::Owned, None);
        drop(self.owned.take());
        let last = self.raw.replace(ptr::null_mut());
        self.published(Source::Raw, None);
        if !last.is_null() {
            // SAFETY: unpublished, and no reader section is open.
            drop(unsafe { Box::from_raw(last) });
        }

        model(|m| {
            let alive: Vec<_> = (1..=m.objects.len())
                .filter(|&id| !matches!(m.objects[id - 1], Life::Freed))
                .collect();
            assert!(
                alive.is_empty(),
                "objects {alive:?} of {} were never freed",
                m.objects.len()
            );
        });
    }
}

impl<D: Flavor> Drop for Runner<'_, D> {
    fn drop(&mut self) {
        // Unwinding from a failed check: dropping what is kept would wait for grace periods
        // that open sections hold up, so leak it instead. After `finish` all is empty.
        if std::thread::panicking() {
            mem::forget(self.owned.take());
            mem::forget(mem::take(&mut self.retired));
        }
    }
}
