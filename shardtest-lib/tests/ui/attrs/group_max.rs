#[shard::group("db", max = 0)]
fn max_zero() {}

#[shard::group("db", max = "2")]
fn max_is_a_string() {}

#[shard::group("db")]
fn max_missing() {}

#[shard::group("../db", max = 1)]
fn name_is_not_a_file_name() {}

fn main() {}
