#[shard::serial]
#[shard::serial(redis)]
fn serial_twice() {}

#[shard::flaky(retries = 1)]
#[shard::non_critical]
#[shard::flaky(retries = 2)]
fn flaky_twice() {}

fn main() {}
