//! The fuzz targets' seed corpora, and a few thousand deterministic mutations of each
//! seed, go through every `sync1688::fuzzing` entry point without a panic.
//!
//! This is the stable-toolchain half of the fuzzing (`docs/fuzzing.md`): coverage-guided
//! runs need cargo-fuzz and `scripts/fuzz.sh`, while this replays the committed seeds in
//! every `cargo test`, with the mutations that found or would have found the parsers'
//! panics (cut bodies, flipped bytes, stray quotes and brackets, ids past 2^53, amounts
//! past `Decimal`'s range, impossible times).

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;

use serde_json::{Map, Number, Value};

use sync1688::fuzzing;

/// Every seed of a target, by name, sorted so that failures repeat: the corpus that
/// `fuzz/examples/make_seeds.rs` writes, then the inputs that once made a parser panic.
fn seeds(target: &str) -> Vec<(String, Vec<u8>)> {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let corpus = read_folder(&fuzz.join("seeds").join(target))
        .unwrap_or_else(|e| panic!("fuzz/seeds/{target}: {e}"));
    assert!(
        !corpus.is_empty(),
        "fuzz/seeds/{target} holds no seed: run `cargo run --manifest-path fuzz/Cargo.toml --example make_seeds`"
    );
    let regressions = read_folder(&fuzz.join("regressions").join(target)).unwrap_or_default();
    corpus.into_iter().chain(regressions).collect()
}

fn read_folder(dir: &Path) -> std::io::Result<Vec<(String, Vec<u8>)>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        files.push((name, std::fs::read(&path)?));
    }
    files.sort();
    Ok(files)
}

/// Values that have broken parsers elsewhere: ids past 2^53 and past 64 bits, amounts
/// at and past `Decimal`'s limits and scale, impossible or extreme times, wrong types.
const NASTY: &[&str] = &[
    "9007199254740993",
    "3657499272179232333",
    "9223372036854775807",
    "9223372036854775808",
    "18446744073709551616",
    "-9223372036854775808",
    "-1",
    "0",
    "-0",
    "1.5",
    "79228162514264337593543950335",
    "79228162514264337593543950336",
    "-79228162514264337593543950335",
    "7.9228162514264337593543950335e28",
    "0.0000000000000000000000000001",
    "0.00000000000000000000000000001",
    "1e28",
    "1e-28",
    "1e400",
    "-1e400",
    "1E+2147483648",
    "null",
    "true",
    "[]",
    "{}",
    "\"\"",
    " ",
    "二〇一八年",
    "20181301000000000+0800",
    "99991231235959999-2359",
    "00000101000000000+9959",
    "20180801104333000+2400",
    "+262142-12-31 23:59:59",
    "-262143-01-01 00:00:00",
    "9999-12-31 23:59:59",
    "0000-01-01 00:00:00",
    "2018-02-30 00:00:00",
];

/// Bytes inserted at even positions through a seed.
const INSERTED: &[&[u8]] = &[
    b"\"",
    b"[",
    b"]",
    b"{",
    b"}",
    b",",
    b":",
    b"\n",
    b"\r\n",
    b"\\",
    b"\0",
    b"\xEF\xBB\xBF",
    b"\xFF",
];

/// The mutations of one seed, each with a description that finds it again.
fn mutations(seed: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let len = seed.len();
    let step = (len / 48).max(1);

    // Cut bodies, as a dropped connection leaves them.
    for cut in (0..len).step_by(step).chain([len.saturating_sub(1)]) {
        out.push((format!("cut at {cut}"), seed[..cut].to_vec()));
    }
    // Single flipped bytes.
    for (i, at) in (0..len).step_by(step).enumerate() {
        for mask in [0x01, 0x20, 0x80] {
            if (i + mask as usize).is_multiple_of(2) {
                let mut m = seed.to_vec();
                m[at] ^= mask;
                out.push((format!("byte {at} xor {mask:#04x}"), m));
            }
        }
    }
    // Stray structural bytes.
    for (i, at) in (0..=len).step_by((len / 24).max(1)).enumerate() {
        for (j, bytes) in INSERTED.iter().enumerate() {
            if (i + j) % 3 == 0 {
                let mut m = seed[..at].to_vec();
                m.extend_from_slice(bytes);
                m.extend_from_slice(&seed[at..]);
                out.push((format!("{bytes:?} inserted at {at}"), m));
            }
        }
    }
    // Every value replaced by a third of the nasty ones, a different third for each
    // value, so that every nasty value meets every kind of field over a corpus.
    for (i, (start, end)) in value_spans(seed).into_iter().enumerate() {
        for (j, nasty) in NASTY.iter().enumerate() {
            if (i + j) % 3 == 0 {
                let mut m = seed[..start].to_vec();
                m.extend_from_slice(nasty.as_bytes());
                m.extend_from_slice(&seed[end..]);
                out.push((format!("{nasty} for bytes {start}..{end}"), m));
            }
        }
    }
    out.extend(json_mutations(seed));
    out
}

