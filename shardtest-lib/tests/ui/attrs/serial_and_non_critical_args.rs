#[shard::serial(redis, postgres)]
fn two_keys() {}

#[shard::serial("redis")]
fn key_as_a_string() {}

#[shard::non_critical(always)]
fn non_critical_with_an_argument() {}

fn main() {}
