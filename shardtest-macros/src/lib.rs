//! Attribute and function-like macros of shardtest, re-exported by `shardtest-lib` as
//! `shard::serial`, `shard::group`, `shard::flaky`, `shard::non_critical` and `shard::hosts!`.
//! Use them through `shardtest-lib`; this crate's items expand to paths under `::shard`.

use proc_macro::TokenStream;

mod attrs;
mod hosts;

/// `#[shard::serial]` / `#[shard::serial(key)]`: the test never overlaps another serial test
/// (with the same key) of the run, under any runner. See `shardtest-lib` for details.
#[proc_macro_attribute]
pub fn serial(args: TokenStream, item: TokenStream) -> TokenStream {
    attrs::serial(args.into(), item.into()).into()
}

/// `#[shard::group("name", max = N)]`: at most N tests of the group run at once.
#[proc_macro_attribute]
pub fn group(args: TokenStream, item: TokenStream) -> TokenStream {
    attrs::group(args.into(), item.into()).into()
}

/// `#[shard::flaky(retries = N, backoff = "200ms")]`: a failure is retried.
#[proc_macro_attribute]
pub fn flaky(args: TokenStream, item: TokenStream) -> TokenStream {
    attrs::flaky(args.into(), item.into()).into()
}

/// `#[shard::non_critical]`: a failure is reported but does not fail the run.
#[proc_macro_attribute]
pub fn non_critical(args: TokenStream, item: TokenStream) -> TokenStream {
    attrs::non_critical(args.into(), item.into()).into()
}

/// `shard::hosts! { pub API = "127.0.0.2", ... }`: the central host registry.
#[proc_macro]
pub fn hosts(input: TokenStream) -> TokenStream {
    hosts::hosts(input.into()).into()
}
