//! What the embedder supplies: CPU identity, preemption control, how an updater waits, and
//! optionally an asymmetric "heavy" barrier.

/// The machine an RCU domain runs on.
///
/// A kernel implements this once with its per-CPU id, its preemption counter and its IPI
/// machinery; host programs use [`Hosted`](crate::hosted::Hosted) (feature `std`), where
/// threads stand in for CPUs. All functions are associated functions: the platform is a type,
/// not a value, so that a domain can be a `static`.
///
/// # Safety
///
/// Implementors promise:
///
/// 1. [`cpu_id`](Self::cpu_id) returns a value below [`MAX_CPUS`](Self::MAX_CPUS), and
///    between [`preempt_disable`](Self::preempt_disable) and the matching
///    [`preempt_enable`](Self::preempt_enable) it returns the same value on the same thread
///    of execution, and no other thread of execution that is not nested in this one (an
///    interrupt or NMI handler on the same CPU) gets that value at the same time.
/// 2. `preempt_disable`/`preempt_enable` nest (a counter, not a flag).
/// 3. If [`HAS_HEAVY_BARRIER`](Self::HAS_HEAVY_BARRIER) is `true`,
///    [`heavy_barrier`](Self::heavy_barrier) returns only after every CPU that may run a
///    reader has executed a full memory barrier (the effect of `fence(SeqCst)`) at a point
///    between its own instructions, as an IPI or Linux's
///    `membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED)` does. Readers then order their accesses
///    with only a compiler fence, which is sound for the same reason a signal handler's fence
///    synchronises with the interrupted thread.
pub unsafe trait Platform: 'static {
    /// Exclusive upper bound of [`cpu_id`](Self::cpu_id). A domain built for this platform
    /// has at least this many reader slots (checked when it is constructed).
    const MAX_CPUS: usize;

    /// Whether [`heavy_barrier`](Self::heavy_barrier) is implemented. When it is, readers of
    /// the counter flavor run without a fence and the updater pays for it instead.
    const HAS_HEAVY_BARRIER: bool = false;

    /// The index of the CPU (or reader slot) this code runs on.
    ///
    /// Called only between [`preempt_disable`](Self::preempt_disable) and
    /// [`preempt_enable`](Self::preempt_enable).
    fn cpu_id() -> usize;

    /// Keeps the current thread of execution on its CPU until the matching
    /// [`preempt_enable`](Self::preempt_enable). Must nest. In a kernel this is the
    /// preemption counter; on a host where slots belong to threads it does nothing.
    fn preempt_disable();

    /// Undoes one [`preempt_disable`](Self::preempt_disable).
    fn preempt_enable();

    /// How an updater waits for readers or for another CPU to finish a grace period.
    ///
    /// `attempt` counts from zero for each wait, so an implementation can spin with
    /// `core::hint::spin_loop` at first and then yield or sleep. It is never called from a
    /// read-side critical section, but it may be called with the grace-period or callback
    /// machinery of other CPUs in flight, so it must not itself wait for a grace period.
    fn relax(attempt: u32);

    /// Executes a full memory barrier on every CPU that may run readers. Only called when
    /// [`HAS_HEAVY_BARRIER`](Self::HAS_HEAVY_BARRIER) is `true`.
    fn heavy_barrier() {}
}

/// Runs `f` with preemption disabled and the current CPU's index.
#[inline(always)]
pub(crate) fn on_this_cpu<P: Platform, R>(f: impl FnOnce(usize) -> R) -> R {
    P::preempt_disable();
    let cpu = P::cpu_id();
    debug_assert!(
        cpu < P::MAX_CPUS,
        "Platform::cpu_id returned {cpu}, not below MAX_CPUS"
    );
    let result = f(cpu);
    P::preempt_enable();
    result
}
