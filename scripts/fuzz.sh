#!/usr/bin/env bash
# Runs every cargo-fuzz target of sync1688 for FUZZ_SECONDS each (default 60), one after
# the other, and fails on the first crash. docs/fuzzing.md explains the targets.
#
#   scripts/fuzz.sh                          # a minute per target, as CI runs it
#   FUZZ_SECONDS=3600 scripts/fuzz.sh        # the long run
#   scripts/fuzz.sh order_list token_answer  # only these targets
#
# Other settings: FUZZ_SANITIZER (default none, see below) and CARGO_TARGET_DIR (the fuzz
# build goes to a `fuzz` folder inside it, else to fuzz/target).
#
# A crash leaves its input in fuzz/artifacts/<target>/; replay it with
#   RUSTC_BOOTSTRAP=1 cargo fuzz run --fuzz-dir fuzz -s none <target> fuzz/artifacts/<target>/crash-…
# and, once the parser is fixed, keep it in fuzz/regressions/<target>/, which
# tests/fuzz_inputs.rs replays in every `cargo test`.
set -euo pipefail
cd "$(dirname "$0")/.."

: "${FUZZ_SECONDS:=60}"
# The targets are safe Rust over safe-Rust parsers, so AddressSanitizer has little to
# find, and it cut executions per second by a third (mappings_csv) to four fifths
# (order_detail) here; a panic, the failure being looked for, aborts without it.
# `FUZZ_SANITIZER=address` on a long run also checks the unsafe code inside serde_json,
# csv and rust_decimal.
: "${FUZZ_SANITIZER:=none}"

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "fuzz.sh: installing cargo-fuzz"
  cargo install --locked cargo-fuzz
fi

# A sanitizer is a nightly-only rustc flag (-Zsanitizer=…), and only a stable toolchain
# can be installed on these machines: RUSTC_BOOTSTRAP=1 lets stable accept it. (Without a
# sanitizer cargo-fuzz's flags are all stable ones.) It is set for this test build only,
# never for a shipped binary.
export RUSTC_BOOTSTRAP=1

# The instrumented build cannot share artefacts with the normal one (its flags differ,
# so each would rebuild the other's), so it gets a folder of its own.
target_dir="${CARGO_TARGET_DIR:+$CARGO_TARGET_DIR/fuzz}"
target_dir="${target_dir:-$PWD/fuzz/target}"
host=$(rustc -vV | sed -n 's/^host: //p')
bin_dir="$target_dir/$host/release"

if [ "$#" -gt 0 ]; then
  targets=("$@")
else
  mapfile -t targets < <(cargo fuzz list --fuzz-dir fuzz)
fi

started=$SECONDS
echo "fuzz.sh: building ${#targets[@]} targets (sanitizer: $FUZZ_SANITIZER)"
cargo fuzz build --fuzz-dir fuzz -s "$FUZZ_SANITIZER" --target-dir "$target_dir" --target "$host"
echo "fuzz.sh: built in $((SECONDS - started)) s"

for target in "${targets[@]}"; do
  # New inputs go to the first folder, fuzz/corpus (not committed); the committed seeds
  # and the inputs that once crashed a target are only read.
  mkdir -p "fuzz/corpus/$target" "fuzz/artifacts/$target"
  corpora=("fuzz/corpus/$target" "fuzz/seeds/$target")
  [ -d "fuzz/regressions/$target" ] && corpora+=("fuzz/regressions/$target")
  case "$target" in
    *_csv | offers_file) dict=fuzz/dicts/csv.dict ;;
    *) dict=fuzz/dicts/1688.dict ;;
  esac
  echo "fuzz.sh: $target for $FUZZ_SECONDS s"
  # The binaries run as built: `cargo fuzz run` would first rebuild the crate whenever a
  # source file changed since the build above.
  "$bin_dir/$target" -artifact_prefix="fuzz/artifacts/$target/" \
    -max_total_time="$FUZZ_SECONDS" -timeout=10 -rss_limit_mb=2048 -dict="$dict" \
    -print_final_stats=1 "${corpora[@]}"
done
echo "fuzz.sh: ${#targets[@]} targets, no crash, $((SECONDS - started)) s in all"
