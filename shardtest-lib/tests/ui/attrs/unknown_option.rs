#[shard::flaky(retries = 2, jitter = 1)]
fn flaky_with_an_unknown_option() {}

#[shard::group("db", limit = 2)]
fn group_with_an_unknown_option() {}

#[shard::serial(key = redis)]
fn serial_with_an_option() {}

fn main() {}
