//! The runner of the differential conformance test (`tests/conformance.rs` and the
//! `conformance_mounts` binary): for each seed, a random tree of a few hundred entries (see
//! [`crate::conformance`]) is built on the real file system under `$TMP` and in the
//! reference namespace at the same absolute path, and a few thousand random lookups (from
//! the tree root or, for a quarter of them, from another of its directories) are answered by
//! `openat2(2)` with `O_PATH` (the oracle) and by pathwalk in four modes (`finish_with` stat
//! and `finish()`, each from RCU-walk and from ref-walk). Every disagreement prints one line
//! with the seed, identity, start, flags, path and all answers; the first few are followed
//! by a `REDUCED` line: a tree from which entries and mounts were removed while the case
//! still disagrees.
//!
//! Permission cases run the kernel's lookups in a helper thread whose file system identity
//! is an unprivileged user (`setfsuid`/`setfsgid` and an empty group list, raw system calls
//! that change that one thread's credentials only); they are skipped, with a reason in
//! [`Totals::skipped`], if the identity change does not take effect.
//!
//! Environment: `PATHWALK_CONFORMANCE_SEEDS=N` runs seeds `1..=N`,
//! `PATHWALK_CONFORMANCE_SEED=S` runs seed `S` only ([`seeds`]).

use std::collections::BTreeMap;

use pathwalk::dcache::Cred;
use pathwalk::LookupFlags;
use rcu_core::{hosted::Hosted, Counter};

use crate::conformance::{
    errno_name, escape, kernel_lookup, listing, pad_to, show, substitute, Answer, Kind, Mirror,
    RealTree, Spec, USER,
};
use crate::rng::Rng;
use crate::tree::Mode;

static RCU: Counter<Hosted, 64> = Counter::new();

/// Lookups generated per seed.
pub const CASES_PER_SEED: usize = 2_500;
/// How often a kernel `ELOOP` that pathwalk does not give is asked again (see
/// [`settle_eloop`]).
const ELOOP_RETRIES: usize = 5;
/// Disagreements reduced to a minimal tree per run (reduction rebuilds trees many times).
const MAX_REDUCED: usize = 4;

/// One generated lookup.
#[derive(Clone, Debug)]
struct Case {
    /// The path with the real prefix substituted, as both sides see it.
    path: Vec<u8>,
    flags: LookupFlags,
    /// Whether the lookup runs as the unprivileged user.
    user: bool,
    /// The length the path was padded to, if it was.
    pad: Option<usize>,
    /// The starting directory (`dirfd`), relative to the tree root (`""`: the root).
    start: String,
}

fn cred_of(case: &Case) -> Cred {
    if case.user {
        Cred::new(USER, USER)
    } else {
        Cred::ROOT
    }
}

/// Makes the calling thread's file system identity `USER`, with no supplementary groups.
/// Only this thread's credentials change (raw system calls, not the libc wrappers, which
/// would change every thread's for `setgroups`).
fn become_user() -> Result<(), String> {
    // SAFETY: `setgroups(0, NULL)` reads no memory; it changes this thread's credentials.
    let rc = unsafe { libc::syscall(libc::SYS_setgroups, 0, std::ptr::null::<libc::gid_t>()) };
    if rc != 0 {
        return Err(format!("setgroups: {}", std::io::Error::last_os_error()));
    }
    // SAFETY: `setfsgid` and `setfsuid` take integers and change this thread's credentials;
    // an invalid id (`u32::MAX`) changes nothing and returns the current one.
    let (gid, uid) = unsafe {
        libc::syscall(libc::SYS_setfsgid, USER);
        libc::syscall(libc::SYS_setfsuid, USER);
        (
            libc::syscall(libc::SYS_setfsgid, u32::MAX),
            libc::syscall(libc::SYS_setfsuid, u32::MAX),
        )
    };
    if (gid, uid) != (i64::from(USER), i64::from(USER)) {
        return Err(format!("fsuid {uid}, fsgid {gid} after the change"));
    }
    Ok(())
}

/// The kernel's answers for the user's cases, from a helper thread with the user's
/// identity; `Err` if that identity could not be taken or does not deny what it should.
fn user_answers(real: &RealTree, cases: &[(usize, &Case)]) -> Result<Vec<Answer>, String> {
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                become_user()?;
                // The probe: a root-owned 0700 directory must be closed to the user.
                let probe = kernel_lookup(real.dirfd_raw(), b"../probe/.", LookupFlags::empty());
                if probe != Err(libc::EACCES) {
                    return Err(format!(
                        "the probe through a 0700 directory gave {probe:?}, not EACCES"
                    ));
                }
                Ok(cases
                    .iter()
                    .map(|(_, case)| kernel_answer(real, case))
                    .collect())
            })
            .join()
            .expect("the user thread panicked")
    })
}