/// Amounts that, put everywhere at once, push a reader's arithmetic to its limits.
const EXTREME_AMOUNTS: &[&str] = &[
    "79228162514264337593543950335",
    "-79228162514264337593543950335",
    "0.0000000000000000000000000001",
    "0",
    "9223372036854775807",
];

/// Mutations that need the JSON's structure, for the failures that take more than one
/// change at once: every amount (every number but an id) set to an extreme, every member
/// of one name dropped (an amount a reader then computes), and both together.
fn json_mutations(seed: &[u8]) -> Vec<(String, Vec<u8>)> {
    let Ok(value) = serde_json::from_slice::<Value>(seed) else {
        return Vec::new();
    };
    let mut keys = std::collections::BTreeSet::new();
    collect_keys(&value, &mut keys);
    let mut out = Vec::new();
    let mut push = |what: String, v: &Value| out.push((what, v.to_string().into_bytes()));
    for key in &keys {
        push(format!("without `{key}`"), &without(&value, key));
    }
    for n in EXTREME_AMOUNTS {
        let number: Number = n.parse().expect("a JSON number");
        push(format!("every amount {n}"), &with_amounts(&value, &number));
        for key in &keys {
            let v = with_amounts(&without(&value, key), &number);
            push(format!("without `{key}`, every amount {n}"), &v);
        }
    }
    out
}

fn collect_keys(v: &Value, keys: &mut std::collections::BTreeSet<String>) {
    match v {
        Value::Object(map) => {
            for (k, v) in map {
                keys.insert(k.clone());
                collect_keys(v, keys);
            }
        }
        Value::Array(items) => items.iter().for_each(|v| collect_keys(v, keys)),
        _ => {}
    }
}

fn without(v: &Value, key: &str) -> Value {
    match v {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(k, _)| *k != key)
                .map(|(k, v)| (k.clone(), without(v, key)))
                .collect::<Map<_, _>>(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(|v| without(v, key)).collect()),
        other => other.clone(),
    }
}

/// Every number set to `number`, but those of members named like ids (`id`, `productID`,
/// `orderId`…), which must stay valid for a reader to reach the amounts.
fn with_amounts(v: &Value, number: &Number) -> Value {
    match v {
        Value::Number(_) => Value::Number(number.clone()),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| {
                    let is_id = k.to_ascii_lowercase().ends_with("id");
                    let v = if is_id {
                        v.clone()
                    } else {
                        with_amounts(v, number)
                    };
                    (k.clone(), v)
                })
                .collect(),
        ),
        Value::Array(items) => {
            Value::Array(items.iter().map(|v| with_amounts(v, number)).collect())
        }
        other => other.clone(),
    }
}

/// The spans of a JSON or CSV text that hold values: runs of bytes between delimiters,
/// except JSON keys (a run followed by `":`).
fn value_spans(text: &[u8]) -> Vec<(usize, usize)> {
    let delimiter = |b: u8| {
        matches!(
            b,
            b'{' | b'}' | b'[' | b']' | b',' | b':' | b'"' | b'\n' | b'\r'
        )
    };
    let mut spans = Vec::new();
    let mut start = None;
    for (i, &b) in text.iter().chain([b'\n'].iter()).enumerate() {
        match (start, delimiter(b)) {
            (None, false) => start = Some(i),
            (Some(s), true) => {
                let is_key = text.get(i..i + 2) == Some(b"\":");
                if !is_key && text[s..i].iter().any(|b| !b.is_ascii_whitespace()) {
                    spans.push((s, i));
                }
                start = None;
            }
            _ => {}
        }
    }
    spans
}

