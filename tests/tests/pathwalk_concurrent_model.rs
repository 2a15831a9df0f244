//! Lookups racing scripted namespace changes (`fuzz_harness::pathwalk_concurrent`), on
//! pseudo-random inputs and on hand-written scripts: every answer, walked from RCU and from
//! ref mode, must be one the namespace gave in a state it passed through during the walk
//! (or `EAGAIN` for a scoped lookup that a change moving `rename_lock` or `mount_lock` raced
//! with), attributes must never be torn, and no reference may be left behind. The same
//! checks back the `pathwalk_concurrent` fuzz target; the byte encoding is tabled in the
//! module documentation, and the hand-written inputs are encoded with its `Builder`.

use fuzz_harness::pathwalk_concurrent::flag::{
    AS_USER, BENEATH, DIRECTORY, FINISH, FOLLOW, IN_ROOT, NO_SYMLINKS, NO_XDEV,
};
use fuzz_harness::pathwalk_concurrent::{run, run_figures, Builder, Figures};
use tests::fuzz_inputs::random_inputs;
use tests::rng::Rng;

// Starts (indices into `STARTS`).
const ROOT: u8 = 0;
const A: u8 = 1;
const D: u8 = 3;

/// Runs the input `b` encodes `times` times without pauses and `times` times with them
/// (the interleavings differ from run to run) and adds up what the walks saw.
fn repeat(what: &str, b: &mut Builder, times: usize) -> Figures {
    let mut all = Figures::default();
    for input in [b.finish(), b.pause().finish()] {
        for _ in 0..times {
            all.add(&run_figures(&input));
        }
    }
    println!("{what}: {all:?}");
    all
}

/// Pseudo-random inputs: every answer is checked by the harness. Across the runs, walks
/// must have raced with changes and seen them (else the check would hold trivially), and
/// most changes must have succeeded.
#[test]
fn random_scripts_race_lookups_and_every_answer_is_a_state() {
    random_inputs(0x5EED_0005, 1_000, 120, run);
    let mut rng = Rng::new(0x5EED_0015);
    let mut all = Figures::default();
    for _ in 0..400 {
        let input: Vec<u8> = (0..80).map(|_| rng.next_u64() as u8).collect();
        all.add(&run_figures(&input));
    }
    println!(
        "random: {} walks, {} raced a change, {} of them saw it; {} changes, {} failed; \
         answers {:?}",
        all.walks, all.raced, all.moved, all.changes, all.failed_changes, all.answers
    );
    assert!(all.raced > 0, "no walk overlapped a change");
    assert!(all.moved > 0, "no racing walk saw a change");
    assert!(
        all.failed_changes * 2 < all.changes,
        "most decoded changes failed: {} of {}",
        all.failed_changes,
        all.changes
    );
}

/// `/a` and `/b` exchanged back and forth (every other exchange in a burst right after a
/// rename), and directories renamed between them, under lookups through them, through the
/// link `/c -> a/b`, with `..`, and scoped to a held `/a` (which may answer `EAGAIN` when
/// a rename races with its `..`). Every change succeeds.
#[test]
fn exchanges_and_renames_under_walks() {
    let mut b = Builder::new(1);
    b.lookup(FOLLOW, ROOT, "/a/b/c")
        .lookup(FOLLOW | FINISH, ROOT, "/c/c")
        .lookup(DIRECTORY, ROOT, "b/./a/../a/")
        .lookup(IN_ROOT | FOLLOW, A, "b/../../b/c");
    for _ in 0..4 {
        b.exchange("/a", "/b")
            .rename("/b/b", "/a/b")
            .burst()
            .exchange("/a", "/b")
            .rename_noreplace("/b/b", "/a/b");
    }
    let figures = repeat("exchanges", &mut b, 20);
    assert_eq!(figures.failed_changes, 0, "a change of the script failed");
}

/// New and bind mounts stacked on `/d` and `/a/b`, then unmounted, under lookups that cross
/// them, refuse to (`NO_XDEV`), climb out of them with `..` (scoped to a held `/d`), and
/// meet a link with `NO_SYMLINKS`.
#[test]
fn mounts_and_unmounts_under_walks() {
    let mut b = Builder::new(0);
    b.symlink("/d/a", 2) // /d/a -> ..
        .lookup(FOLLOW, ROOT, "/d/b/c")
        .lookup(NO_XDEV, ROOT, "/a/b/c")
        .lookup(BENEATH | FINISH, D, "a/..")
        .lookup(FOLLOW | NO_SYMLINKS, ROOT, "d/a/b")
        .mount("/d")
        .bind("/a", "/d")
        .bind("/b", "/a/b")
        .unmount("/d")
        .unmount("/a/b")
        .unmount("/d")
        .mount("/a/b")
        .mkdir("/a/b/b")
        .unmount("/a/b")
        .unmount("/d"); // the root mount: EBUSY
    let figures = repeat("mounts", &mut b, 20);
    assert_eq!(
        figures.failed_changes, 40,
        "only the unmount of the root mount fails"
    );
}

/// Unlink, rmdir, create and mkdir of names on the walks' paths, and modes changed under
/// walks made as uid 1000 (`EACCES` in some states); attributes read must carry the mode
/// and size of the same `set_attr`. Every change succeeds.
#[test]
fn removals_creations_and_mode_changes_under_walks() {
    let mut b = Builder::new(2);
    b.lookup(AS_USER, ROOT, "/a/b/c")
        .lookup(AS_USER | FINISH | FOLLOW, ROOT, "a/c")
        .lookup(DIRECTORY, ROOT, "/b/a")
        .set_attr("/a/b/c", 3)
        .set_attr("/a", 1)
        .set_attr("/a", 2)
        .unlink("/a/b/c")
        .create("/a/b/c")
        .set_attr("/a/b/c", 0)
        .rmdir("/b/a")
        .create("/b/a")
        .unlink("/b/a")
        .mkdir("/b/a")
        .set_attr("/a", 0)
        .set_attr("/a/b/c", 1);
    let figures = repeat("removals", &mut b, 20);
    assert_eq!(figures.failed_changes, 0, "a change of the script failed");
    assert!(
        figures
            .answers
            .keys()
            .any(|kind| kind.starts_with("EACCES")),
        "no walk as uid 1000 was refused"
    );
}
