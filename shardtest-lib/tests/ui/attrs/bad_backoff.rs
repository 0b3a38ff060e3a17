#[shard::flaky(retries = 2, backoff = "fast")]
fn backoff_is_not_a_duration() {}

#[shard::flaky(retries = 2, backoff = 200)]
fn backoff_without_unit() {}

#[shard::flaky(retries = 2, backoff = "5m")]
fn backoff_too_long() {}

fn main() {}
