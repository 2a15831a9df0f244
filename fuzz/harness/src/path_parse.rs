//! Arbitrary bytes as a path, on a fixed namespace: pathwalk must answer with a result or
//! an errno (never panic or read out of bounds), the same answer four ways, and the answer
//! of the naive resolver of [`pathwalk_model`](crate::pathwalk_model).
//!
//! Input layout: bytes 0-1 are the [`LookupFlags`](pathwalk::LookupFlags) (little endian, decoded by
//! [`flags_from`], which keeps conflicting and undefined bits reachable), byte 2 picks the start (modulo the number of starts) and,
//! with bit 7, uid 1000 instead of root; the rest is the path, as it is: NUL bytes,
//! repeated slashes, over-long components and paths included.
//!
//! The fixed namespace (`/` is start 0):
//!
//! ```text
//! /a          directory 0755                        start 1
//! /a/b        directory 0700, owner 2000            start 2
//! /a/b/f      file
//! /a/f        file
//! /a/up       -> ../a/b/../f
//! /abs        -> /a/b/
//! /loop       -> loop
//! /m          directory, a new tree mounted on it   start 3 (covered), start 4 (mount root)
//! /m/c        directory (in the mounted tree)       start 5
//! /m/c/back   -> ../../a
//! /m/c/j      jump link to /a
//! /a/m2       directory 0755, /a bound on it        start 6, start 7 (bind root)
//! ```

use pathwalk::dcache::Cred;

use crate::pathwalk_model::{flags_from, Answer, Fixture, Fs, RCU, USER};

/// Runs the input (see the module documentation). Panics on a disagreement.
pub fn run(data: &[u8]) {
    answer(data);
}

/// [`run`], returning the answer both sides agreed on (`None` for an input too short).
pub fn answer(data: &[u8]) -> Option<Answer> {
    if data.len() < 3 {
        return None;
    }
    let flags = flags_from(u16::from_le_bytes([data[0], data[1]]));
    let cred = if data[2] & 0x80 != 0 {
        USER
    } else {
        Cred::ROOT
    };
    let path = &data[3..];

    let fs = Fs::new(&RCU);
    let fixture = fixed_namespace(&fs);
    let start = usize::from(data[2] & 0x7F) % fixture.starts();
    let answer = fixture.check(start, path, flags, &cred);
    fixture.finish();
    Some(answer)
}

/// Builds the namespace of the module documentation.
fn fixed_namespace(fs: &Fs) -> Fixture<'_> {
    let mut f = Fixture::new(fs);
    f.mkdir(0, b"a", 0o755); // 1
    f.mkdir(1, b"b", 0o700); // 2
    f.chmod(2, 0o700, 2000, 2000);
    f.create(2, b"f");
    f.create(1, b"f");
    f.symlink(1, b"up", b"../a/b/../f");
    f.symlink(0, b"abs", b"/a/b/");
    f.symlink(0, b"loop", b"loop");
    f.mkdir(0, b"m", 0o755); // 3
    f.mount_new(3); // 4
    f.mkdir(4, b"c", 0o755); // 5
    f.symlink(5, b"back", b"../../a");
    f.jump_link(5, b"j", 1);
    f.mkdir(1, b"m2", 0o755); // 6
    f.bind(1, 6); // 7
    f
}