/// One case on which pathwalk and the kernel disagree.
pub struct Disagreement {
    seed: u64,
    index: usize,
    case: Case,
    kernel: Answer,
    pathwalk: [Answer; 4],
}

impl Disagreement {
    /// The case and all answers, on one line.
    pub fn line(&self) -> String {
        let modes = Mode::ALL
            .iter()
            .zip(&self.pathwalk)
            .map(|(mode, answer)| format!("{mode:?}={}", show(answer)))
            .collect::<Vec<_>>()
            .join(" ");
        format!(
            "DISAGREE seed={} case={} cred={} start=./{} flags={:?} path=\"{}\" kernel={} \
             pathwalk: {modes}",
            self.seed,
            self.index,
            if self.case.user { "user" } else { "root" },
            self.case.start,
            self.case.flags,
            escape(&self.case.path),
            show(&self.kernel),
        )
    }
}

/// The kernel's answer to `case`. Runs in the calling thread, with its identity.
fn kernel_answer(real: &RealTree, case: &Case) -> Answer {
    real.answer_from(&case.start, &case.path, case.flags)
}

/// The kernel's answer to `case`, asked again when it is an `ELOOP` that pathwalk does not
/// give: `(answer, true)` if a retry answered otherwise.
///
/// Linux counts the links a lookup follows across its passes (`total_link_count` is set
/// once per lookup, in `set_nameidata`, not per pass in `path_init`), so a lookup that
/// followed links under RCU and then had to start again in ref mode may run out of its 40
/// links. An RCU pass fails at its end whenever `mount_lock` moved since it started, and
/// `mount_lock` is global: a mount anywhere on the machine (the mount-tree run of this very
/// test makes many) can turn a long link chain into a spurious `ELOOP`. pathwalk gives each
/// pass the whole budget; `pathwalk::Lookup` documents that divergence. An `ELOOP` the
/// kernel repeats stands and is compared as usual. (The other answer that mounts and
/// renames elsewhere cause, a scoped lookup's `EAGAIN`, is repeated by `kernel_lookup`
/// itself, for every caller.)
fn settle_eloop(
    real: &RealTree,
    case: &Case,
    kernel: Answer,
    pathwalk: &[Answer; 4],
) -> (Answer, bool) {
    if kernel != Err(libc::ELOOP) || agree(&kernel, pathwalk) {
        return (kernel, false);
    }
    for _ in 0..ELOOP_RETRIES {
        let again = if case.user {
            user_answers(real, &[(0, case)])
                .ok()
                .and_then(|mut answers| answers.pop())
        } else {
            Some(kernel_answer(real, case))
        };
        if let Some(again) = again.filter(|again| *again != kernel) {
            return (again, true);
        }
    }
    (kernel, false)
}

fn agree(kernel: &Answer, pathwalk: &[Answer; 4]) -> bool {
    pathwalk.iter().all(|answer| answer == kernel)
}

/// Both sides' answers to one case on a tree built from `spec` (for reduction).
fn run_one(spec: &Spec, seed: u64, raw_path: &[u8], case: &Case) -> Option<(Answer, [Answer; 4])> {
    let real = RealTree::create(spec, seed, 'r').ok()?;
    let mirror = Mirror::create(&RCU, spec, &real);
    let path = path_of(raw_path, &real.root_str, case.pad);
    let kernel = if case.user {
        let probe_case = Case {
            path: path.clone(),
            ..case.clone()
        };
        make_probe(&real);
        user_answers(&real, &[(0, &probe_case)]).ok()?.pop()?
    } else {
        real.answer_from(&case.start, &path, case.flags)
    };
    let pathwalk = mirror.answers_from(&cred_of(case), &case.start, &path, case.flags);
    Some((kernel, pathwalk))
}

/// Removes entries (a directory with everything below it), then mounts, while the case
/// still disagrees.
/// `None` if the case does not disagree on a rebuilt tree.
fn reduce(
    spec: &Spec,
    seed: u64,
    raw_path: &[u8],
    case: &Case,
) -> Option<(Spec, Answer, [Answer; 4])> {
    let mut spec = spec.clone();
    let mut last = run_one(&spec, seed, raw_path, case)?;
    if agree(&last.0, &last.1) {
        return None;
    }
    let mut chunk = spec.entries.len().div_ceil(2);
    while chunk >= 1 {
        let mut start = 0;
        while start < spec.entries.len() {
            let removed: Vec<String> = spec.entries[start..(start + chunk).min(spec.entries.len())]
                .iter()
                .map(|e| e.path.clone())
                .collect();
            // The start directory and its ancestors stay.
            if removed
                .iter()
                .any(|r| case.start == *r || case.start.starts_with(&format!("{r}/")))
            {
                start += chunk;
                continue;
            }
            let smaller = spec.without(&removed);
            match run_one(&smaller, seed, raw_path, case) {
                Some((kernel, pathwalk)) if !agree(&kernel, &pathwalk) => {
                    spec = smaller;
                    last = (kernel, pathwalk);
                }
                _ => start += chunk,
            }
        }
        if chunk == 1 {
            break;
        }
        chunk = chunk.div_ceil(2);
    }
    // Then the mounts that are not needed, one by one.
    let mut i = 0;
    while i < spec.mounts.len() {
        let mut smaller = spec.clone();
        smaller.mounts.remove(i);
        match run_one(&smaller, seed, raw_path, case) {
            Some((kernel, pathwalk)) if !agree(&kernel, &pathwalk) => {
                spec = smaller;
                last = (kernel, pathwalk);
            }
            _ => i += 1,
        }
    }
    Some((spec, last.0, last.1))
}

