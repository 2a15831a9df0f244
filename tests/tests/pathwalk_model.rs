//! pathwalk against the naive resolver of `fuzz_harness::pathwalk_model` and
//! `fuzz_harness::path_parse` on pseudo-random inputs: namespaces built from the input, and
//! arbitrary path bytes on a fixed namespace. Every lookup must give the model's answer in
//! all four ways of walking (`finish_with` and `finish`, from RCU and from ref mode) and
//! leave no reference behind. The same checks back the `pathwalk_model` and `path_parse`
//! fuzz targets.

use std::collections::BTreeMap;

use fuzz_harness::pathwalk_model::Answer;
use tests::fuzz_inputs::random_inputs;
use tests::rng::Rng;

/// Counts answers by kind ("Ok" or the errno's name), prints them, and checks that every
/// kind in `expected` was seen: inputs that reach nothing would agree trivially.
fn tally(what: &str, answers: impl IntoIterator<Item = Answer>, expected: &[&str]) {
    let mut kinds: BTreeMap<String, u64> = BTreeMap::new();
    for answer in answers {
        let kind = match answer {
            Ok(_) => "Ok".to_string(),
            Err(errno) => format!("{errno:?}"),
        };
        *kinds.entry(kind).or_default() += 1;
    }
    println!("{what}: {kinds:?}");
    for kind in expected {
        assert!(
            kinds.contains_key(*kind),
            "{what}: no lookup answered {kind}"
        );
    }
}

const ANSWERS: [&str; 8] = [
    "Ok",
    "ENOENT",
    "ENOTDIR",
    "EACCES",
    "ELOOP",
    "EXDEV",
    "EINVAL",
    "ENAMETOOLONG",
];

#[test]
fn random_namespaces_and_lookups_agree_with_the_model() {
    random_inputs(0x5EED_0003, 3_000, 400, fuzz_harness::pathwalk_model::run);
    let mut rng = Rng::new(0x5EED_0013);
    let answers = (0..2_000).flat_map(|_| {
        let input: Vec<u8> = (0..400).map(|_| rng.next_u64() as u8).collect();
        fuzz_harness::pathwalk_model::answers(&input)
    });
    tally("pathwalk_model", answers.collect::<Vec<_>>(), &ANSWERS);
}

#[test]
fn random_path_bytes_agree_with_the_model() {
    random_inputs(0x5EED_0004, 20_000, 80, fuzz_harness::path_parse::run);
}

/// Path bytes made of the fixed namespace's names, so that most walks get somewhere:
/// every start, both identities, flag sets from none to all bits.
#[test]
fn path_parse_on_known_names() {
    let pieces: [&[u8]; 12] = [
        b"a", b"b", b"f", b"up", b"abs", b"loop", b"m", b"c", b"back", b"j", b"..", b"m2",
    ];
    let mut rng = Rng::new(0x5EED_0005);
    let mut answers = Vec::new();
    for _ in 0..5_000 {
        let flags = rng.next_u64() as u16 & 0x3FF;
        let mut input = flags.to_le_bytes().to_vec();
        input.push(rng.next_u64() as u8);
        if rng.one_in(2) {
            input.push(b'/');
        }
        for i in 0..rng.below(6) {
            if i > 0 {
                input.push(b'/');
            }
            input.extend_from_slice(pieces[rng.below(pieces.len() as u64) as usize]);
        }
        if rng.one_in(4) {
            input.push(b'/');
        }
        answers.extend(fuzz_harness::path_parse::answer(&input));
    }
    tally("path_parse", answers, &ANSWERS[..6]);
}
