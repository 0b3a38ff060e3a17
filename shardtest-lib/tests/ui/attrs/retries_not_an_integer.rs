#[shard::flaky(retries = "x")]
fn retries_is_a_string() {}

#[shard::flaky(retries = 0)]
fn no_retries_at_all() {}

#[shard::flaky(backoff = "1s")]
fn retries_missing() {}

fn main() {}
