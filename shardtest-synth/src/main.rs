//! `shardtest-synth`: a libtest-compatible test binary whose tests come from a spec.
//!
//! The spec is `$SHARDTEST_SYNTH_SPEC` (a JSON file, or inline JSON), else `synth-spec.json`
//! next to this executable, else 100 instant passing tests. `--print-spec` prints the
//! effective spec, `--print-tests` the generated tests; every other flag is libtest's.

fn main() -> std::process::ExitCode {
    shardtest_synth::harness::main(None)
}