fn make_probe(real: &RealTree) {
    let probe = real.base.join("probe");
    std::fs::create_dir(&probe).expect("probe directory");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&probe, std::fs::Permissions::from_mode(0o700)).expect("chmod");
}

/// The path a case hands to both sides: `raw` with the real prefix, padded to `pad`.
fn path_of(raw: &[u8], root: &str, pad: Option<usize>) -> Vec<u8> {
    let path = substitute(raw, root);
    match pad {
        Some(len) => pad_to(&path, len),
        None => path,
    }
}

/// Generates the cases of one seed: raw paths (with the real-prefix mark) and cases.
fn generate(spec: &Spec, rng: &mut Rng, root: &str) -> Vec<(Vec<u8>, Case)> {
    let dirs = spec.start_dirs();
    (0..CASES_PER_SEED)
        .map(|_| {
            // A quarter of the lookups start in another directory than the tree root.
            let start = if rng.one_in(4) {
                dirs[rng.below(dirs.len() as u64) as usize]
            } else {
                ""
            };
            let (raw, flags) = spec.case(rng, start);
            let user = rng.one_in(4);
            // Path length limits: exactly PATH_MAX - 1 bytes is allowed, PATH_MAX is not.
            let pad = rng
                .one_in(40)
                .then(|| [4095, 4096, 4097, 5000][rng.below(4) as usize]);
            let path = path_of(&raw, root, pad);
            (
                raw,
                Case {
                    path,
                    flags,
                    user,
                    pad,
                    start: start.to_string(),
                },
            )
        })
        .collect()
}

/// What a run found.
#[derive(Default)]
pub struct Totals {
    /// Seeds run.
    pub seeds: usize,
    /// Cases compared.
    pub cases: usize,
    /// Cases where all four pathwalk answers equal the kernel's.
    pub agreed: usize,
    /// Cases run as the unprivileged user.
    pub user_cases: usize,
    /// Mounts made in the trees.
    pub mounts: usize,
    /// The cases that disagreed.
    pub disagreements: Vec<Disagreement>,
    /// How often the kernel gave each answer kind (`Ok` or the errno name).
    pub answers: BTreeMap<String, usize>,
    /// Kernel `ELOOP`s that a retry did not repeat (links counted across an RCU pass and
    /// its ref-walk restart: see the [module documentation](crate::conformance)); the
    /// retry's answer was compared.
    pub eloop_retried: usize,
    /// Why permission cases were skipped, if they were.
    pub skipped: Option<String>,
    /// The `REDUCED` reports of the first disagreements.
    pub reports: Vec<String>,
}

impl Totals {
    /// The summary lines: `conformance (<what>): ...` and the kernel's answer counts.
    pub fn summary(&self, what: &str) -> String {
        format!(
            "conformance ({what}): {} seeds, {} cases ({} as uid {USER}), {} mounts, {} \
             agreed, {} disagreed\nkernel answers: {:?}; kernel ELOOPs not repeated when \
             asked again: {}",
            self.seeds,
            self.cases,
            self.user_cases,
            self.mounts,
            self.agreed,
            self.disagreements.len(),
            self.answers,
            self.eloop_retried,
        )
    }

    /// `Err` with the first disagreement and the reduced reports if any case disagreed, or
    /// if none ran.
    pub fn verdict(&self) -> Result<(), String> {
        if self.cases == 0 {
            return Err("no case ran".into());
        }
        match self.disagreements.first() {
            None => Ok(()),
            Some(first) => Err(format!(
                "{} of {} cases disagree with the kernel; first: {}\n{}",
                self.disagreements.len(),
                self.cases,
                first.line(),
                self.reports.join("\n")
            )),
        }
    }
}