/// Inputs that no seed grows into by small steps.
fn extremes() -> Vec<(String, Vec<u8>)> {
    let nested = |open: &str, n: usize| open.repeat(n).into_bytes();
    vec![
        ("empty".into(), Vec::new()),
        ("null".into(), b"null".to_vec()),
        (
            "a bare string".into(),
            b"\"20261010164552223+0800\"".to_vec(),
        ),
        ("deep arrays".into(), nested("[", 100_000)),
        ("deep objects".into(), nested("{\"result\":", 10_000)),
        (
            "deep result".into(),
            [
                b"{\"result\":".as_slice(),
                &nested("[", 127),
                &[b']'; 127],
                b"}",
            ]
            .concat(),
        ),
        ("a long number".into(), vec![b'9'; 100_000]),
        ("a long line".into(), vec![b','; 100_000]),
        (
            "invalid UTF-8".into(),
            b"{\"result\":[\"\xC3\x28\"]}".to_vec(),
        ),
        ("a lone BOM".into(), b"\xEF\xBB\xBF".to_vec()),
    ]
}

/// Feeds every seed, every mutation and the extremes to `entry`; fails on the first
/// panic with the input that caused it.
fn assert_no_panic(target: &str, entry: fn(&[u8])) {
    let mut inputs = 0usize;
    let mut check = |origin: &str, what: &str, input: &[u8]| {
        inputs += 1;
        if catch_unwind(AssertUnwindSafe(|| entry(input))).is_err() {
            let shown: String = String::from_utf8_lossy(input).chars().take(4_000).collect();
            panic!(
                "fuzzing::{target} panicked on {origin}, {what} ({} bytes):\n{shown}",
                input.len()
            );
        }
    };
    for (name, seed) in seeds(target) {
        check(&name, "as it is", &seed);
        for (what, input) in mutations(&seed) {
            check(&name, &what, &input);
        }
    }
    for (what, input) in extremes() {
        check("no seed", &what, &input);
    }
    assert!(inputs > 100, "only {inputs} inputs for {target}");
}

#[test]
fn every_entry_point_has_a_fuzz_target_and_a_seed_corpus() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    for target in TARGETS {
        let source = root.join("fuzz_targets").join(format!("{target}.rs"));
        let text = std::fs::read_to_string(&source)
            .unwrap_or_else(|e| panic!("{}: {e}", source.display()));
        assert!(
            text.contains(&format!("sync1688::fuzzing::{target}(")),
            "{} does not call fuzzing::{target}",
            source.display()
        );
        assert!(!seeds(target).is_empty());
    }
    let targets_on_disk = std::fs::read_dir(root.join("fuzz_targets"))
        .unwrap()
        .count();
    assert_eq!(
        targets_on_disk,
        TARGETS.len(),
        "a fuzz target is not tested here"
    );
}

/// Every fuzz target, as `fuzz/fuzz_targets/<name>.rs` and `fuzz/seeds/<name>/`.
const TARGETS: [&str; 11] = [
    "order_list",
    "order_detail",
    "token_answer",
    "gateway_answer",
    "product_info",
    "order_preview",
    "order_placed",
    "logistics",
    "merchant_skus_csv",
    "mappings_csv",
    "offers_file",
];

#[test]
fn no_order_list_body_makes_the_parser_panic() {
    assert_no_panic("order_list", fuzzing::order_list);
}

#[test]
fn no_order_detail_body_makes_the_parser_panic() {
    assert_no_panic("order_detail", fuzzing::order_detail);
}

#[test]
fn no_token_answer_makes_the_parser_panic() {
    assert_no_panic("token_answer", fuzzing::token_answer);
}

#[test]
fn no_gateway_answer_makes_the_classifier_panic() {
    assert_no_panic("gateway_answer", fuzzing::gateway_answer);
}

#[test]
fn no_product_info_body_makes_the_parser_panic() {
    assert_no_panic("product_info", fuzzing::product_info);
}

#[test]
fn no_order_preview_body_makes_the_parser_panic() {
    assert_no_panic("order_preview", fuzzing::order_preview);
}

#[test]
fn no_order_placed_body_makes_the_parser_panic() {
    assert_no_panic("order_placed", fuzzing::order_placed);
}

#[test]
fn no_logistics_body_makes_the_parsers_panic() {
    assert_no_panic("logistics", fuzzing::logistics);
}

#[test]
fn no_merchant_sku_file_makes_the_importer_panic() {
    assert_no_panic("merchant_skus_csv", fuzzing::merchant_skus_csv);
}

#[test]
fn no_mapping_file_makes_the_importer_panic_or_export_differently() {
    assert_no_panic("mappings_csv", fuzzing::mappings_csv);
}

#[test]
fn no_offers_file_makes_the_reader_panic() {
    assert_no_panic("offers_file", fuzzing::offers_file);
}