/// Runs every seed of `seeds`, with mounts in the trees if `mounts` (which needs a private
/// mount namespace: see [`crate::conformance::private_mount_namespace`]).
pub fn run(seeds: &[u64], mounts: bool) -> Totals {
    let mut totals = Totals::default();
    for &seed in seeds {
        run_seed(seed, mounts, &mut totals);
    }
    totals
}

/// Runs one seed: builds its tree (with mounts if `mounts`), generates its cases, compares
/// the answers and adds to `totals`.
fn run_seed(seed: u64, mounts: bool, totals: &mut Totals) {
    let mut rng = Rng::new(seed);
    let size = 150 + rng.below(150) as usize;
    let mut spec = Spec::generate(&mut rng, size, true);
    if mounts {
        spec.add_mounts(&mut rng);
    }
    totals.seeds += 1;
    totals.mounts += spec.mounts.len();
    let real = RealTree::create(&spec, seed, 'm')
        .unwrap_or_else(|err| panic!("seed {seed}: building the real tree: {err}"));
    make_probe(&real);
    let mirror = Mirror::create(&RCU, &spec, &real);
    crate::conformance::check_fixture(&spec, &real, &mirror);
    let cases = generate(&spec, &mut rng, &real.root_str);

    let mut kernel: Vec<Option<Answer>> = cases
        .iter()
        .map(|(_, case)| (!case.user).then(|| kernel_answer(&real, case)))
        .collect();
    let user: Vec<(usize, &Case)> = cases
        .iter()
        .enumerate()
        .filter(|(_, (_, case))| case.user)
        .map(|(i, (_, case))| (i, case))
        .collect();
    match user_answers(&real, &user) {
        Ok(answers) => {
            for ((i, _), answer) in user.iter().zip(answers) {
                kernel[*i] = Some(answer);
            }
        }
        Err(reason) => {
            totals.skipped.get_or_insert(reason);
        }
    }

    for (index, ((raw, case), kernel)) in cases.iter().zip(kernel).enumerate() {
        let Some(kernel) = kernel else {
            continue;
        };
        totals.cases += 1;
        totals.user_cases += usize::from(case.user);
        let pathwalk = mirror.answers_from(&cred_of(case), &case.start, &case.path, case.flags);
        let (kernel, retried) = settle_eloop(&real, case, kernel, &pathwalk);
        totals.eloop_retried += usize::from(retried);
        let kind = match &kernel {
            Ok(_) => "Ok".to_string(),
            Err(code) => errno_name(*code),
        };
        *totals.answers.entry(kind).or_default() += 1;
        if agree(&kernel, &pathwalk) {
            totals.agreed += 1;
            continue;
        }
        let disagreement = Disagreement {
            seed,
            index,
            case: case.clone(),
            kernel,
            pathwalk,
        };
        println!("{}", disagreement.line());
        if totals.reports.len() < MAX_REDUCED {
            let Some((small, kernel, pathwalk)) = reduce(&spec, seed, raw, case) else {
                println!("(seed {seed} case {index} does not disagree on a rebuilt tree)");
                totals.disagreements.push(disagreement);
                continue;
            };
            let tree = listing(&small);
            let report = format!(
                "REDUCED seed={seed} case={index}: tree (relative to the tree root, \
                 {{ROOT}} = its absolute path): {tree} | start=./{} path=\"{}\" flags={:?} \
                 cred={} | kernel={} pathwalk={}",
                case.start,
                escape(raw),
                case.flags,
                if case.user { "user" } else { "root" },
                show(&kernel),
                pathwalk.iter().map(show).collect::<Vec<_>>().join(","),
            );
            println!("{report}");
            totals.reports.push(report);
        }
        totals.disagreements.push(disagreement);
    }
    assert_eq!(
        mirror.tree.fs.references_held(),
        0,
        "seed {seed}: a walk leaked a reference"
    );
    let links = spec
        .entries
        .iter()
        .filter(|e| matches!(e.kind, Kind::Symlink(_)))
        .count();
    println!(
        "seed {seed}: {} entries ({links} links), {} mounts, {} cases",
        spec.entries.len(),
        spec.mounts.len(),
        cases.len()
    );
}

/// The seeds to run: `PATHWALK_CONFORMANCE_SEED=S` runs `S` only,
/// `PATHWALK_CONFORMANCE_SEEDS=N` runs `1..=N`, and without either `1..=default`.
pub fn seeds(default: u64) -> Vec<u64> {
    let parse = |name: &str| {
        std::env::var(name).ok().map(|v| {
            v.trim()
                .parse::<u64>()
                .unwrap_or_else(|_| panic!("{name}={v:?} is not a number"))
        })
    };
    if let Some(seed) = parse("PATHWALK_CONFORMANCE_SEED") {
        return vec![seed];
    }
    (1..=parse("PATHWALK_CONFORMANCE_SEEDS").unwrap_or(default)).collect()
}
